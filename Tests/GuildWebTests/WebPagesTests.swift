import Foundation
import GuildAuth
import GuildCore
import GuildGateway
import GuildService
import GuildTesting
import GuildWeb
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// The web front end through HummingbirdTesting: pages a visitor and a member see, in both
/// languages, with the session cookie, CSRF tokens and the paywall.
@Suite("Web pages")
struct WebPagesTests {
    @Test("a visitor finds the community on /, signs up, applies a coupon, pays with the sandbox and reads the post", arguments: TestDatabaseKind.available)
    func joinFlow(database: TestDatabaseKind) async throws {
        try await WebCluster.run(database: database) { _, client in
            let seed = try await WebCluster.seed(client)
            let browser = Browser(client)

            // The directory, in Chinese by default.
            let home = try await browser.get("/")
            #expect(home.status == .ok)
            #expect(home.headers[.contentType] == "text/html; charset=utf-8")
            #expect(browser.page.contains("<html lang=\"zh-CN\">"))
            #expect(browser.page.contains("href=\"/c/swift-club\""))
            #expect(browser.page.contains("发现社群"))

            // The landing page shows the plan and its price, one join button per plan.
            try await browser.get("/c/swift-club")
            #expect(browser.page.contains("Swift Club"))
            #expect(browser.page.contains("¥199.00"))
            #expect(browser.page.contains("/c/swift-club/join?plan=\(seed.planID)"))

            // The post: the free part and the paywall; the paid part is nowhere in the page.
            try await browser.get("/c/swift-club/posts/\(seed.postID)")
            #expect(browser.page.contains("Free: why actors."))
            #expect(!browser.page.contains("reentrancy"))
            #expect(browser.page.contains("class=\"paywall\""))

            // Joining needs an account: to /login and back.
            let join = try await browser.get("/c/swift-club/join?plan=\(seed.planID)")
            #expect(join.status == .seeOther)
            #expect(join.headers[.location] == "/login?next=/c/swift-club/join%3Fplan%3D\(seed.planID)")
            try await browser.get("/signup?next=/c/swift-club/join%3Fplan%3D\(seed.planID)")
            let signedUp = try await browser.post("/signup", [
                "displayName": "Grace", "email": "grace@example.com", "password": "correct horse battery",
                "next": "/c/swift-club/join?plan=\(seed.planID)",
            ])
            #expect(signedUp.status == .seeOther)
            #expect(signedUp.headers[.location] == "/c/swift-club/join?plan=\(seed.planID)")
            let cookie = try #require(signedUp.headers[values: .setCookie].first { $0.hasPrefix("guild_session=") })
            #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && !cookie.contains("Secure"))

            // The quote, then a coupon that does not exist (its problem beside the field), then the real one.
            let checkout = try await browser.follow(signedUp)
            #expect(checkout.status == .ok)
            #expect(browser.page.contains("¥199.00"))
            #expect(browser.page.contains("欢迎来到 Guild"))
            let wrong = try await browser.post("/c/swift-club/join", ["plan": seed.planID, "coupon": "NOPE", "action": "apply"])
            let wrongPage = try await browser.follow(wrong)
            #expect(wrongPage.status == .ok)
            #expect(browser.page.contains("没有这个优惠码"))
            #expect(browser.page.contains("aria-invalid=\"true\""))
            let applied = try await browser.post("/c/swift-club/join", ["plan": seed.planID, "coupon": "WELCOME20", "action": "apply"])
            #expect(applied.headers[.location] == "/c/swift-club/join?plan=\(seed.planID)&coupon=WELCOME20")
            try await browser.follow(applied)
            #expect(browser.page.contains("−¥39.80"))
            #expect(browser.page.contains("¥159.20"))

            // Pay: to the sandbox's confirm page, pay, and the outcome.
            let nonce = try #require(browser.field("idem"))
            let ordered = try await browser.post("/c/swift-club/join", ["plan": seed.planID, "coupon": "WELCOME20", "action": "pay", "provider": "sandbox", "idem": nonce])
            #expect(ordered.status == .seeOther)
            let sandboxPath = try #require(ordered.headers[.location])
            #expect(sandboxPath.hasPrefix("/checkout/sandbox/"))
            // A second press of Pay is the same order.
            let again = try await browser.post("/c/swift-club/join", ["plan": seed.planID, "coupon": "WELCOME20", "action": "pay", "provider": "sandbox", "idem": nonce])
            #expect(again.headers[.location] == sandboxPath)
            try await browser.get(sandboxPath)
            #expect(browser.page.contains("¥159.20"))
            let paid = try await browser.post(String(sandboxPath.prefix(while: { $0 != "?" })), [
                "order": try #require(browser.field("order")), "idem": try #require(browser.field("idem")), "outcome": "succeeded",
            ])
            let outcome = try await browser.follow(paid)
            #expect(outcome.status == .ok)
            #expect(browser.page.contains("支付成功"))

            // Now the whole post, and the comment form.
            try await browser.get("/c/swift-club/posts/\(seed.postID)")
            #expect(browser.page.contains("reentrancy"), "\(browser.page)")
            #expect(!browser.page.contains("class=\"paywall\""))
            let commented = try await browser.post("/c/swift-club/posts/\(seed.postID)/comments", ["body": "Great **post** <script>alert(1)</script>"])
            #expect(commented.status == .seeOther)
            try await browser.follow(commented)
            #expect(browser.page.contains("<strong>post</strong>"))
            #expect(!browser.page.contains("<script>alert(1)</script>"))
            #expect(browser.page.contains("评论已发布"))
        }
    }

    @Test("English from Accept-Language, the switch remembered in a cookie, next= kept on this site")
    func languages() async throws {
        try await WebCluster.run { _, client in
            _ = try await WebCluster.seed(client)
            let browser = Browser(client, language: "en-GB,en;q=0.9,zh;q=0.5")
            try await browser.get("/c/swift-club")
            #expect(browser.page.contains("<html lang=\"en\">"))
            #expect(browser.page.contains("CNY 199.00"))
            #expect(browser.page.contains("/ month"))
            let switched = try await browser.get("/lang/zh-CN?next=/c/swift-club")
            #expect(switched.status == .seeOther)
            #expect(switched.headers[.location] == "/c/swift-club")
            try await browser.follow(switched)
            #expect(browser.page.contains("<html lang=\"zh-CN\">"))
            #expect(browser.page.contains("¥199.00"))
            for evil in ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:alert(1)"] {
                let response = try await browser.get("/lang/en?next=" + Browser.encode(evil))
                #expect(response.headers[.location] == "/", "\(evil)")
            }
        }
    }

    @Test("a POST without the session's CSRF token is refused with a readable page")
    func csrf() async throws {
        try await WebCluster.run { _, client in
            let browser = Browser(client)
            try await browser.get("/signup")
            let missing = try await browser.post("/signup", ["email": "a@example.com", "password": "correct horse battery", "displayName": "A", "_csrf": ""])
            #expect(missing.status == .forbidden)
            #expect(browser.page.contains("表单已失效"))
            // Another session's token does not fit this one.
            let other = Browser(client)
            try await other.get("/signup")
            let foreign = try #require(other.field("_csrf"))
            let wrong = try await browser.post("/signup", ["email": "a@example.com", "password": "correct horse battery", "displayName": "A"], csrf: foreign)
            #expect(wrong.status == .forbidden)
            // Its own token is accepted.
            try await browser.get("/signup")
            let right = try await browser.post("/signup", ["email": "a@example.com", "password": "correct horse battery", "displayName": "A"])
            #expect(right.status == .seeOther)
        }
    }

    @Test("templates escape what people write: a community's name is text, not markup")
    func escaping() async throws {
        try await WebCluster.run { _, client in
            _ = try await WebCluster.seed(client, name: "<img src=x onerror=alert(1)> & Co")
            let browser = Browser(client)
            try await browser.get("/c/swift-club")
            #expect(!browser.page.contains("<img src=x"))
            #expect(browser.page.contains("&lt;img src=x onerror=alert(1)&gt; &amp; Co"))
            try await browser.get("/?q=" + Browser.encode("\"><script>x</script>"))
            #expect(!browser.page.contains("<script>x</script>"))
        }
    }

    @Test("the access token is refreshed transparently; a session whose refresh fails is signed out")
    func sessionRefreshAndExpiry() async throws {
        var auth = TestCluster.fastAuthConfiguration
        auth.accessTokenLifetime = .seconds(20)  // inside the 30 s margin: every page refreshes it
        try await WebCluster.run(authConfiguration: auth) { _, client in
            let browser = Browser(client)
            try await browser.get("/signup")
            try await browser.post("/signup", ["email": "b@example.com", "password": "correct horse battery", "displayName": "Bea"])
            let first = try #require(browser.cookies["guild_session"])
            let page = try await browser.get("/")
            #expect(page.status == .ok)
            #expect(browser.page.contains("Bea"))
            let refreshed = try #require(browser.cookies["guild_session"])
            #expect(refreshed != first)
            // The first cookie's refresh token was rotated away: replaying it ends the session
            // (auth sees a reused refresh token), and the page shows a visitor's header.
            let replay = Browser(client)
            replay.cookies["guild_session"] = first
            try await replay.get("/")
            #expect(!replay.page.contains("Bea"))
            #expect(replay.page.contains("href=\"/login?next="))
            #expect(replay.cookies["guild_session"] != first)
        }
    }

    @Test("gateways with the same session key read each other's cookies; another key reads none")
    func replicasShareSessions() async throws {
        let key = SealingKey.generate()
        try await WebCluster.run(sessionKey: key) { cluster, client in
            let browser = Browser(client)
            try await browser.get("/signup")
            try await browser.post("/signup", ["email": "c@example.com", "password": "correct horse battery", "displayName": "Cai"])
            let cookie = try #require(browser.cookies["guild_session"])
            for (sessionKey, signedIn) in [(key, true), (SealingKey.generate(), false)] {
                let second = try Gateway(configuration: cluster.gateway.configuration, tls: try cluster.certificates.tls(for: .gateway), logger: Logger(label: "second"))
                let web = try await WebFrontEnd(gateway: second, sessionKey: sessionKey, logger: Logger(label: "second-web"))
                try await second.makeApplication(mounting: [web]).test(.live) { other in
                    let replica = Browser(other)
                    replica.cookies["guild_session"] = cookie
                    try await replica.get("/")
                    #expect(replica.page.contains("Cai") == signedIn)
                }
            }
        }
    }

    @Test("a browser gets the 404 page, an API client its problem document; pages carry the security headers")
    func notFoundAndHeaders() async throws {
        try await WebCluster.run { _, client in
            let browser = Browser(client, language: "en")
            let missing = try await browser.get("/no/such/page")
            #expect(missing.status == .notFound)
            #expect(browser.page.contains("Page not found"))
            let community = try await browser.get("/c/no-such-club")
            #expect(community.status == .notFound)
            #expect(browser.page.contains("Page not found"))
            let api = try await client.execute(uri: "/api/v1/nothing", method: .get, headers: [.accept: "text/html"])
            #expect(api.headers[.contentType] == "application/problem+json")
            let page = try await browser.get("/")
            let policy = try #require(page.headers[HTTPField.Name("Content-Security-Policy")!])
            #expect(policy.contains("script-src 'self'") && policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe-inline"))
            #expect(page.headers[HTTPField.Name("X-Content-Type-Options")!] == "nosniff")
            #expect(page.headers[HTTPField.Name("Referrer-Policy")!] != nil)
        }
    }

    @Test("assets are served under a content-hashed path with an ETag and a year's cache; a page weighs under 60 KB")
    func assetsAndWeight() async throws {
        try await WebCluster.run { _, client in
            _ = try await WebCluster.seed(client)
            let browser = Browser(client)
            try await browser.get("/c/swift-club")
            let html = browser.page
            var total = html.utf8.count
            for name in ["guild.css", "guild.js"] {
                let path = try #require(html.range(of: "/assets/[0-9a-f]{12}/\(name)", options: .regularExpression).map { String(html[$0]) })
                let asset = try await client.execute(uri: path, method: .get)
                #expect(asset.status == .ok)
                #expect(asset.headers[.cacheControl] == "public, max-age=31536000, immutable")
                let etag = try #require(asset.headers[.eTag])
                total += asset.body.readableBytes
                let again = try await client.execute(uri: path, method: .get, headers: [.ifNoneMatch: etag])
                #expect(again.status == .notModified)
            }
            #expect(total < 60 * 1024, "\(total) bytes")
            // Nothing comes from another host.
            #expect(html.range(of: "(src|href)=\"(https?:)?//", options: .regularExpression) == nil)
        }
    }

    @Test("a locked lesson shows its title and the paywall, never its text; the course outline lists every lesson; members discuss a lesson")
    func lockedLesson() async throws {
        try await WebCluster.run { _, client in
            let seed = try await WebCluster.seed(client)
            let course = try await API.object(client, .post, "/api/v1/communities/\(seed.communityID)/items", token: seed.ownerToken,
                                              body: ["kind": "course", "title": "Concurrency", "markdown": "Tasks to actors.", "access": ["mode": "preview", "freeLessons": 1]])
            let courseID = try #require(course["id"] as? String)
            let chapter = try await API.object(client, .post, "/api/v1/items/\(courseID)/chapters", token: seed.ownerToken, body: ["title": "Basics"])
            var lessons: [String] = []
            for (title, text) in [("Tasks", "Free words."), ("Actors", "Secret words about reentrancy.")] {
                let lesson = try await API.object(client, .post, "/api/v1/chapters/\(try #require(chapter["id"] as? String))/lessons", token: seed.ownerToken,
                                                  body: ["title": title, "markdown": text])
                lessons.append(try #require(lesson["id"] as? String))
            }
            _ = try await API.object(client, .post, "/api/v1/items/\(courseID)/publish", token: seed.ownerToken, body: [:])
            let browser = Browser(client, language: "en")
            try await browser.get("/c/swift-club/courses/\(courseID)")
            #expect(browser.page.contains("Tasks") && browser.page.contains("Actors"))
            #expect(browser.page.contains("1 lesson locked"))
            try await browser.get("/c/swift-club/lessons/\(lessons[0])")
            #expect(browser.page.contains("Free words."))
            try await browser.get("/c/swift-club/lessons/\(lessons[1])")
            #expect(browser.page.contains("The rest is for members"))
            #expect(!browser.page.contains("Secret words"))
            #expect(browser.page.contains("CNY 199.00"))
            // The lesson of another community's course is not found under this one.
            _ = try await API.object(client, .post, "/api/v1/communities", token: seed.ownerToken, body: ["slug": "other-club", "name": "Other", "currency": "CNY"])
            let elsewhere = try await browser.get("/c/other-club/courses/\(courseID)")
            #expect(elsewhere.status == .notFound)

            // A member discusses the lesson they read; the visitor sees the comments are for readers.
            try await browser.get("/c/swift-club/lessons/\(lessons[1])")
            #expect(browser.page.contains("id=\"comments\"") && !browser.page.contains("id=\"comment-body\""))
            let member = Browser(client, language: "en")
            try await member.signUpAndJoin(seed, email: "lc@example.com", name: "Lou")
            let lesson = "/c/swift-club/lessons/\(lessons[1])"
            try await member.get(lesson)
            #expect(member.page.contains("Secret words") && member.page.contains("id=\"comment-body\""))
            let commented = try await member.post(lesson + "/comments", ["body": "Reentrancy **bit** me."])
            #expect(commented.headers[.location] == lesson + "#comments")
            try await member.follow(commented)
            #expect(member.page.contains("<strong>bit</strong>") && member.page.contains("Lou"))
            let parent = try #require(member.field("parent"))
            try await member.follow(try await member.post(lesson + "/comments", ["body": "Same here", "parent": parent]))
            #expect(member.page.contains("class=\"comments replies\"") && member.page.contains("Same here"))
            // The comment belongs to the lesson, not to the course's other lesson.
            try await member.get("/c/swift-club/lessons/\(lessons[0])")
            #expect(!member.page.contains("Reentrancy"))
        }
    }

    @Test("the account pages: a new name, a wrong current password beside its field, memberships with cancel and resume, a receipt refunded, signing out everywhere")
    func account() async throws {
        try await WebCluster.run { _, client in
            let seed = try await WebCluster.seed(client)
            let browser = Browser(client, language: "en")
            try await browser.signUpAndJoin(seed, email: "d@example.com", name: "Dee")

            // The name.
            try await browser.get("/account")
            #expect(browser.page.contains("d@example.com"))
            try await browser.follow(try await browser.post("/account/profile", ["displayName": "Dee Dee"]))
            #expect(browser.page.contains("Your profile is saved.") && browser.page.contains("Dee Dee"))
            let empty = try await browser.post("/account/profile", ["displayName": " "])
            #expect(empty.status == .badRequest)
            #expect(browser.page.contains("Enter a display name of 1 to 64 characters."))
            let wrong = try await browser.post("/account/password", ["currentPassword": "not it at all", "newPassword": "another good secret"])
            #expect(wrong.status == .badRequest)
            #expect(browser.page.contains("currentPassword-error"))

            // Memberships and the receipt.
            try await browser.get("/account/memberships")
            #expect(browser.page.contains("Monthly") && browser.page.contains("Active"))
            #expect(browser.page.contains("CNY 199.00") && browser.page.contains("Ask for a refund"))
            let subscription = try #require(browser.page.range(of: #"/account/subscriptions/[^/"]+/cancel"#, options: .regularExpression).map { String(browser.page[$0]) })
            try await browser.follow(try await browser.post(subscription, [:]))
            #expect(browser.page.contains("Keep it after all"))
            try await browser.follow(try await browser.post(subscription.replacingOccurrences(of: "/cancel", with: "/resume"), [:]))
            #expect(browser.page.contains("Cancel at the period"))
            let refund = try #require(browser.page.range(of: #"/account/orders/[^/"]+/refund"#, options: .regularExpression).map { String(browser.page[$0]) })
            try await browser.follow(try await browser.post(refund, ["idem": try #require(browser.field("idem"))]))
            #expect(browser.page.contains("Refunded. The money goes back"))
            #expect(browser.page.contains("Refunded CNY 199.00"))
            #expect(!browser.page.contains("Ask for a refund"))

            // Everywhere: this browser and another session of the same person.
            let other = Browser(client, language: "en")
            try await other.get("/login")
            try await other.post("/login", ["email": "d@example.com", "password": "correct horse battery"])
            try await browser.get("/account")
            try await browser.follow(try await browser.post("/account/logout-everywhere", [:]))
            #expect(browser.page.contains("You are signed out everywhere."))
            let after = try await browser.get("/account")
            #expect(after.status == .seeOther)
            #expect(after.headers[.location]?.hasPrefix("/login") == true)
        }
    }

    @Test("search marks the matches in what the reader may read, and finds nothing in the paid part for a visitor")
    func search() async throws {
        try await WebCluster.run { _, client in
            _ = try await WebCluster.seed(client)
            let browser = Browser(client, language: "en")
            try await browser.get("/c/swift-club/search?q=actors")
            #expect(browser.page.contains("<mark>"))
            #expect(browser.page.contains("Why actors"))
            try await browser.get("/c/swift-club/search?q=reentrancy")
            #expect(!browser.page.contains("reentrancy bites"))
            #expect(browser.page.contains("Nothing matches"))
            try await browser.get("/c/swift-club/search?q=" + Browser.encode("<b>x</b>"))
            #expect(!browser.page.contains("<b>x</b>"))
        }
    }

    @Test("events: the time in the viewer's zone and the community's, RSVP then the waiting list, the .ics")
    func events() async throws {
        try await WebCluster.run { _, client in
            let seed = try await WebCluster.seed(client)
            let start = Date().addingTimeInterval(3 * 86_400)
            let formatter = ISO8601DateFormatter()
            let event = try await API.object(client, .post, "/api/v1/communities/\(seed.communityID)/events", token: seed.ownerToken, body: [
                "kind": "online", "title": "Office hours", "description": "Bring **questions**.", "start": formatter.string(from: start),
                "durationMinutes": 60, "timeZone": "America/New_York", "joinUrl": "https://meet.example.com/x", "capacity": 1, "accessMode": "public",
            ])
            let eventID = try #require(event["id"] as? String)
            let first = Browser(client, language: "en")
            try await first.get("/signup")
            try await first.post("/signup", ["email": "e1@example.com", "password": "correct horse battery", "displayName": "Eve"])
            try await first.get("/c/swift-club/events")
            #expect(first.page.contains("Office hours") && first.page.contains("<strong>questions</strong>"))
            #expect(first.page.contains("(GMT+8)") && first.page.contains("America/New_York"))
            #expect(!first.page.contains("meet.example.com"))  // not inside the join window
            try await first.follow(try await first.post("/c/swift-club/events/\(eventID)/rsvp", [:]))
            #expect(first.page.contains("You are going.") && first.page.contains("1 of 1 seats taken"))
            let second = Browser(client, language: "en")
            try await second.get("/signup")
            try await second.post("/signup", ["email": "e2@example.com", "password": "correct horse battery", "displayName": "Fay"])
            try await second.get("/c/swift-club/events")
            #expect(second.page.contains("Join the waiting list"))
            try await second.follow(try await second.post("/c/swift-club/events/\(eventID)/rsvp", [:]))
            #expect(second.page.contains("You are number 1 on the waiting list."))
            try await first.follow(try await first.post("/c/swift-club/events/\(eventID)/rsvp", ["cancel": "1"]))
            try await second.get("/c/swift-club/events")
            #expect(second.page.contains("You are going."))
            let ics = try await second.get("/c/swift-club/events/\(eventID)/calendar.ics")
            #expect(ics.headers[.contentType]?.hasPrefix("text/calendar") == true)
            #expect(second.page.contains("BEGIN:VEVENT"))
        }
    }

    @Test("a member asks a paid question, pays its charge on the sandbox's page, and sees it waiting for the answer")
    func paidQuestion() async throws {
        try await WebCluster.run { cluster, client in
            let seed = try await WebCluster.seed(client)
            _ = try await API.object(client, .put, "/api/v1/communities/\(seed.communityID)/answerer", token: seed.ownerToken,
                                     body: ["accepting": true, "priceMinorUnits": 5_000, "intro": "Ask me about actors."])
            // A visitor and a signed-in non-member see who answers, but are asked to join first.
            let stranger = Browser(client, language: "en")
            try await stranger.get("/c/swift-club/questions")
            #expect(stranger.page.contains("Ask me about actors.") && stranger.page.contains("CNY 50.00"))
            try await stranger.get("/signup")
            try await stranger.post("/signup", ["email": "q@example.com", "password": "correct horse battery", "displayName": "Quinn"])
            try await stranger.get("/c/swift-club/questions")
            #expect(stranger.page.contains("Members ask questions here.") && !stranger.page.contains("question-title"))
            let refusedStranger = try await stranger.post("/c/swift-club/questions", ["answerer": "x", "title": "Hi", "body": "?", "idem": "n-1"])
            #expect(refusedStranger.status == .badRequest)

            let member = Browser(client, language: "en")
            try await member.signUpAndJoin(seed, email: "q2@example.com", name: "Ren")
            try await member.get("/c/swift-club/questions")
            let option = try #require(member.page.range(of: "<option value=\"[^\"]+\"", options: .regularExpression))
            let answerer = String(member.page[option].dropFirst("<option value=\"".count).dropLast())
            // A question without a title is refused beside its field, the text kept.
            let refused = try await member.post("/c/swift-club/questions", ["answerer": answerer, "title": "", "body": "Kept text", "idem": try #require(member.field("idem"))])
            #expect(refused.status == .badRequest)
            #expect(member.page.contains("title-error") && member.page.contains("Kept text"))
            let asked = try await member.post("/c/swift-club/questions", ["answerer": answerer, "title": "Reentrancy?", "body": "When does it bite?", "idem": try #require(member.field("idem"))])
            let chargePage = try #require(asked.headers[.location])
            #expect(chargePage.hasPrefix("/checkout/charges/"))
            try await member.get(chargePage)
            #expect(member.page.contains("CNY 50.00"))
            let paid = try await member.post(String(chargePage.prefix { $0 != "?" }), [
                "next": try #require(member.field("next")), "idem": try #require(member.field("idem")), "outcome": "succeeded",
            ])
            #expect(paid.headers[.location] == "/c/swift-club/questions")
            try await cluster.membershipEvents.deliverDue()
            try await member.follow(paid)
            #expect(member.page.contains("Reentrancy?"))
            #expect(member.page.contains("Waiting for the answer"), "\(member.page)")
        }
    }

    @Test("consulting: a member picks a free slot in their time zone, books it and pays; the slot is gone for the next")
    func consulting() async throws {
        try await WebCluster.run { cluster, client in
            let seed = try await WebCluster.seed(client)
            let windows = (1...7).map { ["weekday": $0, "startMinute": 0, "endMinute": 1440] }
            _ = try await API.object(client, .put, "/api/v1/communities/\(seed.communityID)/availability", token: seed.ownerToken,
                                     body: ["timeZone": "Asia/Shanghai", "windows": windows])
            _ = try await API.object(client, .post, "/api/v1/communities/\(seed.communityID)/offerings", token: seed.ownerToken,
                                     body: ["title": "Code review", "scope": "One pull request.", "durationMinutes": 60, "priceMinorUnits": 30_000, "cancelCutoffHours": 24])
            let member = Browser(client, language: "en")
            try await member.signUpAndJoin(seed, email: "c1@example.com", name: "Cy")
            try await member.get("/c/swift-club/consulting")
            #expect(member.page.contains("Code review") && member.page.contains("CNY 300.00") && member.page.contains("(GMT+8)"))
            let slot = try #require(member.page.range(of: "name=\"start\" value=\"[0-9]+\"", options: .regularExpression))
            let start = String(member.page[slot].dropFirst("name=\"start\" value=\"".count).dropLast())
            let action = try #require(member.page.range(of: "/c/swift-club/consulting/[^/\"]+/bookings", options: .regularExpression).map { String(member.page[$0]) })
            let booked = try await member.post(action, ["start": start, "idem": try #require(member.field("idem"))])
            let charge = try #require(booked.headers[.location])
            #expect(charge.hasPrefix("/checkout/charges/"))
            try await member.get(charge)
            try await member.post(String(charge.prefix { $0 != "?" }), ["next": try #require(member.field("next")), "idem": try #require(member.field("idem")), "outcome": "succeeded"])
            try await cluster.membershipEvents.deliverDue()
            try await member.get("/c/swift-club/consulting")
            #expect(member.page.contains("Confirmed"))
            #expect(!member.page.contains("value=\"\(start)\""))
        }
    }

    @Test("a member replies to a comment, reacts to it and takes the reaction back, and reports it")
    func discussion() async throws {
        try await WebCluster.run { _, client in
            let seed = try await WebCluster.seed(client)
            let member = Browser(client, language: "en")
            try await member.signUpAndJoin(seed, email: "r@example.com", name: "Rae")
            let post = "/c/swift-club/posts/\(seed.postID)"
            try await member.get(post)
            try await member.follow(try await member.post(post + "/comments", ["body": "First!"]))
            let comment = try #require(member.page.range(of: "name=\"parent\" value=\"[^\"]+\"", options: .regularExpression).map {
                String(member.page[$0].dropFirst("name=\"parent\" value=\"".count).dropLast())
            })
            try await member.follow(try await member.post(post + "/comments", ["body": "A reply", "parent": comment]))
            #expect(member.page.contains("class=\"comments replies\"") && member.page.contains("A reply"))
            let reacted = try await member.post("/c/swift-club/reactions", ["target": comment, "emoji": "👍", "back": post])
            #expect(reacted.headers[.location] == post + "#comment-" + comment)
            try await member.follow(reacted)
            #expect(member.page.contains("aria-pressed=\"true\"") && member.page.contains("👍 1"))
            try await member.follow(try await member.post("/c/swift-club/reactions", ["target": comment, "emoji": "👍", "remove": "1", "back": post]))
            #expect(!member.page.contains("aria-pressed=\"true\"") && member.page.contains("👍 0"))
            // A back target off this site is refused.
            let away = try await member.post("/c/swift-club/reactions", ["target": comment, "emoji": "🎉", "back": "//evil.example/"])
            #expect(away.headers[.location]?.hasPrefix("/#comment-") == true)
            try await member.follow(try await member.post("/c/swift-club/reports", ["target": comment, "reason": "Spam", "back": post]))
            #expect(member.page.contains("A moderator will look at it."))
        }
    }

    @Test("product reviews: a member applies, is selected, writes the report post from the task, hands in the verdict, and reads the summary")
    func reviewTasks() async throws {
        try await WebCluster.run { _, client in
            let seed = try await WebCluster.seed(client)
            let deadline = ISO8601DateFormatter().string(from: Date().addingTimeInterval(7 * 86_400))
            let task = try await API.object(client, .post, "/api/v1/communities/\(seed.communityID)/review-tasks", token: seed.ownerToken, body: [
                "product": "Vapor Cloud <beta>", "brief": "Deploy **one** app.", "places": 2, "deadline": deadline, "rewardPoints": 50,
            ])
            let taskID = try #require(task["id"] as? String)
            // A visitor is told the tasks are for members and shown none.
            let visitor = Browser(client, language: "en")
            try await visitor.get("/c/swift-club/review-tasks")
            #expect(visitor.page.contains("Product reviews are for members.") && !visitor.page.contains("Vapor Cloud"))

            let member = Browser(client, language: "en")
            try await member.signUpAndJoin(seed, email: "rv@example.com", name: "Vic")
            try await member.get("/c/swift-club")
            #expect(member.page.contains("href=\"/c/swift-club/review-tasks\"") && member.page.contains("href=\"/c/swift-club/write\""))
            try await member.get("/c/swift-club/review-tasks")
            #expect(member.page.contains("Vapor Cloud &lt;beta&gt;") && member.page.contains("<strong>one</strong>"))
            #expect(member.page.contains("0 of 2 places taken") && member.page.contains("50 points reward"))
            // Too long a motivation is refused beside its field, the text kept; then the application.
            let long = String(repeating: "x", count: 2001)
            let refused = try await member.post("/c/swift-club/review-tasks/\(taskID)/apply", ["motivation": long])
            #expect(refused.status == .badRequest)
            #expect(member.page.contains("motivation-\(taskID)-error") && member.page.contains(long))
            let applied = try await member.post("/c/swift-club/review-tasks/\(taskID)/apply", ["motivation": "I deploy weekly."])
            #expect(applied.headers[.location] == "/c/swift-club/review-tasks#task-\(taskID)")
            try await member.follow(applied)
            #expect(member.page.contains("You applied.") && member.page.contains(">Applied<") && !member.page.contains("/review-tasks/\(taskID)/apply"))
            // Applying twice is refused with a readable message.
            let twice = try await member.post("/c/swift-club/review-tasks/\(taskID)/apply", ["motivation": ""])
            #expect(twice.status == .badRequest && member.page.contains("You applied for this task already."))

            // The owner selects them; the page now asks for the report.
            let applications = try await API.object(client, .get, "/api/v1/review-tasks/\(taskID)/applications", token: seed.ownerToken)
            let applicant = try #require((applications["applications"] as? [[String: Any]])?.first?["userId"] as? String)
            _ = try await API.object(client, .post, "/api/v1/review-tasks/\(taskID)/selections", token: seed.ownerToken, body: ["userIds": [applicant]])
            try await member.get("/c/swift-club/review-tasks")
            #expect(member.page.contains("Selected: hand in your report") && member.page.contains("/review-tasks/\(taskID)/report"))
            // A post that is not theirs is refused beside the post field, what they typed kept.
            let notTheirs = try await member.post("/c/swift-club/review-tasks/\(taskID)/report", [
                "item": "/c/swift-club/posts/\(seed.postID)", "score": "4", "pros": "Fast deploys", "cons": "", "summary": "Good",
            ])
            #expect(notTheirs.status == .badRequest)
            #expect(member.page.contains("item-\(taskID)-error") && member.page.contains("Fast deploys"))

            // Writing the report post from the task comes back to the task with its link filled in.
            try await member.get("/c/swift-club/write?review=\(taskID)")
            #expect(member.page.contains("name=\"review\" value=\"\(taskID)\""))
            let empty = try await member.post("/c/swift-club/write", ["title": "", "body": "Kept body", "review": taskID])
            #expect(empty.status == .badRequest && member.page.contains("write-title-error") && member.page.contains("Kept body"))
            let written = try await member.post("/c/swift-club/write", ["title": "Vapor Cloud, a week in", "body": "It **works**.", "tags": "review, vapor", "review": taskID])
            let back = try #require(written.headers[.location])
            #expect(back.hasPrefix("/c/swift-club/review-tasks?task=\(taskID)&item=") && back.hasSuffix("#task-\(taskID)"))
            try await member.follow(written)
            #expect(member.page.contains("Your post is published."))
            let link = try #require(member.page.range(of: "http://[^\"]+/c/swift-club/posts/[^\"]+", options: .regularExpression).map { String(member.page[$0]) })
            let reported = try await member.post("/c/swift-club/review-tasks/\(taskID)/report", [
                "item": link, "score": "4", "pros": "Fast deploys\n\nClear logs", "cons": "Pricing", "recommend": "1", "summary": "Worth it.",
            ])
            #expect(reported.headers[.location] == "/c/swift-club/review-tasks#task-\(taskID)")
            try await member.follow(reported)
            #expect(member.page.contains("Your report is handed in.") && member.page.contains("Report handed in") && member.page.contains("Update your report"))
            // The post itself is on its page.
            try await member.get(String(link[link.range(of: "/c/")!.lowerBound...]))
            #expect(member.page.contains("<strong>works</strong>"))

            // Accepted, it is in the summary.
            _ = try await API.object(client, .post, "/api/v1/review-tasks/\(taskID)/applications/\(applicant)/judgement", token: seed.ownerToken,
                                     body: ["accept": true, "feedback": "Thanks"])
            try await member.get("/c/swift-club/review-tasks/\(taskID)")
            #expect(member.page.contains("4.0 / 5") && member.page.contains("1 of 1") && member.page.contains("Fast deploys"))
            #expect(member.page.contains("Pricing") && member.page.contains("Vic") && member.page.contains("Worth it."))
            try await member.get("/c/swift-club/review-tasks")
            #expect(member.page.contains("Report accepted") && member.page.contains("Thanks") && !member.page.contains("/review-tasks/\(taskID)/report\""))
            // In Chinese too.
            member.language = "zh-CN"
            try await member.get("/c/swift-club/review-tasks/\(taskID)")
            #expect(member.page.contains("已通过报告的汇总") && member.page.contains("1 人中 1 人"))
        }
    }

    @Test("the landing page counts each member once, lists the open groups with their seats left and the coming events; landing and feed page by cursor")
    func landing() async throws {
        try await WebCluster.run { _, client in
            let seed = try await WebCluster.seed(client)
            let offer = try await API.object(client, .post, "/api/v1/plans/\(seed.planID)/group-offers", token: seed.ownerToken,
                                             body: ["groupSize": 3, "priceMinorUnits": 9_900, "windowHours": 48])
            let offerID = try #require(offer["id"] as? String)
            let start = ISO8601DateFormatter().string(from: Date().addingTimeInterval(3 * 86_400))
            _ = try await API.object(client, .post, "/api/v1/communities/\(seed.communityID)/events", token: seed.ownerToken, body: [
                "kind": "online", "title": "Actors AMA", "start": start, "durationMinutes": 60, "timeZone": "Asia/Shanghai",
                "joinUrl": "https://meet.example.com/ama", "capacity": 10, "accessMode": "public",
            ])
            let member = Browser(client, language: "en")
            try await member.signUpAndJoin(seed, email: "l@example.com", name: "Lee")
            try await member.get("/c/swift-club")
            #expect(member.page.contains("1 member"))
            #expect(member.page.contains("Actors AMA"))
            #expect(!member.page.contains("Groups you can join"))
            // Another person opens a group: the landing shows it with its opener and two seats left.
            let opener = Browser(client, language: "en")
            try await opener.get("/signup")
            try await opener.post("/signup", ["email": "o@example.com", "password": "correct horse battery", "displayName": "Opal"])
            try await opener.get("/c/swift-club")
            let opened = try await opener.post("/c/swift-club/group-offers/\(offerID)/groups", ["idem": try #require(opener.field("idem"))])
            #expect(opened.status == .seeOther)
            try await member.get("/c/swift-club")
            #expect(member.page.contains("Groups you can join"))
            #expect(member.page.contains("Started by Opal · 3 more to go"))
            #expect(member.page.range(of: "href=\"/g/[^\"]+\"", options: .regularExpression) != nil)

            // Twenty newer posts: the landing shows ten and links the older ones; the home feed shows twenty and links the first post.
            for number in 1...20 {
                _ = try await API.object(client, .post, "/api/v1/communities/\(seed.communityID)/items", token: seed.ownerToken,
                                         body: ["kind": "post", "title": "Note \(number)", "markdown": "Short.", "access": ["mode": "public"], "publish": true])
            }
            try await member.get("/c/swift-club")
            #expect(member.page.contains("Note 20") && !member.page.contains("Why actors"))
            let older = try #require(member.page.range(of: "/c/swift-club\\?items=[^\"#]+", options: .regularExpression).map { String(member.page[$0]) })
            try await member.get(older)
            #expect(member.page.contains("Note 10") && !member.page.contains("Note 20"))
            try await member.get("/")
            #expect(member.page.contains("Note 20") && !member.page.contains("Why actors"))
            let feedPage = try #require(member.page.range(of: "/\\?feed=[^\"]+", options: .regularExpression).map { String(member.page[$0]) })
            try await member.get(feedPage)
            #expect(member.page.contains("Why actors") && !member.page.contains("Note 20"))
        }
    }

    @Test("the points page switches between the leaderboards; an unknown board is this month's")
    func leaderboards() async throws {
        try await WebCluster.run { _, client in
            let seed = try await WebCluster.seed(client)
            let member = Browser(client, language: "en")
            try await member.signUpAndJoin(seed, email: "lb@example.com", name: "Bo")
            try await member.get("/c/swift-club/points")
            #expect(member.page.contains("href=\"/c/swift-club/points?board=points_month#board\" aria-current=\"page\""))
            for board in ["points_week", "points_all", "referrals", "streaks"] {
                #expect(member.page.contains("href=\"/c/swift-club/points?board=\(board)#board\""))
            }
            try await member.get("/c/swift-club/points?board=streaks")
            #expect(member.page.contains("href=\"/c/swift-club/points?board=streaks#board\" aria-current=\"page\""))
            #expect(member.page.contains("Days in a row") || member.page.contains("Nobody is on this board yet."))
            try await member.get("/c/swift-club/points?board=%3Cscript%3E")
            #expect(member.page.contains("href=\"/c/swift-club/points?board=points_month#board\" aria-current=\"page\"") && !member.page.contains("<script>"))
        }
    }

    @Test("past a rate limit a browser gets a readable page in its language, with Retry-After")
    func rateLimitedPage() async throws {
        var configuration = GatewayConfiguration()
        configuration.trustForwardedFor = true
        configuration.rateLimits = try #require(RateLimits("signup=1/60s"))
        try await WebCluster.run(gatewayConfiguration: configuration) { _, client in
            let browser = Browser(client)
            browser.headers[HTTPField.Name("X-Forwarded-For")!] = "203.0.113.20"
            try await browser.get("/signup")
            let first = try await browser.post("/signup", ["email": "a@example.com", "password": "correct horse battery", "displayName": "A"])
            #expect(first.status == .seeOther)
            try await browser.post("/logout", [:])
            try await browser.get("/signup")
            let second = try await browser.post("/signup", ["email": "b@example.com", "password": "correct horse battery", "displayName": "B"])
            #expect(second.status == .tooManyRequests)
            #expect(second.headers[.retryAfter].flatMap { Int($0) }.map { $0 >= 1 } == true)
            #expect(second.headers[.contentType] == "text/html; charset=utf-8")
            #expect(browser.page.contains("操作太频繁了"))
        }
    }
}
