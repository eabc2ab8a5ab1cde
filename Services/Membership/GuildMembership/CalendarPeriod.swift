import Foundation

/// A calendar month or an ISO week, in UTC: the periods the lifecycle figures and the member
/// counts are told in. A week runs from Monday 00:00 to the next Monday 00:00 and belongs to the
/// ISO week-year of its Thursday (so 2026-12-31, a Thursday, is in 2026-W53 and 2027-01-01 too).
/// Pure integer arithmetic on days since 1970: the same answer on every machine.
struct CalendarPeriod: Hashable, Sendable, CustomStringConvertible {
    enum Kind: String, Sendable {
        case month, week
    }

    let kind: Kind
    /// Months: year × 12 + month − 1. Weeks: weeks since the Monday 1969-12-29.
    let index: Int64

    static let dayMs: Int64 = 86_400_000

    /// The period of `kind` that contains the instant `ms` (milliseconds since 1970).
    init(containing ms: Int64, kind: Kind) {
        self.kind = kind
        let day = Self.floorDivide(ms, Self.dayMs)
        switch kind {
        case .month:
            let (year, month, _) = Self.civil(day)
            index = year * 12 + month - 1
        case .week:
            index = Self.floorDivide(day + 3, 7)
        }
    }

    private init(kind: Kind, index: Int64) {
        self.kind = kind
        self.index = index
    }

    /// The period `count` periods later (earlier when negative).
    func advanced(by count: Int64) -> CalendarPeriod { CalendarPeriod(kind: kind, index: index + count) }

    /// Its first instant.
    var startMs: Int64 {
        switch kind {
        case .month: Self.days(year: Self.floorDivide(index, 12), month: index - Self.floorDivide(index, 12) * 12 + 1, day: 1) * Self.dayMs
        case .week: (index * 7 - 3) * Self.dayMs
        }
    }

    /// The first instant after it (the next period's start).
    var endMs: Int64 { advanced(by: 1).startMs }

    /// `2026-05` for a month, `2026-W19` for a week.
    var label: String {
        switch kind {
        case .month:
            let year = Self.floorDivide(index, 12)
            return "\(Self.padded(year, 4))-\(Self.padded(index - year * 12 + 1, 2))"
        case .week:
            // The ISO week-year is the Thursday's year; the week number counts Thursdays in it.
            let thursday = index * 7
            let (year, _, _) = Self.civil(thursday)
            let number = (thursday - Self.days(year: year, month: 1, day: 1)) / 7 + 1
            return "\(Self.padded(year, 4))-W\(Self.padded(number, 2))"
        }
    }

    var description: String { label }

    private static func padded(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let quotient = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? quotient - 1 : quotient
    }

    /// Days since 1970-01-01 of a date in the proleptic Gregorian calendar (H. Hinnant's
    /// `days_from_civil`).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = floorDivide(y, 400)
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The date of a day since 1970-01-01 (`civil_from_days`).
    static func civil(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = floorDivide(z, 146_097)
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
