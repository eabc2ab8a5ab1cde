import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import SQLKit

/// What content gives the referral service and the growth analytics: single items opened to one
/// user (a points redemption) and the count of members who interacted in a window.
extension ContentService {
    /// Operations of the growth analytics and who may do them.
    public enum AnalyticsOperation {
        public static let readActivity = CommunityOperation("read_activity")
    }

    public static let analyticsPolicy = CommunityPolicy([
        AnalyticsOperation.readActivity: owners,
    ])

    // MARK: Item grants

    /// Opens the whole of a published item to one user from now on, whatever its mode, plans or
    /// minimum level (called by referral when a member redeems points for it). A grant is a
    /// purchase-like unlock, so nothing else is asked of the user (not even membership: they
    /// still need to see the item, which every published item is to everyone). A grant is made
    /// once per (item, user): a repeat, whatever its idempotency key, returns the first grant
    /// unchanged, so the key need not be stored. Grants outlive later edits of the item's access.
    public func grantItemAccess(_ request: ContentGrantItemAccessRequest) async throws -> ContentItemGrant {
        var violations: [GuildError.FieldViolation] = []
        if request.itemID.isEmpty || request.itemID.count > 100 { violations.append(.init(field: "itemId", description: "The item to open.")) }
        if request.userID.isEmpty || request.userID.count > 100 { violations.append(.init(field: "userId", description: "The user to open it to.")) }
        if request.reason.count > 200 { violations.append(.init(field: "reason", description: "At most 200 characters.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let now = clock.now().millisecondsSince1970
        return try await database.transaction { sql in
            guard let row = try await sql.raw("""
                SELECT community_id, status, deleted_at_ms FROM items WHERE id = \(bind: request.itemID)
                """).first(), try row.decode(column: "deleted_at_ms", as: Int64?.self) == nil else { throw Self.noSuchItem }
            guard try row.decode(column: "status", as: String.self) == ItemStatus.published.rawValue else {
                throw GuildError(.failedPrecondition, "Only a published item can be opened to a member.", reason: "not_published")
            }
            let community = try row.decode(column: "community_id", as: String.self)
            // A concurrent grant of the same pair makes this insert do nothing; both then read the one row.
            try await sql.raw("""
                INSERT INTO item_grants (item_id, user_id, community_id, reason, granted_at_ms)
                VALUES (\(bind: request.itemID), \(bind: request.userID), \(bind: community), \(bind: request.reason), \(bind: now))
                ON CONFLICT (item_id, user_id) DO NOTHING
                """).run()
            guard let grant = try await sql.raw("""
                SELECT * FROM item_grants WHERE item_id = \(bind: request.itemID) AND user_id = \(bind: request.userID)
                """).first() else { throw GuildError(.internal, "The grant was not recorded.") }
            var answer = ContentItemGrant()
            answer.itemID = try grant.decode(column: "item_id", as: String.self)
            answer.userID = try grant.decode(column: "user_id", as: String.self)
            answer.communityID = try grant.decode(column: "community_id", as: String.self)
            answer.grantedAtMs = try grant.decode(column: "granted_at_ms", as: Int64.self)
            return answer
        }
    }

    // MARK: Activity

    /// Who interacted with the community when: one row per (user, instant) for each thing a
    /// member does here. Published items they wrote (at publication), comments (held ones too),
    /// reactions to its items and comments, lessons completed, check-ins, questions asked and
    /// answered, bookings, RSVPs and attendance of events, lottery entries. Binds the community
    /// once per source.
    static func interactions(in community: String) -> SQLQueryString {
        """
        SELECT author_id AS user_id, published_at_ms AS at_ms FROM items WHERE community_id = \(bind: community) AND published_at_ms IS NOT NULL
        UNION ALL SELECT author_id, created_at_ms FROM comments WHERE community_id = \(bind: community)
        UNION ALL SELECT r.user_id, r.created_at_ms FROM reactions r JOIN items i ON i.id = r.target_id
            WHERE r.target_kind = 'item' AND i.community_id = \(bind: community)
        UNION ALL SELECT r.user_id, r.created_at_ms FROM reactions r JOIN comments c ON c.id = r.target_id
            WHERE r.target_kind = 'comment' AND c.community_id = \(bind: community)
        UNION ALL SELECT p.user_id, p.completed_at_ms FROM lesson_progress p JOIN items i ON i.id = p.course_id WHERE i.community_id = \(bind: community)
        UNION ALL SELECT k.user_id, k.at_ms FROM checkins k JOIN challenges h ON h.id = k.challenge_id WHERE h.community_id = \(bind: community)
        UNION ALL SELECT asker_id, asked_at_ms FROM questions WHERE community_id = \(bind: community)
        UNION ALL SELECT answerer_id, answered_at_ms FROM questions WHERE community_id = \(bind: community) AND answered_at_ms IS NOT NULL
        UNION ALL SELECT member_id, created_at_ms FROM bookings WHERE community_id = \(bind: community)
        UNION ALL SELECT v.user_id, v.queued_at_ms FROM rsvps v JOIN events e ON e.id = v.event_id WHERE e.community_id = \(bind: community)
        UNION ALL SELECT v.user_id, v.attended_at_ms FROM rsvps v JOIN events e ON e.id = v.event_id
            WHERE e.community_id = \(bind: community) AND v.attended_at_ms IS NOT NULL
        UNION ALL SELECT n.user_id, n.entered_at_ms FROM lottery_entries n JOIN lotteries l ON l.id = n.lottery_id WHERE l.community_id = \(bind: community)
        """
    }

    /// Distinct users who interacted with the community (``interactions(in:)``) in the 7 and 30
    /// days before `asOfMs` (default now), each window [asOf − n days, asOf), and within
    /// [fromMs, toMs) when a range is given (`toMs` defaults to `asOfMs`; no range: 0). Staff
    /// count like anyone. Owners and co-owners only. One statement answers all three.
    public func activityStats(_ request: ContentActivityStatsRequest, user: UserID) async throws -> ContentActivityStats {
        guard !request.communityID.isEmpty else { throw GuildError.invalid([.init(field: "communityId", description: "The community to count.")]) }
        let community = CommunityID(request.communityID)
        let standing = try await access.standing(of: user, in: community)
        try Self.analyticsPolicy.authorize(AnalyticsOperation.readActivity, role: standing.role)
        guard request.asOfMs >= 0, request.fromMs >= 0, request.toMs >= 0 else {
            throw GuildError.invalid([.init(field: "asOfMs", description: "Instants are milliseconds since 1970, not negative.")])
        }
        let asOf = request.asOfMs > 0 ? request.asOfMs : clock.now().millisecondsSince1970
        let hasRange = request.fromMs > 0 || request.toMs > 0
        let rangeFrom = request.fromMs
        let rangeTo = request.toMs > 0 ? request.toMs : asOf
        if hasRange, rangeFrom >= rangeTo {
            throw GuildError.invalid([.init(field: "toMs", description: "A range ends after it starts.")])
        }
        let day: Int64 = 86_400_000
        let from7 = asOf - 7 * day
        let from30 = asOf - 30 * day
        let low = hasRange ? min(from30, rangeFrom) : from30
        let high = hasRange ? max(asOf, rangeTo) : asOf
        // No range: an empty one, which counts nobody.
        let (inFrom, inTo) = hasRange ? (rangeFrom, rangeTo) : (Int64(0), Int64(0))
        var query = SQLQueryString("""
            SELECT COUNT(DISTINCT CASE WHEN at_ms >= \(bind: from7) AND at_ms < \(bind: asOf) THEN user_id END) AS active_7d,
                   COUNT(DISTINCT CASE WHEN at_ms >= \(bind: from30) AND at_ms < \(bind: asOf) THEN user_id END) AS active_30d,
                   COUNT(DISTINCT CASE WHEN at_ms >= \(bind: inFrom) AND at_ms < \(bind: inTo) THEN user_id END) AS active_in_range
            FROM (
            """)
        query.appendInterpolation(Self.interactions(in: community.rawValue))
        query.appendLiteral(") activity WHERE at_ms >= ")
        query.appendInterpolation(bind: low)
        query.appendLiteral(" AND at_ms < ")
        query.appendInterpolation(bind: high)
        let finished = query
        return try await database.withConnection { sql in
            var stats = ContentActivityStats()
            guard let row = try await sql.raw(finished).first() else { return stats }
            stats.active7D = try row.decode(column: "active_7d", as: Int64.self)
            stats.active30D = try row.decode(column: "active_30d", as: Int64.self)
            stats.activeInRange = try row.decode(column: "active_in_range", as: Int64.self)
            return stats
        }
    }
}
