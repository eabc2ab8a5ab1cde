import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildService
import SQLKit
import SwiftProtobuf
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import Testing

@testable import GuildContent

/// The rules of the content service, each a scenario run on SQLite and on PostgreSQL.
enum ContentScenarios {
    static let all: [String: @Sendable (ContentFixture) async throws -> Void] = [
        "post preview, paywall and joining": postPreview,
        "no paid text reaches a non-member": paywallLeak,
        "drafts, scheduling, history, delete and restore": lifecycle,
        "course order, free lessons and progress": courseProgress,
        "discussion: threads, mentions, reactions, pins, essence, reports": discussion,
        "keyword filter holds posts and comments for a moderator": keywordFilter,
        "members' posts wait for approval when the community asks": approval,
        "expert review before publishing": expertReview,
        "ratings and reviews": ratings,
        "search in English and Chinese respects access": search,
        "feed across communities with cursor and news since last visit": feed,
        "attachments: types, size, and readers only": attachments,
        "events are written to the outbox": events,
    ]
    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await ContentFixture.with(kind) { fixture in try await all[name]!(fixture) }
    }

    static let visitor: UserID? = nil
    static let stranger = UserID("stranger-001")
    static let member = UserID("member-00001")

    static func postPreview(_ f: ContentFixture) async throws {
        let post = try await f.post("Actors in practice", "Free part about actors.\n\n<!-- more -->\n\nThe paid part: reentrancy pitfalls.", mode: "preview")
        #expect(post.status == "published")
        for user in [visitor, stranger] {
            let seen = try await f.content.item(post.id, user: user)
            #expect(seen.locked)
            #expect(seen.html.contains("Free part about actors."))
            #expect(!seen.html.contains("reentrancy"))
            #expect(seen.paywall.plans.map(\.id) == [f.plan.id])
            #expect(seen.paywall.plans.first?.priceMinorUnits == 19_900)
            #expect(seen.paywall.reason == (user == nil ? "sign_in" : "membership_required"))
            #expect(seen.markdown.isEmpty)
        }
        // The stranger's "no" is cached; paying sends membership's event, which drops it.
        try await f.join(stranger)
        let paid = try await f.content.item(post.id, user: stranger)
        #expect(!paid.locked)
        #expect(paid.html.contains("reentrancy pitfalls"))
        #expect(!paid.hasPaywall)
        // A plan-limited post opens only to holders of that plan.
        var yearly = MembershipCreatePlanRequest()
        yearly.communityID = f.community.id
        yearly.name = "Yearly"
        yearly.priceMinorUnits = 99_900
        yearly.period = "yearly"
        let yearlyPlan = try await f.membership.createPlan(yearly, user: f.owner)
        let vip = try await f.post("VIP", "Only for yearly members: secret roadmap.", mode: "plans", plans: [yearlyPlan.id])
        let monthlyView = try await f.content.item(vip.id, user: stranger)
        #expect(monthlyView.locked)
        #expect(monthlyView.paywall.reason == "plan_required")
        #expect(monthlyView.paywall.plans.map(\.id) == [yearlyPlan.id])
        try await f.join(member, plan: yearlyPlan)
        #expect(try await f.content.item(vip.id, user: member).html.contains("secret roadmap"))
        // A preview post needs its marker, also when its text is edited.
        #expect(await thrownError { _ = try await f.post("No marker", "All of it.", mode: "preview") }?.code == .invalidArgument)
        var edit = ContentUpdateItemRequest()
        edit.itemID = post.id
        edit.markdown = "The marker is gone."
        #expect(await thrownError { _ = try await f.content.updateItem(edit, user: f.owner) }?.fieldViolations.first?.field == "markdown")
    }

    /// The paid text of a post, a course, its lessons, comments and an attachment is looked for
    /// in every answer a visitor and a signed-in non-member can get.
    static func paywallLeak(_ f: ContentFixture) async throws {
        let secrets = ["PAIDSECRET", "付费秘密内容", "kraken"]
        let post = try await f.post("Open title", "Anyone reads this.\n\n<!-- more -->\n\nPAIDSECRET 付费秘密内容 kraken", mode: "preview", tags: ["swift"])
        let (course, lessons) = try await f.course("Course", free: 2, extra: "PAIDSECRET 付费秘密内容 kraken")
        let membersOnly = try await f.post("Members only", "PAIDSECRET from the start 付费秘密内容 kraken", mode: "members")
        try await f.join(member)
        _ = try await f.comment(post, "Quoting PAIDSECRET and 付费秘密内容 kraken", by: member)
        _ = try await f.comment(course, "kraken in a lesson thread", by: member, lesson: lessons[3].id)
        var upload = ContentAddAttachmentRequest()
        upload.itemID = post.id
        upload.filename = "notes.txt"
        upload.contentType = "text/plain"
        upload.data = Data("PAIDSECRET attachment kraken".utf8)
        let attachment = try await f.content.addAttachment(upload, user: f.owner)

        for user in [visitor, stranger] {
            var answers: [String] = []
            func record(_ body: () async throws -> String) async {
                do { answers.append(try await body()) } catch let error as GuildError {
                    answers.append(error.message + " " + (error.reason ?? "") + " " + error.fieldViolations.map(\.description).joined())
                } catch { answers.append("\(error)") }
            }
            for id in [post.id, course.id, membersOnly.id] {
                await record { try await f.content.item(id, user: user).everything }
                await record {
                    var request = ContentListCommentsRequest()
                    request.itemID = id
                    return try await f.content.comments(request, user: user).everything
                }
            }
            for lesson in lessons {
                await record { try await f.content.lesson(lesson.id, user: user).everything }
                await record { try await f.comments(course, as: user, lesson: lesson.id).everything }
            }
            await record {
                var request = ContentListItemsRequest()
                request.communityID = f.community.id
                return try await f.content.items(request, user: user).everything
            }
            for query in ["PAIDSECRET", "付费秘密", "秘密", "kraken", "anyone", "lesson", "course", "swift"] {
                await record { try await f.search(query, as: user).everything }
            }
            await record {
                var request = ContentAttachmentRequest()
                request.attachmentID = attachment.id
                return try await f.content.attachmentData(request, user: user).everything
            }
            await record {
                var request = ContentListRatingsRequest()
                request.courseID = course.id
                return try await f.content.ratings(request, user: user).everything
            }
            if let user {
                await record {
                    var request = ContentFeedRequest()
                    request.communityIds = [f.community.id]
                    return try await f.content.feed(request, user: user).everything
                }
                await record {
                    var request = ContentReportRequest()
                    request.targetKind = "item"
                    request.targetID = post.id
                    request.reason = "spam"
                    return try await f.content.report(request, user: user).everything
                }
            }
            #expect(answers.count > 20)
            for answer in answers {
                for secret in secrets { #expect(!answer.contains(secret), "\(user?.rawValue ?? "visitor") got paid text: \(answer.prefix(300))") }
            }
            // The free parts do arrive.
            #expect(answers.contains { $0.contains("Anyone reads this") })
            #expect(answers.contains { $0.contains("Lesson 1.2 body") })
        }
        // And the member reads all of it, comments included.
        #expect(try await f.content.item(post.id, user: member).html.contains("PAIDSECRET"))
        #expect(try await f.comments(post, as: member).comments.first?.html.contains("PAIDSECRET") == true)
        #expect(try await f.search("付费秘密", as: member).hits.contains { $0.item.id == post.id && $0.snippet.contains("<mark>") })
    }

    static func lifecycle(_ f: ContentFixture) async throws {
        let draft = try await f.post("Draft", "First words.", publish: false)
        #expect(draft.status == "draft")
        #expect(await thrownError { _ = try await f.content.item(draft.id, user: stranger) }?.code == .notFound)
        var list = ContentListItemsRequest()
        list.communityID = f.community.id
        #expect(try await f.content.items(list, user: visitor).items.isEmpty)
        // Edits keep history.
        var edit = ContentUpdateItemRequest()
        edit.itemID = draft.id
        edit.markdown = "Second words."
        edit.title = "Draft, edited"
        let edited = try await f.content.updateItem(edit, user: f.owner)
        #expect(edited.version == 2)
        #expect(edited.html.contains("Second words.") && !edited.html.contains("First"))  // the stored rendering follows the text
        #expect(edited.excerpt == "Second words.")
        let history = try await f.content.revisions(draft.id, user: f.owner)
        #expect(history.revisions.map(\.version) == [2, 1])
        #expect(history.revisions.last?.markdown == "First words.")
        #expect(await thrownError { _ = try await f.content.revisions(draft.id, user: stranger) }?.code == .notFound)
        // Scheduled publishing.
        var publish = ContentPublishItemRequest()
        publish.itemID = draft.id
        publish.publishAt = f.clock.now().addingTimeInterval(3_600).timestamp
        #expect(try await f.content.publishItem(publish, user: f.owner).status == "scheduled")
        #expect(try await f.content.publishDue() == 0)
        f.clock.advance(by: 3_600)
        #expect(try await f.content.publishDue() == 1)
        #expect(try await f.content.publishDue() == 0)
        let published = try await f.content.item(draft.id, user: visitor)
        #expect(published.status == "published")
        #expect(try await f.content.items(list, user: visitor).items.map(\.id) == [draft.id])
        // Soft delete, restore within 30 days, not after.
        #expect(await thrownError { _ = try await f.content.deleteItem(draft.id, user: stranger) }?.code == .permissionDenied)
        let deleted = try await f.content.deleteItem(draft.id, user: f.owner)
        #expect(deleted.hasDeletedAt)
        #expect(await thrownError { _ = try await f.content.item(draft.id, user: visitor) }?.code == .notFound)
        #expect(try await f.content.items(list, user: visitor).items.isEmpty)
        f.clock.advance(by: 29 * 86_400)
        #expect(!(try await f.content.restoreItem(draft.id, user: f.moderator)).hasDeletedAt)
        _ = try await f.content.deleteItem(draft.id, user: f.moderator)
        f.clock.advance(by: 31 * 86_400)
        #expect(await thrownError { _ = try await f.content.restoreItem(draft.id, user: f.owner) }?.reason == "restore_window_passed")
        // Pagination by cursor, newest first.
        for n in 1...5 {
            f.clock.advance(by: 60)
            _ = try await f.post("Post \(n)", "Body \(n)", mode: "public")
        }
        list.limit = 2
        var titles: [String] = []
        var cursor = ""
        repeat {
            list.cursor = cursor
            let page = try await f.content.items(list, user: visitor)
            titles += page.items.map(\.title)
            cursor = page.nextCursor
        } while !cursor.isEmpty
        #expect(titles == ["Post 5", "Post 4", "Post 3", "Post 2", "Post 1"])
        // The audit log has the moderator's restore and delete.
        var audit = ContentListAuditRequest()
        audit.communityID = f.community.id
        let actions = try await f.content.auditLog(audit, user: f.owner).entries.map { "\($0.action):\($0.actorID)" }
        #expect(actions.contains("restore:\(f.moderator.rawValue)"))
        #expect(actions.contains("delete:\(f.moderator.rawValue)"))
    }

    static func courseProgress(_ f: ContentFixture) async throws {
        let (course, lessons) = try await f.course("Concurrency", chapters: 2, lessons: 3, free: 2)
        let outline = try await f.content.item(course.id, user: visitor)
        #expect(outline.chapters.map(\.title) == ["Chapter 1", "Chapter 2"])
        #expect(outline.chapters.flatMap(\.lessons).map(\.free) == [true, true, false, false, false, false])
        #expect(outline.chapters.flatMap(\.lessons).map(\.locked) == [false, false, true, true, true, true])
        #expect(try await f.content.lesson(lessons[0].id, user: visitor).html.contains("Lesson 1.1 body"))
        let locked = try await f.content.lesson(lessons[2].id, user: visitor)
        #expect(locked.locked && locked.html.isEmpty && !locked.paywall.plans.isEmpty)
        // Reordering writes one row: move lesson 2.3 to the front of chapter 1.
        let ranksBefore = try await ranks(f)
        var move = ContentMoveLessonRequest()
        move.lessonID = lessons[5].id
        move.chapterID = outline.chapters[0].id
        _ = try await f.content.moveLesson(move, user: f.owner)
        let ranksAfter = try await ranks(f)
        #expect(ranksBefore.filter { ranksAfter[$0.key] != $0.value }.map(\.key) == [lessons[5].id])
        let reordered = try await f.content.item(course.id, user: visitor).chapters.flatMap(\.lessons).map(\.title)
        #expect(reordered == ["Lesson 2.3", "Lesson 1.1", "Lesson 1.2", "Lesson 1.3", "Lesson 2.1", "Lesson 2.2"])
        // The first two lessons in course order are the free ones, whatever moved.
        #expect(try await f.content.lesson(lessons[5].id, user: visitor).free)
        #expect(try await f.content.lesson(lessons[1].id, user: visitor).locked)
        // Many moves between the same neighbours keep finding room.
        for _ in 0..<40 {
            move.lessonID = lessons[0].id
            move.afterLessonID = lessons[5].id
            _ = try await f.content.moveLesson(move, user: f.owner)
            move.lessonID = lessons[5].id
            move.afterLessonID = lessons[0].id
            _ = try await f.content.moveLesson(move, user: f.owner)
        }
        var chapterMove = ContentMoveChapterRequest()
        chapterMove.chapterID = outline.chapters[1].id
        _ = try await f.content.moveChapter(chapterMove, user: f.owner)
        #expect(try await f.content.item(course.id, user: visitor).chapters.map(\.title) == ["Chapter 2", "Chapter 1"])
        #expect(await thrownError { _ = try await f.content.moveLesson(move, user: f.moderator) }?.code == .permissionDenied)
        // Progress: a visitor's free lesson needs sign-in; a stranger may finish free lessons only.
        var done = ContentCompleteLessonRequest()
        done.lessonID = lessons[2].id
        done.completed = true
        #expect(await thrownError { _ = try await f.content.completeLesson(done, user: stranger) }?.code == .permissionDenied)
        try await f.join(member)
        for lesson in lessons.prefix(3) {
            done.lessonID = lesson.id
            done.position = 42
            _ = try await f.content.completeLesson(done, user: member)
        }
        _ = try await f.content.completeLesson(done, user: member)  // again: no change
        done.lessonID = lessons[3].id
        done.completed = false
        done.position = 125
        let progress = try await f.content.completeLesson(done, user: member)
        #expect(progress.lessonsDone == 3)
        #expect(progress.lessonsTotal == 6)
        #expect(progress.percent == 50)
        #expect(progress.lastLessonID == lessons[3].id)
        #expect(progress.lastPosition == 125)
        #expect(try await f.outbox().filter { $0.0 == ContentService.Topic.lessonCompleted }.count == 3)
    }

    static func ranks(_ f: ContentFixture) async throws -> [String: String] {
        try await f.cluster.contentDatabase.database.withConnection { sql in
            Dictionary(uniqueKeysWithValues: try await sql.raw("SELECT id, rank, chapter_id FROM lessons").all().map {
                (try $0.decode(column: "id", as: String.self), try $0.decode(column: "rank", as: String.self) + "@" + $0.decode(column: "chapter_id", as: String.self))
            })
        }
    }

    static func discussion(_ f: ContentFixture) async throws {
        let post = try await f.post("Discuss", "Talk about it.", mode: "members")
        #expect(await thrownError { _ = try await f.comment(post, "hello", by: stranger) }?.code == .permissionDenied)
        try await f.join(member)
        let top = try await f.comment(post, "What about **Sendable**? cc @\(f.owner.rawValue) and @\(stranger.rawValue)", by: member)
        #expect(top.status == "published")
        #expect(top.mentions == [f.owner.rawValue])
        #expect(top.html.contains("<strong>Sendable</strong>"))
        f.clock.advance(by: 1)
        let reply = try await f.comment(post, "Use a Mutex.", by: f.owner, parent: top.id)
        f.clock.advance(by: 1)
        let second = try await f.comment(post, "Second thread", by: member)
        var threads = try await f.comments(post, as: member)
        #expect(threads.comments.count == 2)
        #expect(threads.comments.first?.replies.map(\.id) == [reply.id])
        // Reactions: once per user and emoji, counted, removable.
        var react = ContentReactRequest()
        react.targetKind = "comment"
        react.targetID = top.id
        react.emoji = "👍"
        _ = try await f.content.react(react, user: member)
        _ = try await f.content.react(react, user: member)
        let reactions = try await f.content.react(react, user: f.owner)
        #expect(reactions.reactions.first?.count == 2)
        #expect(reactions.reactions.first?.mine == true)
        react.remove = true
        #expect(try await f.content.react(react, user: f.owner).reactions.first?.count == 1)
        react.emoji = "<script>"
        #expect(await thrownError { _ = try await f.content.react(react, user: member) }?.code == .invalidArgument)
        // Pin and essence: moderators yes, members no.
        var mark = ContentMarkRequest()
        mark.targetKind = "comment"
        mark.targetID = second.id
        mark.pinned = true
        mark.essence = true
        #expect(await thrownError { _ = try await f.content.mark(mark, user: member) }?.code == .permissionDenied)
        let marked = try await f.content.mark(mark, user: f.moderator)
        #expect(marked.pinned && marked.essence)
        threads = try await f.comments(post, as: member)
        #expect(threads.comments.map(\.id) == [second.id, top.id])  // pinned first
        mark.targetKind = "item"
        mark.targetID = post.id
        mark.clearPinned()
        #expect(try await f.content.mark(mark, user: f.owner).essence)
        #expect(try await f.content.item(post.id, user: member).essence)
        // Report puts it in the queue; dismissing leaves it up.
        var report = ContentReportRequest()
        report.targetKind = "comment"
        report.targetID = reply.id
        report.reason = "rude"
        let entry = try await f.content.report(report, user: member)
        #expect(entry.cause == "report")
        let queued = try await f.queue()
        #expect(queued.map(\.targetID) == [reply.id])
        #expect(queued.first?.excerpt.contains("Mutex") == true)
        _ = try await f.decide(queued[0], "remove", reason: "rude")
        #expect(try await f.comments(post, as: member).comments.first { $0.id == top.id }?.replies.isEmpty == true)
    }

    static func keywordFilter(_ f: ContentFixture) async throws {
        try await f.settings(keywords: ["加微信", "spam"], rules: "Be kind. No ads.")
        var get = ContentGetSettingsRequest()
        get.communityID = f.community.id
        let public_ = try await f.content.settings(get, user: visitor)
        #expect(public_.rules == "Be kind. No ads.")
        #expect(public_.keywords.isEmpty)
        #expect(try await f.content.settings(get, user: f.moderator).keywords == ["加微信", "spam"])
        let post = try await f.post("Open", "Talk here.", mode: "public")
        try await f.join(member)
        // Evasions: spaces, full width, case.
        let held = try await f.comment(post, "想要资料请加 微 信 abc", by: member)
        #expect(held.status == "held")
        let held2 = try await f.comment(post, "Great ＳＰＡＭ offer", by: member)
        #expect(held2.status == "held")
        let fine = try await f.comment(post, "微信支付 is fine", by: member)
        #expect(fine.status == "published")
        // Others do not see held comments; the author and moderators do.
        #expect(try await f.comments(post, as: stranger).comments.map(\.id) == [fine.id])
        #expect(try await f.comments(post, as: member).comments.count == 3)
        let entries = try await f.queue()
        #expect(Set(entries.map(\.targetID)) == [held.id, held2.id])
        #expect(entries.first { $0.targetID == held.id }?.detail == "加微信")
        _ = try await f.decide(entries.first { $0.targetID == held.id }!, "approve")
        _ = try await f.decide(entries.first { $0.targetID == held2.id }!, "reject", reason: "No advertising.")
        #expect(await thrownError { _ = try await f.decide(entries[0], "remove") }?.reason == "already_decided")
        let visible = try await f.comments(post, as: stranger).comments.map(\.id)
        #expect(Set(visible) == [fine.id, held.id])
        let mine = try await f.comments(post, as: member).comments.first { $0.id == held2.id }
        #expect(mine?.status == "rejected")
        #expect(mine?.moderationReason == "No advertising.")
        // Posts by members are held too; staff are trusted.
        let memberPost = try await f.post("Deal", "s p a m here", mode: "public", by: member)
        #expect(memberPost.status == "pending_review")
        #expect(try await f.post("Staff", "spam is a word", mode: "public", by: f.moderator).status == "published")
        let postEntry = try await f.queue().first { $0.targetID == memberPost.id }!
        _ = try await f.decide(postEntry, "reject", reason: "Looks like an ad.")
        let rejected = try await f.content.item(memberPost.id, user: member)
        #expect(rejected.status == "rejected")
        #expect(rejected.rejectionReason == "Looks like an ad.")
        var audit = ContentListAuditRequest()
        audit.communityID = f.community.id
        let log = try await f.content.auditLog(audit, user: f.moderator).entries
        #expect(log.filter { $0.actorID == f.moderator.rawValue }.map(\.action).sorted() == ["approve", "reject", "reject"])
        #expect(await thrownError { _ = try await f.content.auditLog(audit, user: member) }?.code == .permissionDenied)
    }

    static func approval(_ f: ContentFixture) async throws {
        try await f.settings(requireApproval: true)
        try await f.join(member)
        let post = try await f.post("My first post", "Hello all", mode: "public", by: member)
        #expect(post.status == "pending_review")
        #expect(await thrownError { _ = try await f.content.item(post.id, user: stranger) }?.code == .notFound)
        let entry = try await f.queue().first!
        #expect(entry.cause == "approval_required")
        #expect(await thrownError { _ = try await f.decide(entry, "approve", by: member) }?.code == .permissionDenied)
        let approved = try await f.decide(entry, "approve")
        #expect(approved.status == "approved")
        #expect(approved.decidedBy == f.moderator.rawValue)
        #expect(try await f.content.item(post.id, user: stranger).status == "published")
        #expect(try await f.post("Owner", "No wait", mode: "public").status == "published")
    }

    static func expertReview(_ f: ContentFixture) async throws {
        let draft = try await f.post("Deep dive", "Draft for the expert.", publish: false)
        var assign = ContentAssignExpertRequest()
        assign.itemID = draft.id
        assign.expertID = stranger.rawValue
        #expect(await thrownError { _ = try await f.content.assignExpert(assign, user: f.owner) }?.reason == "not_an_expert")
        assign.expertID = f.expert.rawValue
        #expect(await thrownError { _ = try await f.content.assignExpert(assign, user: f.moderator) }?.code == .permissionDenied)
        #expect(try await f.content.assignExpert(assign, user: f.owner).status == "pending")
        var publish = ContentPublishItemRequest()
        publish.itemID = draft.id
        #expect(await thrownError { _ = try await f.content.publishItem(publish, user: f.owner) }?.reason == "expert_review_pending")
        // The expert reads the draft and answers.
        #expect(try await f.content.item(draft.id, user: f.expert).html.contains("Draft for the expert."))
        var verdict = ContentSubmitExpertReviewRequest()
        verdict.itemID = draft.id
        verdict.verdict = "changes_requested"
        verdict.comments = "Explain the memory model first."
        #expect(await thrownError { _ = try await f.content.submitExpertReview(verdict, user: f.moderator) }?.code == .permissionDenied)
        _ = try await f.content.submitExpertReview(verdict, user: f.expert)
        #expect(await thrownError { _ = try await f.content.publishItem(publish, user: f.owner) }?.reason == "expert_review_pending")
        let seen = try await f.content.item(draft.id, user: f.owner)
        #expect(seen.expertReview.comments == "Explain the memory model first.")
        verdict.verdict = "approved"
        verdict.comments = "Good now."
        _ = try await f.content.submitExpertReview(verdict, user: f.expert)
        #expect(try await f.content.publishItem(publish, user: f.owner).status == "published")
    }

    static func ratings(_ f: ContentFixture) async throws {
        let (course, _) = try await f.course("Rated", free: 1)
        var rate = ContentRateCourseRequest()
        rate.courseID = course.id
        rate.stars = 5
        rate.review = "Great"
        #expect(await thrownError { _ = try await f.content.rateCourse(rate, user: stranger) }?.code == .permissionDenied)
        try await f.join(member)
        try await f.join(stranger)
        _ = try await f.content.rateCourse(rate, user: member)
        rate.stars = 4
        rate.review = "Very good, on second thought"
        _ = try await f.content.rateCourse(rate, user: member)  // edits, does not add
        rate.stars = 1
        _ = try await f.content.rateCourse(rate, user: stranger)
        rate.stars = 6
        #expect(await thrownError { _ = try await f.content.rateCourse(rate, user: stranger) }?.code == .invalidArgument)
        var list = ContentListRatingsRequest()
        list.courseID = course.id
        let ratings = try await f.content.ratings(list, user: visitor)
        #expect(ratings.summary.count == 2)
        #expect(ratings.summary.averageCenti == 250)
        #expect(ratings.summary.distribution == [1, 0, 0, 1, 0])
        var reply = ContentReplyToRatingRequest()
        reply.courseID = course.id
        reply.userID = member.rawValue
        reply.reply = "Thank you!"
        #expect(await thrownError { _ = try await f.content.replyToRating(reply, user: f.moderator) }?.code == .permissionDenied)
        #expect(try await f.content.replyToRating(reply, user: f.owner).reply == "Thank you!")
        #expect(try await f.content.item(course.id, user: visitor).rating.count == 2)
    }

    static func search(_ f: ContentFixture) async throws {
        _ = try await f.post("深入理解 Swift 并发", "Actors 与结构化并发：任务组和取消。", mode: "public", tags: ["并发"])
        _ = try await f.post("SwiftNIO channels", "Event loops and channel pipelines explained.", mode: "public")
        let paid = try await f.post("Paid pipelines", "Free intro.\n\n<!-- more -->\n\nThe hidden chapter on backpressure 背压控制.", mode: "preview")
        let byChinese = try await f.search("并发", as: visitor)
        #expect(byChinese.hits.first?.item.title == "深入理解 Swift 并发")
        #expect(byChinese.hits.first?.snippet.contains("<mark>并发</mark>") == true)
        #expect(try await f.search("结构化", as: visitor).hits.count == 1)
        #expect(try await f.search("并", as: visitor).hits.count == 1)
        let english = try await f.search("pipelines", as: visitor)
        #expect(english.hits.map(\.item.title).contains("SwiftNIO channels"))
        #expect(english.hits.first { $0.item.title == "SwiftNIO channels" }?.snippet.contains("<mark>pipelines</mark>") == true)
        #expect(try await f.search("event loops", as: visitor).hits.map(\.item.title) == ["SwiftNIO channels"])
        // Paid text is found only by those who may read it.
        #expect(try await f.search("backpressure", as: visitor).hits.isEmpty)
        #expect(try await f.search("背压", as: stranger).hits.isEmpty)
        try await f.join(member)
        let found = try await f.search("背压", as: member)
        #expect(found.hits.map(\.item.id) == [paid.id])
        #expect(found.hits.first?.snippet.contains("<mark>背压</mark>") == true)
        #expect(try await f.search("intro", as: visitor).hits.map(\.item.id) == [paid.id])
        #expect(try await f.search("nothing-matches-this", as: visitor).hits.isEmpty)
        #expect(await thrownError { _ = try await f.search("", as: visitor) }?.code == .invalidArgument)
        #expect(try await f.search("<script>\"'", as: visitor).hits.isEmpty)
    }

    static func feed(_ f: ContentFixture) async throws {
        // A second community the member also joins.
        var create = MembershipCreateCommunityRequest()
        create.slug = "rust-club"
        create.name = "Rust Club"
        let other = try await f.membership.createCommunity(create, user: f.owner)
        var open = MembershipUpdateCommunityRequest()
        open.communityID = other.id
        open.status = "active"
        _ = try await f.membership.updateCommunity(open, user: f.owner)
        var plan = MembershipCreatePlanRequest()
        plan.communityID = other.id
        plan.name = "Free"
        plan.period = "lifetime"
        let otherPlan = try await f.membership.createPlan(plan, user: f.owner)
        try await f.cluster.membershipEvents.deliverDue()
        try await f.join(member)
        var order = MembershipCreateOrderRequest()
        order.communityID = other.id
        order.planID = otherPlan.id
        order.idempotencyKey = Identifier.make()
        let free = try await f.membership.createOrder(order, user: member)
        #expect(free.status == "paid")
        try await f.cluster.membershipEvents.deliverDue()
        for n in 1...3 {
            f.clock.advance(by: 60)
            _ = try await f.post("Swift \(n)", "s\(n)", mode: "members")
            f.clock.advance(by: 60)
            var request = ContentCreateItemRequest()
            request.communityID = other.id
            request.title = "Rust \(n)"
            request.markdown = "r\(n)"
            request.publish = true
            _ = try await f.content.createItem(request, user: f.owner)
        }
        var feed = ContentFeedRequest()
        feed.limit = 4
        let first = try await f.content.feed(feed, user: member)
        #expect(first.items.map(\.title) == ["Rust 3", "Swift 3", "Rust 2", "Swift 2"])
        #expect(first.newSinceLastVisit == 6)
        #expect(!first.items.contains { $0.locked })
        feed.cursor = first.nextCursor
        let second = try await f.content.feed(feed, user: member)
        #expect(second.items.map(\.title) == ["Rust 1", "Swift 1"])
        #expect(second.nextCursor.isEmpty)
        f.clock.advance(by: 60)
        _ = try await f.post("Swift 4", "s4", mode: "members")
        feed.cursor = ""
        let again = try await f.content.feed(feed, user: member)
        #expect(again.newSinceLastVisit == 1)
        #expect(again.hasLastVisitAt)
        // Someone with no community has an empty feed; a member who leaves loses it.
        #expect(try await f.content.feed(feed, user: stranger).items.isEmpty)
    }

    static func attachments(_ f: ContentFixture) async throws {
        let post = try await f.post("Slides", "Slides attached.", mode: "members")
        var upload = ContentAddAttachmentRequest()
        upload.itemID = post.id
        upload.filename = "../../etc/passwd\u{0}.pdf"
        upload.contentType = "application/pdf"
        upload.data = Data("%PDF-1.7 slides".utf8)
        let attachment = try await f.content.addAttachment(upload, user: f.owner)
        #expect(attachment.filename == "passwd.pdf")
        #expect(attachment.sizeBytes == 15)
        upload.contentType = "text/html"
        #expect(await thrownError { _ = try await f.content.addAttachment(upload, user: f.owner) }?.reason == "unsupported_type")
        upload.contentType = "image/svg+xml"
        #expect(await thrownError { _ = try await f.content.addAttachment(upload, user: f.owner) }?.reason == "unsupported_type")
        upload.contentType = "application/pdf"
        upload.data = Data(count: ContentConfiguration.attachmentCeiling + 1)
        #expect(await thrownError { _ = try await f.content.addAttachment(upload, user: f.owner) }?.reason == "attachment_too_large")
        upload.data = Data("x".utf8)
        #expect(await thrownError { _ = try await f.content.addAttachment(upload, user: f.moderator) }?.code == .permissionDenied)
        var get = ContentAttachmentRequest()
        get.attachmentID = attachment.id
        #expect(await thrownError { _ = try await f.content.attachmentData(get, user: visitor) }?.code == .unauthenticated)
        #expect(await thrownError { _ = try await f.content.attachmentData(get, user: stranger) }?.code == .permissionDenied)
        try await f.join(member)
        let file = try await f.content.attachmentData(get, user: member)
        #expect(file.data == Data("%PDF-1.7 slides".utf8))
        #expect(file.attachment.contentType == "application/pdf")
        #expect(try await f.content.item(post.id, user: member).attachments.map(\.id) == [attachment.id])
        #expect(try await f.content.item(post.id, user: stranger).attachments.isEmpty)
    }

    static func events(_ f: ContentFixture) async throws {
        try await f.join(member)
        let post = try await f.post("Evented", "Hello", mode: "members")
        let comment = try await f.comment(post, "Nice @\(f.owner.rawValue)", by: member)
        var react = ContentReactRequest()
        react.targetKind = "item"
        react.targetID = post.id
        react.emoji = "🎉"
        _ = try await f.content.react(react, user: member)
        let (course, lessons) = try await f.course("Evented course", free: 1)
        var done = ContentCompleteLessonRequest()
        done.lessonID = lessons[0].id
        done.completed = true
        _ = try await f.content.completeLesson(done, user: member)
        var rate = ContentRateCourseRequest()
        rate.courseID = course.id
        rate.stars = 5
        _ = try await f.content.rateCourse(rate, user: member)
        let events = try await f.outbox()
        #expect(events.map(\.0) == [
            ContentService.Topic.itemPublished, ContentService.Topic.commentCreated, ContentService.Topic.reactionAdded,
            ContentService.Topic.itemPublished, ContentService.Topic.lessonCompleted, ContentService.Topic.courseRated,
        ])
        let commented = try ContentCommentEvent(serializedBytes: events[1].1)
        #expect(commented.commentID == comment.id)
        #expect(commented.mentions == [f.owner.rawValue])
        #expect(commented.communityID == f.community.id)
        let rated = try ContentCourseRatedEvent(serializedBytes: events[5].1)
        #expect(rated.stars == 5 && rated.userID == member.rawValue)

        // Delivered over the wire to a consumer (as referral will be), at least once, applied once.
        try await f.withWireSubscriber(failures: 1) { relay, consumer in
            #expect(try await relay.deliverDue() == 0)  // the consumer is down at first
            f.clock.advance(by: 2)
            #expect(try await relay.deliverDue() == 6)
            #expect(try await consumer.applied().map(\.topic) == events.map(\.0))
            try await f.cluster.contentDatabase.database.withConnection { sql in try await sql.raw("DELETE FROM outbox_deliveries").run() }
            #expect(try await relay.deliverDue() == 6)  // sent again, applied once
            #expect(try await consumer.applied().count == 6)
        }

        // A membership event content cannot read is acknowledged (sending it again would not
        // mend it) rather than refused for ever.
        var malformed = EventsDeliverRequest()
        malformed.event.id = "malformed-1"
        malformed.event.topic = "membership.subscription.started"
        malformed.event.payload = Data([0xFF, 0xFF, 0xFF])
        _ = try await f.content.deliver(malformed)
    }
}

@Suite("Content on SQLite", .serialized)
struct ContentSQLiteTests {
    @Test("scenario", arguments: ContentScenarios.names)
    func scenario(_ name: String) async throws {
        try await ContentScenarios.run(name, on: .sqlite)
    }
}

@Suite("Content on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct ContentPostgresTests {
    @Test("scenario", arguments: ContentScenarios.names)
    func scenario(_ name: String) async throws {
        try await ContentScenarios.run(name, on: .postgres)
    }
}
