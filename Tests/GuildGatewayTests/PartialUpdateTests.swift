import Foundation
import GuildCore
import GuildGateway
import GuildTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Every PATCH changes only the fields it names, and no PUT reads a missing switch as "off":
/// one test per route, over HTTP.
@Suite("Partial updates")
struct PartialUpdateTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests
    typealias R = GatewayReferralTests

    static func withCommunity(_ body: @escaping @Sendable (any TestClientProtocol, R.Community) async throws -> Void) async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                try await body(client, try await R.community(client))
            }
        }
    }

    @Test("PATCH /communities/{id}: a field left out stays as it was")
    func community() async throws {
        try await Self.withCommunity { client, c in
            let set = try await M.call(client, .patch, "/api/v1/communities/\(c.id)", token: c.owner.token,
                                       body: ["description": "For Swift people.", "refundWindowDays": 14, "dissolutionRefund": "none"])
            #expect(set.status == .ok)
            let renamed = try E2E.object(try await M.call(client, .patch, "/api/v1/communities/\(c.id)", token: c.owner.token, body: ["name": "Swift Guild"]))
            #expect(renamed["name"] as? String == "Swift Guild")
            #expect(renamed["description"] as? String == "For Swift people.")
            #expect(renamed["refundWindowDays"] as? Int == 14)
            #expect(renamed["dissolutionRefund"] as? String == "none")
            #expect(renamed["status"] as? String == "active")
            #expect(renamed["slug"] as? String == "swift-club")
        }
    }

    @Test("PATCH /items/{id}: title, text, tags and each part of access change only when named")
    func item() async throws {
        try await Self.withCommunity { client, c in
            let created = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(c.id)/items", token: c.owner.token, body: [
                "kind": "post", "title": "Plans only", "markdown": "For the plan's holders.", "tags": ["swift", "actors"],
                "access": ["mode": "plans", "planIds": [c.planID], "minLevel": 2], "publish": true,
            ]))
            let id = try #require(created["id"] as? String)
            let retitled = try E2E.object(try await M.call(client, .patch, "/api/v1/items/\(id)", token: c.owner.token, body: ["title": "Renamed"]))
            #expect(retitled["title"] as? String == "Renamed")
            #expect(retitled["markdown"] as? String == "For the plan's holders.")
            #expect(retitled["tags"] as? [String] == ["swift", "actors"])
            let access = try #require(retitled["access"] as? [String: Any])
            #expect(access["mode"] as? String == "plans" && access["planIds"] as? [String] == [c.planID] && access["minLevel"] as? Int == 2)
            // One part of access: the rest of it stays.
            let leveled = try E2E.object(try await M.call(client, .patch, "/api/v1/items/\(id)", token: c.owner.token, body: ["access": ["minLevel": 0]]))
            let after = try #require(leveled["access"] as? [String: Any])
            #expect(after["mode"] as? String == "plans" && after["planIds"] as? [String] == [c.planID] && after["minLevel"] as? Int ?? 0 == 0)
            #expect(leveled["title"] as? String == "Renamed")
            // Tags given replace the tags, without a separate flag.
            let retagged = try E2E.object(try await M.call(client, .patch, "/api/v1/items/\(id)", token: c.owner.token, body: ["tags": ["concurrency"]]))
            #expect(retagged["tags"] as? [String] == ["concurrency"])
            #expect(retagged["markdown"] as? String == "For the plan's holders.")
            // A course's free lessons stay when only its mode changes.
            let course = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(c.id)/items", token: c.owner.token, body: [
                "kind": "course", "title": "Course", "markdown": "About it.", "access": ["mode": "preview", "freeLessons": 2],
            ]))
            let courseID = try #require(course["id"] as? String)
            let remoded = try E2E.object(try await M.call(client, .patch, "/api/v1/items/\(courseID)", token: c.owner.token, body: ["access": ["mode": "members"]]))
            let courseAccess = try #require(remoded["access"] as? [String: Any])
            #expect(courseAccess["mode"] as? String == "members" && courseAccess["freeLessons"] as? Int == 2)
        }
    }

    @Test("PATCH /lessons/{id}: the text stays when only the title is named")
    func lesson() async throws {
        try await Self.withCommunity { client, c in
            let course = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(c.id)/items", token: c.owner.token, body: [
                "kind": "course", "title": "Course", "markdown": "About it.", "access": ["mode": "members"],
            ]))
            let chapter = try E2E.object(try await M.call(client, .post, "/api/v1/items/\(try #require(course["id"] as? String))/chapters", token: c.owner.token,
                                                          body: ["title": "One"]))
            let lesson = try E2E.object(try await M.call(client, .post, "/api/v1/chapters/\(try #require(chapter["id"] as? String))/lessons", token: c.owner.token,
                                                         body: ["title": "First", "markdown": "The first lesson's text."]))
            let id = try #require(lesson["id"] as? String)
            let renamed = try E2E.object(try await M.call(client, .patch, "/api/v1/lessons/\(id)", token: c.owner.token, body: ["title": "Renamed"]))
            #expect(renamed["title"] as? String == "Renamed")
            #expect(renamed["markdown"] as? String == "The first lesson's text.")
        }
    }

    @Test("PATCH /communities/{id}/content-settings: a setting left out stays as it was")
    func contentSettings() async throws {
        try await Self.withCommunity { client, c in
            let path = "/api/v1/communities/\(c.id)/content-settings"
            _ = try await M.call(client, .patch, path, token: c.owner.token, body: [
                "rules": "Be kind.", "keywords": ["spam"], "requireApproval": true, "questionLimitMinutes": 720, "timeZone": "Asia/Shanghai",
            ])
            let changed = try E2E.object(try await M.call(client, .patch, path, token: c.owner.token, body: ["rules": "Be kinder."]))
            #expect(changed["rules"] as? String == "Be kinder.")
            #expect(changed["keywords"] as? [String] == ["spam"])
            #expect(changed["requireApproval"] as? Bool == true)
            #expect(changed["questionLimitMinutes"] as? Int == 720)
            #expect(changed["timeZone"] as? String == "Asia/Shanghai")
            let keywords = try E2E.object(try await M.call(client, .patch, path, token: c.owner.token, body: ["keywords": ["scam", "spam"]]))
            #expect(keywords["keywords"] as? [String] == ["scam", "spam"])
            #expect(keywords["rules"] as? String == "Be kinder.")
        }
    }

    @Test("PATCH /rewards/{id}: switching a reward off keeps its stock, cost and title")
    func reward() async throws {
        try await Self.withCommunity { client, c in
            let created = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(c.id)/rewards", token: c.owner.token, body: [
                "title": "20 % off", "kind": "discount", "costPoints": 50, "percentOffBp": 2000, "stock": 5,
            ]))
            let id = try #require(created["id"] as? String)
            let off = try E2E.object(try await M.call(client, .patch, "/api/v1/rewards/\(id)", token: c.owner.token, body: ["active": false]))
            #expect(off["active"] as? Bool == false)
            #expect(off["stock"] as? Int == 5)
            #expect(off["costPoints"] as? Int == 50)
            #expect(off["title"] as? String == "20 % off")
            let restocked = try E2E.object(try await M.call(client, .patch, "/api/v1/rewards/\(id)", token: c.owner.token, body: ["stock": 0]))
            #expect((restocked["stock"] as? Int ?? 0) == 0)
            #expect(restocked["active"] as? Bool == false)
            _ = try E2E.expectProblem(try await M.call(client, .patch, "/api/v1/rewards/\(id)", token: c.owner.token, body: ["title": ""]),
                                      status: .badRequest, code: "invalid_argument")
        }
    }

    @Test("PUTs whose switch is left out are refused, naming it: programme, points rules, answerer, leaderboard visibility")
    func switches() async throws {
        try await Self.withCommunity { client, c in
            let on = try await M.call(client, .put, "/api/v1/communities/\(c.id)/referral/program", token: c.owner.token,
                                      body: ["enabled": true, "commissionBp": 1_000])
            #expect(on.status == .ok)
            let refusals: [(String, [String: Any], String)] = [
                ("/api/v1/communities/\(c.id)/referral/program", ["commissionBp": 1_500], "enabled"),
                ("/api/v1/communities/\(c.id)/points/rules", ["rules": [["kind": "comment", "points": 7, "dailyCap": 21]]], "rules[0].enabled"),
                ("/api/v1/communities/\(c.id)/answerer", ["priceMinorUnits": 990], "accepting"),
                ("/api/v1/communities/\(c.id)/leaderboards/visibility", [:], "hidden"),
            ]
            for (path, body, field) in refusals {
                let problem = try E2E.expectProblem(try await M.call(client, .put, path, token: c.owner.token, body: body), status: .badRequest, code: "invalid_argument")
                #expect((problem["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } == [field], "\(path)")
            }
            // The programme is still on.
            let program = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(c.id)/referral/program", token: nil))
            #expect(program["enabled"] as? Bool == true)
            #expect(program["commissionBp"] as? Int == 1_000)
        }
    }
}
