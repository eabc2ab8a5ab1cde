import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import SQLKit
import SwiftProtobuf

/// Posts and courses: writing, editing with history, publishing (now, scheduled, or held for
/// review), reading behind the paywall, listing, deleting and restoring.
extension ContentService {
    /// Checks what an author may set on an item.
    func validate(title: String?, markdown: String?, tags: [String]?, access: ContentAccess?, kind: String) throws -> [GuildError.FieldViolation] {
        var violations: [GuildError.FieldViolation] = []
        if let title, title.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty || title.count > configuration.maxTitleLength {
            violations.append(.init(field: "title", description: "A title of 1 to \(configuration.maxTitleLength) characters is required."))
        }
        if let markdown, markdown.utf8.count > configuration.maxMarkdownBytes {
            violations.append(.init(field: "markdown", description: "At most \(configuration.maxMarkdownBytes) bytes."))
        }
        if let tags, tags.count > 10 || tags.contains(where: { $0.isEmpty || $0.count > 30 || $0.contains("\n") }) {
            violations.append(.init(field: "tags", description: "At most 10 tags of 1 to 30 characters."))
        }
        if let access {
            switch AccessMode(rawValue: access.mode) {
            case nil: violations.append(.init(field: "access.mode", description: "public, preview, members or plans."))
            case .plans where access.planIds.isEmpty: violations.append(.init(field: "access.planIds", description: "Name the plans that open it."))
            case .preview where kind == "course" && access.freeLessons == 0:
                violations.append(.init(field: "access.freeLessons", description: "A preview course has at least one free lesson."))
            case .preview where kind == "post" && markdown.map({ Markdown.splitPreview($0).rest == nil }) == true:
                violations.append(.init(field: "markdown", description: "A preview post has a line \(Markdown.previewMarker) after its free part."))
            default: break
            }
            if !(0...1000).contains(access.freeLessons) { violations.append(.init(field: "access.freeLessons", description: "From 0 to 1000.")) }
            if !(0...Self.maxMinLevel).contains(access.minLevel) {
                violations.append(.init(field: "access.minLevel", description: "A level rank from 0 (no level needed) to \(Self.maxMinLevel)."))
            }
        }
        return violations
    }

    /// The highest minimum level an item may ask for.
    static let maxMinLevel: Int32 = 100

    public func createItem(_ request: ContentCreateItemRequest, user: UserID) async throws -> ContentItem {
        let kind = request.kind.isEmpty ? "post" : request.kind
        var requested = request.hasAccess ? request.access : ContentAccess()
        if requested.mode.isEmpty { requested.mode = AccessMode.members.rawValue }
        let access = requested
        var violations = try validate(title: request.title, markdown: request.markdown, tags: request.tags, access: access, kind: kind)
        if !["post", "course"].contains(kind) { violations.append(.init(field: "kind", description: "post or course.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let community = CommunityID(request.communityID)
        let standing = try await self.access.standing(of: user, in: community)
        try Self.policy.authorize(kind == "course" ? Operation.writeCourse : Operation.writePost, role: standing.role)
        let now = clock.now()
        let id = Identifier.make(at: now)
        let tags = Self.normalizedTags(request.tags)
        let rendering = Rendering(markdown: request.markdown)
        try await database.transaction { sql in
            try await sql.raw("""
                INSERT INTO items (id, community_id, kind, author_id, title, tags, markdown, access_mode, access_plans, free_lessons, min_level, status,
                                   rejection_reason, created_at_ms, updated_at_ms, version, pinned, essence, free_html, free_excerpt, full_html, full_excerpt)
                VALUES (\(bind: id), \(bind: community.rawValue), \(bind: kind), \(bind: user.rawValue), \(bind: request.title.trimmingCharacters(in: .whitespacesAndNewlines)),
                        \(bind: ItemRecord.text(tags)), \(bind: request.markdown), \(bind: access.mode), \(bind: ItemRecord.text(access.planIds)),
                        \(bind: Int(access.freeLessons)), \(bind: Int(access.minLevel)), 'draft', '', \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970), 1, false, false,
                        \(bind: rendering.freeHTML), \(bind: rendering.freeExcerpt), \(bind: rendering.fullHTML), \(bind: rendering.fullExcerpt))
                """).run()
            try await Self.writeTags(sql, item: id, tags: tags)
            try await Self.recordRevision(sql, item: id, version: 1, title: request.title, markdown: request.markdown, by: user, now: now)
        }
        if request.publish {
            var publish = ContentPublishItemRequest()
            publish.itemID = id
            if request.hasPublishAt { publish.publishAt = request.publishAt }
            return try await publishItem(publish, user: user)
        }
        return try await item(id, user: user)
    }

    static func normalizedTags(_ tags: [String]) -> [String] {
        var seen = Set<String>()
        return tags.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    static func writeTags(_ sql: any SQLDatabase, item: String, tags: [String]) async throws {
        try await sql.raw("DELETE FROM item_tags WHERE item_id = \(bind: item)").run()
        for tag in tags { try await sql.raw("INSERT INTO item_tags (item_id, tag) VALUES (\(bind: item), \(bind: tag))").run() }
    }

    static func recordRevision(_ sql: any SQLDatabase, item: String, version: Int, title: String, markdown: String, by user: UserID, now: Date) async throws {
        try await sql.raw("""
            INSERT INTO item_revisions (item_id, version, title, markdown, edited_by, edited_at_ms)
            VALUES (\(bind: item), \(bind: version), \(bind: title), \(bind: markdown), \(bind: user.rawValue), \(bind: now.millisecondsSince1970))
            """).run()
    }

    /// Whether the caller may change the item: its author, or the community's owners.
    static func canEdit(_ item: ItemRecord, user: UserID?, standing: MembershipAccess.Standing) -> Bool {
        (user != nil && user == item.authorID) || policy.allows(Operation.editOthersItems, role: standing.role)
    }

    /// `change` merged into `current`: an empty mode keeps the mode, plans given replace the
    /// plans (a mode other than plans clears them), free lessons and the minimum level change
    /// when given.
    static func merged(_ change: ContentAccess, into current: ContentAccess) -> ContentAccess {
        var access = current
        if !change.mode.isEmpty { access.mode = change.mode }
        if !change.planIds.isEmpty { access.planIds = change.planIds } else if access.mode != AccessMode.plans.rawValue { access.planIds = [] }
        if change.hasFreeLessons { access.freeLessons = change.freeLessons }
        if change.hasMinLevel { access.minLevel = change.minLevel }
        return access
    }

    public func updateItem(_ request: ContentUpdateItemRequest, user: UserID) async throws -> ContentItem {
        try await prefetchStanding(.item(request.itemID), user: user)
        try await database.transaction { sql in
            var (item, standing) = try await self.load(sql, item: request.itemID, user: user)
            guard Self.canEdit(item, user: user, standing: standing) else {
                throw GuildError(.permissionDenied, "Only its author or the community's owners may edit this item.", reason: "not_author")
            }
            guard item.deletedAtMs == nil else { throw GuildError(.failedPrecondition, "Restore the item before editing it.", reason: "deleted") }
            var current = ContentAccess()
            current.mode = item.accessMode.rawValue
            current.planIds = item.accessPlans
            current.freeLessons = Int32(item.freeLessons)
            current.minLevel = Int32(item.minLevel)
            // A PATCH changes what it names: the access given is merged into the item's.
            let access = request.hasAccess ? Self.merged(request.access, into: current) : nil
            let tags = request.replaceTags || !request.tags.isEmpty ? request.tags : nil
            // New text is checked against the access it will have (a preview post keeps its marker).
            let checkedAccess = access ?? (request.hasMarkdown ? current : nil)
            let violations = try self.validate(
                title: request.hasTitle ? request.title : nil, markdown: request.hasMarkdown ? request.markdown : (access != nil ? item.markdown : nil),
                tags: tags, access: checkedAccess, kind: item.kind)
            guard violations.isEmpty else { throw GuildError.invalid(violations) }
            let now = self.clock.now()
            let textChanged = (request.hasTitle && request.title != item.title) || (request.hasMarkdown && request.markdown != item.markdown)
            if request.hasTitle { item.title = request.title.trimmingCharacters(in: .whitespacesAndNewlines) }
            if request.hasMarkdown {
                item.markdown = request.markdown
                item.rendering = Rendering(markdown: request.markdown)
            }
            if let tags { item.tags = Self.normalizedTags(tags) }
            if let access {
                item.accessMode = AccessMode(rawValue: access.mode) ?? item.accessMode
                item.accessPlans = access.planIds
                item.freeLessons = Int(access.freeLessons)
                item.minLevel = Int(access.minLevel)
            }
            if textChanged {
                item.version += 1
                try await Self.recordRevision(sql, item: item.id, version: item.version, title: item.title, markdown: item.markdown, by: user, now: now)
            }
            try await sql.raw("""
                UPDATE items SET title = \(bind: item.title), markdown = \(bind: item.markdown), tags = \(bind: ItemRecord.text(item.tags)),
                    access_mode = \(bind: item.accessMode.rawValue), access_plans = \(bind: ItemRecord.text(item.accessPlans)),
                    free_lessons = \(bind: item.freeLessons), min_level = \(bind: item.minLevel), version = \(bind: item.version), updated_at_ms = \(bind: now.millisecondsSince1970),
                    free_html = \(bind: item.rendering.freeHTML), free_excerpt = \(bind: item.rendering.freeExcerpt),
                    full_html = \(bind: item.rendering.fullHTML), full_excerpt = \(bind: item.rendering.fullExcerpt)
                WHERE id = \(bind: item.id)
                """).run()
            if request.replaceTags { try await Self.writeTags(sql, item: item.id, tags: item.tags) }
            // A published item edited so that it trips the keyword filter goes back to review.
            if item.isLive, textChanged, !Self.policy.allows(Operation.publishWithoutApproval, role: standing.role) {
                let hits = try await self.settings(sql, community: item.communityID).filter.matches(item.title + "\n" + item.markdown)
                if !hits.isEmpty {
                    try await sql.raw("UPDATE items SET status = 'pending_review' WHERE id = \(bind: item.id)").run()
                    try await self.enqueue(sql, community: item.communityID, kind: "item", target: item.id, cause: "keyword", detail: hits.joined(separator: ", "), now: now)
                }
            }
            try await SearchIndex.update(sql, dialect: self.database.dialect, item: item.id)
        }
        return try await item(request.itemID, user: user)
    }

    /// Publishes a draft: at once or at `publishAt`, or holds it for a moderator when the
    /// keyword filter matches or the community wants members' posts approved. An item assigned
    /// to an expert waits for their approval.
    public func publishItem(_ request: ContentPublishItemRequest, user: UserID) async throws -> ContentItem {
        try await prefetchStanding(.item(request.itemID), user: user)
        try await database.transaction { sql in
            // The item's lock: a second publish at once finds it published and does nothing.
            try await sql.lockRow("items", is: request.itemID)
            let (item, standing) = try await self.load(sql, item: request.itemID, user: user)
            guard Self.canEdit(item, user: user, standing: standing) else {
                throw GuildError(.permissionDenied, "Only its author or the community's owners may publish this item.", reason: "not_author")
            }
            guard item.deletedAtMs == nil else { throw GuildError(.failedPrecondition, "Restore the item before publishing it.", reason: "deleted") }
            guard [.draft, .rejected, .scheduled].contains(item.status) else {
                if item.status == .published || item.status == .pendingReview { return }  // idempotent
                throw GuildError(.failedPrecondition, "A \(item.status.rawValue) item cannot be published.", reason: "invalid_transition")
            }
            if let review = try await sql.raw("SELECT status FROM expert_reviews WHERE item_id = \(bind: item.id)").first(),
               try review.decode(column: "status", as: String.self) != "approved" {
                throw GuildError(.failedPrecondition, "An expert is reviewing this item: it can be published once they approve it.", reason: "expert_review_pending")
            }
            let now = self.clock.now()
            let publishAt = request.hasPublishAt ? request.publishAt.date : now
            guard publishAt.timeIntervalSince(now) < 366 * 86_400 else {
                throw GuildError.invalid([.init(field: "publishAt", description: "Within a year.")])
            }
            try await sql.raw("""
                UPDATE items SET publish_at_ms = \(bind: publishAt.millisecondsSince1970), rejection_reason = '', updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: item.id)
                """).run()
            let settings = try await self.settings(sql, community: item.communityID)
            let trusted = Self.policy.allows(Operation.publishWithoutApproval, role: standing.role)
            let hits = trusted ? [] : settings.filter.matches(item.title + "\n" + item.markdown)
            if !hits.isEmpty {
                try await self.hold(sql, item: item, cause: "keyword", detail: hits.joined(separator: ", "), now: now)
            } else if !trusted, settings.requireApproval {
                try await self.hold(sql, item: item, cause: "approval_required", detail: "", now: now)
            } else {
                try await self.release(sql, item: item.id, now: now)
            }
        }
        return try await item(request.itemID, user: user)
    }

    /// Puts an item in the moderation queue.
    func hold(_ sql: any SQLDatabase, item: ItemRecord, cause: String, detail: String, now: Date) async throws {
        try await sql.raw("UPDATE items SET status = 'pending_review' WHERE id = \(bind: item.id)").run()
        try await enqueue(sql, community: item.communityID, kind: "item", target: item.id, cause: cause, detail: detail, now: now)
    }

    /// Publishes an item whose time has come, or schedules it; indexes it and tells the others.
    func release(_ sql: any SQLDatabase, item id: String, now: Date) async throws {
        guard let row = try await sql.raw("SELECT * FROM items WHERE id = \(bind: id)").first() else { return }
        let item = try ItemRecord(row: row)
        let nowMs = now.millisecondsSince1970
        if let at = item.publishAtMs, at > nowMs {
            try await sql.raw("UPDATE items SET status = 'scheduled' WHERE id = \(bind: id)").run()
            return
        }
        try await sql.raw("""
            UPDATE items SET status = 'published', published_at_ms = COALESCE(published_at_ms, \(bind: nowMs)) WHERE id = \(bind: id)
            """).run()
        try await SearchIndex.update(sql, dialect: database.dialect, item: id)
        var event = ContentItemEvent()
        event.itemID = id
        event.communityID = item.communityID.rawValue
        event.kind = item.kind
        event.authorID = item.authorID.rawValue
        event.title = item.title
        try await emit(sql, Topic.itemPublished, event, at: now)
    }

    /// Publishes every scheduled item whose time has come (the scheduler calls it). Each in its
    /// own transaction, guarded by its status, so two instances never publish one twice.
    @discardableResult
    public func publishDue() async throws -> Int {
        let nowMs = clock.now().millisecondsSince1970
        let due = try await database.withConnection { sql in
            try await sql.raw("SELECT id FROM items WHERE status = 'scheduled' AND publish_at_ms <= \(bind: nowMs) AND deleted_at_ms IS NULL")
                .all().map { try $0.decode(column: "id", as: String.self) }
        }
        var published = 0
        for id in due {
            let done = try await database.transaction { sql in
                guard try await sql.raw("SELECT id FROM items WHERE id = \(bind: id) AND status = 'scheduled' \(SQLLockingClause.update)").first() != nil else { return false }
                try await self.release(sql, item: id, now: self.clock.now())
                return true
            }
            if done { published += 1 }
        }
        return published
    }

    /// One item as the caller may see it.
    public func item(_ id: String, user: UserID?) async throws -> ContentItem {
        try await prefetchStanding(.item(id), user: user)
        let (record, standing, counts) = try await database.withConnection { sql in
            let (record, standing) = try await self.load(sql, item: id, user: user)
            let comments = try await sql.raw("""
                SELECT COUNT(*) AS n FROM comments WHERE item_id = \(bind: id) AND status = 'published'
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            return (record, standing, comments)
        }
        let readable = record.readable(by: user, standing: standing)
        let canEdit = Self.canEdit(record, user: user, standing: standing) || Self.policy.allows(Operation.moderate, role: standing.role)
        var message = record.message(readable: readable, canEdit: canEdit, withBody: true)
        message.commentCount = Int32(counts)
        if !readable { message.paywall = try await paywall(for: record, user: user) }
        let extras = try await database.withConnection { sql in
            var extras = ContentItem()
            if readable {
                extras.attachments = try await sql.raw("SELECT * FROM attachments WHERE item_id = \(bind: id) ORDER BY created_at_ms")
                    .all().map(Self.attachment)
            }
            if record.isCourse {
                let lessons = try await Self.orderedLessons(sql, course: id)
                let done = try await self.completedLessons(sql, course: id, user: user)
                extras.chapters = try await self.outline(sql, course: record, readable: readable, lessons: lessons, done: done)
                extras.rating = try await self.ratingSummary(sql, course: id)
                if let user { extras.progress = try await self.progress(sql, course: id, user: user, lessons: lessons.map(\.id), done: done) }
            }
            if let row = try await sql.raw("SELECT * FROM expert_reviews WHERE item_id = \(bind: id)").first() {
                let review = try Self.expertReview(row)
                if canEdit || review.expertID == user?.rawValue { extras.expertReview = review }
            }
            return extras
        }
        message.attachments = extras.attachments
        message.chapters = extras.chapters
        if extras.hasRating { message.rating = extras.rating }
        if extras.hasProgress { message.progress = extras.progress }
        if extras.hasExpertReview { message.expertReview = extras.expertReview }
        return message
    }

    public func revisions(_ id: String, user: UserID) async throws -> ContentRevisionList {
        try await prefetchStanding(.item(id), user: user)
        return try await database.withConnection { sql in
            let (item, standing) = try await self.load(sql, item: id, user: user)
            guard Self.canEdit(item, user: user, standing: standing) || Self.policy.allows(Operation.moderate, role: standing.role) else {
                throw GuildError(.permissionDenied, "Only its author and the community's staff see an item's history.", reason: "not_author")
            }
            var list = ContentRevisionList()
            list.revisions = try await sql.raw("SELECT * FROM item_revisions WHERE item_id = \(bind: id) ORDER BY version DESC").all().map { row in
                var revision = ContentRevision()
                revision.version = Int32(try row.decode(column: "version", as: Int.self))
                revision.title = try row.decode(column: "title", as: String.self)
                revision.markdown = try row.decode(column: "markdown", as: String.self)
                revision.editedBy = try row.decode(column: "edited_by", as: String.self)
                revision.editedAt = try row.timestamp("edited_at_ms")
                return revision
            }
            return list
        }
    }

    /// Soft delete: hidden from everyone but its author and staff, restorable for 30 days.
    public func deleteItem(_ id: String, user: UserID) async throws -> ContentItem {
        try await prefetchStanding(.item(id), user: user)
        try await database.transaction { sql in
            let (item, standing) = try await self.load(sql, item: id, user: user)
            let own = item.authorID == user
            guard own || Self.policy.allows(Operation.deleteOthersItems, role: standing.role) else {
                throw GuildError(.permissionDenied, "Only its author or a moderator may delete this item.", reason: "not_author")
            }
            guard item.deletedAtMs == nil else { return }
            let now = self.clock.now()
            try await sql.raw("""
                UPDATE items SET deleted_at_ms = \(bind: now.millisecondsSince1970), deleted_by = \(bind: user.rawValue) WHERE id = \(bind: id)
                """).run()
            try await SearchIndex.remove(sql, item: id)
            if !own { try await self.audit(sql, community: item.communityID, actor: user, action: "delete", targetKind: "item", targetID: id, reason: "", now: now) }
        }
        return try await item(id, user: user)
    }

    /// Undoes a delete within the restore window (its author or a moderator).
    public func restoreItem(_ id: String, user: UserID) async throws -> ContentItem {
        try await prefetchStanding(.item(id), user: user)
        try await database.transaction { sql in
            let (item, standing) = try await self.load(sql, item: id, user: user)
            guard item.authorID == user || Self.policy.allows(Operation.deleteOthersItems, role: standing.role) else {
                throw GuildError(.permissionDenied, "Only its author or a moderator may restore this item.", reason: "not_author")
            }
            guard let deletedAt = item.deletedAtMs else { return }
            let now = self.clock.now()
            guard now.timeIntervalSince(Date(millisecondsSince1970: deletedAt)) <= self.configuration.restoreWindow else {
                throw GuildError(.failedPrecondition, "Deleted items can be restored for 30 days; this one was deleted longer ago.", reason: "restore_window_passed")
            }
            try await sql.raw("UPDATE items SET deleted_at_ms = NULL, deleted_by = NULL WHERE id = \(bind: id)").run()
            try await SearchIndex.update(sql, dialect: self.database.dialect, item: id)
            if item.authorID != user {
                try await self.audit(sql, community: item.communityID, actor: user, action: "restore", targetKind: "item", targetID: id, reason: "", now: now)
            }
        }
        return try await item(id, user: user)
    }

    /// A page of a community's items, newest first, without bodies (each has the excerpt of
    /// what the caller may read).
    public func items(_ request: ContentListItemsRequest, user: UserID?) async throws -> ContentItemList {
        let community = CommunityID(request.communityID)
        let standing = try await access.standing(of: user, in: community)
        let limit = Int(request.limit == 0 ? 20 : min(max(request.limit, 1), 100))
        let status = request.status.isEmpty ? "published" : request.status
        guard ["published", "draft", "scheduled", "pending_review", "rejected", "removed", "deleted", "mine"].contains(status) else {
            throw GuildError.invalid([.init(field: "status", description: "published, draft, scheduled, pending_review, rejected, removed, deleted or mine.")])
        }
        let staff = Self.policy.allows(Operation.readUnpublished, role: standing.role)
        if !["published", "mine"].contains(status), !staff {
            throw GuildError(.permissionDenied, "Only the community's staff list unpublished items.", reason: "role_required")
        }
        if status == "mine", user == nil { throw GuildError(.unauthenticated, "Sign in to list your items.") }
        let cursor = try PageCursor(request.cursor)
        let kind = request.kind
        let tag = request.tag.lowercased()
        let rows = try await database.withConnection { sql in
            var query = SQLQueryString("SELECT i.*, COALESCE(i.published_at_ms, i.created_at_ms) AS sort_ms FROM items i WHERE i.community_id = \(bind: community.rawValue)")
            switch status {
            case "published": query.appendInterpolation(unsafeRaw: " AND i.status = 'published' AND i.deleted_at_ms IS NULL")
            case "deleted": query.appendInterpolation(unsafeRaw: " AND i.deleted_at_ms IS NOT NULL")
            case "mine": query.appendLiteral(" AND i.author_id = "); query.appendInterpolation(bind: user?.rawValue ?? "")
            default: query.appendLiteral(" AND i.deleted_at_ms IS NULL AND i.status = "); query.appendInterpolation(bind: status)
            }
            if !kind.isEmpty { query.appendLiteral(" AND i.kind = "); query.appendInterpolation(bind: kind) }
            if !tag.isEmpty { query.appendLiteral(" AND EXISTS (SELECT 1 FROM item_tags t WHERE t.item_id = i.id AND t.tag = "); query.appendInterpolation(bind: tag); query.appendLiteral(")") }
            if let cursor {
                query.appendLiteral(" AND (COALESCE(i.published_at_ms, i.created_at_ms) < "); query.appendInterpolation(bind: cursor.ms)
                query.appendLiteral(" OR (COALESCE(i.published_at_ms, i.created_at_ms) = "); query.appendInterpolation(bind: cursor.ms)
                query.appendLiteral(" AND i.id < "); query.appendInterpolation(bind: cursor.id); query.appendLiteral("))")
            }
            query.appendLiteral(" ORDER BY sort_ms DESC, i.id DESC LIMIT "); query.appendInterpolation(bind: limit + 1)
            return try await sql.raw(query).all().map { (try ItemRecord(row: $0), try $0.decode(column: "sort_ms", as: Int64.self)) }
        }
        var list = ContentItemList()
        // Items with a minimum level the caller has not reached show their preview, locked.
        let page = try await withReach(rows.prefix(limit).map(\.0), user: user, standings: [community.rawValue: standing])
        list.items = page.map { record in
            record.message(readable: record.readable(by: user, standing: standing), canEdit: false, withBody: false)
        }
        if rows.count > limit, let last = rows.prefix(limit).last { list.nextCursor = PageCursor(ms: last.1, id: last.0.id).text }
        return list
    }
}

/// An opaque position in a list ordered by (instant, id) descending.
struct PageCursor {
    var ms: Int64
    var id: String

    init(ms: Int64, id: String) {
        self.ms = ms
        self.id = id
    }

    /// Parses a cursor; nil for "" (the first page).
    init?(_ text: String) throws {
        if text.isEmpty { return nil }
        guard let data = Data(base64Encoded: text), let decoded = String(data: data, encoding: .utf8),
              let bar = decoded.firstIndex(of: "|"), let ms = Int64(decoded[..<bar]) else {
            throw GuildError.invalid([.init(field: "cursor", description: "Pass back the nextCursor of a previous page.")])
        }
        self.ms = ms
        self.id = String(decoded[decoded.index(after: bar)...])
    }

    var text: String { Data("\(ms)|\(id)".utf8).base64EncodedString() }
}

extension ContentService {
    static func attachment(_ row: any SQLRow) throws -> ContentAttachment {
        var attachment = ContentAttachment()
        attachment.id = try row.decode(column: "id", as: String.self)
        attachment.itemID = try row.decode(column: "item_id", as: String.self)
        attachment.filename = try row.decode(column: "filename", as: String.self)
        attachment.contentType = try row.decode(column: "content_type", as: String.self)
        attachment.sizeBytes = try row.decode(column: "size_bytes", as: Int64.self)
        attachment.createdAt = try row.timestamp("created_at_ms")
        return attachment
    }

    static func expertReview(_ row: any SQLRow) throws -> ContentExpertReview {
        var review = ContentExpertReview()
        review.itemID = try row.decode(column: "item_id", as: String.self)
        review.expertID = try row.decode(column: "expert_id", as: String.self)
        review.assignedBy = try row.decode(column: "assigned_by", as: String.self)
        review.status = try row.decode(column: "status", as: String.self)
        review.comments = try row.decode(column: "comments", as: String.self)
        review.assignedAt = try row.timestamp("assigned_at_ms")
        if let t = try row.optionalTimestamp("decided_at_ms") { review.decidedAt = t }
        return review
    }
}
