import Foundation
import GuildGateway
import GuildTesting
import HTTPTypes
import HummingbirdTesting
import Testing

/// The account routes the web front end's /account pages use: a new display name, signing out
/// everywhere, and the member's orders with their refund window.
@Suite("Account routes")
struct AccountRoutesTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests

    @Test("PATCH /me renames; logout-everywhere ends every session; /me/orders lists receipts with the refund window", arguments: TestDatabaseKind.available)
    func account(database: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: database) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let owner = try await M.register(client, "owner@example.com", "Owner")
                let community = try E2E.object(try await M.call(client, .post, "/api/v1/communities", token: owner.token,
                                                                body: ["slug": "club", "name": "Club", "currency": "CNY", "refundWindowDays": 7]))
                let communityID = try #require(community["id"] as? String)
                _ = try await M.call(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
                let plan = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                                           body: ["name": "Monthly", "priceMinorUnits": 9_900, "period": "monthly"]))
                let member = try await M.register(client, "member@example.com", "Member")

                // A new name; a missing or empty one is a problem naming the field.
                let renamed = try E2E.object(try await M.call(client, .patch, "/api/v1/me", token: member.token, body: ["displayName": "  Grace  "]))
                #expect(renamed["displayName"] as? String == "Grace")
                for body: [String: Any] in [[:], ["displayName": ""], ["displayName": String(repeating: "x", count: 65)]] {
                    let refused = try await M.call(client, .patch, "/api/v1/me", token: member.token, body: body)
                    #expect(refused.status == .badRequest)
                    #expect((try E2E.object(refused)["errors"] as? [[String: Any]])?.first?["field"] as? String == "displayName")
                }

                // Orders: none, then one paid, with its refund window.
                #expect((try E2E.object(try await M.call(client, .get, "/api/v1/me/orders", token: member.token))["orders"] as? [Any])?.isEmpty == true)
                let order = try E2E.object(try await M.call(client, .post, "/api/v1/orders", token: member.token,
                                                            body: ["communityId": communityID, "planId": try #require(plan["id"] as? String)], idempotencyKey: "o-1"))
                let pending = try #require((try E2E.object(try await M.call(client, .get, "/api/v1/me/orders", token: member.token))["orders"] as? [[String: Any]])?.first)
                #expect(pending["status"] as? String == "pending" && pending["refundableUntil"] == nil)
                let paymentID = try #require((order["payment"] as? [String: Any])?["id"] as? String)
                _ = try await M.call(client, .post, "/api/v1/payments/\(paymentID)/sandbox-confirm", token: member.token, body: [:], idempotencyKey: "p-1")
                let orders = try #require(try E2E.object(try await M.call(client, .get, "/api/v1/me/orders", token: member.token))["orders"] as? [[String: Any]])
                #expect(orders.count == 1)
                let until = try #require(orders[0]["refundableUntil"] as? String)
                let parse = ISO8601DateFormatter()
                parse.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                let completedAt = try #require((orders[0]["payment"] as? [String: Any])?["completedAt"] as? String)
                let paidAt = try #require(parse.date(from: completedAt))
                let untilDate = try #require(parse.date(from: until))
                #expect(abs(untilDate.timeIntervalSince(paidAt) - 7 * 86_400) < 1)
                // Someone else's orders are not in the list; the limit is checked.
                #expect((try E2E.object(try await M.call(client, .get, "/api/v1/me/orders", token: owner.token))["orders"] as? [Any])?.isEmpty == true)
                #expect(try await M.call(client, .get, "/api/v1/me/orders?limit=101", token: member.token).status == .badRequest)

                // Signing out everywhere: the refresh tokens of both sessions stop working.
                let other = try E2E.object(try await M.call(client, .post, "/api/v1/auth/login", token: nil,
                                                            body: ["email": "member@example.com", "password": "correct horse battery"]))
                let refresh = try #require((other["tokens"] as? [String: Any])?["refreshToken"] as? String)
                #expect(try await M.call(client, .post, "/api/v1/auth/logout-everywhere", token: member.token).status == .noContent)
                let refused = try await M.call(client, .post, "/api/v1/auth/refresh", token: nil, body: ["refreshToken": refresh])
                #expect(refused.status == .unauthorized)
                #expect(try await M.call(client, .post, "/api/v1/auth/logout-everywhere", token: nil).status == .unauthorized)
            }
        }
    }
}
