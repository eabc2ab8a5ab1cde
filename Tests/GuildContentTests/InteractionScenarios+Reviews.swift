import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import SwiftProtobuf
import Testing

@testable import GuildContent

/// Product-review tasks: posting, applying, selecting within the places, reports with a
/// verdict, judging (the reward event once) and the summary of accepted verdicts.
extension InteractionScenarios {
    static let reviewScenarios: [String: Scenario] = [
        "review: only owners post tasks, and their fields are checked": reviewCreation,
        "review: members apply once before the deadline; strangers are refused": reviewApplying,
        "review: selection stops at the places, all or nothing": reviewSelection,
        "review: only selected members report, with a post of their own": reviewReporting,
        "review: changes asked, report resubmitted, accepted once with the reward event": reviewJudging,
        "review: the summary counts accepted verdicts only": reviewSummaryNumbers,
    ]

    @Sendable static func reviewCreation(_ f: ContentFixture) async throws {
        let member = UserID("member-rv-01")
        try await f.join(member)
        for user in [member, f.moderator, f.expert] {
            let error = await thrownError { _ = try await f.reviewCreate(by: user) }
            #expect(error?.code == .permissionDenied, "\(user)")
        }
        let coOwner = UserID("coowner-rv-1")
        try await f.assign(coOwner, "co_owner")
        #expect(try await f.reviewCreate(by: coOwner).createdBy == coOwner.rawValue)

        var bad = ContentCreateReviewTaskRequest()
        bad.communityID = f.community.id
        bad.product = "   "
        bad.brief = String(repeating: "x", count: 20_001)
        bad.places = 0
        bad.deadline = f.clock.now().addingTimeInterval(-1).timestamp
        bad.rewardPoints = 1_000_001
        let error = await thrownError { _ = try await f.content.createReviewTask(bad, user: f.owner) }
        #expect(error?.code == .invalidArgument)
        #expect(Set(error?.fieldViolations.map(\.field) ?? []) == ["product", "brief", "places", "deadline", "rewardPoints"])
        bad.deadline = Google_Protobuf_Timestamp()
        bad.product = "Keyboard"
        bad.brief = ""
        bad.places = 1001
        bad.rewardPoints = -1
        let second = await thrownError { _ = try await f.content.createReviewTask(bad, user: f.owner) }
        #expect(Set(second?.fieldViolations.map(\.field) ?? []) == ["places", "deadline", "rewardPoints"])

        let task = try await f.reviewCreate(places: 3, reward: 800, brief: "Test the **battery** <script>x</script>")
        #expect(task.product == "Acme Keyboard")
        #expect(task.briefHtml.contains("<strong>battery</strong>"))
        #expect(!task.briefHtml.contains("<script>"))
        #expect(task.places == 3 && task.rewardPoints == 800)
        #expect(task.status == "open" && task.applicants == 0 && task.selected == 0)
        #expect(task.createdBy == f.owner.rawValue)
        #expect(!task.hasMine)
    }

    @Sendable static func reviewApplying(_ f: ContentFixture) async throws {
        let (a, b) = (UserID("member-rv-a1"), UserID("member-rv-b1"))
        try await f.join(a)
        try await f.join(b)
        let first = try await f.reviewCreate(product: "Old Mouse")
        f.clock.advance(by: 60)
        let task = try await f.reviewCreate(days: 2)

        let applied = try await f.reviewApply(task, by: a, motivation: "  I type all day.  ")
        #expect(applied.status == "applied" && applied.userID == a.rawValue && applied.motivation == "I type all day.")
        #expect(await thrownError { _ = try await f.reviewApply(task, by: a) }?.reason == "already_applied")
        let long = await thrownError { _ = try await f.reviewApply(task, by: b, motivation: String(repeating: "m", count: 2001)) }
        #expect(long?.fieldViolations.map(\.field) == ["motivation"])

        // Members read tasks, newest first, with their own application and the counts.
        var list = ContentListReviewTasksRequest()
        list.communityID = f.community.id
        let seenByA = try await f.content.reviewTasks(list, user: a)
        #expect(seenByA.tasks.map(\.id) == [task.id, first.id])
        #expect(seenByA.tasks[0].mine.status == "applied" && seenByA.tasks[0].applicants == 1)
        #expect(!seenByA.tasks[1].hasMine)
        #expect(try await f.content.reviewTasks(list, user: b).tasks.allSatisfy { !$0.hasMine })
        #expect(try await f.reviewRead(task, as: f.moderator).applicants == 1)

        // Strangers and visitors neither read nor apply; an unknown task is not found.
        let stranger = UserID("stranger-rv1")
        #expect(await thrownError { _ = try await f.reviewRead(task, as: stranger) }?.reason == "membership_required")
        #expect(await thrownError { _ = try await f.reviewRead(task, as: nil) }?.reason == "membership_required")
        #expect(await thrownError { _ = try await f.content.reviewTasks(list, user: stranger) }?.reason == "membership_required")
        #expect(await thrownError { _ = try await f.reviewApply(task, by: stranger) }?.code == .permissionDenied)
        var unknown = ContentGetReviewTaskRequest()
        unknown.taskID = "no-such-task"
        #expect(await thrownError { _ = try await f.content.reviewTask(unknown, user: a) }?.code == .notFound)

        // At the deadline applications close.
        f.clock.advance(by: 2 * 86_400)
        #expect(await thrownError { _ = try await f.reviewApply(task, by: b) }?.reason == "task_closed")
        let closed = try await f.reviewRead(task, as: b)
        #expect(closed.status == "closed" && closed.applicants == 1)
    }

    @Sendable static func reviewSelection(_ f: ContentFixture) async throws {
        let members = try await f.reviewMembers(["member-rv-a2", "member-rv-b2", "member-rv-c2"])
        let (a, b, c) = (members[0], members[1], members[2])
        let task = try await f.reviewCreate(places: 2)
        for member in members {
            _ = try await f.reviewApply(task, by: member)
            f.clock.advance(by: 1)
        }
        var listing = ContentListApplicationsRequest()
        listing.taskID = task.id
        #expect(try await f.content.applications(listing, user: f.owner).applications.map(\.userID) == members.map(\.rawValue))
        #expect(await thrownError { _ = try await f.content.applications(listing, user: a) }?.code == .permissionDenied)
        #expect(await thrownError { _ = try await f.reviewSelect(task, [b], by: a) }?.code == .permissionDenied)

        // Three named for two places: refused, and nobody is selected.
        #expect(await thrownError { _ = try await f.reviewSelect(task, members) }?.reason == "no_places_left")
        #expect(try await f.content.applications(listing, user: f.owner).applications.allSatisfy { $0.status == "applied" })
        // Someone who did not apply.
        let notApplied = await thrownError { _ = try await f.reviewSelect(task, [a, UserID("member-rv-zz")]) }
        #expect(notApplied?.fieldViolations.map(\.field) == ["userIds"])
        #expect(try await f.reviewRead(task, as: f.owner).selected == 0)

        let selected = try await f.reviewSelect(task, [a, b])
        #expect(selected.applications.map(\.status) == ["selected", "selected", "applied"])
        // The places are full: the third is refused; naming a selected one again changes nothing.
        #expect(await thrownError { _ = try await f.reviewSelect(task, [c]) }?.reason == "no_places_left")
        #expect(try await f.reviewSelect(task, [a]).applications.map(\.status) == ["selected", "selected", "applied"])
        let seenByC = try await f.reviewRead(task, as: c)
        #expect(seenByC.applicants == 3 && seenByC.selected == 2)
        #expect(seenByC.mine.status == "applied")
        #expect(try await f.reviewRead(task, as: a).mine.status == "selected")
    }

    @Sendable static func reviewReporting(_ f: ContentFixture) async throws {
        let members = try await f.reviewMembers(["member-rv-a3", "member-rv-b3", "member-rv-c3"])
        let (a, b, c) = (members[0], members[1], members[2])
        let task = try await f.reviewCreate(places: 2)
        for member in members { _ = try await f.reviewApply(task, by: member) }
        _ = try await f.reviewSelect(task, [a, b])
        let postOfA = try await f.post("Acme Keyboard, a month in", "It is fast.", by: a)
        let postOfB = try await f.post("My keyboard notes", "Loud.", by: b)
        let postOfC = try await f.post("Keyboard thoughts", "Nice.", by: c)

        // Not selected: no report, even with a post of their own.
        #expect(await thrownError { _ = try await f.reviewSubmit(task, postOfC, by: c) }?.reason == "not_selected")
        #expect(await thrownError { _ = try await f.reviewSubmit(task, postOfC, by: f.owner) }?.reason == "not_selected")
        // Someone else's post, or no post at all, is not a report.
        for item in [postOfB.id, "no-such-item"] {
            var request = f.reviewReport(task, item: item)
            request.verdict.score = 4
            let error = await thrownError { _ = try await f.content.submitReport(request, user: a) }
            #expect(error?.fieldViolations.map(\.field) == ["itemId"], "\(item)")
        }
        // A deleted post is no report either.
        let deleted = try await f.post("Draft review", "Gone.", by: a)
        _ = try await f.content.deleteItem(deleted.id, user: a)
        #expect(await thrownError { _ = try await f.reviewSubmit(task, deleted, by: a) }?.fieldViolations.map(\.field) == ["itemId"])
        // The verdict's fields are checked.
        var bad = f.reviewReport(task, item: postOfA.id, score: 6)
        bad.verdict.pros = Array(repeating: "ok", count: 21)
        bad.verdict.cons = [" "]
        bad.verdict.summary = String(repeating: "s", count: 2001)
        let invalid = await thrownError { _ = try await f.content.submitReport(bad, user: a) }
        #expect(Set(invalid?.fieldViolations.map(\.field) ?? []) == ["verdict.score", "verdict.pros", "verdict.cons", "verdict.summary"])
        #expect(try await f.reviewRead(task, as: a).mine.status == "selected")

        let report = try await f.reviewSubmit(task, postOfA, by: a, score: 4, pros: [" Fast ", "Quiet"], cons: ["Pricey"], recommend: true, summary: "Worth it.")
        #expect(report.status == "submitted" && report.reportItemID == postOfA.id)
        #expect(report.verdict.score == 4 && report.verdict.pros == ["Fast", "Quiet"] && report.verdict.cons == ["Pricey"])
        #expect(report.verdict.recommend && report.verdict.summary == "Worth it.")
        // What the owner sees is what was handed in.
        var listing = ContentListApplicationsRequest()
        listing.taskID = task.id
        let seen = try await f.content.applications(listing, user: f.owner).applications.first { $0.userID == a.rawValue }
        #expect(seen?.verdict == report.verdict)
    }

    @Sendable static func reviewJudging(_ f: ContentFixture) async throws {
        let members = try await f.reviewMembers(["member-rv-a4", "member-rv-b4"])
        let (a, b) = (members[0], members[1])
        let task = try await f.reviewCreate(places: 2, reward: 750)
        for member in members { _ = try await f.reviewApply(task, by: member) }
        _ = try await f.reviewSelect(task, [a, b])
        let draft = try await f.post("Keyboard review", "First take.", by: a)
        let final = try await f.post("Keyboard review, revised", "Second take.", by: a)

        // Nothing submitted yet: nothing to judge.
        #expect(await thrownError { _ = try await f.reviewJudge(task, a, accept: true) }?.reason == "no_report_to_judge")
        _ = try await f.reviewSubmit(task, draft, by: a, score: 3)
        #expect(await thrownError { _ = try await f.reviewJudge(task, a, accept: true, by: b) }?.code == .permissionDenied)
        #expect(await thrownError { _ = try await f.reviewJudge(task, a, accept: false, feedback: "  ") }?.fieldViolations.map(\.field) == ["feedback"])
        let asked = try await f.reviewJudge(task, a, accept: false, feedback: "Please add photos.")
        #expect(asked.status == "changes_requested" && asked.feedback == "Please add photos.")
        #expect(try await f.reviewRead(task, as: a).mine.feedback == "Please add photos.")
        #expect(await thrownError { _ = try await f.reviewJudge(task, a, accept: true) }?.reason == "no_report_to_judge")
        #expect(try await f.outbox().filter { $0.0 == ContentService.InteractionTopic.reviewAccepted }.isEmpty)

        let resubmitted = try await f.reviewSubmit(task, final, by: a, score: 5)
        #expect(resubmitted.status == "submitted" && resubmitted.reportItemID == final.id && resubmitted.verdict.score == 5)
        let accepted = try await f.reviewJudge(task, a, accept: true, feedback: "Great, thanks.")
        #expect(accepted.status == "accepted" && accepted.reportItemID == final.id)
        // Judged once: a second judgement and a new report are refused.
        #expect(await thrownError { _ = try await f.reviewJudge(task, a, accept: true) }?.reason == "no_report_to_judge")
        #expect(await thrownError { _ = try await f.reviewJudge(task, a, accept: false, feedback: "More.") }?.reason == "no_report_to_judge")
        #expect(await thrownError { _ = try await f.reviewSubmit(task, draft, by: a) }?.reason == "report_accepted")
        #expect(try await f.reviewRead(task, as: a).mine.status == "accepted")

        let events = try await f.outbox().filter { $0.0 == ContentService.InteractionTopic.reviewAccepted }
        #expect(events.count == 1)
        let event = try ContentReviewAcceptedEvent(serializedBytes: try #require(events.first).1)
        #expect(event.taskID == task.id && event.communityID == f.community.id && event.userID == a.rawValue)
        #expect(event.reportItemID == final.id && event.rewardPoints == 750)
        #expect(event.occurredAtMs == f.clock.now().millisecondsSince1970)
    }

    @Sendable static func reviewSummaryNumbers(_ f: ContentFixture) async throws {
        let members = try await f.reviewMembers(["member-rv-a5", "member-rv-b5", "member-rv-c5"])
        let (a, b, c) = (members[0], members[1], members[2])
        let task = try await f.reviewCreate(places: 3)
        var request = ContentReviewSummaryRequest()
        request.taskID = task.id
        let empty = try await f.content.reviewSummary(request, user: a)
        #expect(empty.reports == 0 && empty.averageScore == 0 && empty.scoreDistribution == [0, 0, 0, 0, 0])
        #expect(empty.topPros.isEmpty && empty.accepted.isEmpty && empty.task.id == task.id)

        for member in members {
            _ = try await f.reviewApply(task, by: member, motivation: "Pick me, \(member).")
            f.clock.advance(by: 1)
        }
        _ = try await f.reviewSelect(task, members)
        _ = try await f.reviewSubmit(task, try await f.post("A's review", "Good.", by: a), by: a, score: 4,
                                     pros: ["Fast", "Quiet", "fast"], cons: ["Pricey"], recommend: true)
        _ = try await f.reviewSubmit(task, try await f.post("B's review", "Meh.", by: b), by: b, score: 2,
                                     pros: ["fast ", "Light"], cons: ["pricey", "Short cable"], recommend: false)
        // Submitted but never accepted: left out of the summary.
        _ = try await f.reviewSubmit(task, try await f.post("C's review", "Wow.", by: c), by: c, score: 5,
                                     pros: ["Quiet", "Light"], cons: [], recommend: true)
        _ = try await f.reviewJudge(task, a, accept: true)
        _ = try await f.reviewJudge(task, b, accept: true, feedback: "Thanks.")

        let summary = try await f.content.reviewSummary(request, user: c)
        #expect(summary.reports == 2)
        #expect(summary.averageScore == 3.0)
        #expect(summary.scoreDistribution == [0, 1, 0, 1, 0])
        #expect(summary.recommend == 1)
        #expect(summary.accepted.map(\.userID) == [a.rawValue, b.rawValue])
        #expect(summary.accepted.map(\.verdict.score) == [4, 2])
        // "Fast", "fast" (same report, once) and "fast " are one term, named by two reports.
        #expect(summary.topPros.map { "\($0.term):\($0.count)" } == ["Fast:2", "Light:1", "Quiet:1"])
        #expect(summary.topCons.map { "\($0.term):\($0.count)" } == ["Pricey:2", "Short cable:1"])
        // Other members do not read what applicants and the owner told each other.
        #expect(summary.accepted.allSatisfy { $0.motivation.isEmpty && $0.feedback.isEmpty })
        let forOwner = try await f.content.reviewSummary(request, user: f.owner)
        #expect(forOwner.accepted.map(\.feedback) == ["", "Thanks."])
        #expect(forOwner.accepted.first?.motivation == "Pick me, \(a).")

        #expect(await thrownError { _ = try await f.content.reviewSummary(request, user: UserID("stranger-rv5")) }?.reason == "membership_required")
        #expect(await thrownError { _ = try await f.content.reviewSummary(request, user: nil) }?.reason == "membership_required")
    }
}

extension ContentFixture {
    func reviewMembers(_ names: [String]) async throws -> [UserID] {
        var users: [UserID] = []
        for name in names {
            let user = UserID(name)
            try await join(user)
            users.append(user)
        }
        return users
    }

    func reviewCreate(places: Int32 = 2, reward: Int64 = 500, days: Double = 7, product: String = "Acme Keyboard", brief: String = "Type on it for a week.", by user: UserID? = nil) async throws -> ContentReviewTask {
        var request = ContentCreateReviewTaskRequest()
        request.communityID = community.id
        request.product = product
        request.brief = brief
        request.places = places
        request.deadline = clock.now().addingTimeInterval(days * 86_400).timestamp
        request.rewardPoints = reward
        return try await content.createReviewTask(request, user: user ?? owner)
    }

    func reviewRead(_ task: ContentReviewTask, as user: UserID?) async throws -> ContentReviewTask {
        var request = ContentGetReviewTaskRequest()
        request.taskID = task.id
        return try await content.reviewTask(request, user: user)
    }

    func reviewApply(_ task: ContentReviewTask, by user: UserID, motivation: String = "I would like to.") async throws -> ContentReviewApplication {
        var request = ContentApplyForReviewRequest()
        request.taskID = task.id
        request.motivation = motivation
        return try await content.applyForReview(request, user: user)
    }

    func reviewSelect(_ task: ContentReviewTask, _ users: [UserID], by user: UserID? = nil) async throws -> ContentApplicationList {
        var request = ContentSelectReviewersRequest()
        request.taskID = task.id
        request.userIds = users.map(\.rawValue)
        return try await content.selectReviewers(request, user: user ?? owner)
    }

    func reviewReport(_ task: ContentReviewTask, item: String, score: Int32 = 0) -> ContentSubmitReportRequest {
        var request = ContentSubmitReportRequest()
        request.taskID = task.id
        request.itemID = item
        request.verdict.score = score
        return request
    }

    func reviewSubmit(_ task: ContentReviewTask, _ post: ContentItem, by user: UserID, score: Int32 = 4, pros: [String] = ["Solid"], cons: [String] = [], recommend: Bool = true, summary: String = "") async throws -> ContentReviewApplication {
        var request = reviewReport(task, item: post.id, score: score)
        request.verdict.pros = pros
        request.verdict.cons = cons
        request.verdict.recommend = recommend
        request.verdict.summary = summary
        return try await content.submitReport(request, user: user)
    }

    func reviewJudge(_ task: ContentReviewTask, _ member: UserID, accept: Bool, feedback: String = "", by user: UserID? = nil) async throws -> ContentReviewApplication {
        var request = ContentJudgeReportRequest()
        request.taskID = task.id
        request.userID = member.rawValue
        request.accept = accept
        request.feedback = feedback
        return try await content.judgeReport(request, user: user ?? owner)
    }
}
