import Foundation
import GuildGateway
import GuildTesting
import HTTPTypes
import HummingbirdTesting
import Testing

/// `GET /api/v1/communities`: the public directory the web front end's `/` shows.
@Suite("Community directory")
struct DirectoryTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests

    @Test("a visitor lists active communities (a hidden plan's members counted too), searches them and pages through them", arguments: TestDatabaseKind.available)
    func directory(database: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: database) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let owner = try await M.register(client, "owner@example.com", "Owner")
                var ids: [String] = []
                for (slug, name, description) in [
                    ("swift-club", "Swift Club", "Server-side Swift, from tasks to actors"),
                    ("rust-club", "Rust 俱乐部", "Ownership and lifetimes"),
                    ("go-club", "Go Club", "Goroutines 100% explained"),
                    ("hidden-draft", "Swift Drafts", "Not published"),
                ] {
                    let community = try E2E.object(try await M.call(client, .post, "/api/v1/communities", token: owner.token,
                                                                    body: ["slug": slug, "name": name, "description": description, "currency": "CNY"]))
                    let id = try #require(community["id"] as? String)
                    ids.append(id)
                    if slug != "hidden-draft" {
                        _ = try await M.call(client, .patch, "/api/v1/communities/\(id)", token: owner.token, body: ["status": "active"])
                    }
                }
                // A member joins the Swift club.
                let plan = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(ids[0])/plans", token: owner.token,
                                                           body: ["name": "Monthly", "priceMinorUnits": 0, "period": "monthly"]))
                let member = try await M.register(client, "member@example.com", "Member")
                let order = try await M.call(client, .post, "/api/v1/orders", token: member.token,
                                             body: ["communityId": ids[0], "planId": try #require(plan["id"] as? String)], idempotencyKey: "free-1")
                #expect(order.status == .created)
                // A second member holds a hidden plan (sold by link only): counted too, once each.
                let hidden = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(ids[0])/plans", token: owner.token,
                                                             body: ["name": "Friends", "priceMinorUnits": 0, "period": "yearly", "hidden": true]))
                let friend = try await M.register(client, "friend@example.com", "Friend")
                let quote = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(ids[0])/quote", token: friend.token,
                                                            body: ["planId": try #require(hidden["id"] as? String)]))
                #expect(quote["providers"] as? [String] == ["sandbox"])
                let second = try await M.call(client, .post, "/api/v1/orders", token: friend.token,
                                              body: ["communityId": ids[0], "planId": try #require(hidden["id"] as? String)], idempotencyKey: "free-2")
                #expect(second.status == .created)
                let swiftCommunity = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(ids[0])", token: nil))
                #expect(swiftCommunity["members"] as? Int == 2)
                let rustCommunity = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(ids[1])", token: nil))
                #expect(rustCommunity["members"] as? Int == 0)

                func page(_ query: String) async throws -> [String: Any] {
                    let response = try await M.call(client, .get, "/api/v1/communities\(query)", token: nil)
                    #expect(response.status == .ok)
                    return try E2E.object(response)
                }
                func slugs(_ page: [String: Any]) -> [String] {
                    (page["communities"] as? [[String: Any]] ?? []).compactMap { ($0["community"] as? [String: Any])?["slug"] as? String }
                }
                // Newest first, drafts left out.
                let all = try await page("")
                #expect(slugs(all) == ["go-club", "rust-club", "swift-club"])
                let swift = (all["communities"] as? [[String: Any]])?.last
                #expect(swift?["members"] as? Int == 2)
                #expect(all["nextCursor"] == nil)
                // Every word must match, case-insensitively, in name, slug or description.
                #expect(slugs(try await page("?q=SWIFT")) == ["swift-club"])
                #expect(slugs(try await page("?q=club%20actors")) == ["swift-club"])
                #expect(slugs(try await page("?q=%E4%BF%B1%E4%B9%90%E9%83%A8")) == ["rust-club"])
                // % and _ are letters, not wildcards.
                #expect(slugs(try await page("?q=100%25")) == ["go-club"])
                #expect(slugs(try await page("?q=%25%25%25")).isEmpty)
                #expect(slugs(try await page("?q=_")).isEmpty)
                // Pages of one: three pages, no repeats, then no cursor.
                var seen: [String] = []
                var cursor = ""
                repeat {
                    let next = try await page("?limit=1" + (cursor.isEmpty ? "" : "&cursor=\(cursor)"))
                    seen += slugs(next)
                    cursor = next["nextCursor"] as? String ?? ""
                } while !cursor.isEmpty && seen.count < 10
                #expect(seen == ["go-club", "rust-club", "swift-club"])
                // Bad input is a problem naming the field.
                for (query, field) in [("?limit=51", "limit"), ("?cursor=nonsense", "cursor"), ("?q=" + String(repeating: "a", count: 101), "q")] {
                    let response = try await M.call(client, .get, "/api/v1/communities\(query)", token: nil)
                    #expect(response.status == .badRequest)
                    let problem = try E2E.object(response)
                    #expect((problem["errors"] as? [[String: Any]])?.first?["field"] as? String == field)
                }
            }
        }
    }
}
