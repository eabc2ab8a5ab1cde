import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// The full-text index. Each live item has two documents: `free` (its title and free part,
/// which anyone may search) and `full` (everything, searched only for callers who may read it).
/// Text is tokenized by ``SearchText`` (words, and overlapping bigrams for Chinese) before it
/// reaches the database, so SQLite FTS5 and PostgreSQL full-text search find the same things.
enum SearchIndex {
    /// Rewrites an item's documents from its current state (removes them unless it is live).
    static func update(_ sql: any SQLDatabase, dialect: SQLDialectKind, item id: String) async throws {
        try await remove(sql, item: id)
        guard let row = try await sql.raw("SELECT * FROM items WHERE id = \(bind: id)").first() else { return }
        let item = try ItemRecord(row: row)
        guard item.isLive else { return }
        var free = [item.title, item.tags.joined(separator: " ")]
        var full = free
        if item.isCourse {
            full.append(Markdown.plainText(item.markdown))
            free.append(Markdown.plainText(item.markdown))
            for (index, lesson) in try await ContentService.orderedLessons(sql, course: id, withText: true).enumerated() {
                let text = Markdown.plainText(lesson.markdown)
                free.append(lesson.title)
                full.append(lesson.title)
                full.append(text)
                if index < item.freeLessons { free.append(text) }
            }
        } else {
            free.append(Markdown.plainText(item.freeMarkdown))
            full.append(Markdown.plainText(item.markdown))
        }
        // A public item with a minimum level keeps its text for those who reached it.
        if item.isOpenToAll { free = full }
        for (scope, parts) in [("free", free), ("full", full)] {
            let tokens = SearchText.indexTokens(parts.joined(separator: "\n"))
            switch dialect {
            case .sqlite:
                try await sql.raw("""
                    INSERT INTO search_documents (item_id, community_id, scope, tokens)
                    VALUES (\(bind: id), \(bind: item.communityID.rawValue), \(bind: scope), \(bind: tokens))
                    """).run()
            case .postgres:
                try await sql.raw("""
                    INSERT INTO search_documents (item_id, community_id, scope, tokens, vector)
                    VALUES (\(bind: id), \(bind: item.communityID.rawValue), \(bind: scope), \(bind: tokens), to_tsvector('simple', \(bind: tokens)))
                    """).run()
            }
        }
    }

    static func remove(_ sql: any SQLDatabase, item id: String) async throws {
        try await sql.raw("DELETE FROM search_documents WHERE item_id = \(bind: id)").run()
    }

    /// Items whose document of `scope` matches, best first: (item id, score; higher is better).
    static func match(_ sql: any SQLDatabase, dialect: SQLDialectKind, query: String, community: String, limit: Int) async throws -> [(item: String, scope: String, score: Double)] {
        switch dialect {
        case .sqlite:
            guard let expression = SearchText.ftsMatchExpression(query) else { return [] }
            return try await sql.raw("""
                SELECT item_id, scope, bm25(search_documents) AS rank FROM search_documents
                WHERE search_documents MATCH \(bind: "tokens: (" + expression + ")") AND (\(bind: community) = '' OR community_id = \(bind: community))
                ORDER BY rank LIMIT \(bind: limit)
                """).all().map {
                (try $0.decode(column: "item_id", as: String.self), try $0.decode(column: "scope", as: String.self), -(try $0.decode(column: "rank", as: Double.self)))
            }
        case .postgres:
            guard let expression = SearchText.tsQueryExpression(query) else { return [] }
            return try await sql.raw("""
                SELECT item_id, scope, ts_rank(vector, to_tsquery('simple', \(bind: expression)))::float8 AS rank FROM search_documents
                WHERE vector @@ to_tsquery('simple', \(bind: expression)) AND (\(bind: community) = '' OR community_id = \(bind: community))
                ORDER BY rank DESC LIMIT \(bind: limit)
                """).all().map {
                (try $0.decode(column: "item_id", as: String.self), try $0.decode(column: "scope", as: String.self), try $0.decode(column: "rank", as: Double.self))
            }
        }
    }
}

/// Search, the feed, and membership's news.
extension ContentService {
    /// Full-text search over what the caller may read, ranked, with highlighted snippets taken
    /// only from what they may read.
    public func search(_ request: ContentSearchRequest, user: UserID?) async throws -> ContentSearchResults {
        let query = request.query.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...200).contains(query.count) else { throw GuildError.invalid([.init(field: "query", description: "1 to 200 characters.")]) }
        let limit = Int(request.limit == 0 ? 20 : min(max(request.limit, 1), 50))
        let candidates = try await database.withConnection { sql in
            try await SearchIndex.match(sql, dialect: self.database.dialect, query: query, community: request.communityID, limit: 400)
        }
        var results = ContentSearchResults()
        var seen = Set<String>()
        var standings: [String: MembershipAccess.Standing] = [:]
        for candidate in candidates where !seen.contains(candidate.item) {
            guard results.hits.count < limit else { break }
            let record = try await database.withConnection { sql in
                try await sql.raw("SELECT * FROM items WHERE id = \(bind: candidate.item)").first().map(ItemRecord.init(row:))
            }
            guard let found = record, found.isLive else { continue }
            let standing: MembershipAccess.Standing
            if let known = standings[found.communityID.rawValue] {
                standing = known
            } else {
                standing = try await access.standing(of: user, in: found.communityID)
                standings[found.communityID.rawValue] = standing
            }
            guard let record = try await withReach([found], user: user, standings: standings).first else { continue }
            let readable = record.readable(by: user, standing: standing)
            // A match in the paid part counts only for those who may read it.
            if candidate.scope == "full", !readable { continue }
            seen.insert(record.id)
            var hit = ContentSearchHit()
            hit.item = record.message(readable: readable, canEdit: false, withBody: false)
            hit.score = candidate.score
            let text = try await database.withConnection { sql in try await self.searchableText(sql, record: record, readable: readable) }
            hit.snippet = Snippet.highlight(text, query: query)
            results.hits.append(hit)
        }
        return results
    }

    /// The text a snippet may be cut from: what the caller may read.
    func searchableText(_ sql: any SQLDatabase, record: ItemRecord, readable: Bool) async throws -> String {
        var parts = [record.title]
        if record.isCourse {
            parts.append(Markdown.plainText(record.markdown))
            for (index, lesson) in try await Self.orderedLessons(sql, course: record.id, withText: true).enumerated() {
                parts.append(lesson.title)
                if readable || index < record.freeLessons { parts.append(Markdown.plainText(lesson.markdown)) }
            }
        } else {
            parts.append(Markdown.plainText(readable ? record.markdown : record.freeMarkdown))
        }
        return parts.joined(separator: " — ")
    }

    /// The caller's home feed: published items of their communities, newest first, with how
    /// many are new since their previous visit (which this call moves to now, on the first page).
    public func feed(_ request: ContentFeedRequest, user: UserID) async throws -> ContentFeed {
        var candidates = Set(request.communityIds)
        if candidates.isEmpty {
            candidates = try await database.withConnection { sql in
                Set(try await sql.raw("""
                    SELECT community_id FROM user_communities WHERE user_id = \(bind: user.rawValue)
                    UNION SELECT DISTINCT community_id FROM items WHERE author_id = \(bind: user.rawValue)
                    """).all().map { try $0.decode(column: "community_id", as: String.self) })
            }
        }
        // Those where membership confirms a role now, with the caller's standing in each.
        var standings: [String: MembershipAccess.Standing] = [:]
        for community in candidates.sorted().prefix(200) {
            let standing = try await access.standing(of: user, in: CommunityID(community))
            if standing.role != nil { standings[community] = standing }
        }
        let communities = standings.keys.sorted()
        let limit = Int(request.limit == 0 ? 20 : min(max(request.limit, 1), 100))
        let cursor = try PageCursor(request.cursor)
        var feed = ContentFeed()
        feed.communityIds = communities
        guard !communities.isEmpty else { return feed }
        let now = clock.now().millisecondsSince1970
        let (rows, lastVisit, newCount) = try await database.transaction { sql in
            var query = SQLQueryString("SELECT * FROM items WHERE status = 'published' AND deleted_at_ms IS NULL AND community_id IN (\(binds: Array(communities)))")
            if let cursor {
                query.appendLiteral(" AND (published_at_ms < "); query.appendInterpolation(bind: cursor.ms)
                query.appendLiteral(" OR (published_at_ms = "); query.appendInterpolation(bind: cursor.ms)
                query.appendLiteral(" AND id < "); query.appendInterpolation(bind: cursor.id); query.appendLiteral("))")
            }
            query.appendLiteral(" ORDER BY published_at_ms DESC, id DESC LIMIT "); query.appendInterpolation(bind: limit + 1)
            let rows = try await sql.raw(query).all().map(ItemRecord.init(row:))
            let lastVisit = try await sql.raw("SELECT visited_at_ms FROM feed_visits WHERE user_id = \(bind: user.rawValue)").first()?
                .decode(column: "visited_at_ms", as: Int64.self)
            let newCount = try await sql.raw("""
                SELECT COUNT(*) AS n FROM items WHERE status = 'published' AND deleted_at_ms IS NULL AND community_id IN (\(binds: Array(communities)))
                  AND published_at_ms > \(bind: lastVisit ?? 0) AND author_id <> \(bind: user.rawValue)
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            if cursor == nil {
                try await sql.raw("DELETE FROM feed_visits WHERE user_id = \(bind: user.rawValue)").run()
                try await sql.raw("INSERT INTO feed_visits (user_id, visited_at_ms) VALUES (\(bind: user.rawValue), \(bind: now))").run()
            }
            return (rows, lastVisit, newCount)
        }
        for record in try await withReach(Array(rows.prefix(limit)), user: user, standings: standings) {
            let standing = standings[record.communityID.rawValue] ?? .none
            feed.items.append(record.message(readable: record.readable(by: user, standing: standing), canEdit: false, withBody: false))
        }
        if rows.count > limit, let last = rows.prefix(limit).last, let ms = last.publishedAtMs { feed.nextCursor = PageCursor(ms: ms, id: last.id).text }
        feed.newSinceLastVisit = Int32(newCount)
        if let lastVisit { feed.lastVisitAt = Date(millisecondsSince1970: lastVisit).timestamp }
        return feed
    }

    /// Membership's news: a subscription started or ended, a payment refunded. Drops what the
    /// access cache knows of that user and community. Applied once per event id.
    public func deliver(_ request: EventsDeliverRequest) async throws -> EventsDeliverResponse {
        let event = request.event
        var affected: (UserID, CommunityID)?
        var charge: MembershipChargeEvent?
        do {
            switch event.topic {
            case "membership.subscription.started", "membership.subscription.ended":
                let message = try MembershipSubscriptionEvent(serializedBytes: event.payload)
                affected = (UserID(message.userID), CommunityID(message.communityID))
            case "membership.payment.succeeded", "membership.payment.refunded":
                let message = try MembershipPaymentEvent(serializedBytes: event.payload)
                affected = (UserID(message.userID), CommunityID(message.communityID))
            case "membership.role.changed":
                let message = try MembershipRoleAssignment(serializedBytes: event.payload)
                affected = (UserID(message.userID), CommunityID(message.communityID))
            case "membership.charge.held", "membership.charge.cancelled", "membership.charge.refunded", "membership.charge.settled":
                charge = try MembershipChargeEvent(serializedBytes: event.payload)
            default:
                break
            }
        } catch {
            // Sending it again would not mend it: record it as seen and say so.
            logger.error("membership event with a malformed payload ignored", metadata: ["event": "\(event.id)", "topic": "\(event.topic)"])
        }
        if let (user, community) = affected { access.invalidate(user: user, community: community) }
        let learnt = affected
        let paid = charge
        try await database.transaction { sql in
            guard try await Inbox.claim(sql, eventID: event.id, topic: event.topic, now: self.clock.now()) else { return }
            if let paid { try await self.apply(sql, charge: paid, now: self.clock.now()) }
            guard let (user, community) = learnt else { return }
            try await sql.raw("DELETE FROM user_communities WHERE user_id = \(bind: user.rawValue) AND community_id = \(bind: community.rawValue)").run()
            try await sql.raw("INSERT INTO user_communities (user_id, community_id) VALUES (\(bind: user.rawValue), \(bind: community.rawValue))").run()
        }
        return EventsDeliverResponse()
    }
}
