import Foundation
import GuildCore
import GuildMessages
import SQLKit

/// One earning rule of a community: what one deed of `kind` earns, and the most that kind
/// earns one member in one UTC day (`dailyCap`, 0: no cap).
///
/// Rules:
/// - The kinds are fixed (``kinds``); the owner edits amounts, caps and whether each is on.
/// - Until the owner edits them, the community uses ``defaults``. The first edit stores every
///   kind (the defaults overlaid with what was given), so later changes to the defaults in
///   code never change a community that chose its rules.
/// - points 0…100,000 per deed; daily cap 0…1,000,000.
struct PointsRule: Sendable, Equatable {
    var kind: String
    var points: Int64
    var dailyCap: Int64
    var enabled: Bool

    static let checkIn = "check_in"
    static let post = "post"
    static let comment = "comment"
    static let answer = "answer"
    static let lessonCompleted = "lesson_completed"
    static let referralConverted = "referral_converted"
    static let reviewAccepted = "review_accepted"

    /// Every kind, in the order rules are listed. These are also the ledger's earning reasons:
    /// "earned" sums the entries with one of them.
    static let kinds = [checkIn, post, comment, answer, lessonCompleted, referralConverted, reviewAccepted]

    static let maxPoints: Int64 = 100_000
    static let maxDailyCap: Int64 = 1_000_000

    /// The rules a community has until its owner edits them.
    static let defaults: [PointsRule] = [
        PointsRule(kind: checkIn, points: 10, dailyCap: 10, enabled: true),
        PointsRule(kind: post, points: 20, dailyCap: 60, enabled: true),
        PointsRule(kind: comment, points: 5, dailyCap: 25, enabled: true),
        PointsRule(kind: answer, points: 30, dailyCap: 0, enabled: true),
        PointsRule(kind: lessonCompleted, points: 10, dailyCap: 50, enabled: true),
        PointsRule(kind: referralConverted, points: 100, dailyCap: 0, enabled: true),
        // A review task's own reward_points, when above 0, replaces these points.
        PointsRule(kind: reviewAccepted, points: 50, dailyCap: 0, enabled: true),
    ]

    init(kind: String, points: Int64, dailyCap: Int64, enabled: Bool) {
        self.kind = kind
        self.points = points
        self.dailyCap = dailyCap
        self.enabled = enabled
    }

    init(_ message: ReferralEarningRule) {
        self.init(kind: message.kind, points: message.points, dailyCap: message.dailyCap, enabled: message.enabled)
    }

    var message: ReferralEarningRule {
        var rule = ReferralEarningRule()
        rule.kind = kind
        rule.points = points
        rule.dailyCap = dailyCap
        rule.enabled = enabled
        return rule
    }

    /// `current` with `changes` replacing the rules of the same kind, in ``kinds`` order.
    /// Throws `invalidArgument` naming each bad field (an unknown or repeated kind, points or
    /// cap out of range).
    static func merged(_ current: [PointsRule], with changes: [ReferralEarningRule]) throws -> [PointsRule] {
        var violations: [GuildError.FieldViolation] = []
        var byKind = Dictionary(uniqueKeysWithValues: current.map { ($0.kind, $0) })
        var seen = Set<String>()
        if changes.isEmpty { violations.append(.init(field: "rules", description: "Give at least one rule.")) }
        for (index, change) in changes.enumerated() {
            let field = "rules[\(index)]"
            guard kinds.contains(change.kind) else {
                violations.append(.init(field: "\(field).kind", description: "One of \(kinds.joined(separator: ", "))."))
                continue
            }
            if !seen.insert(change.kind).inserted {
                violations.append(.init(field: "\(field).kind", description: "\(change.kind) is given twice."))
            }
            if !(0...maxPoints).contains(change.points) {
                violations.append(.init(field: "\(field).points", description: "0 to \(maxPoints)."))
            }
            if !(0...maxDailyCap).contains(change.dailyCap) {
                violations.append(.init(field: "\(field).dailyCap", description: "0 (no cap) to \(maxDailyCap)."))
            }
            if !change.hasEnabled {
                violations.append(.init(field: "\(field).enabled", description: "Required: true or false (a rule is switched on or off only by saying so)."))
            }
            byKind[change.kind] = PointsRule(change)
        }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        return kinds.compactMap { byKind[$0] }
    }
}

extension ReferralService {
    /// The community's rules by kind: the stored ones, or the defaults.
    func pointsRules(_ sql: any SQLDatabase, community: CommunityID) async throws -> [String: PointsRule] {
        var rules = Dictionary(uniqueKeysWithValues: PointsRule.defaults.map { ($0.kind, $0) })
        let rows = try await sql.raw("""
            SELECT kind, points, daily_cap, enabled FROM points_rules WHERE community_id = \(bind: community.rawValue)
            """).all()
        for row in rows {
            let kind = try row.decode(column: "kind", as: String.self)
            rules[kind] = PointsRule(
                kind: kind, points: try row.decode(column: "points", as: Int64.self),
                dailyCap: try row.decode(column: "daily_cap", as: Int64.self), enabled: try row.decode(column: "enabled", as: Bool.self))
        }
        return rules
    }

    func pointsRulesMessage(_ rules: [String: PointsRule], community: CommunityID) -> ReferralPointsRules {
        var message = ReferralPointsRules()
        message.communityID = community.rawValue
        message.rules = PointsRule.kinds.compactMap { rules[$0]?.message }
        return message
    }
}
