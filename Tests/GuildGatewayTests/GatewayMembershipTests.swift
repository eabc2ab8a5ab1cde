import Foundation
import GuildCore
import GuildGateway
import GuildMembership
import GuildMessages
import GuildTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The membership part of the HTTP API, over real sockets: HTTP into the gateway, mutual TLS to
/// the auth and membership services, each with its own database: an SQLite file, and a
/// PostgreSQL database when one is configured. This is the README's tour.
@Suite("Gateway membership end to end")
struct GatewayMembershipTests {
    typealias E2E = GatewayEndToEndTests

    static func register(_ client: some TestClientProtocol, _ email: String, _ name: String) async throws -> (token: String, id: String) {
        let response = try await client.execute(
            uri: "/api/v1/auth/register", method: .post, headers: E2E.jsonHeaders,
            body: E2E.json(["email": email, "password": "correct horse battery", "displayName": name]))
        #expect(response.status == .created)
        let body = try E2E.object(response)
        let user = try #require(body["user"] as? [String: Any])
        return (try E2E.tokens(response).access, try #require(user["id"] as? String))
    }

    static func call(
        _ client: some TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String?,
        body: [String: Any]? = nil, idempotencyKey: String? = nil
    ) async throws -> TestResponse {
        var headers: HTTPFields = body == nil ? [:] : E2E.jsonHeaders
        if let token { headers[.authorization] = "Bearer \(token)" }
        if let idempotencyKey { headers[HTTPField.Name("Idempotency-Key")!] = idempotencyKey }
        return try await client.execute(uri: uri, method: method, headers: headers, body: body.map(E2E.json))
    }

    @Test("an owner opens a community with a plan and a coupon; a member pays with the sandbox and holds a membership",
          arguments: TestDatabaseKind.available)
    func tour(_ store: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: store) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let owner = try await Self.register(client, "owner@example.com", "Owner")
                let created = try await Self.call(client, .post, "/api/v1/communities", token: owner.token,
                                                  body: ["slug": "swift-club", "name": "Swift Club", "currency": "CNY", "refundWindowDays": 7])
                #expect(created.status == .created)
                let community = try E2E.object(created)
                let communityID = try #require(community["id"] as? String)
                #expect(community["status"] as? String == "draft")
                #expect(community["yourRole"] as? String == "owner")
                // A draft is invisible to visitors.
                _ = try E2E.expectProblem(try await Self.call(client, .get, "/api/v1/communities/swift-club", token: nil), status: .notFound, code: "not_found")
                let published = try await Self.call(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
                #expect(try E2E.object(published)["status"] as? String == "active")
                #expect(try E2E.object(try await Self.call(client, .get, "/api/v1/communities/swift-club", token: nil))["name"] as? String == "Swift Club")

                let planResponse = try await Self.call(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                                       body: ["name": "Yearly", "priceMinorUnits": 39_900, "period": "yearly"])
                #expect(planResponse.status == .created)
                let planID = try #require(try E2E.object(planResponse)["id"] as? String)
                let coupon = try await Self.call(client, .post, "/api/v1/communities/\(communityID)/coupons", token: owner.token,
                                                 body: ["code": "launch", "kind": "percent", "percentOffBp": 2000, "maxRedemptions": 100])
                #expect(coupon.status == .created)
                #expect(try E2E.object(coupon)["code"] as? String == "LAUNCH")
                let plans = try E2E.object(try await Self.call(client, .get, "/api/v1/communities/\(communityID)/plans", token: nil))
                #expect((plans["plans"] as? [[String: Any]])?.count == 1)

                let member = try await Self.register(client, "member@example.com", "Member")
                let quote = try E2E.object(try await Self.call(client, .post, "/api/v1/communities/\(communityID)/quote", token: member.token,
                                                               body: ["planId": planID, "couponCode": "LAUNCH"]))
                let total = try #require(quote["total"] as? [String: Any])
                #expect(total["minorUnits"] as? Int == 31_920)
                #expect(total["formatted"] as? String == "319.20 CNY")
                #expect((quote["lines"] as? [[String: Any]])?.map { $0["kind"] as? String } == ["plan_price", "coupon"])

                // Money moves only with an idempotency key.
                let orderBody: [String: Any] = ["communityId": communityID, "planId": planID, "couponCode": "LAUNCH"]
                let keyless = try await Self.call(client, .post, "/api/v1/orders", token: member.token, body: orderBody)
                #expect(try E2E.expectProblem(keyless, status: .badRequest, code: "invalid_argument")["reason"] as? String == "idempotency_key_required")
                let placed = try await Self.call(client, .post, "/api/v1/orders", token: member.token, body: orderBody, idempotencyKey: "order-1")
                #expect(placed.status == .created)
                let order = try E2E.object(placed)
                let orderID = try #require(order["id"] as? String)
                #expect(order["status"] as? String == "pending")
                let payment = try #require(order["payment"] as? [String: Any])
                let paymentID = try #require(payment["id"] as? String)
                let replayed = try E2E.object(try await Self.call(client, .post, "/api/v1/orders", token: member.token, body: orderBody, idempotencyKey: "order-1"))
                #expect(replayed["id"] as? String == orderID)
                let conflicting = try await Self.call(client, .post, "/api/v1/orders", token: member.token,
                                                      body: ["communityId": communityID, "planId": planID], idempotencyKey: "order-1")
                #expect(try E2E.expectProblem(conflicting, status: .conflict, code: "failed_precondition")["reason"] as? String == "idempotency_key_reused")

                // Someone else's order does not exist for a stranger.
                let stranger = try await Self.register(client, "stranger@example.com", "Stranger")
                _ = try E2E.expectProblem(try await Self.call(client, .get, "/api/v1/orders/\(orderID)", token: stranger.token), status: .notFound, code: "not_found")

                let confirmed = try await Self.call(client, .post, "/api/v1/payments/\(paymentID)/sandbox-confirm", token: member.token,
                                                    body: ["outcome": "succeeded"], idempotencyKey: "pay-1")
                #expect(try E2E.object(confirmed)["status"] as? String == "paid")
                let memberships = try E2E.object(try await Self.call(client, .get, "/api/v1/me/memberships", token: member.token))
                let first = try #require((memberships["memberships"] as? [[String: Any]])?.first)
                #expect((first["subscription"] as? [String: Any])?["state"] as? String == "active")
                #expect((first["community"] as? [String: Any])?["slug"] as? String == "swift-club")
                let entitlement = try E2E.object(try await Self.call(client, .get, "/api/v1/communities/\(communityID)/entitlement", token: member.token))
                #expect(entitlement["entitled"] as? Bool == true)

                let earnings = try E2E.object(try await Self.call(client, .get, "/api/v1/communities/\(communityID)/earnings", token: owner.token))
                #expect((earnings["gross"] as? [String: Any])?["minorUnits"] as? Int == 31_920)
                #expect((earnings["payable"] as? [String: Any])?["minorUnits"] as? Int == 31_920 - 1_596)
                _ = try E2E.expectProblem(try await Self.call(client, .get, "/api/v1/communities/\(communityID)/earnings", token: member.token),
                                          status: .forbidden, code: "permission_denied")
                #expect(try await cluster.membership.checkLedger().violations.isEmpty)

                // Invalid input is named field by field.
                let invalid = try await Self.call(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                                  body: ["name": "", "priceMinorUnits": -5, "period": "weekly"])
                let problem = try E2E.expectProblem(invalid, status: .badRequest, code: "invalid_argument")
                #expect((problem["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } == ["name", "priceMinorUnits", "period"])
            }
        }
    }

    @Test("a group buy over HTTP: open, share, join, pay; the group completes and both are members", arguments: TestDatabaseKind.available)
    func groupBuy(_ store: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: store) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let owner = try await Self.register(client, "owner@example.com", "Owner")
                let community = try E2E.object(try await Self.call(client, .post, "/api/v1/communities", token: owner.token, body: ["slug": "team-buy", "name": "Team"]))
                let communityID = try #require(community["id"] as? String)
                _ = try await Self.call(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
                let plan = try E2E.object(try await Self.call(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                                              body: ["name": "Yearly", "priceMinorUnits": 29_900, "period": "yearly"]))
                let planID = try #require(plan["id"] as? String)
                let offerResponse = try await Self.call(client, .post, "/api/v1/plans/\(planID)/group-offers", token: owner.token,
                                                        body: ["groupSize": 2, "priceMinorUnits": 19_900, "windowHours": 48])
                #expect(offerResponse.status == .created)
                let offerID = try #require(try E2E.object(offerResponse)["id"] as? String)
                let listed = try E2E.object(try await Self.call(client, .get, "/api/v1/communities/\(communityID)/group-offers", token: nil))
                #expect((listed["offers"] as? [[String: Any]])?.count == 1)

                let alice = try await Self.register(client, "alice@example.com", "Alice")
                let bob = try await Self.register(client, "bob@example.com", "Bob")
                _ = try E2E.expectProblem(try await Self.call(client, .post, "/api/v1/group-offers/\(offerID)/groups", token: alice.token),
                                          status: .badRequest, code: "invalid_argument")
                let opened = try await Self.call(client, .post, "/api/v1/group-offers/\(offerID)/groups", token: alice.token, idempotencyKey: "open-1")
                #expect(opened.status == .created)
                let group = try E2E.object(opened)
                let sharePath = try #require(group["sharePath"] as? String)
                let alicePayment = try #require(((group["yourOrder"] as? [String: Any])?["payment"] as? [String: Any])?["id"] as? String)
                // The offer list names the open group (its seat still to pay), without anyone's order.
                let open = try E2E.object(try await Self.call(client, .get, "/api/v1/communities/\(communityID)/group-offers", token: nil))
                let openGroups = try #require(open["openGroups"] as? [[String: Any]])
                #expect(openGroups.map { $0["id"] as? String } == [group["id"] as? String])
                #expect(openGroups.first?["pending"] as? Int == 1 && openGroups.first?["paid"] as? Int == 0)
                #expect(openGroups.first?["yourOrder"] == nil)
                let joined = try E2E.object(try await Self.call(client, .post, sharePath + "/join", token: bob.token, idempotencyKey: "join-1"))
                let bobPayment = try #require(((joined["yourOrder"] as? [String: Any])?["payment"] as? [String: Any])?["id"] as? String)
                let held = try E2E.object(try await Self.call(client, .post, "/api/v1/payments/\(alicePayment)/sandbox-confirm", token: alice.token,
                                                              body: [:], idempotencyKey: "pay-a"))
                #expect(held["status"] as? String == "held")
                _ = try await Self.call(client, .post, "/api/v1/payments/\(bobPayment)/sandbox-confirm", token: bob.token, body: [:], idempotencyKey: "pay-b")
                let done = try E2E.object(try await Self.call(client, .get, sharePath, token: nil))
                #expect(done["status"] as? String == "completed")
                #expect(done["paid"] as? Int == 2)
                let closed = try E2E.object(try await Self.call(client, .get, "/api/v1/communities/\(communityID)/group-offers", token: nil))
                #expect((closed["openGroups"] as? [[String: Any]])?.isEmpty == true)
                for member in [alice, bob] {
                    let entitlement = try E2E.object(try await Self.call(client, .get, "/api/v1/communities/\(communityID)/entitlement", token: member.token))
                    #expect(entitlement["entitled"] as? Bool == true)
                }
                #expect(try await cluster.membership.checkLedger().violations.isEmpty)
            }
        }
    }
}

/// Stripe through the gateway: the checkout URL comes back on the order, and Stripe's webhook,
/// posted to the public endpoint with no bearer token, pays it once.
@Suite("Gateway Stripe webhook")
struct GatewayStripeTests {
    typealias E2E = GatewayEndToEndTests
    static let secret = "whsec_gateway_test"

    @Test("an order paid through Stripe: checkout URL, signed webhook applied once, forged and replayed calls refused or ignored")
    func webhook() async throws {
        let fake = FakeStripe()
        try await fake.serve { port in
            var configuration = StripeConfiguration(apiKey: "sk_test_gateway", webhookSecret: Self.secret,
                                                    successURL: "https://guild.example/ok", cancelURL: "https://guild.example/no")
            configuration.apiBase = "http://127.0.0.1:\(port)"
            let providers: [any PaymentProvider] = [SandboxPaymentProvider(), StripePaymentProvider(configuration: configuration)]
            try await TestCluster.withCluster(membershipProviders: providers) { cluster in
                try await cluster.gateway.makeApplication().test(.live) { client in
                    let owner = try await GatewayMembershipTests.register(client, "owner@example.com", "Owner")
                    let community = try E2E.object(try await GatewayMembershipTests.call(client, .post, "/api/v1/communities", token: owner.token,
                                                                                          body: ["slug": "stripe-club", "name": "Stripe club"]))
                    let communityID = try #require(community["id"] as? String)
                    _ = try await GatewayMembershipTests.call(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
                    let plan = try E2E.object(try await GatewayMembershipTests.call(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                                                                     body: ["name": "Monthly", "priceMinorUnits": 19_900, "period": "monthly"]))
                    let member = try await GatewayMembershipTests.register(client, "member@example.com", "Member")
                    let order = try E2E.object(try await GatewayMembershipTests.call(
                        client, .post, "/api/v1/orders", token: member.token,
                        body: ["communityId": communityID, "planId": try #require(plan["id"] as? String), "provider": "stripe"], idempotencyKey: "stripe-1"))
                    let payment = try #require(order["payment"] as? [String: Any])
                    #expect((payment["checkoutUrl"] as? String)?.hasPrefix("https://checkout.stripe.com/") == true)
                    let paymentID = try #require(payment["id"] as? String)

                    func post(_ call: (body: String, signature: String)) async throws -> TestResponse {
                        try await client.execute(uri: "/api/v1/webhooks/stripe", method: .post,
                                                 headers: [.contentType: "application/json", HTTPField.Name("Stripe-Signature")!: call.signature],
                                                 body: ByteBuffer(string: call.body))
                    }
                    let forged = FakeStripe.webhook("checkout.session.completed", id: "evt_x", reference: paymentID, at: Date(), secret: "whsec_wrong")
                    #expect(try E2E.expectProblem(try await post(forged), status: .unauthorized, code: "unauthenticated")["reason"] as? String == "invalid_signature")
                    let completed = FakeStripe.webhook("checkout.session.completed", id: "evt_1", reference: paymentID, at: Date(), secret: Self.secret)
                    let applied = try await post(completed)
                    #expect(applied.status == .ok)
                    #expect(try E2E.object(applied)["outcome"] as? String == "applied")
                    #expect(try E2E.object(try await post(completed))["outcome"] as? String == "duplicate")
                    let entitlement = try E2E.object(try await GatewayMembershipTests.call(client, .get, "/api/v1/communities/\(communityID)/entitlement", token: member.token))
                    #expect(entitlement["entitled"] as? Bool == true)
                    #expect(try await cluster.membership.checkLedger().transactions == 1)
                }
            }
        }
    }
}
