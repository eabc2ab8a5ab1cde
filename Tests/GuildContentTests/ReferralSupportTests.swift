import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import Synchronization
import Testing

@testable import GuildContent

/// What content does for issue 7: items limited to a minimum level (asked of referral over the
/// wire), single items opened to one user (a points redemption), and the count of active
/// members for the funnel. Each scenario runs on SQLite and on PostgreSQL.
///
/// Levels come from a stand-in referral (``FakeReferral``) served on a real wire server over
/// mutual TLS, so these tests set each user's level by hand whatever referral's points do.
enum ReferralSupportScenarios {
    typealias Scenario = @Sendable (ContentFixture) async throws -> Void

    static let all: [String: Scenario] = [
        "level: locked below the minimum level, readable once reached, everywhere": levelLocksAndOpens,
        "level: staff, the author, visitors and non-members": levelOthers,
        "level: referral unreachable or not connected keeps it locked, never fails": levelUnreachable,
        "level: min_level is checked and applies to a course's paid lessons": levelValidationAndCourses,
        "grant: opens a members-only post to a non-member, once": grantOpens,
        "grant: unknown, deleted and unpublished items": grantRefusals,
        "grant: only referral may call it over the wire": grantOverTheWire,
        "activity: active members counted by hand": activityCounts,
        "activity: owners and co-owners only, ranges checked": activityAuthorization,
    ]
    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await ContentFixture.with(kind) { fixture in try await all[name]!(fixture) }
    }

    static let day: TimeInterval = 86_400
    static let secret = "zanzibar paid text"
    static let body = "The free part.\n\n<!-- more -->\n\nThe \(secret)."

    // MARK: A stand-in referral

    /// Serves `referral.GetStanding` with levels set by the test; counts the calls.
    final class FakeReferral: Sendable {
        private let state = Mutex<(levels: [String: Int32], calls: Int)>(([:], 0))

        func set(_ user: UserID, level: Int32) { state.withLock { $0.levels[user.rawValue] = level } }
        var calls: Int { state.withLock { $0.calls } }

        var router: WireRouter {
            WireRouter([
                WireMethod(ReferralAPI.getStanding) { request, _ in
                    let level = self.state.withLock { state -> Int32 in
                        state.calls += 1
                        return state.levels[request.userID] ?? 1
                    }
                    var standing = ReferralStanding()
                    standing.communityID = request.communityID
                    standing.userID = request.userID
                    standing.level.rank = level
                    standing.level.name = "Level \(level)"
                    return standing
                },
            ])
        }
    }

    /// Runs `body` with content's levels served by a ``FakeReferral`` (every user at level 1
    /// until set).
    static func withFakeReferral(_ f: ContentFixture, _ body: (FakeReferral) async throws -> Void) async throws {
        let fake = FakeReferral()
        let logger = Logger(label: "fake-referral")
        let server = try await WireServer.bind(host: "127.0.0.1", port: 0, serviceName: .referral, router: fake.router,
                                               tls: try f.cluster.certificates.tls(for: .referral), logger: logger)
        let client = try WireClient(service: .referral, endpoints: [WireEndpoint(host: "127.0.0.1", port: server.port)],
                                    tls: try f.cluster.certificates.tls(for: .content), logger: logger)
        f.content.levels.connect(client)
        do {
            try await body(fake)
        } catch {
            await client.close()
            await server.close()
            throw error
        }
        await client.close()
        await server.close()
    }

    /// Sets a level and drops content's cached answer (as news of a level reached would).
    static func setLevel(_ f: ContentFixture, _ fake: FakeReferral, _ user: UserID, _ level: Int32) {
        fake.set(user, level: level)
        f.content.levels.invalidate(user: user, community: CommunityID(f.community.id))
    }

    static func list(_ f: ContentFixture, as user: UserID?) async throws -> [String: ContentItem] {
        var request = ContentListItemsRequest()
        request.communityID = f.community.id
        return Dictionary(uniqueKeysWithValues: try await f.content.items(request, user: user).items.map { ($0.id, $0) })
    }

    static func feed(_ f: ContentFixture, as user: UserID) async throws -> [String: ContentItem] {
        Dictionary(uniqueKeysWithValues: try await f.content.feed(ContentFeedRequest(), user: user).items.map { ($0.id, $0) })
    }

    // MARK: Minimum level

    static func levelLocksAndOpens(_ f: ContentFixture) async throws {
        try await withFakeReferral(f) { fake in
            let member = UserID("member-level")
            try await f.join(member)
            let post = try await f.post("Level two", body, minLevel: 2)
            #expect(post.access.minLevel == 2)
            let open = try await f.post("Open to members", "Anyone who paid reads this.")

            // A paying member at level 1: the preview, locked, told which level; no plans offered.
            setLevel(f, fake, member, 1)
            let locked = try await f.content.item(post.id, user: member)
            #expect(locked.locked)
            #expect(locked.paywall.reason == "level_required")
            #expect(locked.paywall.plans.isEmpty)
            #expect(locked.access.minLevel == 2)
            #expect(locked.html.contains("free part"))
            #expect(!locked.everything.contains("zanzibar"))
            let comments = await thrownError { _ = try await f.comments(post, as: member) }
            #expect(comments?.code == .permissionDenied)
            #expect(comments?.reason == "level_required")
            #expect(comments?.message.contains("level 2") == true)
            #expect(await thrownError { _ = try await f.comment(post, "Hi", by: member) }?.reason == "level_required")
            var react = ContentReactRequest()
            react.targetKind = "item"
            react.targetID = post.id
            react.emoji = "👍"
            #expect(await thrownError { _ = try await f.content.react(react, user: member) }?.reason == "level_required")
            // Lists, the feed and search show it locked, with the preview only.
            let listed = try await list(f, as: member)
            #expect(listed[post.id]?.locked == true)
            #expect(listed[post.id]?.excerpt.contains("zanzibar") == false)
            #expect(listed[open.id]?.locked == false)
            let fed = try await feed(f, as: member)
            #expect(fed[post.id]?.locked == true)
            #expect(fed[open.id]?.locked == false)
            #expect(try await f.search("zanzibar", as: member).hits.isEmpty)
            #expect(try await f.search("free part", as: member).hits.first?.item.locked == true)

            // Level 2 reached: everything opens.
            setLevel(f, fake, member, 2)
            let readable = try await f.content.item(post.id, user: member)
            #expect(!readable.locked)
            #expect(!readable.hasPaywall)
            #expect(readable.html.contains("zanzibar"))
            #expect(try await f.comments(post, as: member).comments.isEmpty)
            _ = try await f.comment(post, "Made it", by: member)
            #expect(try await list(f, as: member)[post.id]?.locked == false)
            #expect(try await feed(f, as: member)[post.id]?.locked == false)
            #expect(try await f.search("zanzibar", as: member).hits.map(\.item.id) == [post.id])

            // The answer is kept: reading again asks referral no more.
            let calls = fake.calls
            _ = try await f.content.item(post.id, user: member)
            _ = try await list(f, as: member)
            #expect(fake.calls == calls)

            // The owner lowers the requirement to none: a level-1 member reads it.
            setLevel(f, fake, member, 1)
            var edit = ContentUpdateItemRequest()
            edit.itemID = post.id
            edit.access.mode = "members"
            edit.access.minLevel = 0
            #expect(try await f.content.updateItem(edit, user: f.owner).access.minLevel == 0)
            #expect(try await f.content.item(post.id, user: member).locked == false)
        }
    }

    static func levelOthers(_ f: ContentFixture) async throws {
        try await withFakeReferral(f) { fake in
            let member = UserID("member-writer")
            let stranger = UserID("stranger-lv5")
            try await f.join(member)
            setLevel(f, fake, stranger, 5)
            let post = try await f.post("Level three", body, minLevel: 3)
            // Staff read whatever their level (the stand-in says 1 to anyone not set).
            for staff in [f.owner, f.moderator, f.expert] {
                let item = try await f.content.item(post.id, user: staff)
                #expect(!item.locked, "\(staff)")
                #expect(item.html.contains("zanzibar"), "\(staff)")
            }
            // A member writes a post needing level 3 while at level 1: they read their own.
            let own = try await f.post("Mine", body, minLevel: 3, by: member)
            #expect(own.status == "published")
            #expect(try await f.content.item(own.id, user: member).locked == false)
            #expect(try await f.content.item(post.id, user: member).paywall.reason == "level_required")
            // A non-member at level 5: the mode keeps it closed; they are offered the plan.
            let closed = try await f.content.item(post.id, user: stranger)
            #expect(closed.locked)
            #expect(closed.paywall.reason == "membership_required")
            #expect(closed.paywall.plans.map(\.id) == [f.plan.id])
            // A visitor is asked to sign in.
            #expect(try await f.content.item(post.id, user: nil).paywall.reason == "sign_in")
            // A public post with a minimum level: its text is not searchable below the level.
            let open = try await f.post("Public but levelled", "Open to all who reached it: \(secret).", mode: "public", minLevel: 2)
            #expect(try await f.content.item(open.id, user: member).paywall.reason == "level_required")
            #expect(try await f.search("zanzibar", as: nil).hits.isEmpty)
            #expect(try await f.search("zanzibar", as: member).hits.map(\.item.id) == [own.id])
            setLevel(f, fake, member, 2)
            #expect(Set(try await f.search("zanzibar", as: member).hits.map(\.item.id)) == [own.id, open.id])
        }
    }

    static func levelUnreachable(_ f: ContentFixture) async throws {
        let member = UserID("member-cutoff")
        try await f.join(member)
        let post = try await f.post("Level two", body, minLevel: 2)
        // Referral down: a server that closed, its port refusing connections.
        let logger = Logger(label: "gone-referral")
        let server = try await WireServer.bind(host: "127.0.0.1", port: 0, serviceName: .referral, router: FakeReferral().router,
                                               tls: try f.cluster.certificates.tls(for: .referral), logger: logger)
        let port = server.port
        await server.close()
        let client = try WireClient(service: .referral, endpoints: [WireEndpoint(host: "127.0.0.1", port: port)],
                                    tls: try f.cluster.certificates.tls(for: .content), logger: logger)
        f.content.levels.connect(client)
        let item = try await f.content.item(post.id, user: member)
        #expect(item.locked)
        #expect(item.paywall.reason == "level_required")
        #expect(try await list(f, as: member)[post.id]?.locked == true)
        // Items without a level are untouched.
        let plain = try await f.post("Plain", body)
        #expect(try await f.content.item(plain.id, user: member).locked == false)
        await client.close()

        // No client at all (a LevelAccess never connected): level 0 for everyone.
        let unconnected = LevelAccess(client: nil)
        #expect(await unconnected.rank(of: member, in: CommunityID(f.community.id)) == 0)
        #expect(unconnected.knownRank(of: member, in: CommunityID(f.community.id)) == 0)

        // Referral back: connecting afresh forgets the failed answers.
        try await withFakeReferral(f) { fake async throws in
            setLevel(f, fake, member, 2)
            #expect(try await f.content.item(post.id, user: member).locked == false)
        }
    }

    static func levelValidationAndCourses(_ f: ContentFixture) async throws {
        for bad: Int32 in [-1, 101] {
            let error = await thrownError { _ = try await f.post("Bad", "text", minLevel: bad) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.fieldViolations.map(\.field) == ["access.minLevel"])
        }
        #expect(try await f.post("Top", "text", minLevel: 100).access.minLevel == 100)
        try await withFakeReferral(f) { fake in
            let member = UserID("member-course")
            try await f.join(member)
            let (course, lessons) = try await f.course("Levelled course", free: 1, extra: secret)
            var edit = ContentUpdateItemRequest()
            edit.itemID = course.id
            edit.access.mode = "preview"
            edit.access.freeLessons = 1
            edit.access.minLevel = 3
            _ = try await f.content.updateItem(edit, user: f.owner)
            setLevel(f, fake, member, 2)
            #expect(try await f.content.lesson(lessons[0].id, user: member).locked == false)
            let paid = try await f.content.lesson(lessons[1].id, user: member)
            #expect(paid.locked)
            #expect(paid.paywall.reason == "level_required")
            #expect(!paid.everything.contains("zanzibar"))
            let outline = try await f.content.item(course.id, user: member)
            #expect(outline.chapters.flatMap(\.lessons).map(\.locked) == [false, true, true, true])
            var complete = ContentCompleteLessonRequest()
            complete.lessonID = lessons[1].id
            complete.completed = true
            #expect(await thrownError { _ = try await f.content.completeLesson(complete, user: member) }?.reason == "level_required")
            setLevel(f, fake, member, 3)
            #expect(try await f.content.lesson(lessons[1].id, user: member).html.contains("zanzibar"))
            #expect(try await f.content.completeLesson(complete, user: member).lessonsDone == 1)
        }
    }

    // MARK: Grants

    static func grantRequest(_ item: String, _ user: UserID, key: String = "redeem-1") -> ContentGrantItemAccessRequest {
        var request = ContentGrantItemAccessRequest()
        request.itemID = item
        request.userID = user.rawValue
        request.reason = "points redemption"
        request.idempotencyKey = key
        return request
    }

    static func grantCount(_ f: ContentFixture) async throws -> Int64 {
        try await f.cluster.contentDatabase.database.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM item_grants").first()!.decode(column: "n", as: Int64.self)
        }
    }

    static func grantOpens(_ f: ContentFixture) async throws {
        let stranger = UserID("stranger-grant")
        let post = try await f.post("Members only", body)
        let other = try await f.post("Another", body)
        let before = try await f.content.item(post.id, user: stranger)
        #expect(before.locked)
        #expect(before.paywall.reason == "membership_required")

        let granted = try await f.content.grantItemAccess(grantRequest(post.id, stranger))
        #expect(granted.itemID == post.id)
        #expect(granted.userID == stranger.rawValue)
        #expect(granted.communityID == f.community.id)
        #expect(granted.grantedAtMs == f.clock.now().millisecondsSince1970)

        let after = try await f.content.item(post.id, user: stranger)
        #expect(!after.locked)
        #expect(after.html.contains("zanzibar"))
        #expect(try await f.comments(post, as: stranger).comments.isEmpty)
        let listed = try await list(f, as: stranger)
        #expect(listed[post.id]?.locked == false)
        #expect(listed[other.id]?.locked == true)  // one item, not the community
        #expect(try await f.content.item(other.id, user: stranger).locked)
        #expect(try await f.search("zanzibar", as: stranger).hits.map(\.item.id) == [post.id])

        // Once per (item, user): a repeat, with the same key or another, returns the first grant.
        f.clock.advance(by: 3600)
        #expect(try await f.content.grantItemAccess(grantRequest(post.id, stranger)) == granted)
        #expect(try await f.content.grantItemAccess(grantRequest(post.id, stranger, key: "redeem-2")) == granted)
        #expect(try await grantCount(f) == 1)

        // A grant opens an item whatever its level, without asking referral.
        try await withFakeReferral(f) { fake in
            let member = UserID("member-grant")
            try await f.join(member)
            let levelled = try await f.post("Level four", body, minLevel: 4)
            #expect(try await f.content.item(levelled.id, user: member).paywall.reason == "level_required")
            _ = try await f.content.grantItemAccess(grantRequest(levelled.id, member))
            #expect(try await f.content.item(levelled.id, user: member).locked == false)
            #expect(try await list(f, as: member)[levelled.id]?.locked == false)
            #expect(try await grantCount(f) == 2)
            _ = fake
        }
    }

    static func grantRefusals(_ f: ContentFixture) async throws {
        let user = UserID("stranger-grant")
        #expect(await thrownError { _ = try await f.content.grantItemAccess(grantRequest("no-such-item", user)) }?.code == .notFound)
        let deleted = try await f.post("Soon gone", body)
        _ = try await f.content.deleteItem(deleted.id, user: f.owner)
        #expect(await thrownError { _ = try await f.content.grantItemAccess(grantRequest(deleted.id, user)) }?.code == .notFound)
        let draft = try await f.post("Draft", body, publish: false)
        let unpublished = await thrownError { _ = try await f.content.grantItemAccess(grantRequest(draft.id, user)) }
        #expect(unpublished?.code == .failedPrecondition)
        #expect(unpublished?.reason == "not_published")
        let missing = await thrownError { _ = try await f.content.grantItemAccess(grantRequest("", UserID(""))) }
        #expect(missing?.code == .invalidArgument)
        #expect(Set(missing?.fieldViolations.map(\.field) ?? []) == ["itemId", "userId"])
        #expect(try await grantCount(f) == 0)
    }

    static func grantOverTheWire(_ f: ContentFixture) async throws {
        let user = UserID("stranger-wire")
        let post = try await f.post("Members only", body)
        let logger = Logger(label: "grant-callers")
        func client(as caller: ServiceName) throws -> WireClient {
            try WireClient(service: .content, endpoints: [WireEndpoint(host: "127.0.0.1", port: f.cluster.contentServer.port)],
                           tls: try f.cluster.certificates.tls(for: caller), logger: logger)
        }
        for caller in [ServiceName.gateway, .membership] {
            let other = try client(as: caller)
            let refused = await thrownError { _ = try await other.call(ContentAPI.grantItemAccess, grantRequest(post.id, user)) }
            await other.close()
            #expect(refused?.code == .permissionDenied, "\(caller)")
        }
        #expect(try await grantCount(f) == 0)
        let referral = try client(as: .referral)
        let grant = try await referral.call(ContentAPI.grantItemAccess, grantRequest(post.id, user))
        await referral.close()
        #expect(grant.itemID == post.id)
        #expect(try await f.content.item(post.id, user: user).locked == false)
    }

    // MARK: Activity

    static func stats(_ f: ContentFixture, as user: UserID? = nil, asOf: Int64 = 0, from: Int64 = 0, to: Int64 = 0) async throws -> ContentActivityStats {
        var request = ContentActivityStatsRequest()
        request.communityID = f.community.id
        request.asOfMs = asOf
        request.fromMs = from
        request.toMs = to
        return try await f.content.activityStats(request, user: user ?? f.owner)
    }

    /// Jan 1 (T0): the owner posts, C checks in, E enters a lottery. Jan 31: A publishes a post.
    /// Feb 5: E enters another lottery. Feb 9 12:00: B comments and reacts; D writes a draft
    /// (no interaction). Counted on Feb 10.
    static func activityCounts(_ f: ContentFixture) async throws {
        let (a, b, c, d, e) = (UserID("active-a"), UserID("active-b"), UserID("active-c"), UserID("active-d"), UserID("active-e"))
        // A yearly plan: members stay members across the 40 days.
        var yearly = MembershipCreatePlanRequest()
        yearly.communityID = f.community.id
        yearly.name = "Yearly"
        yearly.priceMinorUnits = 99_900
        yearly.period = "yearly"
        let plan = try await f.membership.createPlan(yearly, user: f.owner)
        for user in [a, b, c, d, e] { try await f.join(user, plan: plan) }
        let t0 = f.clock.now().millisecondsSince1970  // 2026-01-01T00:00:00Z
        let dayMs: Int64 = 86_400_000

        let ownerPost = try await f.post("Welcome", "Hello all.")
        let challenge = try await InteractionScenarios.makeChallenge(f, start: "2026-01-01", days: 60, timeZone: "UTC")
        _ = try await InteractionScenarios.challengeJoin(f, challenge, c)
        _ = try await InteractionScenarios.challengeCheckIn(f, challenge, c)
        let early = try await InteractionScenarios.makeLottery(f, drawIn: 60 * day)
        _ = try await InteractionScenarios.lotteryEnter(f, early, e)

        f.clock.advance(by: 30 * day)
        let aPost = try await f.post("A's post", "From A.", by: a)
        #expect(aPost.status == "published")
        f.clock.advance(by: 5 * day)
        let later = try await InteractionScenarios.makeLottery(f, drawIn: 20 * day)
        _ = try await InteractionScenarios.lotteryEnter(f, later, e)
        f.clock.advance(by: 4.5 * day)
        _ = try await f.comment(ownerPost, "Thanks!", by: b)
        var react = ContentReactRequest()
        react.targetKind = "item"
        react.targetID = aPost.id
        react.emoji = "👍"
        _ = try await f.content.react(react, user: b)
        _ = try await f.post("D's draft", "Not yet.", publish: false, by: d)
        f.clock.advance(by: 0.5 * day)  // Feb 10, 00:00
        #expect(f.clock.now().millisecondsSince1970 == t0 + 40 * dayMs)

        // Last 7 days [Feb 3, Feb 10): B (Feb 9), E (Feb 5). Last 30 [Jan 11, Feb 10): A too.
        // The owner (created the lotteries and the challenge on Jan 1, which do not count, and
        // posted then) and C are 40 days back.
        var now = try await stats(f)
        #expect(now.active7D == 2)
        #expect(now.active30D == 3)
        #expect(now.activeInRange == 0)
        // Ranges: [Jan 1, Jan 2): owner, C, E. [Jan 1, Feb 1): A too. From Jan 31 (to now): A, E, B.
        #expect(try await stats(f, from: t0, to: t0 + dayMs).activeInRange == 3)
        #expect(try await stats(f, from: t0, to: t0 + 31 * dayMs).activeInRange == 4)
        #expect(try await stats(f, from: t0 + 30 * dayMs).activeInRange == 3)
        #expect(try await stats(f, from: t0 + 1, to: t0 + 30 * dayMs).activeInRange == 0)
        // As of Jan 31 00:00:00.001: A's post (at Jan 31 00:00) is in both windows; those of
        // Jan 1 00:00 are just outside the 30 days [Jan 1 00:00:00.001, ...).
        now = try await stats(f, asOf: t0 + 30 * dayMs + 1)
        #expect(now.active7D == 1)
        #expect(now.active30D == 1)
        // As of Jan 31 00:00 exactly: A's post is not before it; Jan 1 00:00 is in.
        now = try await stats(f, asOf: t0 + 30 * dayMs)
        #expect(now.active7D == 0)
        #expect(now.active30D == 3)
    }

    static func activityAuthorization(_ f: ContentFixture) async throws {
        let coOwner = UserID("co-owner-stats")
        let member = UserID("member-stats")
        try await f.assign(coOwner, "co_owner")
        try await f.join(member)
        _ = try await f.post("Hello", "Hi.", by: member)
        f.clock.advance(by: 1)  // the windows end before as_of (now)
        #expect(try await stats(f, as: coOwner).active7D == 1)
        #expect(try await stats(f).active30D == 1)
        for refused in [f.moderator, f.expert, member, UserID("stranger-stat")] {
            #expect(await thrownError { _ = try await stats(f, as: refused) }?.code == .permissionDenied, "\(refused)")
        }
        let now = f.clock.now().millisecondsSince1970
        #expect(await thrownError { _ = try await stats(f, from: now, to: now) }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await stats(f, from: now + 1) }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await stats(f, asOf: -1) }?.code == .invalidArgument)
        var empty = ContentActivityStatsRequest()
        empty.communityID = ""
        #expect(await thrownError { _ = try await f.content.activityStats(empty, user: f.owner) }?.code == .invalidArgument)
    }
}

@Suite("Content for referral on SQLite", .serialized)
struct ReferralSupportSQLiteTests {
    @Test("scenario", arguments: ReferralSupportScenarios.names)
    func scenario(_ name: String) async throws {
        try await ReferralSupportScenarios.run(name, on: .sqlite)
    }
}

@Suite("Content for referral on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct ReferralSupportPostgresTests {
    @Test("scenario", arguments: ReferralSupportScenarios.names)
    func scenario(_ name: String) async throws {
        try await ReferralSupportScenarios.run(name, on: .postgres)
    }
}
