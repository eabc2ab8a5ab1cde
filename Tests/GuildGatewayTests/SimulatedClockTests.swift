import Foundation
import GuildCore
import GuildGateway
import GuildService
import GuildTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Every process reads time on its own clock (a simulated one in demos and here, eleven months
/// behind the machine's), never on the machine's: answers computed from instants another
/// service wrote, and caches, agree with that clock.
@Suite("Simulated clock")
struct SimulatedClockTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests

    @Test("sign-up's expiresIn and content's cache of who may read follow the cluster's clock, not the machine's")
    func cachesFollowTheClock() async throws {
        let clock = ManualWallClock(Date(timeIntervalSince1970: 1_767_225_600))  // 2026-01-01, long before the machine's now
        var gatewayConfiguration = GatewayConfiguration()
        gatewayConfiguration.clock = clock
        try await TestCluster.withCluster(clock: clock, gatewayConfiguration: gatewayConfiguration) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let signup = try await client.execute(
                    uri: "/api/v1/auth/register", method: .post, headers: E2E.jsonHeaders,
                    body: E2E.json(["email": "owner@example.com", "password": "correct horse battery", "displayName": "Owner"]))
                let tokens = try #require(try E2E.object(signup)["tokens"] as? [String: Any])
                #expect(tokens["expiresIn"] as? Int == 900)
                let owner = try E2E.tokens(signup).access

                let community = try #require(try E2E.object(try await M.call(client, .post, "/api/v1/communities", token: owner,
                                                                            body: ["slug": "clock-club", "name": "Clock", "currency": "CNY"]))["id"] as? String)
                _ = try await M.call(client, .patch, "/api/v1/communities/\(community)", token: owner, body: ["status": "active"])
                let plan = try #require(try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(community)/plans", token: owner,
                                                                       body: ["name": "Monthly", "priceMinorUnits": 19_900, "period": "monthly"]))["id"] as? String)
                let post = try #require(try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(community)/items", token: owner, body: [
                    "kind": "post", "title": "Members only", "markdown": "The paid text.", "access": ["mode": "members"], "publish": true,
                ]))["id"] as? String)

                let member = try await M.register(client, "member@example.com", "Member")
                let order = try E2E.object(try await M.call(client, .post, "/api/v1/orders", token: member.token,
                                                             body: ["communityId": community, "planId": plan], idempotencyKey: "order"))
                let payment = try #require((order["payment"] as? [String: Any])?["id"] as? String)
                _ = try await M.call(client, .post, "/api/v1/payments/\(payment)/sandbox-confirm", token: member.token, body: [:], idempotencyKey: "pay")
                try await cluster.membershipEvents.deliverDue()
                #expect(try E2E.object(try await M.call(client, .get, "/api/v1/items/\(post)", token: member.token))["locked"] as? Bool != true)

                // The owner refunds; membership's news is not delivered, so content's cached
                // answer stands until it is 30 seconds old on the cluster's clock.
                let orderID = try #require(order["id"] as? String)
                let refunded = try await M.call(client, .post, "/api/v1/orders/\(orderID)/refunds", token: owner, body: ["reason": "test"], idempotencyKey: "refund")
                #expect(refunded.status == .ok)
                #expect(try E2E.object(try await M.call(client, .get, "/api/v1/items/\(post)", token: member.token))["locked"] as? Bool != true)
                clock.advance(by: 31)
                #expect(try E2E.object(try await M.call(client, .get, "/api/v1/items/\(post)", token: member.token))["locked"] as? Bool == true)
            }
        }
    }
}
