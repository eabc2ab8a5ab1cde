import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import SQLKit

/// Review and moderation: the community's rules and keyword filter, the approval option, the
/// moderation queue with its audit log, reports, and expert review of drafts.
extension ContentService {
    struct Settings: Sendable {
        var rules = ""
        var keywords: [String] = []
        var requireApproval = false
        /// Minutes an answerer has for a paid question.
        var questionLimitMinutes = 2880
        /// The community's time zone (an IANA identifier).
        var timeZone = "UTC"
        var filter: KeywordFilter { KeywordFilter(keywords: keywords) }
    }

    func settings(_ sql: any SQLDatabase, community: CommunityID) async throws -> Settings {
        guard let row = try await sql.raw("SELECT * FROM community_settings WHERE community_id = \(bind: community.rawValue)").first() else { return Settings() }
        return Settings(
            rules: try row.decode(column: "rules", as: String.self),
            keywords: ItemRecord.list(try row.decode(column: "keywords", as: String.self)),
            requireApproval: try row.decode(column: "require_approval", as: Bool.self),
            questionLimitMinutes: try row.decode(column: "question_limit_minutes", as: Int.self),
            timeZone: try row.decode(column: "time_zone", as: String.self))
    }

    /// The rules for everyone; the keyword list and options for the owners.
    public func settings(_ request: ContentGetSettingsRequest, user: UserID?) async throws -> ContentCommunitySettings {
        let community = CommunityID(request.communityID)
        let standing = try await access.standing(of: user, in: community)
        let settings = try await database.withConnection { sql in try await self.settings(sql, community: community) }
        var message = ContentCommunitySettings()
        message.communityID = community.rawValue
        message.rules = settings.rules
        message.questionLimitMinutes = Int32(settings.questionLimitMinutes)
        message.timeZone = settings.timeZone
        if Self.policy.allows(Operation.moderate, role: standing.role) {
            message.keywords = settings.keywords
            message.requireApproval = settings.requireApproval
        }
        return message
    }

    public func updateSettings(_ request: ContentUpdateSettingsRequest, user: UserID) async throws -> ContentCommunitySettings {
        let community = CommunityID(request.communityID)
        let standing = try await access.standing(of: user, in: community)
        try Self.policy.authorize(Operation.editSettings, role: standing.role)
        var violations: [GuildError.FieldViolation] = []
        if request.hasRules, request.rules.utf8.count > 20_000 { violations.append(.init(field: "rules", description: "At most 20,000 bytes.")) }
        let replacesKeywords = request.replaceKeywords || !request.keywords.isEmpty
        if replacesKeywords, request.keywords.count > 1000 || request.keywords.contains(where: { $0.count > 50 || $0.contains("\n") }) {
            violations.append(.init(field: "keywords", description: "At most 1,000 keywords of up to 50 characters."))
        }
        if request.hasQuestionLimitMinutes, !(1...43_200).contains(request.questionLimitMinutes) {
            violations.append(.init(field: "questionLimitMinutes", description: "1 to 43200 minutes."))
        }
        if request.hasTimeZone, TimeZone(identifier: request.timeZone) == nil {
            violations.append(.init(field: "timeZone", description: "An IANA time zone, such as Asia/Shanghai."))
        }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let now = clock.now()
        try await database.transaction { sql in
            // The settings row is read, merged and written under its lock: a second save at once
            // waits, then merges into what the first wrote.
            let defaults = Settings()
            try await sql.lockOrCreateRow("community_settings", key: [("community_id", community.rawValue)], extra: [
                ("rules", defaults.rules), ("keywords", ItemRecord.text(defaults.keywords)), ("require_approval", defaults.requireApproval),
                ("question_limit_minutes", defaults.questionLimitMinutes), ("time_zone", defaults.timeZone),
                ("updated_at_ms", now.millisecondsSince1970),
            ])
            var settings = try await self.settings(sql, community: community)
            if request.hasRules { settings.rules = request.rules }
            if replacesKeywords { settings.keywords = KeywordFilter(keywords: request.keywords).keywords }
            if request.hasRequireApproval { settings.requireApproval = request.requireApproval }
            if request.hasQuestionLimitMinutes { settings.questionLimitMinutes = Int(request.questionLimitMinutes) }
            if request.hasTimeZone { settings.timeZone = request.timeZone }
            try await sql.raw("""
                UPDATE community_settings SET rules = \(bind: settings.rules), keywords = \(bind: ItemRecord.text(settings.keywords)),
                    require_approval = \(bind: settings.requireApproval), question_limit_minutes = \(bind: settings.questionLimitMinutes),
                    time_zone = \(bind: settings.timeZone), updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE community_id = \(bind: community.rawValue)
                """).run()
            try await self.audit(sql, community: community, actor: user, action: "settings", targetKind: "community", targetID: community.rawValue, reason: "", now: now)
        }
        var get = ContentGetSettingsRequest()
        get.communityID = community.rawValue
        return try await settings(get, user: user)
    }

    /// Adds an entry to the moderation queue (once per pending target and cause). The target's
    /// row (the item or the comment) is locked first, so two reports at once make one entry.
    @discardableResult
    func enqueue(_ sql: any SQLDatabase, community: CommunityID, kind: String, target: String, cause: String, detail: String, now: Date) async throws -> String {
        try await sql.lockRow(kind == "comment" ? "comments" : "items", is: target)
        if let row = try await sql.raw("""
            SELECT id FROM moderation_queue WHERE target_kind = \(bind: kind) AND target_id = \(bind: target) AND cause = \(bind: cause) AND status = 'pending'
            """).first() { return try row.decode(column: "id", as: String.self) }
        let id = Identifier.make(at: now)
        try await sql.raw("""
            INSERT INTO moderation_queue (id, community_id, target_kind, target_id, cause, detail, status, decided_by, decision_reason, created_at_ms)
            VALUES (\(bind: id), \(bind: community.rawValue), \(bind: kind), \(bind: target), \(bind: cause), \(bind: String(detail.prefix(500))),
                    'pending', '', '', \(bind: now.millisecondsSince1970))
            """).run()
        return id
    }

    /// The "report" button: anyone who can see the item or comment puts it in the queue.
    public func report(_ request: ContentReportRequest, user: UserID) async throws -> ContentQueueEntry {
        try await prefetchStanding(.target(kind: request.targetKind, id: request.targetID), user: user)
        guard (1...500).contains(request.reason.count) else {
            throw GuildError.invalid([.init(field: "reason", description: "Say what is wrong, in 1 to 500 characters.")])
        }
        let id = try await database.transaction { sql in
            let community: CommunityID
            switch request.targetKind {
            case "item":
                let (item, standing) = try await self.load(sql, item: request.targetID, user: user)
                try Self.policy.authorize(Operation.report, role: standing.role)
                community = item.communityID
            case "comment":
                let (comment, item, standing) = try await self.loadComment(sql, id: request.targetID, user: user)
                try self.requireFullAccess(item, standing: standing, user: user)
                try Self.policy.authorize(Operation.report, role: standing.role)
                community = CommunityID(comment.communityID)
            default:
                throw GuildError.invalid([.init(field: "targetKind", description: "item or comment.")])
            }
            return try await self.enqueue(sql, community: community, kind: request.targetKind, target: request.targetID,
                                          cause: "report", detail: "\(user.rawValue): \(request.reason)", now: self.clock.now())
        }
        return try await database.withConnection { sql in try await self.queueEntry(sql, id: id, withExcerpt: false) }
    }

    func queueEntry(_ sql: any SQLDatabase, id: String, withExcerpt: Bool) async throws -> ContentQueueEntry {
        guard let row = try await sql.raw("SELECT * FROM moderation_queue WHERE id = \(bind: id)").first() else {
            throw GuildError(.notFound, "No such queue entry.")
        }
        var entry = ContentQueueEntry()
        entry.id = id
        entry.communityID = try row.decode(column: "community_id", as: String.self)
        entry.targetKind = try row.decode(column: "target_kind", as: String.self)
        entry.targetID = try row.decode(column: "target_id", as: String.self)
        entry.cause = try row.decode(column: "cause", as: String.self)
        entry.detail = try row.decode(column: "detail", as: String.self)
        entry.status = try row.decode(column: "status", as: String.self)
        entry.decidedBy = try row.decode(column: "decided_by", as: String.self)
        entry.decisionReason = try row.decode(column: "decision_reason", as: String.self)
        entry.createdAt = try row.timestamp("created_at_ms")
        if let t = try row.optionalTimestamp("decided_at_ms") { entry.decidedAt = t }
        if withExcerpt {
            let table = entry.targetKind == "item" ? "items" : "comments"
            if let target = try await sql.raw("SELECT * FROM \(unsafeRaw: table) WHERE id = \(bind: entry.targetID)").first() {
                entry.authorID = try target.decode(column: "author_id", as: String.self)
                let title = entry.targetKind == "item" ? try target.decode(column: "title", as: String.self) + ": " : ""
                entry.excerpt = title + Markdown.excerpt(try target.decode(column: "markdown", as: String.self), limit: 300)
            }
        }
        return entry
    }

    public func queue(_ request: ContentListQueueRequest, user: UserID) async throws -> ContentQueueList {
        let community = CommunityID(request.communityID)
        let standing = try await access.standing(of: user, in: community)
        try Self.policy.authorize(Operation.moderate, role: standing.role)
        let status = request.status.isEmpty ? "pending" : request.status
        guard ["pending", "approved", "rejected", "removed", "all"].contains(status) else {
            throw GuildError.invalid([.init(field: "status", description: "pending, approved, rejected, removed or all.")])
        }
        return try await database.withConnection { sql in
            let ids = try await sql.raw("""
                SELECT id FROM moderation_queue WHERE community_id = \(bind: community.rawValue) AND (\(bind: status) = 'all' OR status = \(bind: status))
                ORDER BY created_at_ms LIMIT 200
                """).all().map { try $0.decode(column: "id", as: String.self) }
            var list = ContentQueueList()
            for id in ids { list.entries.append(try await self.queueEntry(sql, id: id, withExcerpt: true)) }
            return list
        }
    }

    /// A moderator's decision on a queue entry: approve (publish what was held, or dismiss a
    /// report), reject (back to its author with the reason), or remove (taken down).
    public func decide(_ request: ContentDecideRequest, user: UserID) async throws -> ContentQueueEntry {
        try await prefetchStanding(.queueEntry(request.entryID), user: user)
        guard ["approve", "reject", "remove"].contains(request.decision) else {
            throw GuildError.invalid([.init(field: "decision", description: "approve, reject or remove.")])
        }
        if request.decision == "reject", request.reason.trimmingCharacters(in: .whitespaces).isEmpty || request.reason.count > 1000 {
            throw GuildError.invalid([.init(field: "reason", description: "Tell the author why, in 1 to 1,000 characters.")])
        }
        try await database.transaction { sql in
            // The entry's lock: of two moderators deciding at once, the second sees the first's decision.
            try await sql.lockRow("moderation_queue", is: request.entryID)
            let entry = try await self.queueEntry(sql, id: request.entryID, withExcerpt: false)
            let standing = try await self.access.standing(of: user, in: CommunityID(entry.communityID))
            try Self.policy.authorize(Operation.moderate, role: standing.role)
            let decided = ["approve": "approved", "reject": "rejected", "remove": "removed"][request.decision]!
            guard entry.status == "pending" else {
                if entry.status == decided { return }  // the same decision again
                throw GuildError(.failedPrecondition, "This entry was \(entry.status) already.", reason: "already_decided")
            }
            let now = self.clock.now()
            try await sql.raw("""
                UPDATE moderation_queue SET status = \(bind: decided), decided_by = \(bind: user.rawValue), decision_reason = \(bind: request.reason),
                    decided_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: entry.id)
                """).run()
            try await self.apply(sql, decision: request.decision, reason: request.reason, entry: entry, now: now)
            try await self.audit(sql, community: CommunityID(entry.communityID), actor: user, action: request.decision,
                                 targetKind: entry.targetKind, targetID: entry.targetID, reason: request.reason, now: now)
        }
        return try await database.withConnection { sql in try await self.queueEntry(sql, id: request.entryID, withExcerpt: true) }
    }

    private func apply(_ sql: any SQLDatabase, decision: String, reason: String, entry: ContentQueueEntry, now: Date) async throws {
        // Other entries pending for the same target are settled by this decision too.
        try await sql.raw("""
            UPDATE moderation_queue SET status = 'approved', decision_reason = 'settled with another entry', decided_at_ms = \(bind: now.millisecondsSince1970)
            WHERE target_kind = \(bind: entry.targetKind) AND target_id = \(bind: entry.targetID) AND status = 'pending'
            """).run()
        switch (entry.targetKind, decision) {
        case ("item", "approve"):
            if try await sql.raw("SELECT id FROM items WHERE id = \(bind: entry.targetID) AND status = 'pending_review'").first() != nil {
                try await release(sql, item: entry.targetID, now: now)
            }
        case ("item", "reject"):
            try await sql.raw("UPDATE items SET status = 'rejected', rejection_reason = \(bind: reason) WHERE id = \(bind: entry.targetID)").run()
            try await SearchIndex.remove(sql, item: entry.targetID)
        case ("item", _):
            try await sql.raw("UPDATE items SET status = 'removed', rejection_reason = \(bind: reason) WHERE id = \(bind: entry.targetID)").run()
            try await SearchIndex.remove(sql, item: entry.targetID)
        case ("comment", "approve"):
            if try await sql.raw("SELECT id FROM comments WHERE id = \(bind: entry.targetID) AND status = 'held'").first() != nil {
                try await sql.raw("UPDATE comments SET status = 'published', moderation_reason = '' WHERE id = \(bind: entry.targetID)").run()
                try await emitCommentCreated(sql, comment: entry.targetID, now: now)
            }
        case ("comment", let decision):
            try await sql.raw("""
                UPDATE comments SET status = \(bind: decision == "reject" ? "rejected" : "removed"), moderation_reason = \(bind: reason) WHERE id = \(bind: entry.targetID)
                """).run()
        default: break
        }
    }

    public func auditLog(_ request: ContentListAuditRequest, user: UserID) async throws -> ContentAuditList {
        let community = CommunityID(request.communityID)
        let standing = try await access.standing(of: user, in: community)
        try Self.policy.authorize(Operation.readAudit, role: standing.role)
        let limit = Int(request.limit == 0 ? 100 : min(max(request.limit, 1), 500))
        return try await database.withConnection { sql in
            var list = ContentAuditList()
            list.entries = try await sql.raw("""
                SELECT * FROM moderation_audit WHERE community_id = \(bind: community.rawValue) ORDER BY at_ms DESC, id DESC LIMIT \(bind: limit)
                """).all().map { row in
                var entry = ContentAuditEntry()
                entry.id = try row.decode(column: "id", as: String.self)
                entry.communityID = community.rawValue
                entry.actorID = try row.decode(column: "actor_id", as: String.self)
                entry.action = try row.decode(column: "action", as: String.self)
                entry.targetKind = try row.decode(column: "target_kind", as: String.self)
                entry.targetID = try row.decode(column: "target_id", as: String.self)
                entry.reason = try row.decode(column: "reason", as: String.self)
                entry.at = try row.timestamp("at_ms")
                return entry
            }
            return list
        }
    }

    // MARK: Expert review

    /// The owner asks a guest expert to review a draft; it cannot be published until they approve.
    public func assignExpert(_ request: ContentAssignExpertRequest, user: UserID) async throws -> ContentExpertReview {
        if let community = try await prefetchStanding(.item(request.itemID), user: user) {
            _ = try await access.standing(of: UserID(request.expertID), in: community)
        }
        return try await database.transaction { sql in
            try await sql.lockRow("items", is: request.itemID)  // one assignment at a time
            let (item, standing) = try await self.load(sql, item: request.itemID, user: user)
            try Self.policy.authorize(Operation.assignExpert, role: standing.role)
            guard [.draft, .rejected].contains(item.status), item.deletedAtMs == nil else {
                throw GuildError(.failedPrecondition, "Only a draft can be sent for expert review.", reason: "not_a_draft")
            }
            let expert = try await self.access.standing(of: UserID(request.expertID), in: item.communityID)
            guard expert.role == .guestExpert else {
                throw GuildError(.failedPrecondition, "That user is not a guest expert of this community.",
                                 fieldViolations: [.init(field: "expertId", description: "Assign the guest expert role first.")], reason: "not_an_expert")
            }
            let now = self.clock.now()
            try await sql.raw("DELETE FROM expert_reviews WHERE item_id = \(bind: item.id)").run()
            try await sql.raw("""
                INSERT INTO expert_reviews (item_id, expert_id, assigned_by, status, comments, assigned_at_ms)
                VALUES (\(bind: item.id), \(bind: request.expertID), \(bind: user.rawValue), 'pending', '', \(bind: now.millisecondsSince1970))
                """).run()
            try await self.audit(sql, community: item.communityID, actor: user, action: "assign_expert", targetKind: "item", targetID: item.id, reason: request.expertID, now: now)
            return try Self.expertReview(try await sql.raw("SELECT * FROM expert_reviews WHERE item_id = \(bind: item.id)").first()!)
        }
    }

    /// The assigned expert's verdict and comments.
    public func submitExpertReview(_ request: ContentSubmitExpertReviewRequest, user: UserID) async throws -> ContentExpertReview {
        try await prefetchStanding(.item(request.itemID), user: user)
        guard ["approved", "changes_requested"].contains(request.verdict) else {
            throw GuildError.invalid([.init(field: "verdict", description: "approved or changes_requested.")])
        }
        guard request.comments.count <= 10_000 else { throw GuildError.invalid([.init(field: "comments", description: "At most 10,000 characters.")]) }
        return try await database.transaction { sql in
            let (item, standing) = try await self.load(sql, item: request.itemID, user: user)
            guard let row = try await sql.raw("SELECT * FROM expert_reviews WHERE item_id = \(bind: item.id)").first(),
                  try row.decode(column: "expert_id", as: String.self) == user.rawValue else {
                throw GuildError(.permissionDenied, "Only the expert assigned to this draft may review it.", reason: "not_assigned")
            }
            try Self.policy.authorize(Operation.reviewAsExpert, role: standing.role)
            let now = self.clock.now()
            try await sql.raw("""
                UPDATE expert_reviews SET status = \(bind: request.verdict), comments = \(bind: request.comments), decided_at_ms = \(bind: now.millisecondsSince1970)
                WHERE item_id = \(bind: item.id)
                """).run()
            try await self.audit(sql, community: item.communityID, actor: user, action: "expert_verdict", targetKind: "item", targetID: item.id, reason: request.verdict, now: now)
            return try Self.expertReview(try await sql.raw("SELECT * FROM expert_reviews WHERE item_id = \(bind: item.id)").first()!)
        }
    }
}
