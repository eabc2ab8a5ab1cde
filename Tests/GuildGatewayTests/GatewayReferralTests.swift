import Foundation
import GuildCore
import GuildMessages
import GuildReferral
import GuildService
import GuildTesting
import GuildWire
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Testing

@testable import GuildGateway

/// The referral part of the HTTP API end to end: a member's link brings in a visitor who signs up
/// with the link's cookie and pays, and the referrer sees the commission pending; the owner reads
/// the funnel (whole, refused to a member, partial when content is down or silent, always within
/// the deadline) and the forecast. Also the gateway's own checks, and the funnel's and forecast's
/// arithmetic on figures worked out by hand.
@Suite("Gateway referral end to end")
struct GatewayReferralTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests

    // MARK: Helpers

    struct Community {
        var owner: (token: String, id: String)
        var id: String
        var planID: String
    }

    /// An owner with an active community (refund window 7 days) and a plan Monthly 199.00 CNY.
    static func community(_ client: some TestClientProtocol) async throws -> Community {
        let owner = try await M.register(client, "owner@example.com", "Owner")
        let community = try E2E.object(try await M.call(client, .post, "/api/v1/communities", token: owner.token,
                                                        body: ["slug": "swift-club", "name": "Swift Club", "currency": "CNY", "refundWindowDays": 7]))
        let communityID = try #require(community["id"] as? String)
        _ = try await M.call(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
        let plan = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                                   body: ["name": "Monthly", "priceMinorUnits": 19_900, "period": "monthly"]))
        return Community(owner: owner, id: communityID, planID: try #require(plan["id"] as? String))
    }

    /// The member orders the plan and pays with the sandbox, with a card fingerprint.
    static func pay(_ client: some TestClientProtocol, _ member: (token: String, id: String), _ community: Community, card: String, key: String) async throws {
        let order = try E2E.object(try await M.call(client, .post, "/api/v1/orders", token: member.token,
                                                    body: ["communityId": community.id, "planId": community.planID], idempotencyKey: "order-\(key)"))
        let paymentID = try #require((order["payment"] as? [String: Any])?["id"] as? String)
        let paid = try await M.call(client, .post, "/api/v1/payments/\(paymentID)/sandbox-confirm", token: member.token,
                                    body: ["outcome": "succeeded", "cardFingerprint": card], idempotencyKey: "pay-\(key)")
        #expect(paid.status == .ok)
    }

    static func get(_ client: some TestClientProtocol, _ uri: String, headers: HTTPFields) async throws -> TestResponse {
        try await client.execute(uri: uri, method: .get, headers: headers)
    }

    static let setCookie = HTTPField.Name("Set-Cookie")!
    static let cookie = HTTPField.Name("Cookie")!

    /// The visitor id of a `Set-Cookie: guild_visitor=...` with exactly the attributes asked for.
    static func visitorID(fromSetCookie value: String?, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let value = try #require(value, sourceLocation: sourceLocation)
        let suffix = "; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax"
        #expect(value.hasPrefix("guild_visitor="), sourceLocation: sourceLocation)
        #expect(value.hasSuffix(suffix), sourceLocation: sourceLocation)
        let id = String(value.dropFirst("guild_visitor=".count).dropLast(suffix.count))
        #expect(!id.isEmpty && !id.contains(";"), sourceLocation: sourceLocation)
        return id
    }

    static func stages(_ funnel: [String: Any]) -> [[String: Any]] { funnel["stages"] as? [[String: Any]] ?? [] }

    // MARK: The tour

    @Test("a member's link brings a paying newcomer over HTTP on SQLite: 302 with the cookie, sign-up with it, commission pending; the owner's funnel")
    func tourSQLite() async throws {
        try await Self.tour(on: .sqlite)
    }

    @Test("a member's link brings a paying newcomer over HTTP on PostgreSQL: 302 with the cookie, sign-up with it, commission pending; the owner's funnel",
          .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
    func tourPostgres() async throws {
        try await Self.tour(on: .postgres)
    }

    static func tour(on kind: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: kind) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let community = try await Self.community(client)
                let owner = community.owner
                // The owner sets a 10% commission on the first payment; anyone reads the terms.
                let program = try await M.call(client, .put, "/api/v1/communities/\(community.id)/referral/program", token: owner.token,
                                               body: ["enabled": true, "commissionBp": 1_000, "commissionMode": "first_payment"])
                #expect(program.status == .ok)
                #expect(try E2E.object(program)["commissionBp"] as? Int == 1_000)
                let terms = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(community.id)/referral/program", token: nil))
                #expect(terms["enabled"] as? Bool == true)
                #expect(terms["communityId"] as? String == community.id)

                // A member joins and takes their link.
                let referrer = try await M.register(client, "referrer@example.com", "Referrer")
                try await Self.pay(client, referrer, community, card: "card-referrer", key: "referrer")
                try await cluster.membershipEvents.deliverDue()
                let link = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(community.id)/referral/link", token: referrer.token))
                let code = try #require(link["code"] as? String)
                #expect(link["path"] as? String == "/r/\(code)")
                #expect(link["userId"] as? String == referrer.id)

                // A visitor follows it: redirected to the community with a cookie that keeps them.
                let followed = try await Self.get(client, "/r/\(code)?utm_source=newsletter&utm_campaign=spring", headers: [:])
                #expect(followed.status == .found)
                #expect(followed.headers[.location] == "/?community=\(community.id)&ref=\(code)&by=\(referrer.id)")
                let visitorID = try Self.visitorID(fromSetCookie: followed.headers[Self.setCookie])
                // Again with the cookie, asking for JSON: the same visitor, the visit itself.
                let again = try await Self.get(client, "/r/\(code)", headers: [.accept: "application/json", Self.cookie: "theme=dark; guild_visitor=\(visitorID)"])
                #expect(again.status == .ok)
                #expect(try Self.visitorID(fromSetCookie: again.headers[Self.setCookie]) == visitorID)
                let visit = try E2E.object(again)
                #expect(visit["visitorId"] as? String == visitorID)
                #expect(visit["communityId"] as? String == community.id)
                #expect(visit["source"] as? String == "referral")
                #expect(visit["referrerId"] as? String == referrer.id)
                // An unknown code is a problem, not a redirect.
                let unknown = try await Self.get(client, "/r/no-such-code", headers: [:])
                _ = try E2E.expectProblem(unknown, status: .notFound, code: "not_found")
                #expect(unknown.headers[.location] == nil)

                // The visitor signs up with the cookie: the answer is the usual session, nothing more.
                let registered = try await client.execute(
                    uri: "/api/v1/auth/register", method: .post, headers: [.contentType: "application/json", Self.cookie: "guild_visitor=\(visitorID)"],
                    body: E2E.json(["email": "newcomer@example.com", "password": "correct horse battery", "displayName": "Newcomer"]))
                #expect(registered.status == .created)
                let session = try E2E.object(registered)
                #expect(Set(session.keys) == ["user", "tokens"])
                let newcomer = (token: try E2E.tokens(registered).access, id: try #require((session["user"] as? [String: Any])?["id"] as? String))
                try await Self.pay(client, newcomer, community, card: "card-newcomer", key: "newcomer")
                try await cluster.membershipEvents.deliverDue()
                _ = await cluster.referral.runJobs()

                // The referrer sees the newcomer converted and 10% of 199.00 pending.
                let mine = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(community.id)/referral/me", token: referrer.token))
                #expect(mine["signups"] as? Int == 1)
                #expect(mine["converted"] as? Int == 1)
                #expect(mine["pendingMinorUnits"] as? Int == 1_990)
                #expect(mine["payableMinorUnits"] == nil)
                #expect(mine["currency"] as? String == "CNY")
                let referral = try #require((mine["referrals"] as? [[String: Any]])?.first)
                #expect(referral["userId"] as? String == newcomer.id)
                #expect(referral["status"] as? String == "attributed")
                #expect(referral["source"] as? String == "referral")  // a link's touch, whatever utm it carried
                #expect(referral["campaign"] as? String == "spring")

                // The owner's funnel over the last 30 days: every stage answered, figures by hand:
                // one visitor, who signed up, no trials, and paid (the referrer paid too, but came
                // in through no visit), nobody active yet, nobody a member 30 days ago, one referrer;
                // membership's totals count both first payments.
                let funnelResponse = try await M.call(client, .get, "/api/v1/communities/\(community.id)/analytics/funnel", token: owner.token)
                #expect(funnelResponse.status == .ok)
                let funnel = try E2E.object(funnelResponse)
                #expect(funnel["partial"] == nil)
                #expect(funnel["missing"] == nil)
                let stages = Self.stages(funnel)
                #expect(stages.compactMap { $0["name"] as? String } == ["visitors", "signups", "trials", "paid", "active_30d", "active_7d", "retained", "referrers"])
                #expect(stages.allSatisfy { $0["available"] as? Bool == true })
                #expect(stages.compactMap { $0["service"] as? String } == ["referral", "referral", "referral", "referral", "content", "content", "membership", "referral"])
                #expect(stages.map { $0["count"] as? Int ?? 0 } == [1, 1, 0, 1, 0, 0, 0, 1])
                #expect(stages.map { $0["rateBase"] as? String ?? "" } == ["", "visitors", "signups", "signups", "", "active_30d", "members_at_start", ""])
                #expect(stages[1]["rateFromPrevious"] as? Double == 1)
                #expect(stages[2]["rateFromPrevious"] == nil)  // no trials: 0, omitted
                #expect(stages[3]["rateFromPrevious"] as? Double == 1)  // paid over sign-ups
                #expect(funnel["firstPayments"] as? Int == 2)
                for cohort in funnel["cohorts"] as? [[String: Any]] ?? [] {
                    let size = Double(cohort["size"] as? Int ?? 0)
                    let retained = (cohort["retained"] as? [Int] ?? []).map { size > 0 ? Double($0) / size : 0 }
                    #expect((cohort["retention"] as? [Double] ?? retained.map { _ in 0 }) == retained)
                }

                // A member is not shown any part of it.
                let refused = try await M.call(client, .get, "/api/v1/communities/\(community.id)/analytics/funnel", token: newcomer.token)
                _ = try E2E.expectProblem(refused, status: .forbidden, code: "permission_denied")
                #expect(try E2E.object(refused)["stages"] == nil)

                // A community this young has no history to fit.
                let forecast = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(community.id)/analytics/forecast?period=month&periods=12&horizon=6", token: owner.token))
                #expect(forecast["enoughHistory"] == nil)
                #expect(forecast["message"] as? String == "Not enough history: 1 periods with members, at least 3 are needed for a fit.")
                #expect(forecast["r"] == nil)
                #expect(forecast["forecast"] == nil)
                let history = forecast["history"] as? [[String: Any]] ?? []
                #expect(history.count == 12)
                #expect(history.last?["members"] as? Int == 2)
                let utc = Date().formatted(Date.ISO8601FormatStyle().year().month().dateSeparator(.dash))
                #expect(history.last?["label"] as? String == utc)
                _ = try E2E.expectProblem(try await M.call(client, .get, "/api/v1/communities/\(community.id)/analytics/forecast", token: newcomer.token),
                                          status: .forbidden, code: "permission_denied")
            }
        }
    }

    @Test("points routes over HTTP: rules and levels for visitors, an owner's reward in the catalogue, redeeming needs an Idempotency-Key and points")
    func pointsRoutes() async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let community = try await Self.community(client)
                let member = try await M.register(client, "member@example.com", "Member")
                try await Self.pay(client, member, community, card: "card-member", key: "member")
                try await cluster.membershipEvents.deliverDue()
                // Visitors read the earning rules and the ladder (the catalogue is referral's call:
                // it shows it to members).
                for path in ["points/rules", "levels"] {
                    let response = try await M.call(client, .get, "/api/v1/communities/\(community.id)/\(path)", token: nil)
                    #expect(response.status == .ok, "\(path)")
                }
                let created = try await M.call(client, .post, "/api/v1/communities/\(community.id)/rewards", token: community.owner.token,
                                               body: ["title": "10% off", "kind": "discount", "costPoints": 100, "percentOffBp": 1_000, "validDays": 30, "active": true])
                #expect(created.status == .created)
                let entry = try E2E.object(created)
                let entryID = try #require(entry["id"] as? String)
                #expect(entry["communityId"] as? String == community.id)
                let catalogue = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(community.id)/rewards", token: member.token))
                #expect((catalogue["entries"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [entryID])
                // A member may not edit the catalogue.
                _ = try E2E.expectProblem(try await M.call(client, .patch, "/api/v1/rewards/\(entryID)", token: member.token, body: ["costPoints": 1]),
                                          status: .forbidden, code: "permission_denied")

                let keyless = try await M.call(client, .post, "/api/v1/rewards/\(entryID)/redeem", token: member.token)
                #expect(try E2E.expectProblem(keyless, status: .badRequest, code: "invalid_argument")["reason"] as? String == "idempotency_key_required")
                // With a key but no points: refused, nothing spent.
                let poor = try await M.call(client, .post, "/api/v1/rewards/\(entryID)/redeem", token: member.token, idempotencyKey: "redeem-1")
                _ = try E2E.expectProblem(poor, status: .conflict, code: "failed_precondition")
                let account = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(community.id)/points/me", token: member.token))
                #expect(account["balance"] == nil)
                let hidden = try E2E.object(try await M.call(client, .put, "/api/v1/communities/\(community.id)/leaderboards/visibility", token: member.token, body: ["hidden": true]))
                #expect(hidden["hiddenFromBoards"] as? Bool == true)
                let board = try await M.call(client, .get, "/api/v1/communities/\(community.id)/leaderboards/points_all?limit=10", token: member.token)
                #expect(board.status == .ok)
                #expect(try E2E.object(board)["board"] as? String == "points_all")
            }
        }
    }

    // MARK: Partial funnels

    @Test("content down: the funnel is partial, says content is missing, and comes well within the deadline; a sign-up with referral down still succeeds")
    func contentDown() async throws {
        let timeout: Duration = .seconds(3)
        var configuration = GatewayConfiguration()
        configuration.requestTimeout = timeout
        try await TestCluster.withCluster(gatewayConfiguration: configuration) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let community = try await Self.community(client)
                await cluster.contentServer.close()
                let started = ContinuousClock.now
                let response = try await M.call(client, .get, "/api/v1/communities/\(community.id)/analytics/funnel", token: community.owner.token)
                let elapsed = ContinuousClock.now - started
                #expect(response.status == .ok)
                // A 200 (not the middleware's 504) means the gateway answered within its deadline;
                // the wall-clock bound only catches a hang (a loaded machine adds client-side delay).
                #expect(elapsed < timeout + .seconds(2))
                let funnel = try E2E.object(response)
                #expect(funnel["partial"] as? Bool == true)
                #expect(funnel["missing"] as? [String] == ["content"])
                let stages = Self.stages(funnel)
                #expect(stages.filter { $0["available"] as? Bool != true }.compactMap { $0["name"] as? String } == ["active_30d", "active_7d"])
                #expect(stages.filter { $0["service"] as? String == "content" }.allSatisfy { $0["count"] == nil })
                // A member is still refused, even with a part missing.
                let member = try await M.register(client, "member@example.com", "Member")
                _ = try E2E.expectProblem(try await M.call(client, .get, "/api/v1/communities/\(community.id)/analytics/funnel", token: member.token),
                                          status: .forbidden, code: "permission_denied")

                // Referral down: a visitor still signs up; the attribution is only logged as lost.
                await cluster.referralServer.close()
                let registered = try await client.execute(
                    uri: "/api/v1/auth/register", method: .post, headers: E2E.jsonHeaders,
                    body: E2E.json(["email": "visitor@example.com", "password": "correct horse battery", "displayName": "Visitor", "visitorId": "v-123"]))
                #expect(registered.status == .created)
                #expect(Set(try E2E.object(registered).keys) == ["user", "tokens"])
                let funnel2 = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(community.id)/analytics/funnel", token: community.owner.token))
                #expect(funnel2["missing"] as? [String] == ["content", "referral"])
            }
        }
    }

    @Test("content silent (accepts connections, never answers): the funnel is partial within the request's deadline")
    func contentSilent() async throws {
        try await TestCluster.withCluster { cluster in
            let blackHole = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .childChannelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
                .bind(host: "127.0.0.1", port: 0).get()
            var configuration = cluster.gateway.configuration
            configuration.services[.content] = [WireEndpoint(host: "127.0.0.1", port: blackHole.localAddress!.port!)]
            // Room for membership and referral to answer on a loaded machine (a new connection
            // each, and their databases): only content is meant to be missing.
            let timeout: Duration = .seconds(4)
            configuration.requestTimeout = timeout
            let slow = try Gateway(configuration: configuration, tls: try cluster.certificates.tls(for: .gateway), logger: Logger(label: "test"))
            let community = try await cluster.gateway.makeApplication().test(.live) { client in try await Self.community(client) }
            try await slow.makeApplication().test(.live) { client in
                let started = ContinuousClock.now
                let response = try await M.call(client, .get, "/api/v1/communities/\(community.id)/analytics/funnel", token: community.owner.token)
                let elapsed = ContinuousClock.now - started
                #expect(response.status == .ok)
                // A 200 (not the middleware's 504) means the gateway answered within its deadline;
                // the wall-clock bound only catches a hang (a loaded machine adds client-side delay).
                #expect(elapsed < timeout + .seconds(2))
                #expect(elapsed >= .milliseconds(1_000))  // it did wait for content, up to its share of the deadline
                let funnel = try E2E.object(response)
                #expect(funnel["partial"] as? Bool == true)
                #expect(funnel["missing"] as? [String] == ["content"])
            }
            try await blackHole.close()
        }
    }

    // MARK: The gateway's own checks

    @Test("bad query parameters and bodies are problems naming the field; redeeming without a key is refused; a visitor id that is not a token is ignored")
    func gatewayChecks() async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let user = try await M.register(client, "ada@example.com", "Ada")
                for (uri, field) in [
                    ("/api/v1/communities/c/analytics/funnel?from=yesterday", "from"),
                    ("/api/v1/communities/c/analytics/funnel?to=2026-13-01T00:00:00Z", "to"),
                    ("/api/v1/communities/c/analytics/funnel?from=2026-05-01T00:00:00Z&to=2026-04-01T00:00:00Z", "to"),
                    ("/api/v1/communities/c/analytics/funnel?from=2026-05-01T00:00:00Z&to=2026-05-01T00:00:00Z", "to"),
                    ("/api/v1/communities/c/analytics/funnel?from=2025-01-01T00:00:00Z&to=2026-01-03T00:00:00Z", "from"),
                    ("/api/v1/communities/c/analytics/forecast?period=year", "period"),
                    ("/api/v1/communities/c/analytics/forecast?periods=2", "periods"),
                    ("/api/v1/communities/c/analytics/forecast?periods=61", "periods"),
                    ("/api/v1/communities/c/analytics/forecast?horizon=0", "horizon"),
                    ("/api/v1/communities/c/analytics/forecast?horizon=six", "horizon"),
                    ("/api/v1/communities/c/leaderboards/points_all?limit=ten", "limit"),
                    ("/api/v1/communities/c/leaderboards/points_all?limit=500", "limit"),
                ] {
                    let problem = try E2E.expectProblem(try await M.call(client, .get, uri, token: user.token), status: .badRequest, code: "invalid_argument")
                    #expect((problem["errors"] as? [[String: Any]])?.first?["field"] as? String == field, "\(uri)")
                }
                // A range of exactly 366 days passes the gateway (the services then refuse a stranger).
                let longest = try await M.call(client, .get, "/api/v1/communities/c/analytics/funnel?from=2025-01-01T00:00:00Z&to=2026-01-02T00:00:00Z", token: user.token)
                #expect([.forbidden, .notFound].contains(longest.status))
                // Analytics need a token.
                _ = try E2E.expectProblem(try await M.call(client, .get, "/api/v1/communities/c/analytics/funnel", token: nil), status: .unauthorized, code: "unauthenticated")

                // Bodies: too large, not JSON, unknown fields.
                let huge = String(repeating: "x", count: 20_000)
                _ = try E2E.expectProblem(try await M.call(client, .put, "/api/v1/communities/c/referral/program", token: user.token, body: ["commissionMode": huge]),
                                          status: .contentTooLarge, code: "content_too_large")
                let malformed = try await client.execute(uri: "/api/v1/communities/c/points/rules", method: .put,
                                                         headers: [.contentType: "application/json", .authorization: "Bearer \(user.token)"], body: ByteBuffer(string: "{\"rules\": ["))
                #expect(try E2E.expectProblem(malformed, status: .badRequest, code: "invalid_argument")["reason"] as? String == "malformed_json")
                let unknownField = try await M.call(client, .post, "/api/v1/referral/visits", token: nil, body: ["code": "x", "owner": "me"])
                #expect(try E2E.expectProblem(unknownField, status: .badRequest, code: "invalid_argument")["reason"] as? String == "malformed_json")
                let notJSON = try await client.execute(uri: "/api/v1/referral/signup", method: .post,
                                                       headers: [.contentType: "text/plain", .authorization: "Bearer \(user.token)"], body: ByteBuffer(string: "v-1"))
                _ = try E2E.expectProblem(notJSON, status: .unsupportedMediaType, code: "unsupported_media_type")

                // Redeeming spends points: a key is required before anything else happens.
                let keyless = try await M.call(client, .post, "/api/v1/rewards/r-1/redeem", token: user.token)
                #expect(try E2E.expectProblem(keyless, status: .badRequest, code: "invalid_argument")["reason"] as? String == "idempotency_key_required")

                // The card fingerprint is at most 128 characters.
                let longCard = try await M.call(client, .post, "/api/v1/payments/p-1/sandbox-confirm", token: user.token,
                                                body: ["cardFingerprint": String(repeating: "f", count: 129)], idempotencyKey: "pay-x")
                let problem = try E2E.expectProblem(longCard, status: .badRequest, code: "invalid_argument")
                #expect((problem["errors"] as? [[String: Any]])?.first?["field"] as? String == "cardFingerprint")

                // A visitor id that is not a plain token never reaches referral, and never fails a sign-up.
                let registered = try await client.execute(
                    uri: "/api/v1/auth/register", method: .post, headers: [.contentType: "application/json", Self.cookie: "guild_visitor=a;b"],
                    body: E2E.json(["email": "bob@example.com", "password": "correct horse battery", "displayName": "Bob", "visitorId": "<script>"]))
                #expect(registered.status == .created)
            }
        }
    }

    @Test("cookie and landing helpers: plain tokens only, percent-encoded landing path")
    func helpers() {
        #expect(Gateway.visitorSetCookie("v_1-a.B") == "guild_visitor=v_1-a.B; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax")
        #expect(Gateway.visitorSetCookie("") == nil)
        #expect(Gateway.visitorSetCookie("a;b") == nil)
        #expect(Gateway.visitorSetCookie(String(repeating: "a", count: 129)) == nil)
        #expect(Gateway.landingPath(communityID: "c-1", code: "AB 12&x") == "/?community=c-1&ref=AB%2012%26x")
    }

    // MARK: Arithmetic worked out by hand

    static let lifecycle = build(MembershipLifecycleStats()) {
        $0.trials = 40
        $0.paidConversions = 25
        $0.trialToPaid = 20
        $0.membersAtStart = 200
        $0.retained = 150
        $0.membersAtEnd = 260
        $0.cohorts = [
            build(MembershipCohort()) { $0.month = "2026-05"; $0.size = 10; $0.retained = [10, 8, 5] },
            build(MembershipCohort()) { $0.month = "2026-06"; $0.size = 0; $0.retained = [0] },
        ]
    }
    static let activity = build(ContentActivityStats()) { $0.active30D = 120; $0.active7D = 60; $0.activeInRange = 130 }
    static let referralStats = build(ReferralFunnelStats()) {
        $0.visitors = 1_000
        $0.signups = 100
        $0.trials = 40
        $0.paid = 25
        $0.trialToPaid = 20
        $0.referrers = 12
        $0.bySource = [build(ReferralSourceStats()) { $0.source = "referral"; $0.visitors = 400; $0.signups = 60; $0.paid = 9 }]
    }

    @Test("the funnel's stages, rates, trial-to-paid and cohort retention from figures worked out by hand")
    func funnelArithmetic() {
        let funnel = Gateway.assembleFunnel(communityID: "c", from: 1_000, to: 2_000, lifecycle: Self.lifecycle, activity: Self.activity, referral: Self.referralStats)
        #expect(funnel.communityID == "c" && funnel.fromMs == 1_000 && funnel.toMs == 2_000)
        #expect(funnel.stages.map(\.name) == ["visitors", "signups", "trials", "paid", "active_30d", "active_7d", "retained", "referrers"])
        #expect(funnel.stages.map(\.count) == [1_000, 100, 40, 25, 120, 60, 150, 12])
        // Sign-ups over visitors 100/1000; trials and paid each over sign-ups, 40/100 and
        // 25/100; active_30d a level; 60/120 active in the last 7 days; retained over members at
        // the start 150/200; referrers a level.
        #expect(funnel.stages.map(\.rateFromPrevious) == [0, 0.1, 0.4, 0.25, 0, 0.5, 0.75, 0])
        #expect(funnel.stages.map(\.rateBase) == ["", "visitors", "signups", "signups", "", "active_30d", "members_at_start", ""])
        #expect(funnel.stages.allSatisfy { $0.available })
        #expect(funnel.trialToPaid == 20)
        #expect(funnel.trialToPaidRate == 0.5)
        #expect(funnel.membersAtStart == 200 && funnel.membersAtEnd == 260 && funnel.trialsStarted == 40 && funnel.firstPayments == 25)
        #expect(funnel.cohorts.map(\.retention) == [[1, 0.8, 0.5], [0]])
        #expect(funnel.cohorts.map(\.retained) == [[10, 8, 5], [0]])
        #expect(funnel.bySource.first?.signups == 60)
        #expect(!funnel.partial && funnel.missing.isEmpty)
    }

    @Test("a missing part: its stages unavailable with count and rate 0, the next stage's rate 0, the rest as before")
    func funnelPartial() {
        let noContent = Gateway.assembleFunnel(communityID: "c", from: 0, to: 1, lifecycle: Self.lifecycle, activity: nil, referral: Self.referralStats)
        #expect(noContent.stages.map(\.available) == [true, true, true, true, false, false, true, true])
        #expect(noContent.stages.map(\.count) == [1_000, 100, 40, 25, 0, 0, 150, 12])
        #expect(noContent.stages.map(\.rateFromPrevious) == [0, 0.1, 0.4, 0.25, 0, 0, 0.75, 0])
        #expect(noContent.partial && noContent.missing == ["content"])

        let onlyContent = Gateway.assembleFunnel(communityID: "c", from: 0, to: 1, lifecycle: nil, activity: Self.activity, referral: nil)
        #expect(onlyContent.stages.map(\.available) == [false, false, false, false, true, true, false, false])
        #expect(onlyContent.stages.map(\.rateFromPrevious) == [0, 0, 0, 0, 0, 0.5, 0, 0])
        #expect(onlyContent.missing == ["membership", "referral"])
        #expect(onlyContent.cohorts.isEmpty && onlyContent.bySource.isEmpty && onlyContent.trialToPaid == 0)

    }

    static func counts(_ period: String, _ rows: [(String, Int64, Int64)]) -> MembershipMemberCounts {
        build(MembershipMemberCounts()) {
            $0.period = period
            $0.points = rows.map { row in build(MembershipPeriodMembers()) { $0.label = row.0; $0.startMs = row.1; $0.members = row.2 } }
        }
    }

    @Test("the forecast: 10% a month exactly gives r = 0.1 and 1464.1 members next month, labelled 2026-12 onwards; too little history is a message, not a number")
    func forecastArithmetic() throws {
        let nov = Int64(1_793_491_200_000)  // 2026-11-01T00:00:00Z
        var history = Self.counts("month", [("2026-08", 0, 1_000), ("2026-09", 0, 1_100), ("2026-10", 0, 1_210), ("2026-11", nov, 1_331)])
        history.points[3].endMs = 1_796_083_200_000
        let forecast = Gateway.forecast(communityID: "c", counts: history, period: "month", horizon: 3)
        #expect(forecast.enoughHistory)
        #expect(forecast.message.isEmpty)
        #expect(abs(forecast.r - 0.1) < 1e-9)
        #expect(abs(forecast.rLow - 0.1) < 1e-9 && abs(forecast.rHigh - 0.1) < 1e-9)
        #expect(abs(forecast.rSquared - 1) < 1e-9)
        #expect(abs(forecast.c - 1_000) < 1e-6)
        #expect(forecast.periodsUsed == 4)
        #expect(forecast.history.map(\.hasRate) == [false, true, true, true])
        #expect(forecast.history.dropFirst().allSatisfy { abs($0.rate - 0.1) < 1e-12 })
        #expect(forecast.forecast.map(\.label) == ["2026-12", "2027-01", "2027-02"])
        #expect(forecast.forecast.map(\.t) == [1, 2, 3])
        #expect(abs(forecast.forecast[0].members - 1_464.1) < 1e-6)
        #expect(abs(forecast.forecast[2].members - 1_771.561) < 1e-6)

        let young = Gateway.forecast(communityID: "c", counts: Self.counts("month", [("2026-09", 0, 0), ("2026-10", 0, 3), ("2026-11", 0, 5)]), period: "month", horizon: 6)
        #expect(!young.enoughHistory)
        #expect(young.message == "Not enough history: 2 periods with members, at least 3 are needed for a fit.")
        #expect(young.r == 0 && young.forecast.isEmpty)
        #expect(young.history.map(\.members) == [0, 3, 5])
        #expect(young.history.map(\.hasRate) == [false, false, true])

        let gone = Gateway.forecast(communityID: "c", counts: Self.counts("month", [("2026-09", 0, 4), ("2026-10", 0, 0), ("2026-11", 0, 5)]), period: "month", horizon: 6)
        #expect(!gone.enoughHistory && gone.message.hasPrefix("No fit:"))
    }

    @Test("forecast labels continue the history's: ISO weeks across a 53-week year, weeks by first day, months across December")
    func forecastLabels() {
        let w52 = Int64(1_797_811_200_000)  // Monday 2026-12-21, ISO week 2026-W52
        let week = build(MembershipPeriodMembers()) { $0.label = "2026-W52"; $0.startMs = w52; $0.endMs = w52 + 7 * 86_400_000 }
        #expect(Gateway.nextLabels(after: week, period: "week", count: 2) == ["2026-W53", "2027-W01"])
        var byDay = week
        byDay.label = "2026-12-21"
        #expect(Gateway.nextLabels(after: byDay, period: "week", count: 2) == ["2026-12-28", "2027-01-04"])
        let december = build(MembershipPeriodMembers()) { $0.label = "2026-12" }
        #expect(Gateway.nextLabels(after: december, period: "month", count: 3) == ["2027-01", "2027-02", "2027-03"])
    }
}

/// `value` after `change`: a message built in one expression (what SwiftProtobuf's `with` does).
private func build<Value>(_ value: Value, _ change: (inout Value) -> Void) -> Value {
    var value = value
    change(&value)
    return value
}
