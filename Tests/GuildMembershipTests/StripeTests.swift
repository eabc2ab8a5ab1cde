import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Synchronization
import Testing

@testable import GuildMembership

@Suite("Stripe")
struct StripeTests {
    static let secret = "whsec_test_secret"

    @Test("signature vectors (computed independently with Python's hmac) verify; anything else does not")
    func signatureVectors() throws {
        let payload = Array(#"{"id":"evt_1","type":"checkout.session.completed"}"#.utf8)
        let now = Date(timeIntervalSince1970: 1_767_225_600)
        let good = "t=1767225600,v1=15cb038dde33dbf631159a8a3226f345c540a7ba0350704f4e95f9462346670c"
        try StripeSignature.verify(payload: payload, header: good, secret: Self.secret, now: now)
        #expect(StripeSignature.header(payload: payload, timestamp: 1_767_225_600, secret: Self.secret) == good)
        try StripeSignature.verify(payload: Array("{}".utf8),
                                   header: "t=1700000000,v0=00,v1=cb8922144cbe63adf016dfaf30d2c0e56daab2a44347fbf598f428d4dcf78bd6",
                                   secret: "whsec_5f1c3a", now: Date(timeIntervalSince1970: 1_700_000_100))
        // One of several v1 signatures matching is enough (Stripe sends two while a secret rolls).
        try StripeSignature.verify(payload: payload, header: "t=1767225600,v1=\(String(repeating: "ab", count: 32)),v1=15cb038dde33dbf631159a8a3226f345c540a7ba0350704f4e95f9462346670c",
                                   secret: Self.secret, now: now)
        let refused: [(String, [UInt8], Date, String)] = [
            ("wrong secret", payload, now, "invalid_signature"),
            ("body changed", Array(#"{"id":"evt_1","type":"checkout.session.expired"}"#.utf8), now, "invalid_signature"),
            ("too old", payload, now.addingTimeInterval(301), "stale_signature"),
            ("from the future", payload, now.addingTimeInterval(-301), "stale_signature"),
        ]
        for (name, body, instant, reason) in refused {
            let secret = name == "wrong secret" ? "whsec_other" : Self.secret
            let error = #expect(throws: GuildError.self, "\(name)") {
                try StripeSignature.verify(payload: body, header: good, secret: secret, now: instant)
            }
            #expect(error?.reason == reason, "\(name)")
        }
        for header in ["", "t=1767225600", "v1=15cb", "t=abc,v1=15cb038dde33dbf631159a8a3226f345c540a7ba0350704f4e95f9462346670c", "t=1767225600,v0=15cb038dde33dbf631159a8a3226f345c540a7ba0350704f4e95f9462346670c"] {
            #expect(throws: GuildError.self, "\(header)") { try StripeSignature.verify(payload: payload, header: header, secret: Self.secret, now: now) }
        }
    }

    static func webhook(_ type: String, id: String, reference: String, paid: Bool = true, at time: Date, secret: String = secret) -> MembershipStripeWebhookRequest {
        let call = FakeStripe.webhook(type, id: id, reference: reference, paid: paid, at: time, secret: secret)
        var request = MembershipStripeWebhookRequest()
        request.payload = Data(call.body.utf8)
        request.signature = call.signature
        return request
    }

    @Test("an order paid through Stripe Checkout: session created, webhook completes it once, replays change nothing, a refund reaches Stripe")
    func checkoutFlow() async throws {
        let fake = FakeStripe()
        try await fake.serve { port in
            var configuration = StripeConfiguration(apiKey: "sk_test_guild", webhookSecret: Self.secret,
                                                    successURL: "https://guild.example/paid", cancelURL: "https://guild.example/cancelled")
            configuration.apiBase = "http://127.0.0.1:\(port)"
            let stripe = StripePaymentProvider(configuration: configuration)
            try await MembershipFixture.with(.sqlite, providers: [SandboxPaymentProvider(), stripe]) { f in
                let (community, plan) = try await f.openCommunity()
                let member = UserID("member-1")
                let order = try await f.order(plan, user: member, provider: "stripe")
                #expect(order.payment.provider == "stripe")
                #expect(order.payment.checkoutURL.hasPrefix("https://checkout.stripe.com/c/pay/cs_test_"))
                let session = try #require(fake.calls.withLock { $0.first })
                #expect(session.path == "/v1/checkout/sessions")
                #expect(session.authorization == "Bearer sk_test_guild")
                #expect(session.idempotencyKey == "guild-checkout-\(order.payment.id)")
                #expect(session.form["mode"] == "payment")
                #expect(session.form["client_reference_id"] == order.payment.id)
                #expect(session.form["line_items[0][price_data][currency]"] == "cny")
                #expect(session.form["line_items[0][price_data][unit_amount]"] == "19900")
                #expect(session.form["success_url"] == "https://guild.example/paid")
                // The sandbox's confirmation cannot settle a Stripe payment.
                #expect(await thrownError { _ = try await f.pay(order, user: member) }?.reason == "not_sandbox")

                let now = f.clock.now()
                #expect(await thrownError {
                    _ = try await f.service.handleStripeWebhook(Self.webhook("checkout.session.completed", id: "evt_forged", reference: order.payment.id, at: now, secret: "whsec_forged"))
                }?.code == .unauthenticated)
                #expect(try await f.entitled(member, community) == false)
                let completed = Self.webhook("checkout.session.completed", id: "evt_1", reference: order.payment.id, at: now)
                #expect(try await f.service.handleStripeWebhook(completed).outcome == "applied")
                #expect(try await f.entitled(member, community))
                // Stripe retries, or someone replays the captured call: nothing moves twice.
                #expect(try await f.service.handleStripeWebhook(completed).outcome == "duplicate")
                #expect(try await f.service.checkLedger().transactions == 1)
                // A replay past the tolerance is refused outright.
                f.clock.advance(by: 600)
                #expect(await thrownError { _ = try await f.service.handleStripeWebhook(completed) }?.reason == "stale_signature")
                // Types Guild does not act on are acknowledged.
                #expect(try await f.service.handleStripeWebhook(Self.webhook("customer.created", id: "evt_2", reference: "", at: f.clock.now())).outcome == "ignored")

                let refunded = try await f.refund(try await f.service.order(OrderID(order.id), user: member), user: f.owner, amount: 4_900)
                #expect(refunded.status == "partially_refunded")
                let refund = try #require(fake.calls.withLock { $0.last })
                #expect(refund.path == "/v1/refunds")
                #expect(refund.form["payment_intent"] == fake.paymentIntent)
                #expect(refund.form["amount"] == "4900")
                #expect(refund.idempotencyKey?.hasPrefix("guild-refund-") == true)
                try await f.expectLedgerHolds()

                // Group buys pay through Stripe too.
                var offerRequest = MembershipCreateGroupBuyOfferRequest()
                offerRequest.planID = plan.id
                offerRequest.groupSize = 2
                offerRequest.priceMinorUnits = 9_900
                offerRequest.windowHours = 24
                let offer = try await f.service.createGroupBuyOffer(offerRequest, user: f.owner)
                var open = MembershipOpenGroupBuyRequest()
                open.offerID = offer.id
                open.idempotencyKey = "open-stripe"
                open.provider = "stripe"
                let group = try await f.service.openGroupBuy(open, user: UserID("member-3"))
                #expect(group.yourOrder.payment.provider == "stripe")
                #expect(fake.calls.withLock { $0.last?.form["line_items[0][price_data][unit_amount]"] } == "9900")
                open.provider = "paypal"
                open.idempotencyKey = "open-paypal"
                #expect(await thrownError { _ = try await f.service.openGroupBuy(open, user: UserID("member-4")) }?.fieldViolations.first?.field == "provider")

                // An expired session fails its order.
                let abandoned = try await f.order(plan, user: UserID("member-2"), provider: "stripe")
                let expired = Self.webhook("checkout.session.expired", id: "evt_3", reference: abandoned.payment.id, paid: false, at: f.clock.now())
                #expect(try await f.service.handleStripeWebhook(expired).outcome == "applied")
                #expect(try await f.service.order(OrderID(abandoned.id), user: UserID("member-2")).status == "failed")
            }
        }
    }

    @Test("Stripe's refusal reaches the caller as a clear error carrying Stripe's message")
    func refusal() async throws {
        let fake = FakeStripe()
        try await fake.serve { port in
            var configuration = StripeConfiguration(apiKey: "sk_test_guild", webhookSecret: Self.secret, successURL: "https://x/ok", cancelURL: "https://x/no")
            configuration.apiBase = "http://127.0.0.1:\(port)/v1/declined"
            let stripe = StripePaymentProvider(configuration: configuration)
            let error = await thrownError { _ = try await stripe.startPayment(id: PaymentID("p1"), amount: Money(minorUnits: 100, currency: .cny), description: "x") }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.message.contains("Invalid currency") == true)
            #expect(error?.message.contains("sk_test") == false)
        }
        var unreachable = StripeConfiguration(apiKey: "sk_test_guild", webhookSecret: Self.secret, successURL: "https://x/ok", cancelURL: "https://x/no")
        unreachable.apiBase = "http://127.0.0.1:1"
        unreachable.timeout = .seconds(1)
        let error = await thrownError { _ = try await StripePaymentProvider(configuration: unreachable).startPayment(id: PaymentID("p1"), amount: Money(minorUnits: 100, currency: .cny), description: "x") }
        #expect(error?.code == .unavailable)
    }
}
