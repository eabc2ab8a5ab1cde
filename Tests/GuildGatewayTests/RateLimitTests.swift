import Foundation
import GuildCore
import GuildGateway
import GuildTesting
import HTTPTypes
import HummingbirdTesting
import Testing

/// The gateway's rate limits: per client address and per account, by route class, answered
/// with 429, `Retry-After` and a problem document.
@Suite("Rate limits")
struct RateLimitTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests

    static func get(_ client: some TestClientProtocol, _ path: String, from address: String) async throws -> TestResponse {
        try await client.execute(uri: path, method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: address], body: nil)
    }

    @Test("under the defaults, an address past 300 reads in 10 seconds gets 429 with Retry-After; others, health and loopback do not; the window slides")
    func readsPerAddress() async throws {
        var configuration = GatewayConfiguration()
        configuration.trustForwardedFor = true
        // The gateway's clock stands still while the requests go out, however slow the machine.
        let clock = ManualWallClock(Date())
        configuration.clock = clock
        try await TestCluster.withCluster(gatewayConfiguration: configuration) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                var statuses: [Int: Int] = [:]
                for _ in 0..<300 {
                    statuses[Int(try await Self.get(client, "/api/v1/communities", from: "203.0.113.7").status.code), default: 0] += 1
                }
                #expect(statuses == [200: 300])
                let refused = try await Self.get(client, "/api/v1/communities", from: "203.0.113.7")
                #expect(refused.status == .tooManyRequests)
                let retryAfter = try #require(refused.headers[.retryAfter].flatMap { Int($0) })
                #expect((1...10).contains(retryAfter))
                #expect(refused.headers[.contentType] == "application/problem+json")
                let problem = try E2E.object(refused)
                #expect(problem["code"] as? String == "resource_exhausted" && problem["reason"] as? String == "rate_limited")
                #expect(problem["status"] as? Int == 429)
                // Another address, the health routes and the machine itself are not held back.
                #expect(try await Self.get(client, "/api/v1/communities", from: "198.51.100.1").status == .ok)
                #expect(try await Self.get(client, "/healthz", from: "203.0.113.7").status == .ok)
                #expect(try await client.execute(uri: "/api/v1/communities", method: .get).status == .ok)
                // Five seconds on, the 300 are still inside the window: still refused.
                clock.advance(by: 5)
                #expect(try await Self.get(client, "/api/v1/communities", from: "203.0.113.7").status == .tooManyRequests)
                // Fifteen seconds on, half of that window has slid out: allowed again.
                clock.advance(by: 10)
                #expect(try await Self.get(client, "/api/v1/communities", from: "203.0.113.7").status == .ok)
            }
        }
    }

    @Test("an account's limit holds whatever address it comes from, per class; sign-ups are limited per address")
    func perAccount() async throws {
        var configuration = GatewayConfiguration()
        configuration.trustForwardedFor = true
        configuration.clock = ManualWallClock(Date())
        configuration.rateLimits = try #require(RateLimits("account.write=3/10s,signup=2/60s"))
        try await TestCluster.withCluster(gatewayConfiguration: configuration) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let owner = try await M.register(client, "owner@example.com", "Owner")
                var codes: [Int] = []
                for index in 0..<4 {
                    let response = try await client.execute(
                        uri: "/api/v1/communities", method: .post,
                        headers: [.authorization: "Bearer \(owner.token)", .contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: "192.0.2.\(index + 1)"],
                        body: E2E.json(["slug": "club-\(index)", "name": "Club \(index)"]))
                    codes.append(Int(response.status.code))
                }
                #expect(codes == [201, 201, 201, 429])
                // Reads are another class: still allowed.
                #expect(try await M.call(client, .get, "/api/v1/me", token: owner.token).status == .ok)
                // Sign-ups from one address: the third within the minute is refused, as a page for a browser.
                var signups: [Int] = []
                for index in 0..<3 {
                    let response = try await client.execute(
                        uri: "/api/v1/auth/register", method: .post,
                        headers: [.contentType: "application/json", HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"],
                        body: E2E.json(["email": "new\(index)@example.com", "password": "correct horse battery", "displayName": "New"]))
                    signups.append(Int(response.status.code))
                }
                #expect(signups == [201, 201, 429])
            }
        }
    }

    @Test("limits parse from text: off, changes to the defaults, and refusals of nonsense")
    func parsing() throws {
        #expect(RateLimits("") == .defaults)
        #expect(RateLimits("off") == .off)
        let changed = try #require(RateLimits("read=10/1s, account.money=off"))
        #expect(changed.perAddress[.read] == .init(requests: 10, window: .seconds(1)))
        #expect(changed.perAccount[.money] == nil)
        #expect(changed.perAddress[.write] == RateLimits.defaults.perAddress[.write])
        for bad in ["read", "reads=1/1s", "read=0/1s", "read=1/1", "read=1/0s", "device.read=1/1s", "read=a/1s"] {
            #expect(RateLimits(bad) == nil, "\(bad)")
        }
        #expect(RateLimits.routeClass(method: .get, path: "/c/x") == .read)
        #expect(RateLimits.routeClass(method: .post, path: "/api/v1/orders") == .money)
        #expect(RateLimits.routeClass(method: .post, path: "/signup") == .signup)
        #expect(RateLimits.routeClass(method: .post, path: "/api/v1/items/1/comments") == .write)
        #expect(RateLimits.routeClass(method: .get, path: "/assets/abc/guild.css") == nil)
        #expect(RateLimits.routeClass(method: .post, path: "/api/v1/stripe/webhook") == nil)
    }
}
