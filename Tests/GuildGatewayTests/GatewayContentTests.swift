import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildSecurity
import GuildService
import GuildTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

/// The content part of the HTTP API end to end, the README's content tour: an owner publishes a
/// course with two free lessons and a post with a preview; a visitor reads the previews, joins
/// with the sandbox provider and reads the rest; a comment held by the keyword filter is
/// approved by a moderator.
@Suite("Gateway content end to end")
struct GatewayContentTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests

    @Test("a visitor reads the previews, pays with the sandbox, then reads the whole course")
    func tour() async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let owner = try await M.register(client, "owner@example.com", "Owner")
                let community = try E2E.object(try await M.call(client, .post, "/api/v1/communities", token: owner.token,
                                                                body: ["slug": "swift-club", "name": "Swift Club", "currency": "CNY"]))
                let communityID = try #require(community["id"] as? String)
                _ = try await M.call(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
                let plan = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                                           body: ["name": "Monthly", "priceMinorUnits": 19_900, "period": "monthly"]))
                let planID = try #require(plan["id"] as? String)

                // The owner publishes a course with two free lessons.
                let created = try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token, body: [
                    "kind": "course", "title": "Swift Concurrency", "markdown": "From tasks to actors.",
                    "access": ["mode": "preview", "freeLessons": 2],
                ])
                #expect(created.status == .created)
                let courseID = try #require(try E2E.object(created)["id"] as? String)
                let chapter = try E2E.object(try await M.call(client, .post, "/api/v1/items/\(courseID)/chapters", token: owner.token, body: ["title": "Basics"]))
                let chapterID = try #require(chapter["id"] as? String)
                var lessonIDs: [String] = []
                for (title, body) in [("Tasks", "Free: tasks."), ("Groups", "Free: task groups."), ("Actors", "Paid: actor reentrancy.")] {
                    let lesson = try await M.call(client, .post, "/api/v1/chapters/\(chapterID)/lessons", token: owner.token, body: ["title": title, "markdown": body])
                    #expect(lesson.status == .created)
                    lessonIDs.append(try #require(try E2E.object(lesson)["id"] as? String))
                }
                let publishedCourse = try E2E.object(try await M.call(client, .post, "/api/v1/items/\(courseID)/publish", token: owner.token, body: [:]))
                #expect(publishedCourse["status"] as? String == "published")
                // And a post with a preview.
                let post = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token, body: [
                    "kind": "post", "title": "Why actors", "markdown": "Free: why.\n\n<!-- more -->\n\nPaid: how.", "access": ["mode": "preview"], "publish": true,
                ]))
                let postID = try #require(post["id"] as? String)

                // A visitor reads the previews and sees the plan that opens the rest.
                let visitorPost = try E2E.object(try await M.call(client, .get, "/api/v1/items/\(postID)", token: nil))
                #expect(visitorPost["locked"] as? Bool == true)
                #expect((visitorPost["html"] as? String)?.contains("Free: why.") == true)
                #expect((visitorPost["html"] as? String)?.contains("Paid") == false)
                let paywall = try #require(visitorPost["paywall"] as? [String: Any])
                #expect((paywall["plans"] as? [[String: Any]])?.first?["priceMinorUnits"] as? Int == 19_900)
                let outline = try E2E.object(try await M.call(client, .get, "/api/v1/items/\(courseID)", token: nil))
                let lessons = (outline["chapters"] as? [[String: Any]])?.first?["lessons"] as? [[String: Any]] ?? []
                #expect(lessons.map { $0["free"] as? Bool ?? false } == [true, true, false])
                #expect((try E2E.object(try await M.call(client, .get, "/api/v1/lessons/\(lessonIDs[1])", token: nil))["html"] as? String)?.contains("task groups") == true)
                let lockedLesson = try E2E.object(try await M.call(client, .get, "/api/v1/lessons/\(lessonIDs[2])", token: nil))
                #expect(lockedLesson["locked"] as? Bool == true)
                #expect(lockedLesson["html"] == nil)

                // The visitor signs up, pays with the sandbox and reads everything.
                let member = try await M.register(client, "member@example.com", "Member")
                let order = try E2E.object(try await M.call(client, .post, "/api/v1/orders", token: member.token,
                                                            body: ["communityId": communityID, "planId": planID], idempotencyKey: "order-1"))
                let paymentID = try #require((order["payment"] as? [String: Any])?["id"] as? String)
                #expect(try E2E.object(try await M.call(client, .get, "/api/v1/lessons/\(lessonIDs[2])", token: member.token))["locked"] as? Bool == true)
                _ = try await M.call(client, .post, "/api/v1/payments/\(paymentID)/sandbox-confirm", token: member.token,
                                     body: ["outcome": "succeeded"], idempotencyKey: "pay-1")
                try await cluster.membershipEvents.deliverDue()  // membership tells content at once
                let paidLesson = try E2E.object(try await M.call(client, .get, "/api/v1/lessons/\(lessonIDs[2])", token: member.token))
                #expect((paidLesson["html"] as? String)?.contains("actor reentrancy") == true)
                #expect((try E2E.object(try await M.call(client, .get, "/api/v1/items/\(postID)", token: member.token))["html"] as? String)?.contains("Paid: how.") == true)
                let progress = try E2E.object(try await M.call(client, .post, "/api/v1/lessons/\(lessonIDs[2])/progress", token: member.token, body: ["completed": true]))
                #expect(progress["percent"] as? Int == 33)

                // A comment held by the keyword filter, approved by a moderator.
                let moderator = try await M.register(client, "mod@example.com", "Moderator")
                _ = try await M.call(client, .put, "/api/v1/communities/\(communityID)/roles/\(moderator.id)", token: owner.token, body: ["role": "moderator"])
                _ = try await M.call(client, .patch, "/api/v1/communities/\(communityID)/content-settings", token: owner.token,
                                     body: ["keywords": ["加微信"], "replaceKeywords": true])
                let held = try E2E.object(try await M.call(client, .post, "/api/v1/items/\(postID)/comments", token: member.token, body: ["markdown": "资料请加 微 信"]))
                #expect(held["status"] as? String == "held")
                let queue = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(communityID)/moderation-queue", token: moderator.token))
                let entry = try #require((queue["entries"] as? [[String: Any]])?.first)
                let decided = try E2E.object(try await M.call(client, .post, "/api/v1/moderation-queue/\(try #require(entry["id"] as? String))/decision",
                                                              token: moderator.token, body: ["decision": "approve"]))
                #expect(decided["status"] as? String == "approved")
                let thread = try E2E.object(try await M.call(client, .get, "/api/v1/items/\(postID)/comments", token: owner.token))
                #expect((thread["comments"] as? [[String: Any]])?.first?["status"] as? String == "published")

                // Search, the feed, attachments.
                let hits = try E2E.object(try await M.call(client, .get, "/api/v1/search?q=reentrancy", token: member.token))
                #expect(((hits["hits"] as? [[String: Any]])?.first?["snippet"] as? String)?.contains("<mark>reentrancy</mark>") == true)
                #expect((try E2E.object(try await M.call(client, .get, "/api/v1/search?q=reentrancy", token: nil))["hits"] as? [Any])?.isEmpty ?? true)
                let feed = try E2E.object(try await M.call(client, .get, "/api/v1/feed", token: member.token))
                #expect((feed["items"] as? [[String: Any]])?.compactMap { $0["title"] as? String } == ["Why actors", "Swift Concurrency"])
                #expect((feed["communities"] as? [[String: Any]])?.first?["slug"] as? String == "swift-club")
                // A member who joined a moment ago, before membership's event reached content,
                // has a feed all the same: the gateway names the community membership knows of.
                let dee = try await M.register(client, "dee@example.com", "Dee")
                let deeOrder = try E2E.object(try await M.call(client, .post, "/api/v1/orders", token: dee.token,
                                                               body: ["communityId": communityID, "planId": planID], idempotencyKey: "order-dee"))
                _ = try await M.call(client, .post, "/api/v1/payments/\(try #require((deeOrder["payment"] as? [String: Any])?["id"] as? String))/sandbox-confirm",
                                     token: dee.token, body: ["outcome": "succeeded"], idempotencyKey: "pay-dee")
                let deeFeed = try E2E.object(try await M.call(client, .get, "/api/v1/feed", token: dee.token))
                #expect((deeFeed["items"] as? [[String: Any]])?.count == 2)
                #expect((deeFeed["items"] as? [[String: Any]])?.first?["publishedAt"] as? String != nil)
                var headers: HTTPFields = [.authorization: "Bearer \(owner.token)", .contentType: "image/png"]
                let png = ByteBuffer(bytes: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
                let upload = try await client.execute(uri: "/api/v1/items/\(postID)/attachments?filename=diagram.png", method: .post, headers: headers, body: png)
                #expect(upload.status == .created)
                let attachmentID = try #require(try E2E.object(upload)["id"] as? String)
                let download = try await client.execute(uri: "/api/v1/attachments/\(attachmentID)", method: .get, headers: [.authorization: "Bearer \(member.token)"])
                #expect(download.status == .ok)
                #expect(download.headers[.contentType] == "image/png")
                #expect(download.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
                #expect(Array(download.body.readableBytesView) == Array(png.readableBytesView))
                _ = try E2E.expectProblem(try await client.execute(uri: "/api/v1/attachments/\(attachmentID)", method: .get), status: .unauthorized, code: "unauthenticated")
                headers[.contentType] = "text/html"
                _ = try E2E.expectProblem(try await client.execute(uri: "/api/v1/items/\(postID)/attachments?filename=x.html", method: .post, headers: headers, body: png),
                                          status: .badRequest, code: "invalid_argument")
                headers[.contentType] = "application/pdf"
                let tooBig = ByteBuffer(repeating: 0x25, count: 960 * 1024 + 1)
                _ = try E2E.expectProblem(try await client.execute(uri: "/api/v1/items/\(postID)/attachments", method: .post, headers: headers, body: tooBig),
                                          status: .contentTooLarge, code: "content_too_large")

                // Bad input is a problem document naming what is wrong.
                let unknownField = try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token, body: ["title": "x", "colour": "red"])
                #expect(try E2E.expectProblem(unknownField, status: .badRequest, code: "invalid_argument")["reason"] as? String == "malformed_json")
                let invalid = try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token, body: ["title": "", "access": ["mode": "secret"]])
                let problem = try E2E.expectProblem(invalid, status: .badRequest, code: "invalid_argument")
                #expect((problem["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String } == ["title", "access.mode"])
                _ = try E2E.expectProblem(try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: nil, body: ["title": "x"]),
                                          status: .unauthorized, code: "unauthenticated")

                // Size limits: a long post is fine, a post over content's limit is named, a body
                // over the gateway's limit is refused before anything reads it.
                let long = String(repeating: "并发编程 concurrency. ", count: 5_000)  // ~110 KB
                #expect(try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token,
                                         body: ["title": "Long", "markdown": long]).status == .created)
                let tooLong = try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token,
                                               body: ["title": "Too long", "markdown": String(repeating: "x", count: 250_000)])
                #expect((try E2E.expectProblem(tooLong, status: .badRequest, code: "invalid_argument")["errors"] as? [[String: Any]])?.first?["field"] as? String == "markdown")
                _ = try E2E.expectProblem(try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token,
                                                           body: ["title": "Huge", "markdown": String(repeating: "x", count: 600_000)]),
                                          status: .contentTooLarge, code: "content_too_large")
                _ = try E2E.expectProblem(try await M.call(client, .post, "/api/v1/items/\(postID)/comments", token: owner.token,
                                                           body: ["markdown": String(repeating: "x", count: 70_000)]),
                                          status: .contentTooLarge, code: "content_too_large")
            }
        }
    }
}
