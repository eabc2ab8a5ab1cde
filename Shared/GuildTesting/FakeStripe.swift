import Foundation
import GuildCore
import GuildMembership
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Synchronization

/// A local server that answers like Stripe's API, with response bodies recorded from Stripe's
/// test mode (trimmed to the fields Guild reads and a few around them), and remembers what it
/// was asked.
public final class FakeStripe: Sendable {
    public struct Call: Sendable {
        public let path: String
        public let authorization: String?
        public let idempotencyKey: String?
        public let form: [String: String]
    }

    /// Every call, in order.
    public let calls = Mutex<[Call]>([])
    /// The payment intent its checkout sessions complete with.
    public let paymentIntent = "pi_3QxGuildTest0001"

    public init() {}

    static let sessionBody = #"""
        {
          "id": "cs_test_a1B2c3D4e5F6g7H8i9J0",
          "object": "checkout.session",
          "amount_subtotal": 19900,
          "amount_total": 19900,
          "client_reference_id": "%REFERENCE%",
          "currency": "cny",
          "livemode": false,
          "mode": "payment",
          "payment_intent": null,
          "payment_status": "unpaid",
          "status": "open",
          "url": "https://checkout.stripe.com/c/pay/cs_test_a1B2c3D4e5F6g7H8i9J0#fidkdWxOYHwnPyd1blpxYHZxWjA0"
        }
        """#

    static let refundBody = #"""
        {
          "id": "re_3QxGuildTest0001",
          "object": "refund",
          "amount": %AMOUNT%,
          "currency": "cny",
          "payment_intent": "pi_3QxGuildTest0001",
          "status": "succeeded"
        }
        """#

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/v1/checkout/sessions") { request, context in
            let form = try await self.record(request, context: context)
            return Self.json(Self.sessionBody.replacingOccurrences(of: "%REFERENCE%", with: form["client_reference_id"] ?? ""))
        }
        router.post("/v1/refunds") { request, context in
            let form = try await self.record(request, context: context)
            return Self.json(Self.refundBody.replacingOccurrences(of: "%AMOUNT%", with: form["amount"] ?? "0"))
        }
        router.post("/v1/declined/v1/checkout/sessions") { request, context in
            _ = try await self.record(request, context: context)
            return Response(status: .badRequest, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"""
                {"error": {"type": "invalid_request_error", "message": "Invalid currency: xxx."}}
                """#)))
        }
        return router
    }

    private func record(_ request: Request, context: BasicRequestContext) async throws -> [String: String] {
        let body = try await request.body.collect(upTo: 1 << 16)
        var form: [String: String] = [:]
        for pair in String(buffer: body).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? "" }
            if parts.count == 2 { form[parts[0]] = parts[1] }
        }
        calls.withLock {
            $0.append(Call(path: request.uri.path, authorization: request.headers[.authorization],
                           idempotencyKey: request.headers[HTTPField.Name("Idempotency-Key")!], form: form))
        }
        return form
    }

    private static func json(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// Runs `body` with the fake listening on a loopback port.
    public func serve(_ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        let app = Application(router: router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
        try await app.test(.live) { client in
            guard let port = client.port else { throw GuildError(.internal, "the fake Stripe server has no port") }
            try await body(port)
        }
    }

    /// A webhook call as Stripe would sign it, for a checkout session of `reference` (a Guild
    /// payment id).
    public static func webhook(_ type: String, id: String, reference: String, paid: Bool = true, at time: Date, secret: String) -> (body: String, signature: String) {
        let body = #"{"id":"\#(id)","object":"event","type":"\#(type)","data":{"object":{"id":"cs_test_a1B2c3D4e5F6g7H8i9J0","object":"checkout.session","client_reference_id":"\#(reference)","payment_intent":"pi_3QxGuildTest0001","payment_status":"\#(paid ? "paid" : "unpaid")"}}}"#
        return (body, StripeSignature.header(payload: Array(body.utf8), timestamp: Int64(time.timeIntervalSince1970), secret: secret))
    }
}

