import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import Logging
import SQLKit

/// Stripe's webhook: the outcome of Checkout Sessions.
extension MembershipService {
    /// Verifies and applies one webhook call. `checkout.session.completed` (paid) completes the
    /// payment; `checkout.session.expired` fails it; other types are acknowledged and ignored.
    /// An event seen before (a replay, or Stripe retrying) changes nothing.
    public func handleStripeWebhook(_ request: MembershipStripeWebhookRequest) async throws -> MembershipStripeWebhookResult {
        guard let stripe = providers["stripe"] as? StripePaymentProvider else {
            throw GuildError(.failedPrecondition, "Stripe is not configured on this deployment.", reason: "stripe_not_configured")
        }
        let now = clock.now()
        let payload = Array(request.payload)
        try StripeSignature.verify(payload: payload, header: request.signature, secret: stripe.configuration.webhookSecret, now: now)
        guard let event = (try? JSONSerialization.jsonObject(with: Data(payload))) as? [String: Any],
              let eventID = event["id"] as? String, let type = event["type"] as? String
        else { throw GuildError(.invalidArgument, "The webhook body is not a Stripe event.") }
        let object = (event["data"] as? [String: Any])?["object"] as? [String: Any] ?? [:]
        let reference = object["client_reference_id"] as? String
        let isPaid = object["payment_status"] as? String == "paid"
        // The payment intent's id; Stripe sends the object instead when it was expanded.
        let paymentIntent = object["payment_intent"] as? String ?? (object["payment_intent"] as? [String: Any])?["id"] as? String
        let fingerprint = Self.cardFingerprint(in: object) ?? ""
        var result = MembershipStripeWebhookResult()
        result.eventID = eventID
        result.type = type
        result.outcome = try await database.transaction { sql in
            guard try await Inbox.claim(sql, eventID: "stripe:\(eventID)", topic: type, now: now) else { return "duplicate" }
            guard type == "checkout.session.completed" || type == "checkout.session.expired",
                  let reference,
                  let row = try await sql.raw("""
                      SELECT id, order_id, status FROM payments WHERE id = \(bind: reference) AND provider = 'stripe'
                      """).first()
            else { return "ignored" }
            let payment = PaymentID(try row.decode(column: "id", as: String.self))
            let order = OrderID(try row.decode(column: "order_id", as: String.self))
            guard try row.decode(column: "status", as: String.self) == "pending" else { return "ignored" }
            if type == "checkout.session.completed" {
                guard isPaid else { return "ignored" }
                try await self.paymentSucceeded(sql, payment: payment, order: order, reference: paymentIntent, cardFingerprint: fingerprint, now: now)
            } else {
                try await self.failPayment(sql, payment: payment, order: order, reason: "checkout expired", now: now)
            }
            return "applied"
        }
        logger.info("stripe webhook", metadata: ["event": "\(eventID)", "type": "\(type)", "outcome": "\(result.outcome)"])
        return result
    }

    /// The card's fingerprint in a Stripe object, best effort: a charge's
    /// `payment_method_details.card.fingerprint`, found on the object itself, on its
    /// `latest_charge` or `charges.data`, or on its `payment_intent` when expanded. Nil when
    /// none is there (a Checkout Session carries none unless expanded); never longer than 128.
    static func cardFingerprint(in object: [String: Any], depth: Int = 0) -> String? {
        if let details = object["payment_method_details"] as? [String: Any],
           let fingerprint = (details["card"] as? [String: Any])?["fingerprint"] as? String, !fingerprint.isEmpty {
            return String(fingerprint.prefix(128))
        }
        guard depth < 2 else { return nil }
        var nested: [[String: Any]] = []
        if let charge = object["latest_charge"] as? [String: Any] { nested.append(charge) }
        if let charges = (object["charges"] as? [String: Any])?["data"] as? [[String: Any]] { nested.append(contentsOf: charges) }
        if let intent = object["payment_intent"] as? [String: Any] { nested.append(intent) }
        for candidate in nested {
            if let fingerprint = cardFingerprint(in: candidate, depth: depth + 1) { return fingerprint }
        }
        return nil
    }
}
