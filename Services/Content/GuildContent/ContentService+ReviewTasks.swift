import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import SQLKit
import SwiftProtobuf

/// Product-review tasks (产品评测). The owner posts a task (a product, a brief of what to test,
/// a number of places, a deadline for applications and a reward in points); members apply with
/// a motivation; the owner selects up to the places; each selected member names one of their
/// posts as the report and gives a structured verdict; the owner accepts it (the reward is
/// earned: `content.review.accepted`, which the referral service credits) or asks for changes.
///
/// An application's life: applied → selected → submitted → accepted, with submitted →
/// changes_requested → submitted as often as needed. Applicants who are not selected stay
/// `applied`. Every move is a guarded update of `status`, so the reward is earned once.
extension ContentService {
    /// Statuses that hold one of the task's places.
    static let placeHoldingStatuses = ["selected", "submitted", "changes_requested", "accepted"]
    private static let placeHoldingList = "('selected', 'submitted', 'changes_requested', 'accepted')"
    /// How many pros or cons a verdict names at most, and how many the summary shows.
    static let maxVerdictTerms = 20
    static let summaryTerms = 10

    /// Posts a review task. Owners and co-owners only; the brief is Markdown, stored rendered.
    public func createReviewTask(_ request: ContentCreateReviewTaskRequest, user: UserID) async throws -> ContentReviewTask {
        let community = CommunityID(request.communityID)
        try await authorize(InteractionOperation.manageReviewTasks, user: user, in: community)
        let now = clock.now()
        var violations: [GuildError.FieldViolation] = []
        let product = request.product.trimmingCharacters(in: .whitespacesAndNewlines)
        if product.isEmpty || product.count > 200 { violations.append(.init(field: "product", description: "1 to 200 characters.")) }
        if request.brief.utf8.count > 20_000 { violations.append(.init(field: "brief", description: "At most 20,000 bytes.")) }
        if !(1...1000).contains(request.places) { violations.append(.init(field: "places", description: "1 to 1000.")) }
        if !request.hasDeadline || request.deadline.date <= now { violations.append(.init(field: "deadline", description: "A moment in the future.")) }
        if !(0...1_000_000).contains(request.rewardPoints) { violations.append(.init(field: "rewardPoints", description: "0 to 1000000.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let id = Identifier.make(at: now)
        let deadline = request.deadline.date.millisecondsSince1970
        try await database.withConnection { sql in
            try await sql.raw("""
                INSERT INTO review_tasks (id, community_id, product, brief_html, places, deadline_ms, reward_points, created_by, created_at_ms)
                VALUES (\(bind: id), \(bind: community.rawValue), \(bind: product), \(bind: Markdown.html(request.brief)), \(bind: Int(request.places)),
                        \(bind: deadline), \(bind: request.rewardPoints), \(bind: user.rawValue), \(bind: now.millisecondsSince1970))
                """).run()
        }
        return try await reviewTaskMessage(id, user: user)
    }

    /// A review task with its counts and the caller's application, for members of its community.
    public func reviewTask(_ request: ContentGetReviewTaskRequest, user: UserID?) async throws -> ContentReviewTask {
        let task = try await reviewTaskRow(request.taskID)
        try await requireMember(user, in: CommunityID(try task.decode(column: "community_id", as: String.self)))
        return try await reviewTaskMessage(request.taskID, user: user)
    }

    /// The community's review tasks, newest first, for its members.
    public func reviewTasks(_ request: ContentListReviewTasksRequest, user: UserID?) async throws -> ContentReviewTaskList {
        let community = CommunityID(request.communityID)
        try await requireMember(user, in: community)
        let (rows, mine) = try await database.withConnection { sql in
            let rows = try await sql.raw(Self.taskQuery("t.community_id = \(bind: community.rawValue)") + " ORDER BY t.created_at_ms DESC, t.id DESC").all()
            let mine = try await sql.raw("""
                SELECT a.* FROM review_applications a JOIN review_tasks t ON t.id = a.task_id
                WHERE t.community_id = \(bind: community.rawValue) AND a.user_id = \(bind: user?.rawValue ?? "")
                """).all()
            return (rows, mine)
        }
        var applications: [String: ContentReviewApplication] = [:]
        for row in mine {
            let application = try Self.applicationMessage(row)
            applications[application.taskID] = application
        }
        let now = clock.now()
        var list = ContentReviewTaskList()
        for row in rows {
            var task = try Self.taskMessage(row, now: now)
            if let application = applications[task.id] { task.mine = application }
            list.tasks.append(task)
        }
        return list
    }

    /// Applies for a review task: members, before its deadline, once each.
    public func applyForReview(_ request: ContentApplyForReviewRequest, user: UserID) async throws -> ContentReviewApplication {
        let task = try await reviewTaskRow(request.taskID)
        try await authorize(InteractionOperation.applyForReviews, user: user, in: CommunityID(try task.decode(column: "community_id", as: String.self)))
        let motivation = request.motivation.trimmingCharacters(in: .whitespacesAndNewlines)
        guard motivation.count <= 2000 else { throw GuildError.invalid([.init(field: "motivation", description: "At most 2,000 characters.")]) }
        let now = clock.now().millisecondsSince1970
        guard now < (try task.decode(column: "deadline_ms", as: Int64.self)) else {
            throw GuildError(.failedPrecondition, "Applications to this task closed at its deadline.", reason: "task_closed")
        }
        do {
            try await database.withConnection { sql in
                try await sql.raw("""
                    INSERT INTO review_applications (task_id, user_id, motivation, status, report_item_id, verdict, feedback, applied_at_ms, updated_at_ms)
                    VALUES (\(bind: request.taskID), \(bind: user.rawValue), \(bind: motivation), 'applied', '', '', '', \(bind: now), \(bind: now))
                    """).run()
            }
        } catch let error as GuildError where error.code == .alreadyExists {
            throw GuildError(.failedPrecondition, "You applied for this task already.", reason: "already_applied")
        }
        return try await application(task: request.taskID, user: user)
    }

    /// Every application to a task, in the order they came (owners and co-owners).
    public func applications(_ request: ContentListApplicationsRequest, user: UserID) async throws -> ContentApplicationList {
        let task = try await reviewTaskRow(request.taskID)
        try await authorize(InteractionOperation.manageReviewTasks, user: user, in: CommunityID(try task.decode(column: "community_id", as: String.self)))
        return try await applicationList(request.taskID)
    }

    /// Selects the named applicants, all or none: refused with `no_places_left` when they would
    /// hold more than the task's places. Naming someone selected already changes nothing; naming
    /// someone who did not apply is an invalid argument. Returns every application of the task.
    public func selectReviewers(_ request: ContentSelectReviewersRequest, user: UserID) async throws -> ContentApplicationList {
        let task = try await reviewTaskRow(request.taskID)
        try await authorize(InteractionOperation.manageReviewTasks, user: user, in: CommunityID(try task.decode(column: "community_id", as: String.self)))
        let named = request.userIds.reduce(into: [String]()) { named, id in if !named.contains(id) { named.append(id) } }
        guard !named.isEmpty else { throw GuildError.invalid([.init(field: "userIds", description: "Name at least one applicant.")]) }
        let taskID = request.taskID
        let now = clock.now().millisecondsSince1970
        try await database.transaction { sql in
            // Locks the task's row (PostgreSQL), so that two selections at once count in turn.
            guard let locked = try await sql.raw("UPDATE review_tasks SET places = places WHERE id = \(bind: taskID) RETURNING places").first() else {
                throw GuildError(.notFound, "No such review task.")
            }
            let places = try locked.decode(column: "places", as: Int.self)
            var statuses: [String: String] = [:]
            for row in try await sql.raw("SELECT user_id, status FROM review_applications WHERE task_id = \(bind: taskID)").all() {
                statuses[try row.decode(column: "user_id", as: String.self)] = try row.decode(column: "status", as: String.self)
            }
            let strangers = named.filter { statuses[$0] == nil }
            guard strangers.isEmpty else {
                throw GuildError.invalid([.init(field: "userIds", description: "Did not apply: \(strangers.joined(separator: ", ")).")])
            }
            let held = statuses.values.filter { Self.placeHoldingStatuses.contains($0) }.count
            let chosen = named.filter { statuses[$0] == "applied" }
            guard held + chosen.count <= places else {
                throw GuildError(.failedPrecondition, "The task has \(places) places and \(held) are taken.", reason: "no_places_left")
            }
            for id in chosen {
                try await sql.raw("""
                    UPDATE review_applications SET status = 'selected', updated_at_ms = \(bind: now)
                    WHERE task_id = \(bind: taskID) AND user_id = \(bind: id) AND status = 'applied'
                    """).run()
            }
        }
        return try await applicationList(taskID)
    }

    /// A selected member hands in their report: one of their own posts in the community and a
    /// structured verdict. Again after changes were asked, or to replace a report not yet
    /// judged; never once it is accepted.
    public func submitReport(_ request: ContentSubmitReportRequest, user: UserID) async throws -> ContentReviewApplication {
        let task = try await reviewTaskRow(request.taskID)
        let community = try task.decode(column: "community_id", as: String.self)
        try await authorize(InteractionOperation.applyForReviews, user: user, in: CommunityID(community))
        let verdict = try Self.validated(request.verdict)
        try Self.requireReporter(try await applicationRow(task: request.taskID, user: user)?.decode(column: "status", as: String.self))
        let post = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT id FROM items WHERE id = \(bind: request.itemID) AND kind = 'post' AND community_id = \(bind: community)
                  AND author_id = \(bind: user.rawValue) AND deleted_at_ms IS NULL
                """).first()
        }
        guard post != nil else {
            throw GuildError.invalid([.init(field: "itemId", description: "Name a post of yours in this community.")])
        }
        let json = try verdict.jsonString()
        let now = clock.now().millisecondsSince1970
        let submitted = try await database.withConnection { sql in
            try await sql.raw("""
                UPDATE review_applications SET status = 'submitted', report_item_id = \(bind: request.itemID), verdict = \(bind: json),
                       updated_at_ms = \(bind: now)
                WHERE task_id = \(bind: request.taskID) AND user_id = \(bind: user.rawValue)
                  AND status IN ('selected', 'changes_requested', 'submitted') RETURNING user_id
                """).first() != nil
        }
        if !submitted {
            // Judged in the meantime.
            try Self.requireReporter(try await applicationRow(task: request.taskID, user: user)?.decode(column: "status", as: String.self))
        }
        return try await application(task: request.taskID, user: user)
    }

    /// Throws unless an application in `status` may hand in a report.
    private static func requireReporter(_ status: String?) throws {
        switch status {
        case "selected", "changes_requested", "submitted": return
        case "accepted": throw GuildError(.failedPrecondition, "Your report was accepted already.", reason: "report_accepted")
        default: throw GuildError(.failedPrecondition, "Only members selected for this task hand in a report.", reason: "not_selected")
        }
    }

    /// The owner judges a submitted report: accepting it earns the reward (one
    /// `content.review.accepted` event, however often asked), or asks for changes with feedback.
    public func judgeReport(_ request: ContentJudgeReportRequest, user: UserID) async throws -> ContentReviewApplication {
        let task = try await reviewTaskRow(request.taskID)
        let community = try task.decode(column: "community_id", as: String.self)
        try await authorize(InteractionOperation.manageReviewTasks, user: user, in: CommunityID(community))
        let feedback = request.feedback.trimmingCharacters(in: .whitespacesAndNewlines)
        if feedback.count > 2000 || (!request.accept && feedback.isEmpty) {
            throw GuildError.invalid([.init(field: "feedback", description: request.accept ? "At most 2,000 characters." : "Say what to change, in 1 to 2,000 characters.")])
        }
        let rewardPoints = try task.decode(column: "reward_points", as: Int64.self)
        let now = clock.now()
        let judged = try await database.transaction { sql in
            guard let row = try await sql.raw("""
                UPDATE review_applications SET status = \(bind: request.accept ? "accepted" : "changes_requested"), feedback = \(bind: feedback),
                       updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE task_id = \(bind: request.taskID) AND user_id = \(bind: request.userID) AND status = 'submitted' RETURNING report_item_id
                """).first() else { return false }
            if request.accept {
                var event = ContentReviewAcceptedEvent()
                event.taskID = request.taskID
                event.communityID = community
                event.userID = request.userID
                event.reportItemID = try row.decode(column: "report_item_id", as: String.self)
                event.rewardPoints = rewardPoints
                event.occurredAtMs = now.millisecondsSince1970
                try await self.emit(sql, InteractionTopic.reviewAccepted, event, at: now)
            }
            return true
        }
        guard judged else {
            throw GuildError(.failedPrecondition, "There is no submitted report of theirs to judge.", reason: "no_report_to_judge")
        }
        guard let row = try await applicationRow(task: request.taskID, user: UserID(request.userID)) else { throw GuildError(.notFound, "No such application.") }
        return try Self.applicationMessage(row)
    }

    /// What the accepted reports of a task say together, for members: how many, the average
    /// score, how many gave each score, how many recommend the product, and the pros and cons
    /// named most often (compared without case and surrounding spaces; each report counts a
    /// term once).
    public func reviewSummary(_ request: ContentReviewSummaryRequest, user: UserID?) async throws -> ContentReviewSummaryResponse {
        let taskRow = try await reviewTaskRow(request.taskID)
        let standing = try await requireMember(user, in: CommunityID(try taskRow.decode(column: "community_id", as: String.self)))
        let rows = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT * FROM review_applications WHERE task_id = \(bind: request.taskID) AND status = 'accepted' ORDER BY applied_at_ms, user_id
                """).all()
        }
        var summary = ContentReviewSummaryResponse()
        summary.task = try await reviewTaskMessage(request.taskID, user: user)
        var distribution = [Int32](repeating: 0, count: 5)
        var total = 0
        var verdicts: [ContentVerdict] = []
        for row in rows {
            var application = try Self.applicationMessage(row)
            let verdict = application.verdict
            if (1...5).contains(verdict.score) {
                distribution[Int(verdict.score) - 1] += 1
                total += Int(verdict.score)
            }
            if verdict.recommend { summary.recommend += 1 }
            verdicts.append(verdict)
            // What the member told the owner, and what the owner told them, stays between them.
            if !standing.isStaff && application.userID != user?.rawValue {
                application.motivation = ""
                application.feedback = ""
            }
            summary.accepted.append(application)
        }
        summary.reports = Int32(rows.count)
        summary.averageScore = rows.isEmpty ? 0 : Double(total) / Double(rows.count)
        summary.scoreDistribution = distribution
        summary.topPros = Self.topTerms(verdicts.map(\.pros))
        summary.topCons = Self.topTerms(verdicts.map(\.cons))
        return summary
    }

    // MARK: Helpers

    /// The terms named most often, one vote per report, compared without case and surrounding
    /// spaces; shown as first written. Sorted by count (most first), then by term.
    static func topTerms(_ reports: [[String]]) -> [ContentTermCount] {
        var counts: [String: (term: String, count: Int)] = [:]
        for terms in reports {
            var seen: Set<String> = []
            for term in terms {
                let trimmed = term.trimmingCharacters(in: .whitespacesAndNewlines)
                let key = trimmed.lowercased()
                guard !key.isEmpty, seen.insert(key).inserted else { continue }
                counts[key, default: (trimmed, 0)].count += 1
            }
        }
        return counts.sorted { a, b in a.value.count != b.value.count ? a.value.count > b.value.count : a.key < b.key }
            .prefix(summaryTerms)
            .map { entry in
                var count = ContentTermCount()
                count.term = entry.value.term
                count.count = Int32(entry.value.count)
                return count
            }
    }

    /// A verdict with its terms trimmed, or the fields that are wrong with it.
    static func validated(_ verdict: ContentVerdict) throws -> ContentVerdict {
        var violations: [GuildError.FieldViolation] = []
        if !(1...5).contains(verdict.score) { violations.append(.init(field: "verdict.score", description: "1 to 5.")) }
        var clean = verdict
        for (field, terms) in [("verdict.pros", verdict.pros), ("verdict.cons", verdict.cons)] {
            let trimmed = terms.map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
            if trimmed.count > maxVerdictTerms || trimmed.contains(where: { $0.isEmpty || $0.count > 200 }) {
                violations.append(.init(field: field, description: "At most \(maxVerdictTerms) entries of 1 to 200 characters."))
            }
            if field == "verdict.pros" { clean.pros = trimmed } else { clean.cons = trimmed }
        }
        clean.summary = verdict.summary.trimmingCharacters(in: .whitespacesAndNewlines)
        if clean.summary.count > 2000 { violations.append(.init(field: "verdict.summary", description: "At most 2,000 characters.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        return clean
    }

    /// The caller's standing, refusing anyone who is not a member of the community.
    @discardableResult
    private func requireMember(_ user: UserID?, in community: CommunityID) async throws -> MembershipAccess.Standing {
        let standing = try await access.standing(of: user, in: community)
        guard standing.role != nil else {
            throw GuildError(.permissionDenied, "Join the community to see its review tasks.", reason: "membership_required")
        }
        return standing
    }

    private func reviewTaskRow(_ id: String) async throws -> any SQLRow {
        guard let row = try await database.withConnection({ sql in try await sql.raw("SELECT * FROM review_tasks WHERE id = \(bind: id)").first() }) else {
            throw GuildError(.notFound, "No such review task.")
        }
        return row
    }

    private func applicationRow(task: String, user: UserID) async throws -> (any SQLRow)? {
        try await database.withConnection { sql in
            try await sql.raw("SELECT * FROM review_applications WHERE task_id = \(bind: task) AND user_id = \(bind: user.rawValue)").first()
        }
    }

    private func application(task: String, user: UserID) async throws -> ContentReviewApplication {
        guard let row = try await applicationRow(task: task, user: user) else { throw GuildError(.notFound, "No such application.") }
        return try Self.applicationMessage(row)
    }

    private func applicationList(_ task: String) async throws -> ContentApplicationList {
        let rows = try await database.withConnection { sql in
            try await sql.raw("SELECT * FROM review_applications WHERE task_id = \(bind: task) ORDER BY applied_at_ms, user_id").all()
        }
        var list = ContentApplicationList()
        list.applications = try rows.map(Self.applicationMessage)
        return list
    }

    /// Tasks with their counts of applicants and of places taken.
    private static func taskQuery(_ filter: SQLQueryString) -> SQLQueryString {
        """
        SELECT t.*,
               (SELECT CAST(COUNT(*) AS BIGINT) FROM review_applications a WHERE a.task_id = t.id) AS applicants,
               (SELECT CAST(COUNT(*) AS BIGINT) FROM review_applications a WHERE a.task_id = t.id AND a.status IN \(unsafeRaw: placeHoldingList)) AS selected
        FROM review_tasks t WHERE
        """ + " " + filter
    }

    private func reviewTaskMessage(_ id: String, user: UserID?) async throws -> ContentReviewTask {
        let (row, mine) = try await database.withConnection { sql in
            let row = try await sql.raw(Self.taskQuery("t.id = \(bind: id)")).first()
            let mine = try await sql.raw("""
                SELECT * FROM review_applications WHERE task_id = \(bind: id) AND user_id = \(bind: user?.rawValue ?? "")
                """).first()
            return (row, mine)
        }
        guard let row else { throw GuildError(.notFound, "No such review task.") }
        var task = try Self.taskMessage(row, now: clock.now())
        if let mine { task.mine = try Self.applicationMessage(mine) }
        return task
    }

    private static func taskMessage(_ row: any SQLRow, now: Date) throws -> ContentReviewTask {
        var task = ContentReviewTask()
        task.id = try row.decode(column: "id", as: String.self)
        task.communityID = try row.decode(column: "community_id", as: String.self)
        task.product = try row.decode(column: "product", as: String.self)
        task.briefHtml = try row.decode(column: "brief_html", as: String.self)
        task.places = Int32(try row.decode(column: "places", as: Int.self))
        let deadline = try row.decode(column: "deadline_ms", as: Int64.self)
        task.deadline = Date(millisecondsSince1970: deadline).timestamp
        task.rewardPoints = try row.decode(column: "reward_points", as: Int64.self)
        task.status = now.millisecondsSince1970 < deadline ? "open" : "closed"
        task.applicants = Int32(try row.decode(column: "applicants", as: Int64.self))
        task.selected = Int32(try row.decode(column: "selected", as: Int64.self))
        task.createdBy = try row.decode(column: "created_by", as: String.self)
        return task
    }

    private static func applicationMessage(_ row: any SQLRow) throws -> ContentReviewApplication {
        var application = ContentReviewApplication()
        application.taskID = try row.decode(column: "task_id", as: String.self)
        application.userID = try row.decode(column: "user_id", as: String.self)
        application.motivation = try row.decode(column: "motivation", as: String.self)
        application.status = try row.decode(column: "status", as: String.self)
        application.reportItemID = try row.decode(column: "report_item_id", as: String.self)
        let verdict = try row.decode(column: "verdict", as: String.self)
        if !verdict.isEmpty { application.verdict = try ContentVerdict(jsonString: verdict) }
        application.feedback = try row.decode(column: "feedback", as: String.self)
        application.appliedAt = try row.timestamp("applied_at_ms")
        application.updatedAt = try row.timestamp("updated_at_ms")
        return application
    }
}
