import Foundation
import GuildCore
import GuildMessages
import SQLKit

/// A community's leaderboards.
///
/// Boards:
/// - `points_week`, `points_month`, `points_all`: points earned (earning entries only, so
///   spending never lowers a rank) whose deed happened in the ISO week (from Monday 00:00 UTC),
///   the UTC calendar month, or ever. Reached at: the member's latest earning entry in the period.
/// - `referrals`: referrals converted (attributions by this referrer that were attributed and
///   paid), all time. Reached at: the latest conversion.
/// - `streaks`: per member, the highest over the challenges of the latest streak each challenge
///   reported. Reached at: the check-in that reported it (the earliest, if two challenges tie).
///
/// Ranking: ``tieRule``. Ranks are positions 1…n after sorting; as the rule settles every tie,
/// no two rows share a rank. Members who hid themselves are left out of every board, and
/// members without a value are not on it.
enum Leaderboard {
    static let tieRule = "Higher value first; equal values: who reached it first (earlier reached_at) ranks higher; then user id."

    static let pointsWeek = "points_week"
    static let pointsMonth = "points_month"
    static let pointsAll = "points_all"
    static let referrals = "referrals"
    static let streaks = "streaks"
    static let boards = [pointsWeek, pointsMonth, pointsAll, referrals, streaks]

    static let defaultLimit: Int32 = 20
    static let maxLimit: Int32 = 100

    /// One member's standing on a board, before ranking.
    struct Entry: Sendable, Equatable {
        var user: String
        var value: Int64
        var reachedAtMs: Int64
    }

    /// The period a board covers at `nowMs` (nil: all time).
    static func period(_ board: String, nowMs: Int64) -> Range<Int64>? {
        switch board {
        case pointsWeek: PointsCalendar.week(containing: nowMs)
        case pointsMonth: PointsCalendar.month(containing: nowMs)
        default: nil
        }
    }

    /// `entries` sorted by the tie rule and numbered from 1.
    static func ranked(_ entries: [Entry]) -> [ReferralLeaderboardRow] {
        entries.sorted { a, b in
            if a.value != b.value { return a.value > b.value }
            if a.reachedAtMs != b.reachedAtMs { return a.reachedAtMs < b.reachedAtMs }
            return a.user < b.user
        }.enumerated().map { index, entry in
            var row = ReferralLeaderboardRow()
            row.rank = Int32(index + 1)
            row.userID = entry.user
            row.value = entry.value
            row.reachedAtMs = entry.reachedAtMs
            return row
        }
    }
}

extension ReferralService {
    /// Every visible member's value on `board` (unsorted).
    func boardEntries(_ sql: any SQLDatabase, community: CommunityID, board: String, period: Range<Int64>?) async throws -> [Leaderboard.Entry] {
        let visible: SQLQueryString = """
            NOT EXISTS (SELECT 1 FROM board_prefs p WHERE p.community_id = \(bind: community.rawValue) AND p.user_id = x.user_id AND p.hidden = \(bind: true))
            """
        let query: SQLQueryString
        switch board {
        case Leaderboard.referrals:
            query = """
                SELECT x.user_id AS user_id, CAST(COUNT(*) AS BIGINT) AS value, CAST(MAX(x.converted_at_ms) AS BIGINT) AS reached_at
                FROM (SELECT referrer_id AS user_id, converted_at_ms FROM attributions
                      WHERE community_id = \(bind: community.rawValue) AND status = 'attributed' AND referrer_id <> ''
                        AND converted_at_ms IS NOT NULL AND converted_at_ms > 0) x
                WHERE \(visible)
                GROUP BY x.user_id
                """
        case Leaderboard.streaks:
            query = """
                SELECT x.user_id AS user_id, CAST(x.streak AS BIGINT) AS value, CAST(MIN(x.at_ms) AS BIGINT) AS reached_at
                FROM streaks x
                WHERE x.community_id = \(bind: community.rawValue) AND x.streak > 0
                  AND x.streak = (SELECT MAX(s.streak) FROM streaks s WHERE s.community_id = x.community_id AND s.user_id = x.user_id)
                  AND \(visible)
                GROUP BY x.user_id, x.streak
                """
        default:
            let from = period?.lowerBound ?? Int64.min
            let to = period?.upperBound ?? Int64.max
            query = """
                SELECT x.user_id AS user_id, CAST(SUM(x.delta) AS BIGINT) AS value, CAST(MAX(x.at_ms) AS BIGINT) AS reached_at
                FROM points_entries x
                WHERE x.community_id = \(bind: community.rawValue) AND x.reason IN (\(literals: PointsRule.kinds, joinedBy: ", ")) AND x.delta > 0
                  AND x.at_ms >= \(bind: from) AND x.at_ms < \(bind: to)
                  AND \(visible)
                GROUP BY x.user_id
                """
        }
        return try await sql.raw(query).all().map { row in
            Leaderboard.Entry(
                user: try row.decode(column: "user_id", as: String.self), value: try row.decode(column: "value", as: Int64.self),
                reachedAtMs: try row.decode(column: "reached_at", as: Int64?.self) ?? 0)
        }.filter { $0.value > 0 }
    }
}
