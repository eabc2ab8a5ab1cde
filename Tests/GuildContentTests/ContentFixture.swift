import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildSecurity
import GuildService
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildContent

/// A whole in-process cluster (auth, membership, content over the wire on real TLS) over
/// throwaway databases of one kind, with a community whose owner publishes and a plan members
/// buy with the sandbox provider.
struct ContentFixture: Sendable {
    let cluster: TestCluster
    let clock: ManualWallClock
    let community: MembershipCommunity
    let plan: MembershipPlan

    var content: ContentService { cluster.content }
    var membership: MembershipService { cluster.membership }

    let owner = UserID("owner-00001")
    let moderator = UserID("moderator-01")
    let expert = UserID("expert-00001")

    static func with(_ kind: TestDatabaseKind, _ body: (ContentFixture) async throws -> Void) async throws {
        let clock = ManualWallClock(Date(timeIntervalSince1970: 1_767_225_600))  // 2026-01-01T00:00:00Z
        try await TestCluster.withCluster(database: kind, clock: clock) { cluster in
            let owner = UserID("owner-00001")
            var create = MembershipCreateCommunityRequest()
            create.slug = "swift-club"
            create.name = "Swift Club"
            create.currency = "CNY"
            let community = try await cluster.membership.createCommunity(create, user: owner)
            var publish = MembershipUpdateCommunityRequest()
            publish.communityID = community.id
            publish.status = "active"
            _ = try await cluster.membership.updateCommunity(publish, user: owner)
            var plan = MembershipCreatePlanRequest()
            plan.communityID = community.id
            plan.name = "Monthly"
            plan.priceMinorUnits = 19_900
            plan.period = "monthly"
            let fixture = ContentFixture(cluster: cluster, clock: clock, community: community, plan: try await cluster.membership.createPlan(plan, user: owner))
            try await fixture.assign(fixture.moderator, "moderator")
            try await fixture.assign(fixture.expert, "guest_expert")
            try await body(fixture)
        }
    }

    func assign(_ user: UserID, _ role: String) async throws {
        var request = MembershipSetRoleRequest()
        request.communityID = community.id
        request.userID = user.rawValue
        request.role = role
        _ = try await membership.setRole(request, user: owner)
        try await cluster.membershipEvents.deliverDue()
    }

    /// `user` buys the plan with the sandbox provider; membership's events reach content.
    func join(_ user: UserID, plan: MembershipPlan? = nil) async throws {
        var order = MembershipCreateOrderRequest()
        order.communityID = community.id
        order.planID = (plan ?? self.plan).id
        order.idempotencyKey = Identifier.make()
        let placed = try await membership.createOrder(order, user: user)
        var confirm = MembershipConfirmSandboxPaymentRequest()
        confirm.paymentID = placed.payment.id
        confirm.idempotencyKey = Identifier.make()
        _ = try await membership.confirmSandboxPayment(confirm, user: user)
        try await cluster.membershipEvents.deliverDue()
    }

    func post(_ title: String, _ markdown: String, mode: String = "members", plans: [String] = [], minLevel: Int32 = 0, publish: Bool = true, by user: UserID? = nil, tags: [String] = []) async throws -> ContentItem {
        var request = ContentCreateItemRequest()
        request.communityID = community.id
        request.kind = "post"
        request.title = title
        request.markdown = markdown
        request.tags = tags
        request.access.mode = mode
        request.access.planIds = plans
        request.access.minLevel = minLevel
        request.publish = publish
        return try await content.createItem(request, user: user ?? owner)
    }

    /// A published course of `chapters` × `lessons` with `free` free lessons; lesson bodies are
    /// "Lesson c.l body" plus `extra` for the paid ones.
    func course(_ title: String, chapters: Int = 2, lessons: Int = 2, free: Int = 2, mode: String = "preview", extra: String = "") async throws -> (ContentItem, [ContentLesson]) {
        var request = ContentCreateItemRequest()
        request.communityID = community.id
        request.kind = "course"
        request.title = title
        request.markdown = "About \(title)."
        request.access.mode = mode
        request.access.freeLessons = Int32(free)
        let course = try await content.createItem(request, user: owner)
        var made: [ContentLesson] = []
        for c in 1...chapters {
            var chapter = ContentAddChapterRequest()
            chapter.courseID = course.id
            chapter.title = "Chapter \(c)"
            let added = try await content.addChapter(chapter, user: owner)
            for l in 1...lessons {
                var lesson = ContentAddLessonRequest()
                lesson.chapterID = added.id
                lesson.title = "Lesson \(c).\(l)"
                lesson.markdown = "Lesson \(c).\(l) body." + (made.count >= free ? " " + extra : "")
                made.append(try await content.addLesson(lesson, user: owner))
            }
        }
        var publish = ContentPublishItemRequest()
        publish.itemID = course.id
        return (try await content.publishItem(publish, user: owner), made)
    }

    func comment(_ item: ContentItem, _ text: String, by user: UserID, parent: String = "", lesson: String = "") async throws -> ContentComment {
        var request = ContentAddCommentRequest()
        request.itemID = item.id
        request.markdown = text
        request.parentID = parent
        request.lessonID = lesson
        return try await content.addComment(request, user: user)
    }

    func comments(_ item: ContentItem, as user: UserID?, lesson: String = "") async throws -> ContentCommentList {
        var request = ContentListCommentsRequest()
        request.itemID = item.id
        request.lessonID = lesson
        return try await content.comments(request, user: user)
    }

    func search(_ query: String, as user: UserID?) async throws -> ContentSearchResults {
        var request = ContentSearchRequest()
        request.query = query
        return try await content.search(request, user: user)
    }

    func settings(keywords: [String] = [], requireApproval: Bool? = nil, rules: String? = nil) async throws {
        var request = ContentUpdateSettingsRequest()
        request.communityID = community.id
        request.keywords = keywords
        request.replaceKeywords = !keywords.isEmpty
        if let requireApproval { request.requireApproval = requireApproval }
        if let rules { request.rules = rules }
        _ = try await content.updateSettings(request, user: owner)
    }

    func queue(status: String = "pending") async throws -> [ContentQueueEntry] {
        var request = ContentListQueueRequest()
        request.communityID = community.id
        request.status = status
        return try await content.queue(request, user: moderator).entries
    }

    func decide(_ entry: ContentQueueEntry, _ decision: String, reason: String = "", by user: UserID? = nil) async throws -> ContentQueueEntry {
        var request = ContentDecideRequest()
        request.entryID = entry.id
        request.decision = decision
        request.reason = reason
        return try await content.decide(request, user: user ?? moderator)
    }

    /// Every event content wrote, as (topic, payload).
    func outbox() async throws -> [(String, Data)] {
        try await cluster.contentDatabase.database.withConnection { sql in
            try await sql.raw("SELECT topic, payload FROM outbox_events ORDER BY seq").all().map {
                (try $0.decode(column: "topic", as: String.self), try $0.decode(column: "payload", as: Data.self))
            }
        }
    }
}

extension SwiftProtobuf.Message {
    /// Everything a caller would receive, as text, for leak checks.
    var everything: String { (try? jsonString()) ?? "" }
}

extension ContentFixture {
    /// Runs `body` with a relay of content's outbox to an event consumer served over the wire
    /// on mutual TLS (as the referral service will be), failing its first `failures` deliveries.
    func withWireSubscriber(failures: Int = 0, _ body: (OutboxRelay, TestEventConsumer) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let logger = Logger(label: "content-events")
        let consumerDatabase = try await TestDatabase.create(.sqlite, directory: directory.url, logger: logger)
        let consumer = try await TestEventConsumer(database: consumerDatabase, failures: failures)
        let server = try await WireServer.bind(host: "127.0.0.1", port: 0, serviceName: .referral, router: consumer.router,
                                               tls: try cluster.certificates.tls(for: .referral), logger: logger)
        let client = try WireClient(service: .referral, endpoints: [WireEndpoint(host: "127.0.0.1", port: server.port)],
                                    tls: try cluster.certificates.tls(for: .content), logger: logger)
        let relay = OutboxRelay(source: .content, database: cluster.contentDatabase.database,
                                subscribers: [.init(name: .referral, client: client)], clock: clock, logger: logger)
        do {
            try await body(relay, consumer)
        } catch {
            await client.close()
            await server.close()
            await consumerDatabase.drop()
            directory.remove()
            throw error
        }
        await client.close()
        await server.close()
        await consumerDatabase.drop()
        directory.remove()
    }
}
