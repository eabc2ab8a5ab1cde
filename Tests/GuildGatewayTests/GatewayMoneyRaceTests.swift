import Foundation
import GuildCore
import GuildGateway
import GuildMembership
import GuildMessages
import GuildStorage
import GuildTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import SQLKit
import Testing

/// The money limits raced the way a user met them: HTTP requests at once through the gateway,
/// over the wire to membership, on SQLite and on PostgreSQL (when configured).
@Suite("Gateway money races")
struct GatewayMoneyRaceTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests

    /// An owner's active community with a monthly plan of 199.00 CNY.
    static func community(_ client: some TestClientProtocol, slug: String) async throws -> (owner: String, community: String, plan: String) {
        let owner = try await M.register(client, "owner@\(slug).example.com", "Owner")
        let community = try #require(try E2E.object(try await M.call(client, .post, "/api/v1/communities", token: owner.token,
                                                                    body: ["slug": slug, "name": "Race", "currency": "CNY", "refundWindowDays": 7]))["id"] as? String)
        _ = try await M.call(client, .patch, "/api/v1/communities/\(community)", token: owner.token, body: ["status": "active"])
        let plan = try #require(try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(community)/plans", token: owner.token,
                                                               body: ["name": "Monthly", "priceMinorUnits": 19_900, "period": "monthly"]))["id"] as? String)
        return (owner.token, community, plan)
    }

    static func paymentID(_ order: [String: Any]) throws -> String {
        try #require((order["payment"] as? [String: Any])?["id"] as? String)
    }

    @Test("a group of 3: the opener paid, six join and pay at once; the group completes with 3 and nobody's money is stranded",
          arguments: TestDatabaseKind.available)
    func groupBuy(_ store: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: store) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let (owner, community, plan) = try await Self.community(client, slug: "group-race")
                let offer = try #require(try E2E.object(try await M.call(client, .post, "/api/v1/plans/\(plan)/group-offers", token: owner,
                                                                        body: ["groupSize": 3, "priceMinorUnits": 6_000, "windowHours": 24]))["id"] as? String)
                let opener = try await M.register(client, "opener@example.com", "Opener")
                let group = try E2E.object(try await M.call(client, .post, "/api/v1/group-offers/\(offer)/groups", token: opener.token, idempotencyKey: "open"))
                let sharePath = try #require(group["sharePath"] as? String)
                _ = try await M.call(client, .post, "/api/v1/payments/\(try Self.paymentID(try #require(group["yourOrder"] as? [String: Any])))/sandbox-confirm",
                                     token: opener.token, body: [:], idempotencyKey: "pay-opener")
                var joiners: [String] = []
                for index in 0..<6 { joiners.append(try await M.register(client, "joiner\(index)@example.com", "Joiner \(index)").token) }
                let tokens = joiners
                // Each joins and at once pays; all six together.
                let outcomes = await Race.run(6) { index -> Int in
                    let joined = try await M.call(client, .post, sharePath + "/join", token: tokens[index], idempotencyKey: "join-\(index)")
                    guard joined.status == .ok || joined.status == .created else { return Int(joined.status.code) }
                    let order = try #require(try E2E.object(joined)["yourOrder"] as? [String: Any])
                    let paid = try await M.call(client, .post, "/api/v1/payments/\(try Self.paymentID(order))/sandbox-confirm",
                                                token: tokens[index], body: [:], idempotencyKey: "pay-\(index)")
                    return Int(paid.status.code)
                }
                let codes = outcomes.successes().sorted()
                #expect(outcomes.failures().isEmpty)
                #expect(codes == [200, 200, 429, 429, 429, 429])
                let done = try E2E.object(try await M.call(client, .get, sharePath, token: nil))
                #expect(done["status"] as? String == "completed")
                #expect(done["paid"] as? Int == 3)
                var members = 0
                for token in tokens + [opener.token] {
                    let entitlement = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(community)/entitlement", token: token))
                    if entitlement["entitled"] as? Bool == true { members += 1 }
                }
                #expect(members == 3)
                let held = try await cluster.membershipDatabase.database.withConnection { sql in
                    try await sql.raw("SELECT COUNT(*) AS n FROM orders WHERE status = 'held'").first()?.decode(column: "n", as: Int.self)
                }
                #expect(held == 0)
                #expect(try await cluster.membership.checkLedger().violations.isEmpty)
            }
        }
    }

    @Test("a coupon once per member: six orders at once with six keys make one order with the coupon", arguments: TestDatabaseKind.available)
    func couponPerMember(_ store: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: store) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let (owner, community, plan) = try await Self.community(client, slug: "coupon-race")
                _ = try await M.call(client, .post, "/api/v1/communities/\(community)/coupons", token: owner,
                                     body: ["code": "ONCE", "kind": "percent", "percentOffBp": 2000, "maxPerUser": 1])
                let member = try await M.register(client, "member@example.com", "Member")
                let orders = await Race.run(6) { index in
                    try await M.call(client, .post, "/api/v1/orders", token: member.token,
                                     body: ["communityId": community, "planId": plan, "couponCode": "ONCE"], idempotencyKey: "order-\(index)")
                }
                let responses = orders.successes()
                #expect(responses.filter { $0.status == .created }.count == 1)
                let refused = responses.filter { $0.status != .created }
                #expect(refused.count == 5)
                for response in refused {
                    #expect(try E2E.expectProblem(response, status: .conflict, code: "failed_precondition")["reason"] as? String == "coupon_user_limit")
                }
                let count = try await cluster.membershipDatabase.database.withConnection { sql in
                    try await sql.raw("SELECT COUNT(*) AS n FROM orders WHERE coupon_id IS NOT NULL").first()?.decode(column: "n", as: Int.self)
                }
                #expect(count == 1)
            }
        }
    }

    @Test("six full refunds of one order at once: one refund, the order refunded once", arguments: TestDatabaseKind.available)
    func refunds(_ store: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: store) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let (_, community, plan) = try await Self.community(client, slug: "refund-race")
                let member = try await M.register(client, "member@example.com", "Member")
                let order = try E2E.object(try await M.call(client, .post, "/api/v1/orders", token: member.token,
                                                             body: ["communityId": community, "planId": plan], idempotencyKey: "order"))
                let orderID = try #require(order["id"] as? String)
                _ = try await M.call(client, .post, "/api/v1/payments/\(try Self.paymentID(order))/sandbox-confirm", token: member.token,
                                     body: [:], idempotencyKey: "pay")
                let refunds = await Race.run(6) { index in
                    try await M.call(client, .post, "/api/v1/orders/\(orderID)/refunds", token: member.token, body: ["reason": "changed my mind"],
                                     idempotencyKey: "refund-\(index)")
                }
                let responses = refunds.successes()
                #expect(responses.filter { $0.status == .ok }.count == 1)
                for response in responses where response.status != .ok {
                    #expect(try E2E.expectProblem(response, status: .conflict, code: "failed_precondition")["reason"] as? String == "nothing_to_refund")
                }
                let after = try E2E.object(try await M.call(client, .get, "/api/v1/orders/\(orderID)", token: member.token))
                #expect(after["status"] as? String == "refunded")
                #expect((after["refunds"] as? [[String: Any]])?.count == 1)
                #expect(try await cluster.membership.checkLedger().violations.isEmpty)
            }
        }
    }
}
