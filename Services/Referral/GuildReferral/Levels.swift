import Foundation
import GuildCore
import GuildMessages
import SQLKit

/// A community's level ladder (等级): ranks 1…n, each reached at a number of points earned.
///
/// Rules:
/// - A member's level is the highest rank whose threshold is at most the points they have ever
///   earned (``PointsTotals/earned``: spending and returned redemptions
///   do not move it). Editing the thresholds therefore moves members up or down at once.
/// - 1 to 20 levels, ranks 1…n in order, the first threshold 0 (everyone has a level),
///   thresholds strictly rising, names 1 to 40 characters.
/// - Reaching a level emits `referral.level.reached` once per member and level (the highest
///   rank announced is kept in `member_levels`); falling back after an edit emits nothing, and
///   climbing again to a rank already announced emits nothing either.
struct LevelLadder: Sendable, Equatable {
    let levels: [ReferralLevel]

    static let maxLevels = 20
    static let maxNameLength = 40

    /// The ladder of a community whose owner has not edited it.
    static let standard = LevelLadder(unchecked: [
        (1, "新人 Newcomer", 0), (2, "学徒 Apprentice", 100), (3, "常客 Regular", 300), (4, "达人 Expert", 1_000), (5, "大师 Master", 3_000),
    ].map { rank, name, threshold in
        var level = ReferralLevel()
        level.rank = Int32(rank)
        level.name = name
        level.threshold = Int64(threshold)
        return level
    })

    private init(unchecked levels: [ReferralLevel]) {
        self.levels = levels
    }

    /// A ladder from stored rows (already validated when written).
    static func stored(_ levels: [ReferralLevel]) -> LevelLadder {
        levels.isEmpty ? standard : LevelLadder(unchecked: levels.sorted { $0.rank < $1.rank })
    }

    /// Checks an owner's ladder; names are trimmed. Throws `invalidArgument` naming each bad field.
    static func validated(_ requested: [ReferralLevel]) throws -> LevelLadder {
        var violations: [GuildError.FieldViolation] = []
        if !(1...maxLevels).contains(requested.count) {
            violations.append(.init(field: "levels", description: "1 to \(maxLevels) levels."))
        }
        var levels: [ReferralLevel] = []
        for (index, requestedLevel) in requested.enumerated() {
            var level = requestedLevel
            level.name = level.name.trimmingCharacters(in: .whitespacesAndNewlines)
            let field = "levels[\(index)]"
            if level.rank != Int32(index + 1) {
                violations.append(.init(field: "\(field).rank", description: "Ranks run 1, 2, 3… in order; this one should be \(index + 1)."))
            }
            if level.name.isEmpty || level.name.count > maxNameLength {
                violations.append(.init(field: "\(field).name", description: "1 to \(maxNameLength) characters."))
            }
            if index == 0, level.threshold != 0 {
                violations.append(.init(field: "\(field).threshold", description: "The first level starts at 0 points."))
            }
            if index > 0, level.threshold <= requested[index - 1].threshold {
                violations.append(.init(field: "\(field).threshold", description: "Above the previous level's \(requested[index - 1].threshold)."))
            }
            levels.append(level)
        }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        return LevelLadder(unchecked: levels)
    }

    /// The level of a member who earned `earned` points.
    func level(for earned: Int64) -> ReferralLevel {
        levels.last { $0.threshold <= earned } ?? levels[0]
    }

    /// The level after `rank` (nil at the top).
    func next(after rank: Int32) -> ReferralLevel? {
        levels.first { $0.rank > rank }
    }

    func message(community: CommunityID) -> ReferralLevelLadder {
        var message = ReferralLevelLadder()
        message.communityID = community.rawValue
        message.levels = levels
        return message
    }
}

extension ReferralService {
    /// The community's ladder: the owner's, or ``LevelLadder/standard``.
    func ladder(_ sql: any SQLDatabase, community: CommunityID) async throws -> LevelLadder {
        let rows = try await sql.raw("""
            SELECT rank, name, threshold FROM levels WHERE community_id = \(bind: community.rawValue) ORDER BY rank
            """).all()
        return LevelLadder.stored(try rows.map { row in
            var level = ReferralLevel()
            level.rank = Int32(try row.decode(column: "rank", as: Int.self))
            level.name = try row.decode(column: "name", as: String.self)
            level.threshold = try row.decode(column: "threshold", as: Int64.self)
            return level
        })
    }
}
