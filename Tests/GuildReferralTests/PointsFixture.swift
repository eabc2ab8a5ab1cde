import Foundation
import GuildContent
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildReferral

/// Helpers of the points, redemption and leaderboard scenarios: content's events made by hand
/// (exact ids and instants) and delivered straight to referral, as the relay would.
extension ReferralFixture {
    /// An instant of January 2026 (UTC): `day` 1…31, then hour, minute, second.
    static func january(_ day: Int, _ hour: Int = 12, _ minute: Int = 0, _ second: Int = 0) -> Date {
        let seconds: Int = (day - 1) * 86_400 + hour * 3_600 + minute * 60 + second
        return Date(timeIntervalSince1970: 1_767_225_600 + TimeInterval(seconds))
    }

    /// Delivers one of content's events to referral (as the relay would: repeat it to deliver it
    /// again).
    func deliverEvent(id: String, topic: String, at: Date, payload: some SwiftProtobuf.Message) async throws {
        var request = EventsDeliverRequest()
        request.event.id = id
        request.event.topic = topic
        request.event.source = "content"
        request.event.occurredAtMs = at.millisecondsSince1970
        request.event.payload = try payload.serializedData()
        _ = try await referral.deliver(request)
    }

    func checkedIn(_ user: UserID, id: String, at: Date, challenge: String = "challenge-1", streak: Int32 = 1) async throws {
        var event = ContentCheckInEvent()
        event.challengeID = challenge
        event.communityID = community.id
        event.userID = user.rawValue
        event.streak = streak
        event.occurredAtMs = at.millisecondsSince1970
        try await deliverEvent(id: id, topic: "content.challenge.checked_in", at: at, payload: event)
    }

    func commented(_ user: UserID, id: String, at: Date) async throws {
        var event = ContentCommentEvent()
        event.commentID = "comment-" + id
        event.itemID = "item-1"
        event.communityID = community.id
        event.authorID = user.rawValue
        try await deliverEvent(id: id, topic: "content.comment.created", at: at, payload: event)
    }

    func reviewAccepted(_ user: UserID, id: String, at: Date, reward: Int64) async throws {
        var event = ContentReviewAcceptedEvent()
        event.taskID = "task-" + id
        event.communityID = community.id
        event.userID = user.rawValue
        event.rewardPoints = reward
        event.occurredAtMs = at.millisecondsSince1970
        try await deliverEvent(id: id, topic: "content.review.accepted", at: at, payload: event)
    }

    /// `user`'s points account, read by the owner.
    func account(_ user: UserID) async throws -> ReferralPointsAccount {
        var request = ReferralGetPointsRequest()
        request.communityID = community.id
        request.userID = user.rawValue
        return try await referral.points(request, user: owner)
    }

    /// `user`'s ledger, oldest first, as (reason, delta).
    func entries(_ user: UserID) async throws -> [(String, Int64)] {
        try await cluster.referralDatabase.database.withConnection { sql in
            try await sql.raw("""
                SELECT reason, delta FROM points_entries WHERE user_id = \(bind: user.rawValue) ORDER BY at_ms, seq
                """).all().map { (try $0.decode(column: "reason", as: String.self), try $0.decode(column: "delta", as: Int64.self)) }
        }
    }

    /// Referral's outbox: (topic, payload) in the order written.
    func referralOutbox() async throws -> [(String, Data)] {
        try await cluster.referralDatabase.database.withConnection { sql in
            try await sql.raw("SELECT topic, payload FROM outbox_events ORDER BY seq").all().map {
                (try $0.decode(column: "topic", as: String.self), try $0.decode(column: "payload", as: Data.self))
            }
        }
    }

    /// The `referral.level.reached` events written so far.
    func levelEvents() async throws -> [ReferralLevelReachedEvent] {
        try await referralOutbox().filter { $0.0 == ReferralService.Topic.levelReached }.map { try ReferralLevelReachedEvent(serializedBytes: $0.1) }
    }

    func rules(_ changes: [(String, Int64, Int64, Bool)], by user: UserID? = nil) async throws -> ReferralPointsRules {
        var request = ReferralUpdatePointsRulesRequest()
        request.communityID = community.id
        request.rules = changes.map { kind, points, cap, enabled in
            var rule = ReferralEarningRule()
            rule.kind = kind
            rule.points = points
            rule.dailyCap = cap
            rule.enabled = enabled
            return rule
        }
        return try await referral.updatePointsRules(request, user: user ?? owner)
    }

    func ladder(_ levels: [(Int32, String, Int64)], by user: UserID? = nil) async throws -> ReferralLevelLadder {
        var request = ReferralUpdateLevelsRequest()
        request.communityID = community.id
        request.levels = levels.map { rank, name, threshold in
            var level = ReferralLevel()
            level.rank = rank
            level.name = name
            level.threshold = threshold
            return level
        }
        return try await referral.updateLevels(request, user: user ?? owner)
    }
}
