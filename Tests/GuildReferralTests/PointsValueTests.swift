import Foundation
import GuildCore
import GuildMessages
import Testing

@testable import GuildReferral

/// The plain values behind points, levels and boards, without a database.
@Suite("Points values")
struct PointsValueTests {
    static func ms(_ text: String) -> Int64 {
        ISO8601DateFormatter().date(from: text)!.millisecondsSince1970
    }

    @Test("UTC days, ISO weeks from Monday and calendar months")
    func calendar() {
        #expect(PointsCalendar.day(Self.ms("2026-01-01T23:59:59Z")) == "2026-01-01")
        #expect(PointsCalendar.day(Self.ms("2026-01-02T00:00:00Z")) == "2026-01-02")
        // 1 January 2026 is a Thursday: its week began on Monday 29 December 2025.
        #expect(PointsCalendar.week(containing: Self.ms("2026-01-01T08:00:00Z")) == Self.ms("2025-12-29T00:00:00Z")..<Self.ms("2026-01-05T00:00:00Z"))
        #expect(PointsCalendar.week(containing: Self.ms("2026-01-12T00:00:00Z")) == Self.ms("2026-01-12T00:00:00Z")..<Self.ms("2026-01-19T00:00:00Z"))
        #expect(PointsCalendar.week(containing: Self.ms("2026-01-18T23:59:59Z")).lowerBound == Self.ms("2026-01-12T00:00:00Z"))
        #expect(PointsCalendar.week(containing: Self.ms("1969-12-31T12:00:00Z")).lowerBound == Self.ms("1969-12-29T00:00:00Z"))
        #expect(PointsCalendar.month(containing: Self.ms("2028-02-29T12:00:00Z")) == Self.ms("2028-02-01T00:00:00Z")..<Self.ms("2028-03-01T00:00:00Z"))
        #expect(PointsCalendar.month(containing: Self.ms("2025-12-31T23:59:59Z")) == Self.ms("2025-12-01T00:00:00Z")..<Self.ms("2026-01-01T00:00:00Z"))
    }

    @Test("the tie rule: higher value, then earlier, then user id; ranks 1…n")
    func ranking() {
        let rows = Leaderboard.ranked([
            .init(user: "u3", value: 10, reachedAtMs: 5),
            .init(user: "u2", value: 30, reachedAtMs: 9),
            .init(user: "u1", value: 30, reachedAtMs: 9),
            .init(user: "u4", value: 30, reachedAtMs: 2),
        ])
        #expect(rows.map(\.userID) == ["u4", "u1", "u2", "u3"])
        #expect(rows.map(\.rank) == [1, 2, 3, 4])
    }

    @Test("a level is the highest rank whose threshold the points earned reach")
    func levels() {
        let ladder = LevelLadder.standard
        #expect([0, 99, 100, 299, 300, 2_999, 3_000, 1_000_000].map { ladder.level(for: $0).rank } == [1, 1, 2, 2, 3, 4, 5, 5])
        #expect(ladder.next(after: 4)?.threshold == 3_000)
        #expect(ladder.next(after: 5) == nil)
    }

    @Test("rules merge over the current ones, in the fixed order of kinds")
    func rules() throws {
        var change = ReferralEarningRule()
        change.kind = "answer"
        change.points = 40
        change.dailyCap = 80
        // Saying nothing of enabled is refused rather than read as off.
        #expect(throws: GuildError.self) { _ = try PointsRule.merged(PointsRule.defaults, with: [change]) }
        change.enabled = false
        let merged = try PointsRule.merged(PointsRule.defaults, with: [change])
        #expect(merged.map(\.kind) == PointsRule.kinds)
        #expect(merged[3] == PointsRule(kind: "answer", points: 40, dailyCap: 80, enabled: false))
        #expect(Array(merged[0..<3]) == Array(PointsRule.defaults[0..<3]))
    }
}
