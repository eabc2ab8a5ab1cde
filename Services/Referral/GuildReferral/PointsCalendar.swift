import Foundation
import GuildCore

/// The UTC calendar that points use: the day a deed counts against its daily cap, and the
/// periods of the weekly and monthly leaderboards. Everything is UTC so that a community's
/// figures do not depend on where the server runs.
enum PointsCalendar {
    static let dayMs: Int64 = 86_400_000

    private static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }

    /// The UTC day of an instant, written YYYY-MM-DD.
    static func day(_ ms: Int64) -> String {
        let parts = utc.dateComponents([.year, .month, .day], from: Date(millisecondsSince1970: ms))
        return String(format: "%04d-%02d-%02d", parts.year ?? 1970, parts.month ?? 1, parts.day ?? 1)
    }

    /// The ISO week holding an instant: from Monday 00:00 UTC for seven days.
    static func week(containing ms: Int64) -> Range<Int64> {
        let days = floorDivide(ms, dayMs)
        // 1970-01-01 was a Thursday: three days after a Monday.
        let sinceMonday = ((days + 3) % 7 + 7) % 7
        let start = (days - sinceMonday) * dayMs
        return start..<(start + 7 * dayMs)
    }

    /// The UTC calendar month holding an instant.
    static func month(containing ms: Int64) -> Range<Int64> {
        let calendar = utc
        let parts = calendar.dateComponents([.year, .month], from: Date(millisecondsSince1970: ms))
        let start = calendar.date(from: parts)!
        let end = calendar.date(byAdding: .month, value: 1, to: start)!
        return start.millisecondsSince1970..<end.millisecondsSince1970
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        a >= 0 ? a / b : -((-a + b - 1) / b)
    }
}
