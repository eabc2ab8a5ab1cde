import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildStorage
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildContent

/// Every content limit raced: eight calls at once (on PostgreSQL each on its own connection),
/// with the exact outcome asserted: how many won, what the others were answered, and what was
/// written (rows, outbox events, money). Decisions, "Concurrency", says which mechanism makes
/// each one hold.
enum ContentRaces {
    typealias Scenario = @Sendable (ContentFixture) async throws -> Void
    typealias I = InteractionScenarios

    static let all: [String: Scenario] = [
        "event capacity: 8 RSVPs for 2 places; 2 going, 6 waiting in order": eventCapacity,
        "waiting list: the 2 going cancel at once; the first 2 waiting are promoted, once each": waitingList,
        "booking: 8 members book overlapping hour and half-hour sessions of one expert; 1 booking": bookingOverlap,
        "review places: 8 selections for 2 places at once; 2 selected, 6 told there is no place": reviewPlaces,
        "lottery entry: one member enters 8 times at once; one entry, one event": lotteryEntry,
        "lottery draw: the owner and the scheduler draw 8 times at once; one draw": lotteryDraw,
        "question: 4 answers and 4 declines at once; one wins, the money moves once": questionOnce,
        "check-in: one member checks in 8 times at once; one check-in": checkInOnce,
        "attachments: 8 uploads to an item holding 19 of 20; 1 stored, 7 told it is full": attachments,
        "moderation: 4 approvals and 4 rejections at once; one decision": moderationOnce,
        "reports: 8 members report one post at once; one queue entry": reportsOnce,
        "publishing: 8 publishes of one draft at once; published once": publishOnce,
        "reactions: one member sends one reaction 8 times at once; one reaction, one event": reactionOnce,
        "settings: 8 owners' saves of different settings at once; every one is kept": settingsMerge,
    ]

    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await ContentFixture.with(kind) { fixture in try await all[name]!(fixture) }
    }

    static let racers = 8
    static func member(_ n: Int) -> UserID { UserID(String(format: "racer-%06d", n)) }

    static func members(_ f: ContentFixture) async throws -> [UserID] {
        let users = (1...racers).map(member)
        for user in users { try await f.join(user) }
        return users
    }

    static func count(_ f: ContentFixture, _ topic: String) async throws -> Int {
        try await f.outbox().filter { $0.0 == topic }.count
    }

    // MARK: Events

    static func eventCapacity(_ f: ContentFixture) async throws {
        let event = try await I.makeEvent(f, capacity: 2)
        let users = try await members(f)
        let rsvps = await Race.run(racers) { index in try await I.rsvp(f, event, users[index]) }
        #expect(rsvps.failures().isEmpty)
        let seen = try await I.read(f, event, as: f.owner)
        #expect(seen.going == 2 && seen.waitlisted == 6)
        var positions: [Int32] = []
        for user in users {
            let mine = try await I.read(f, event, as: user)
            if mine.myRsvp == "waitlisted" { positions.append(mine.myWaitlistPosition) }
        }
        #expect(positions.sorted() == [1, 2, 3, 4, 5, 6])
    }

    static func waitingList(_ f: ContentFixture) async throws {
        let event = try await I.makeEvent(f, capacity: 2)
        let users = try await members(f)
        for user in users { _ = try await I.rsvp(f, event, user) }  // 1 and 2 going, 3 to 8 waiting
        let cancels = await Race.run(2) { index in try await I.cancelRsvp(f, event, users[index]) }
        #expect(cancels.failures().isEmpty)
        var going: [UserID] = []
        for user in users where try await I.read(f, event, as: user).myRsvp == "going" { going.append(user) }
        #expect(going == [users[2], users[3]])
        #expect(try await count(f, ContentService.InteractionTopic.eventPromoted) == 2)
        #expect(try await I.read(f, event, as: f.owner).waitlisted == 4)
    }

    // MARK: Consulting, reviews, lotteries, questions, check-ins

    static func bookingOverlap(_ f: ContentFixture) async throws {
        let hour = try await f.consulting(minutes: 60, price: 10_000)
        let half = try await f.consulting(minutes: 30, price: 6_000, setHours: false)
        let users = try await members(f)
        let nine = try #require(try await f.slots(hour).slots.first).start
        let halfPastNine = try #require(try await f.slots(half).slots.first { $0.start.date == nine.date.addingTimeInterval(1_800) }).start
        let bookings = await Race.run(racers) { index in
            index % 2 == 0 ? try await f.book(hour, at: nine, by: users[index]) : try await f.book(half, at: halfPastNine, by: users[index])
        }
        #expect(bookings.successes().count == 1)
        #expect(bookings.refusals().count == 7)
        #expect(bookings.refusals().allSatisfy { $0.hasSuffix("/slot_taken") }, "\(bookings.refusals())")
        let held = try await f.cluster.contentDatabase.database.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM bookings").first()?.decode(column: "n", as: Int.self)
        }
        #expect(held == 1)
    }

    static func reviewPlaces(_ f: ContentFixture) async throws {
        let users = try await members(f)
        let task = try await f.reviewCreate(places: 2)
        for user in users { _ = try await f.reviewApply(task, by: user) }
        let selections = await Race.run(racers) { index in try await f.reviewSelect(task, [users[index]]) }
        #expect(selections.successes().count == 2)
        #expect(selections.refusals().count == 6)
        #expect(selections.refusals().allSatisfy { $0.hasSuffix("/no_places_left") }, "\(selections.refusals())")
        let selected = try await f.cluster.contentDatabase.database.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM review_applications WHERE task_id = \(bind: task.id) AND status = 'selected'").first()?
                .decode(column: "n", as: Int.self)
        }
        #expect(selected == 2)
    }

    static func lotteryEntry(_ f: ContentFixture) async throws {
        let lottery = try await I.makeLottery(f)
        let entrant = member(1)
        try await f.join(entrant)
        let entries = await Race.run(racers) { _ in try await I.lotteryEnter(f, lottery, entrant) }
        #expect(entries.failures().isEmpty)
        #expect(try await I.lotteryRead(f, lottery, as: f.owner).entrantCount == 1)
        #expect(try await count(f, ContentService.InteractionTopic.lotteryEntered) == 1)
    }

    static func lotteryDraw(_ f: ContentFixture) async throws {
        let lottery = try await I.makeLottery(f, drawIn: 3_600)
        let users = try await members(f)
        for user in users { _ = try await I.lotteryEnter(f, lottery, user) }
        f.clock.advance(by: 3_600)
        let draws = await Race.run(racers) { index -> Int in
            if index % 2 == 0 { return try await f.content.drawDueLotteries() }
            _ = try await I.lotteryDrawByHand(f, lottery)
            return 1
        }
        // The hand draws that came second answer with the drawn lottery or "already drawn".
        #expect(draws.refusals().allSatisfy { $0.hasSuffix("/already_drawn") }, "\(draws.refusals())")
        let drawn = try await I.lotteryRead(f, lottery, as: f.owner)
        #expect(drawn.status == "drawn")
        #expect(drawn.winners.count == 3)
        #expect(try await count(f, ContentService.InteractionTopic.lotteryWon) == 3)
    }

    static func questionOnce(_ f: ContentFixture) async throws {
        let asker = member(1)
        try await f.join(asker)
        try await f.answerer(f.expert, price: 3_000)
        let question = try await f.ask(f.expert, "How do actors interleave?", key: Identifier.make(), by: asker)
        try await f.pay(charge: question.chargeID, by: asker)
        let moves = await Race.run(racers) { index in
            index % 2 == 0
                ? try await f.answer(question, by: f.expert)
                : try await f.content.declineQuestion(ContentDeclineQuestionRequest.with { $0.questionID = question.id; $0.reason = "Too broad" }, user: f.expert)
        }
        let final = try await f.content.question(question.id, user: asker)
        #expect(["answered", "declined"].contains(final.status))
        #expect(moves.successes().count >= 1)
        #expect(moves.refusals().allSatisfy { $0.hasSuffix("/question_not_open") }, "\(moves.refusals())")
        let charge = try await f.charge(question.chargeID)
        #expect(charge.status == (final.status == "answered" ? "settled" : "refunded"))
        #expect(try await count(f, "content.question.answered") + count(f, "content.question.refunded") == 1)
        #expect(try await f.ledgerBalance("charge_holding:\(f.community.id)") == 0)
        #expect(try await f.membership.checkLedger().violations.isEmpty)
    }

    static func checkInOnce(_ f: ContentFixture) async throws {
        let challenge = try await I.makeChallenge(f, start: "2026-01-01", days: 7, timeZone: "Asia/Shanghai")
        let user = member(1)
        try await f.join(user)
        _ = try await I.challengeJoin(f, challenge, user)
        let checkIns = await Race.run(racers) { _ in try await I.challengeCheckIn(f, challenge, user) }
        #expect(checkIns.successes().count == 1)
        #expect(checkIns.refusals() == Array(repeating: "failed_precondition/already_checked_in", count: 7))
        #expect(try await count(f, "content.challenge.checked_in") == 1)
    }

    // MARK: Content

    static func attachments(_ f: ContentFixture) async throws {
        let post = try await f.post("Slides", "All the slides.")
        @Sendable func upload(_ n: Int) async throws -> ContentAttachment {
            try await f.content.addAttachment(ContentAddAttachmentRequest.with {
                $0.itemID = post.id
                $0.filename = "part-\(n).txt"
                $0.contentType = "text/plain"
                $0.data = Data("part \(n)".utf8)
            }, user: f.owner)
        }
        for n in 1...19 { _ = try await upload(n) }
        let uploads = await Race.run(racers) { index in try await upload(100 + index) }
        #expect(uploads.successes().count == 1)
        #expect(uploads.refusals() == Array(repeating: "resource_exhausted/too_many_attachments", count: 7))
        let stored = try await f.cluster.contentDatabase.database.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM attachments WHERE item_id = \(bind: post.id)").first()?.decode(column: "n", as: Int.self)
        }
        #expect(stored == 20)
    }

    static func moderationOnce(_ f: ContentFixture) async throws {
        try await f.settings(requireApproval: true)
        let author = member(1)
        try await f.join(author)
        let post = try await f.post("Hello", "My first post.", by: author)
        #expect(post.status == "pending_review")
        let entry = try #require(try await f.queue().first)
        let decisions = await Race.run(racers) { index in
            try await f.decide(entry, index % 2 == 0 ? "approve" : "reject", reason: index % 2 == 0 ? "" : "Off topic")
        }
        let decided = try await f.queue(status: "all").first { $0.id == entry.id }
        let status = try #require(decided?.status)
        #expect(["approved", "rejected"].contains(status))
        // The same decision again is answered as done; the other is refused.
        #expect(decisions.successes().allSatisfy { $0.status == status })
        #expect(decisions.refusals().allSatisfy { $0 == "failed_precondition/already_decided" }, "\(decisions.refusals())")
        #expect(decisions.refusals().count == 4)
        #expect(try await count(f, ContentService.Topic.itemPublished) == (status == "approved" ? 1 : 0))
        let audits = try await f.cluster.contentDatabase.database.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM moderation_audit WHERE target_id = \(bind: post.id) AND action IN ('approve', 'reject')").first()?
                .decode(column: "n", as: Int.self)
        }
        #expect(audits == 1)
    }

    static func reportsOnce(_ f: ContentFixture) async throws {
        let users = try await members(f)
        let post = try await f.post("Spam?", "Buy now.")
        let reports = await Race.run(racers) { index in
            try await f.content.report(ContentReportRequest.with { $0.targetKind = "item"; $0.targetID = post.id; $0.reason = "spam" }, user: users[index])
        }
        #expect(reports.failures().isEmpty)
        #expect(Set(reports.successes().map(\.id)).count == 1)
        #expect(try await f.queue().filter { $0.targetID == post.id }.count == 1)
    }

    static func publishOnce(_ f: ContentFixture) async throws {
        let draft = try await f.post("Draft", "Soon.", publish: false)
        let publishes = await Race.run(racers) { _ in
            try await f.content.publishItem(ContentPublishItemRequest.with { $0.itemID = draft.id }, user: f.owner)
        }
        #expect(publishes.failures().isEmpty)
        #expect(publishes.successes().allSatisfy { $0.status == "published" })
        #expect(try await count(f, ContentService.Topic.itemPublished) == 1)
    }

    static func reactionOnce(_ f: ContentFixture) async throws {
        let user = member(1)
        try await f.join(user)
        let post = try await f.post("Nice", "A nice post.")
        let reactions = await Race.run(racers) { _ in
            try await f.content.react(ContentReactRequest.with { $0.targetKind = "item"; $0.targetID = post.id; $0.emoji = "👍" }, user: user)
        }
        #expect(reactions.failures().isEmpty)
        #expect(try await count(f, ContentService.Topic.reactionAdded) == 1)
        #expect(reactions.successes().last?.reactions.first { $0.emoji == "👍" }?.count == 1)
    }

    static func settingsMerge(_ f: ContentFixture) async throws {
        let saves = await Race.run(racers) { index in
            var request = ContentUpdateSettingsRequest()
            request.communityID = f.community.id
            switch index % 4 {
            case 0: request.rules = "Be kind."
            case 1: request.requireApproval = true
            case 2: request.questionLimitMinutes = 720
            default: request.timeZone = "Asia/Shanghai"
            }
            return try await f.content.updateSettings(request, user: f.owner)
        }
        #expect(saves.failures().isEmpty)
        let settings = try await f.content.settings(ContentGetSettingsRequest.with { $0.communityID = f.community.id }, user: f.owner)
        #expect(settings.rules == "Be kind." && settings.requireApproval && settings.questionLimitMinutes == 720 && settings.timeZone == "Asia/Shanghai")
    }
}

@Suite("Content races on SQLite", .serialized)
struct ContentRacesOnSQLite {
    @Test("race", arguments: ContentRaces.names)
    func race(_ name: String) async throws { try await ContentRaces.run(name, on: .sqlite) }
}

@Suite("Content races on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct ContentRacesOnPostgreSQL {
    @Test("race", arguments: ContentRaces.names)
    func race(_ name: String) async throws { try await ContentRaces.run(name, on: .postgres) }
}
