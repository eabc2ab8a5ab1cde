import AsyncHTTPClient
import Foundation
import GuildCore
import NIOCore
import NIOFoundationCompat
import NIOHTTP1

/// How Guild talks to Stripe.
public struct StripeConfiguration: Sendable {
    /// The secret API key (`sk_live_...`, `sk_test_...`). Never logged.
    public var apiKey: String
    /// The webhook endpoint's signing secret (`whsec_...`). Never logged.
    public var webhookSecret: String
    /// Where the payer lands after paying or giving up (Stripe appends nothing; the order's
    /// state arrives by webhook).
    public var successURL: String
    public var cancelURL: String
    /// Stripe's API; tests point it at a local server.
    public var apiBase: String = "https://api.stripe.com"
    /// The longest one API call may take.
    public var timeout: TimeAmount = .seconds(10)

    public init(apiKey: String, webhookSecret: String, successURL: String, cancelURL: String) {
        self.apiKey = apiKey
        self.webhookSecret = webhookSecret
        self.successURL = successURL
        self.cancelURL = cancelURL
    }
}

/// Payments through Stripe Checkout: ``startPayment(id:amount:description:)`` creates a Checkout
/// Session (the payer pays on Stripe's page at its `url`); the outcome arrives at the webhook
/// (``MembershipService/handleStripeWebhook(_:)``); refunds go to `/v1/refunds`. Every call
/// carries an `Idempotency-Key`, so a retried call never charges or refunds twice.
public struct StripePaymentProvider: PaymentProvider {
    public let configuration: StripeConfiguration
    let http: HTTPClient

    public init(configuration: StripeConfiguration, httpClient: HTTPClient = .shared) {
        self.configuration = configuration
        self.http = httpClient
    }

    public var name: String { "stripe" }

    public func startPayment(id: PaymentID, amount: Money, description: String) async throws -> StartedPayment {
        let session = try await post("/v1/checkout/sessions", idempotencyKey: "guild-checkout-\(id)", form: [
            ("mode", "payment"),
            ("client_reference_id", id.rawValue),
            ("metadata[payment_id]", id.rawValue),
            ("success_url", configuration.successURL),
            ("cancel_url", configuration.cancelURL),
            ("line_items[0][quantity]", "1"),
            ("line_items[0][price_data][currency]", amount.currency.rawValue.lowercased()),
            ("line_items[0][price_data][unit_amount]", String(amount.minorUnits)),
            ("line_items[0][price_data][product_data][name]", String(description.prefix(200))),
        ])
        guard let sessionID = session["id"] as? String, let url = session["url"] as? String else {
            throw GuildError(.unavailable, "Stripe answered without a checkout session.", retryAfterSeconds: 5)
        }
        return StartedPayment(reference: sessionID, checkoutURL: url)
    }

    public func refund(reference: String, amount: Money, idempotencyKey: String) async throws {
        // The reference is the payment intent once the session completed (set by the webhook).
        _ = try await post("/v1/refunds", idempotencyKey: "guild-refund-\(idempotencyKey)", form: [
            ("payment_intent", reference),
            ("amount", String(amount.minorUnits)),
        ])
    }

    /// A form-encoded POST to Stripe's API; the JSON answer, or a Guild error carrying Stripe's
    /// message (never the key).
    private func post(_ path: String, idempotencyKey: String, form: [(String, String)]) async throws -> [String: Any] {
        var request = HTTPClientRequest(url: configuration.apiBase + path)
        request.method = .POST
        request.headers.add(name: "Authorization", value: "Bearer \(configuration.apiKey)")
        request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
        request.headers.add(name: "Idempotency-Key", value: idempotencyKey)
        request.body = .bytes(ByteBuffer(string: Self.formEncode(form)))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await http.execute(request, timeout: configuration.timeout)
            body = try await response.body.collect(upTo: 1 << 20)
        } catch {
            throw GuildError(.unavailable, "Stripe could not be reached; try again.", retryAfterSeconds: 5, reason: "provider_unreachable")
        }
        let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any] ?? [:]
        guard (200..<300).contains(response.status.code) else {
            let message = ((json["error"] as? [String: Any])?["message"] as? String).map { String($0.prefix(300)) } ?? "HTTP \(response.status.code)"
            if response.status.code == 429 || response.status.code >= 500 {
                throw GuildError(.unavailable, "Stripe is unavailable: \(message)", retryAfterSeconds: 5, reason: "provider_unavailable")
            }
            throw GuildError(.failedPrecondition, "Stripe refused the request: \(message)", reason: "provider_refused")
        }
        return json
    }

    /// `application/x-www-form-urlencoded`, with Stripe's bracketed keys.
    static func formEncode(_ fields: [(String, String)]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        func encode(_ text: String) -> String { text.addingPercentEncoding(withAllowedCharacters: allowed) ?? "" }
        return fields.map { "\(encode($0.0))=\(encode($0.1))" }.joined(separator: "&")
    }
}
