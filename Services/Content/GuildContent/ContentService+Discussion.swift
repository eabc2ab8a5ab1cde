import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import SQLKit

/// One row of `comments`.
struct CommentRecord: Sendable {
    var id, communityID, itemID, lessonID, parentID, markdown, status, moderationReason: String
    var authorID: UserID
    var pinned, essence: Bool
    var mentions: [String]
    var createdAtMs: Int64
    /// The rendered comment (stored when written).
    var html: String

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        communityID = try row.decode(column: "community_id", as: String.self)
        itemID = try row.decode(column: "item_id", as: String.self)
        lessonID = try row.decode(column: "lesson_id", as: String.self)
        parentID = try row.decode(column: "parent_id", as: String.self)
        authorID = UserID(try row.decode(column: "author_id", as: String.self))
        markdown = try row.decode(column: "markdown", as: String.self)
        status = try row.decode(column: "status", as: String.self)
        moderationReason = try row.decode(column: "moderation_reason", as: String.self)
        pinned = try row.decode(column: "pinned", as: Bool.self)
        essence = try row.decode(column: "essence", as: Bool.self)
        mentions = ItemRecord.list(try row.decode(column: "mentions", as: String.self))
        createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        html = try row.decode(column: "html", as: String?.self) ?? Markdown.html(markdown)
    }

    func message(showModeration: Bool) -> ContentComment {
        var comment = ContentComment()
        comment.id = id
        comment.itemID = itemID
        comment.lessonID = lessonID
        comment.parentID = parentID
        comment.authorID = authorID.rawValue
        comment.status = status
        comment.html = status == "published" || showModeration ? html : ""
        if showModeration { comment.moderationReason = moderationReason }
        comment.pinned = pinned
        comment.essence = essence
        comment.mentions = mentions
        comment.createdAt = Date(millisecondsSince1970: createdAtMs).timestamp
        return comment
    }
}

/// Threaded comments on posts and lessons, reactions, @mentions, pinning and essence (精华).
extension ContentService {
    /// `@` followed by a user id mentions that member (ids are what the API hands out).
    static func mentions(in markdown: String) -> [String] {
        var found: [String] = []
        var seen = Set<String>()
        let scalars = Array(markdown.unicodeScalars)
        var index = 0
        while index < scalars.count {
            if scalars[index] == "@", index == 0 || !Self.isIDCharacter(scalars[index - 1]) {
                var end = index + 1
                while end < scalars.count, Self.isIDCharacter(scalars[end]) { end += 1 }
                let id = String(String.UnicodeScalarView(scalars[(index + 1)..<end]))
                if id.count >= 8, id.count <= 64, seen.insert(id).inserted, found.count < 20 { found.append(id) }
                index = end
            } else {
                index += 1
            }
        }
        return found
    }

    private static func isIDCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_")
    }

    func loadComment(_ sql: any SQLDatabase, id: String, user: UserID?) async throws -> (CommentRecord, ItemRecord, MembershipAccess.Standing) {
        guard let row = try await sql.raw("SELECT * FROM comments WHERE id = \(bind: id)").first() else { throw GuildError(.notFound, "No such comment.") }
        let comment = try CommentRecord(row: row)
        let (item, standing) = try await load(sql, item: comment.itemID, user: user)
        return (comment, item, standing)
    }

    /// Checks that the caller may read the discussion of an item (or of one of its lessons):
    /// the discussion of a paid item is part of what members pay for.
    func requireDiscussionAccess(_ sql: any SQLDatabase, item: ItemRecord, lesson: String, standing: MembershipAccess.Standing, user: UserID?) async throws {
        if !lesson.isEmpty {
            guard let row = try await sql.raw("SELECT course_id FROM lessons WHERE id = \(bind: lesson)").first(),
                  try row.decode(column: "course_id", as: String.self) == item.id else { throw GuildError(.notFound, "No such lesson.") }
            if try await isFreeLesson(sql, course: item, lesson: lesson) { return }
        }
        try requireFullAccess(item, standing: standing, user: user)
    }

    public func addComment(_ request: ContentAddCommentRequest, user: UserID) async throws -> ContentComment {
        try await prefetchStanding(.item(request.itemID), user: user)
        let text = request.markdown.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty, text.utf8.count <= configuration.maxCommentBytes else {
            throw GuildError.invalid([.init(field: "markdown", description: "A comment of 1 to \(configuration.maxCommentBytes) bytes.")])
        }
        // Mentions name members of the community (or its staff); other ids stay plain text.
        let community = try await database.withConnection { sql in try await self.load(sql, item: request.itemID, user: user).0.communityID }
        var mentions: [String] = []
        for id in Self.mentions(in: text) where try await access.standing(of: UserID(id), in: community).role != nil {
            mentions.append(id)
        }
        let mentioned = mentions
        let id = try await database.transaction { sql in
            let (item, standing) = try await self.load(sql, item: request.itemID, user: user)
            guard item.isLive else { throw GuildError(.failedPrecondition, "Only published items take comments.", reason: "not_published") }
            try await self.requireDiscussionAccess(sql, item: item, lesson: request.lessonID, standing: standing, user: user)
            try Self.policy.authorize(Operation.comment, role: standing.role)
            if !request.parentID.isEmpty {
                guard let parent = try await sql.raw("SELECT item_id, lesson_id, status FROM comments WHERE id = \(bind: request.parentID)").first(),
                      try parent.decode(column: "item_id", as: String.self) == item.id,
                      try parent.decode(column: "lesson_id", as: String.self) == request.lessonID,
                      try parent.decode(column: "status", as: String.self) == "published" else {
                    throw GuildError.invalid([.init(field: "parentId", description: "A published comment of the same item.")])
                }
            }
            let now = self.clock.now()
            let id = Identifier.make(at: now)
            let hits = Self.policy.allows(Operation.publishWithoutApproval, role: standing.role)
                ? [] : try await self.settings(sql, community: item.communityID).filter.matches(text)
            let status = hits.isEmpty ? "published" : "held"
            try await sql.raw("""
                INSERT INTO comments (id, community_id, item_id, lesson_id, parent_id, author_id, markdown, html, status, moderation_reason, pinned, essence, mentions, created_at_ms)
                VALUES (\(bind: id), \(bind: item.communityID.rawValue), \(bind: item.id), \(bind: request.lessonID), \(bind: request.parentID),
                        \(bind: user.rawValue), \(bind: text), \(bind: Markdown.html(text)), \(bind: status), \(bind: hits.isEmpty ? "" : "The keyword filter holds it for a moderator."),
                        false, false, \(bind: ItemRecord.text(mentioned)), \(bind: now.millisecondsSince1970))
                """).run()
            if hits.isEmpty {
                try await self.emitCommentCreated(sql, comment: id, now: now)
            } else {
                try await self.enqueue(sql, community: item.communityID, kind: "comment", target: id, cause: "keyword", detail: hits.joined(separator: ", "), now: now)
            }
            return id
        }
        return try await database.withConnection { sql in
            try CommentRecord(row: try await sql.raw("SELECT * FROM comments WHERE id = \(bind: id)").first()!).message(showModeration: true)
        }
    }

    func emitCommentCreated(_ sql: any SQLDatabase, comment id: String, now: Date) async throws {
        guard let row = try await sql.raw("SELECT * FROM comments WHERE id = \(bind: id)").first() else { return }
        let comment = try CommentRecord(row: row)
        var event = ContentCommentEvent()
        event.commentID = id
        event.itemID = comment.itemID
        event.communityID = comment.communityID
        event.authorID = comment.authorID.rawValue
        event.mentions = comment.mentions
        if !comment.parentID.isEmpty, let parent = try await sql.raw("SELECT author_id FROM comments WHERE id = \(bind: comment.parentID)").first() {
            event.parentAuthorID = try parent.decode(column: "author_id", as: String.self)
        }
        try await emit(sql, Topic.commentCreated, event, at: now)
    }

    /// The threads of an item or lesson: published comments (and the caller's own held ones),
    /// pinned first, then oldest first, answers nested under their parent.
    public func comments(_ request: ContentListCommentsRequest, user: UserID?) async throws -> ContentCommentList {
        try await prefetchStanding(.item(request.itemID), user: user)
        return try await database.withConnection { sql in
            let (item, standing) = try await self.load(sql, item: request.itemID, user: user)
            try await self.requireDiscussionAccess(sql, item: item, lesson: request.lessonID, standing: standing, user: user)
            let staff = Self.policy.allows(Operation.moderate, role: standing.role)
            let rows = try await sql.raw("""
                SELECT * FROM comments WHERE item_id = \(bind: item.id) AND lesson_id = \(bind: request.lessonID)
                ORDER BY pinned DESC, created_at_ms, id LIMIT 2000
                """).all().map(CommentRecord.init(row:))
            let shown = rows.filter { $0.status == "published" || $0.authorID == user || (staff && $0.status == "held") }
            let reactions = try await self.reactions(sql, kind: "comment", targets: shown.map(\.id), user: user)
            var messages: [String: ContentComment] = [:]
            for record in shown {
                var message = record.message(showModeration: record.authorID == user || staff)
                message.reactions = reactions[record.id] ?? []
                messages[record.id] = message
            }
            // Nest answers under their parents, deepest first.
            func tree(_ parent: String) -> [ContentComment] {
                shown.filter { $0.parentID == parent }.map { record in
                    var message = messages[record.id]!
                    message.replies = tree(record.id)
                    return message
                }
            }
            var list = ContentCommentList()
            list.comments = tree("")
            return list
        }
    }

    func reactions(_ sql: any SQLDatabase, kind: String, targets: [String], user: UserID?) async throws -> [String: [ContentReaction]] {
        guard !targets.isEmpty else { return [:] }
        var result: [String: [ContentReaction]] = [:]
        for chunk in stride(from: 0, to: targets.count, by: 200).map({ Array(targets[$0..<min($0 + 200, targets.count)]) }) {
            let rows = try await sql.raw("""
                SELECT target_id, emoji, COUNT(*) AS n, SUM(CASE WHEN user_id = \(bind: user?.rawValue ?? "") THEN 1 ELSE 0 END) AS mine
                FROM reactions WHERE target_kind = \(bind: kind) AND target_id IN (\(binds: chunk)) GROUP BY target_id, emoji ORDER BY target_id, emoji
                """).all()
            for row in rows {
                var reaction = ContentReaction()
                reaction.emoji = try row.decode(column: "emoji", as: String.self)
                reaction.count = Int32(try row.decode(column: "n", as: Int.self))
                reaction.mine = try row.decode(column: "mine", as: Int.self) > 0
                result[try row.decode(column: "target_id", as: String.self), default: []].append(reaction)
            }
        }
        return result
    }

    static let allowedReactions: Set<String> = ["👍", "❤️", "🎉", "😄", "🤔", "👀", "🚀", "🙏"]

    /// Adds or takes back the caller's reaction on an item or a comment.
    public func react(_ request: ContentReactRequest, user: UserID) async throws -> ContentReactionList {
        try await prefetchStanding(.target(kind: request.targetKind, id: request.targetID), user: user)
        guard Self.allowedReactions.contains(request.emoji) else {
            throw GuildError.invalid([.init(field: "emoji", description: "One of " + Self.allowedReactions.sorted().joined(separator: " ") + ".")])
        }
        return try await database.transaction { sql in
            let (item, standing, authorID) = try await self.reactionTarget(sql, kind: request.targetKind, id: request.targetID, user: user)
            try Self.policy.authorize(Operation.react, role: standing.role)
            let now = self.clock.now()
            let exists = try await sql.raw("""
                SELECT user_id FROM reactions WHERE target_kind = \(bind: request.targetKind) AND target_id = \(bind: request.targetID)
                  AND user_id = \(bind: user.rawValue) AND emoji = \(bind: request.emoji)
                """).first() != nil
            if request.remove, exists {
                try await sql.raw("""
                    DELETE FROM reactions WHERE target_kind = \(bind: request.targetKind) AND target_id = \(bind: request.targetID)
                      AND user_id = \(bind: user.rawValue) AND emoji = \(bind: request.emoji)
                    """).run()
            } else if !request.remove, !exists,
                      // The same reaction sent twice at once: one insert wins, one event is written.
                      try await sql.raw("""
                          INSERT INTO reactions (target_kind, target_id, user_id, emoji, created_at_ms)
                          VALUES (\(bind: request.targetKind), \(bind: request.targetID), \(bind: user.rawValue), \(bind: request.emoji), \(bind: now.millisecondsSince1970))
                          ON CONFLICT (target_kind, target_id, user_id, emoji) DO NOTHING RETURNING user_id
                          """).first() != nil {
                var event = ContentReactionEvent()
                event.targetKind = request.targetKind
                event.targetID = request.targetID
                event.communityID = item.communityID.rawValue
                event.userID = user.rawValue
                event.emoji = request.emoji
                event.targetAuthorID = authorID
                try await self.emit(sql, Topic.reactionAdded, event, at: now)
            }
            var list = ContentReactionList()
            list.reactions = try await self.reactions(sql, kind: request.targetKind, targets: [request.targetID], user: user)[request.targetID] ?? []
            return list
        }
    }

    /// The item a reaction or mark is about, checked for access, and the author of the target.
    func reactionTarget(_ sql: any SQLDatabase, kind: String, id: String, user: UserID) async throws -> (ItemRecord, MembershipAccess.Standing, String) {
        switch kind {
        case "item":
            let (item, standing) = try await load(sql, item: id, user: user)
            guard item.isLive else { throw Self.noSuchItem }
            try requireFullAccess(item, standing: standing, user: user)
            return (item, standing, item.authorID.rawValue)
        case "comment":
            let (comment, item, standing) = try await loadComment(sql, id: id, user: user)
            guard comment.status == "published" else { throw GuildError(.notFound, "No such comment.") }
            try await requireDiscussionAccess(sql, item: item, lesson: comment.lessonID, standing: standing, user: user)
            return (item, standing, comment.authorID.rawValue)
        default:
            throw GuildError.invalid([.init(field: "targetKind", description: "item or comment.")])
        }
    }

    /// Pins or marks as essence (精华) an item or a comment (owner and moderators).
    public func mark(_ request: ContentMarkRequest, user: UserID) async throws -> ContentMarkResult {
        try await prefetchStanding(.target(kind: request.targetKind, id: request.targetID), user: user)
        return try await database.transaction { sql in
            let (_, standing, _) = try await self.reactionTarget(sql, kind: request.targetKind, id: request.targetID, user: user)
            try Self.policy.authorize(Operation.mark, role: standing.role)
            let table = request.targetKind == "item" ? "items" : "comments"
            if request.hasPinned {
                try await sql.raw("UPDATE \(unsafeRaw: table) SET pinned = \(bind: request.pinned) WHERE id = \(bind: request.targetID)").run()
            }
            if request.hasEssence {
                try await sql.raw("UPDATE \(unsafeRaw: table) SET essence = \(bind: request.essence) WHERE id = \(bind: request.targetID)").run()
            }
            let row = try await sql.raw("SELECT pinned, essence FROM \(unsafeRaw: table) WHERE id = \(bind: request.targetID)").first()!
            var result = ContentMarkResult()
            result.targetKind = request.targetKind
            result.targetID = request.targetID
            result.pinned = try row.decode(column: "pinned", as: Bool.self)
            result.essence = try row.decode(column: "essence", as: Bool.self)
            return result
        }
    }
}
