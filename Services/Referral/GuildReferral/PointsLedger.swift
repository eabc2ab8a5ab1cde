import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// The points ledger (积分): `points_entries`, one row per movement, appended and never updated
/// or deleted. A member's balance is the sum of their entries in a community; what they have
/// earned is the sum over the earning reasons (``PointsRule/kinds``), so neither spending
/// (`redemption`) nor a returned redemption (`redemption_reversed`) moves their level.
///
/// Each movement is unique per (community, member, reason, source): a deed credits once per
/// event id (the inbox claims the id first; the constraint is the second guard, checked with a
/// read before the insert since PostgreSQL aborts a transaction on a violated constraint).
///
/// Writers first lock the member (``lockMember(_:community:user:at:)``), so that on PostgreSQL
/// two concurrent credits cannot both fit under one daily cap and two concurrent redemptions
/// cannot both spend one balance.
enum PointsLedger {
    /// A spent redemption.
    static let redemption = "redemption"
    /// Points given back for a redemption that failed.
    static let redemptionReversed = "redemption_reversed"
}

/// A member's totals in one community.
struct PointsTotals: Sendable, Equatable {
    var balance: Int64
    var earned: Int64
}

/// What one of content's events earns: a deed of `kind` by `user`.
struct PointsDeed: Sendable, Equatable {
    var community: CommunityID
    var user: UserID
    var kind: String
    /// Replaces the rule's points (a review task's reward).
    var points: Int64?
    /// A check-in's challenge and streak, for the streak board.
    var challenge: String?
    var streak: Int64?

    /// The deed an event records, if any. Throws `BinaryDecodingError` for a malformed payload.
    static func from(_ event: EventsEvent) throws -> PointsDeed? {
        let deed: PointsDeed
        switch event.topic {
        case "content.challenge.checked_in":
            let payload = try ContentCheckInEvent(serializedBytes: event.payload)
            deed = PointsDeed(community: CommunityID(payload.communityID), user: UserID(payload.userID), kind: PointsRule.checkIn,
                              challenge: payload.challengeID, streak: Int64(payload.streak))
        case "content.item.published":
            let payload = try ContentItemEvent(serializedBytes: event.payload)
            deed = PointsDeed(community: CommunityID(payload.communityID), user: UserID(payload.authorID), kind: PointsRule.post)
        case "content.comment.created":
            let payload = try ContentCommentEvent(serializedBytes: event.payload)
            deed = PointsDeed(community: CommunityID(payload.communityID), user: UserID(payload.authorID), kind: PointsRule.comment)
        case "content.question.answered":
            let payload = try ContentQuestionEvent(serializedBytes: event.payload)
            deed = PointsDeed(community: CommunityID(payload.communityID), user: UserID(payload.answererID), kind: PointsRule.answer)
        case "content.lesson.completed":
            let payload = try ContentLessonCompletedEvent(serializedBytes: event.payload)
            deed = PointsDeed(community: CommunityID(payload.communityID), user: UserID(payload.userID), kind: PointsRule.lessonCompleted)
        case "content.review.accepted":
            let payload = try ContentReviewAcceptedEvent(serializedBytes: event.payload)
            deed = PointsDeed(community: CommunityID(payload.communityID), user: UserID(payload.userID), kind: PointsRule.reviewAccepted,
                              points: payload.rewardPoints > 0 ? payload.rewardPoints : nil)
        default:
            return nil
        }
        guard !deed.community.rawValue.isEmpty, !deed.user.rawValue.isEmpty else { return nil }
        return deed
    }
}

extension ReferralService {
    /// Locks the member's row in `member_levels` (made at rank 1 on first use) until the
    /// transaction ends, and returns the highest rank already announced for them.
    func lockMember(_ sql: any SQLDatabase, community: CommunityID, user: UserID, at: Date) async throws -> Int32 {
        let row = try await sql.raw("""
            INSERT INTO member_levels (community_id, user_id, rank, reached_at_ms)
            VALUES (\(bind: community.rawValue), \(bind: user.rawValue), 1, \(bind: at.millisecondsSince1970))
            ON CONFLICT (community_id, user_id) DO UPDATE SET rank = member_levels.rank
            RETURNING rank
            """).first()
        return Int32(try row?.decode(column: "rank", as: Int.self) ?? 1)
    }

    /// The member's balance and points earned.
    func totals(_ sql: any SQLDatabase, community: CommunityID, user: UserID) async throws -> PointsTotals {
        let row = try await sql.raw("""
            SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS balance,
                   CAST(COALESCE(SUM(CASE WHEN reason IN (\(literals: PointsRule.kinds, joinedBy: ", ")) THEN delta ELSE 0 END), 0) AS BIGINT) AS earned
            FROM points_entries WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue)
            """).first()
        return PointsTotals(
            balance: try row?.decode(column: "balance", as: Int64.self) ?? 0,
            earned: try row?.decode(column: "earned", as: Int64.self) ?? 0)
    }

    /// Appends one movement unless the same (community, member, reason, source) is there
    /// already. Returns whether it was appended.
    @discardableResult
    func appendEntry(
        _ sql: any SQLDatabase, community: CommunityID, user: UserID, delta: Int64, reason: String, source: String, at: Date
    ) async throws -> Bool {
        let exists = try await sql.raw("""
            SELECT id FROM points_entries
            WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue)
              AND reason = \(bind: reason) AND source = \(bind: source)
            """).first() != nil
        guard !exists else { return false }
        let atMs = at.millisecondsSince1970
        try await sql.raw("""
            INSERT INTO points_entries (id, community_id, user_id, delta, reason, source, day, at_ms)
            VALUES (\(bind: Identifier.make(at: at)), \(bind: community.rawValue), \(bind: user.rawValue), \(bind: delta),
                    \(bind: reason), \(bind: source), \(bind: PointsCalendar.day(atMs)), \(bind: atMs))
            """).run()
        return true
    }

    /// The core of ``award(_:community:user:kind:source:points:at:)``: credits within the rule
    /// and its daily cap, then announces any level newly reached.
    ///
    /// The daily cap: a deed credits min(points, cap − what this kind already credited the
    /// member that UTC day), nothing when that is 0 or less. The day's total is then
    /// min(sum of the deeds, cap) whatever order the deeds arrive in.
    func credit(
        _ sql: any SQLDatabase, community: CommunityID, user: UserID, kind: String, source: String, points: Int64?, at: Date
    ) async throws -> Int64 {
        guard let rule = try await pointsRules(sql, community: community)[kind] else {
            throw GuildError(.invalidArgument, "No earning rule is called \(kind).", reason: "unknown_points_kind")
        }
        var amount = points.flatMap { $0 > 0 ? $0 : nil } ?? rule.points
        guard rule.enabled, amount > 0 else { return 0 }
        let announced = try await lockMember(sql, community: community, user: user, at: at)
        let duplicate = try await sql.raw("""
            SELECT id FROM points_entries
            WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue) AND reason = \(bind: kind) AND source = \(bind: source)
            """).first() != nil
        guard !duplicate else { return 0 }
        if rule.dailyCap > 0 {
            let already = try await sql.raw("""
                SELECT CAST(COALESCE(SUM(delta), 0) AS BIGINT) AS total FROM points_entries
                WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue) AND reason = \(bind: kind)
                  AND day = \(bind: PointsCalendar.day(at.millisecondsSince1970))
                """).first()?.decode(column: "total", as: Int64.self) ?? 0
            amount = min(amount, rule.dailyCap - already)
            guard amount > 0 else { return 0 }
        }
        try await appendEntry(sql, community: community, user: user, delta: amount, reason: kind, source: source, at: at)
        try await announceLevels(sql, community: community, user: user, announced: announced, at: at)
        return amount
    }

    /// Emits `referral.level.reached` for every rank above `announced` that the member's points
    /// earned now reach, and records the highest.
    func announceLevels(_ sql: any SQLDatabase, community: CommunityID, user: UserID, announced: Int32, at: Date) async throws {
        let earned = try await totals(sql, community: community, user: user).earned
        let ladder = try await ladder(sql, community: community)
        let reached = ladder.level(for: earned)
        guard reached.rank > announced else { return }
        for level in ladder.levels where level.rank > announced && level.rank <= reached.rank {
            var event = ReferralLevelReachedEvent()
            event.communityID = community.rawValue
            event.userID = user.rawValue
            event.level = level
            event.earned = earned
            event.occurredAtMs = at.millisecondsSince1970
            try await emit(sql, Topic.levelReached, event, at: at)
        }
        try await sql.raw("""
            UPDATE member_levels SET rank = \(bind: Int(reached.rank)), reached_at_ms = \(bind: at.millisecondsSince1970)
            WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue)
            """).run()
        logger.info("level reached", metadata: ["community": "\(community)", "user": "\(user)", "rank": "\(reached.rank)"])
    }

    /// Keeps the latest streak a member reported in a challenge: a check-in that happened
    /// before the one stored (an event arriving late) changes nothing.
    func recordStreak(_ sql: any SQLDatabase, community: CommunityID, user: UserID, challenge: String, streak: Int64, at: Date) async throws {
        try await sql.raw("""
            INSERT INTO streaks (community_id, user_id, challenge_id, streak, at_ms)
            VALUES (\(bind: community.rawValue), \(bind: user.rawValue), \(bind: challenge), \(bind: streak), \(bind: at.millisecondsSince1970))
            ON CONFLICT (community_id, user_id, challenge_id)
            DO UPDATE SET streak = excluded.streak, at_ms = excluded.at_ms WHERE streaks.at_ms <= excluded.at_ms
            """).run()
    }

    /// A member's account as ``points(_:user:)`` shows it.
    func account(_ sql: any SQLDatabase, community: CommunityID, user: UserID) async throws -> ReferralPointsAccount {
        let totals = try await totals(sql, community: community, user: user)
        let ladder = try await ladder(sql, community: community)
        var account = ReferralPointsAccount()
        account.communityID = community.rawValue
        account.userID = user.rawValue
        account.balance = totals.balance
        account.earned = totals.earned
        account.level = ladder.level(for: totals.earned)
        if let next = ladder.next(after: account.level.rank) {
            account.nextLevel = next
            account.pointsToNext = next.threshold - totals.earned
        }
        account.recent = try await sql.raw("""
            SELECT * FROM points_entries WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue)
            ORDER BY at_ms DESC, seq DESC LIMIT 20
            """).all().map { row in
                var entry = ReferralPointsEntry()
                entry.id = try row.decode(column: "id", as: String.self)
                entry.communityID = try row.decode(column: "community_id", as: String.self)
                entry.userID = try row.decode(column: "user_id", as: String.self)
                entry.delta = try row.decode(column: "delta", as: Int64.self)
                entry.reason = try row.decode(column: "reason", as: String.self)
                entry.source = try row.decode(column: "source", as: String.self)
                entry.atMs = try row.decode(column: "at_ms", as: Int64.self)
                return entry
            }
        account.hiddenFromBoards = try await isHidden(sql, community: community, user: user)
        return account
    }

    func isHidden(_ sql: any SQLDatabase, community: CommunityID, user: UserID) async throws -> Bool {
        try await sql.raw("""
            SELECT hidden FROM board_prefs WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue)
            """).first()?.decode(column: "hidden", as: Bool.self) ?? false
    }
}
