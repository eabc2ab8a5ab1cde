import Foundation

/// The days of a check-in challenge: it starts on a local date and runs `days` local days in one
/// time zone, whatever the time zone of the member who looks at it.
///
/// Days are calendar days in `timeZone` (Gregorian), so a day lasts 23 or 25 hours across a
/// daylight-saving change; nothing here adds 86 400 seconds to an instant.
public struct ChallengeCalendar: Sendable, Equatable {
    /// The local date of day 0.
    public let startDate: LocalDate
    /// How many days the challenge runs: day indexes `0..<days`.
    public let days: Int
    /// The zone whose midnights separate the days.
    public let timeZone: TimeZone

    /// A challenge of `days` local days from `startDate` in `timeZone`.
    ///
    /// - Precondition: `days >= 1`.
    public init(startDate: LocalDate, days: Int, timeZone: TimeZone) {
        precondition(days >= 1, "a challenge lasts at least one day")
        self.startDate = startDate
        self.days = days
        self.timeZone = timeZone
    }

    /// The 0-based day of the challenge `instant` falls on in the challenge's time zone: < 0 before the start, >= days after the end.
    public func dayIndex(at instant: Date) -> Int {
        LocalDate.daysBetween(startDate, LocalDate.of(instant, in: timeZone))
    }

    /// The instant local day `index` starts (local midnight; if midnight does not exist because of DST, the first instant of that day).
    ///
    /// Any index is accepted, including ones outside `0..<days`. If the whole local day was
    /// skipped (as Pacific/Apia skipped 2011-12-30), this is the instant the next day starts.
    public func start(ofDay index: Int) -> Date {
        localDate(ofDay: index).firstInstant(in: timeZone)
    }

    /// The local date of day `index` (day 0 is `startDate`).
    public func localDate(ofDay index: Int) -> LocalDate {
        startDate.adding(days: index)
    }
}

/// A day on the proleptic Gregorian calendar, with no time and no time zone.
///
/// Always a real date (there is no 2026-02-30). Ordered chronologically; written `YYYY-MM-DD`.
public struct LocalDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// 1...9999 when parsed; any year when computed.
    public let year: Int
    /// 1...12
    public let month: Int
    /// 1...31, valid for the month and year.
    public let day: Int

    /// The date with these numbers, or nil when there is no such day.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...12).contains(month), day >= 1, day <= Self.daysIn(month: month, year: year) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses exactly `YYYY-MM-DD` (ASCII digits, years 0001–9999); nil for any other shape or a
    /// day the month does not have.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-") else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for byte in bytes[range] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard let year = number(0..<4), year >= 1, let month = number(5..<7), let day = number(8..<10) else { return nil }
        self.init(year: year, month: month, day: day)
    }

    /// `YYYY-MM-DD`, zero-padded; `LocalDate(description)` gives the same date back.
    public var description: String {
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// The date `days` days later (earlier when negative), across month and year ends.
    public func adding(days: Int) -> LocalDate {
        LocalDate(daysSinceEpoch: daysSinceEpoch + days)
    }

    /// How many days `b` is after `a` (negative when it is before): `a.adding(days: n) == b`.
    public static func daysBetween(_ a: LocalDate, _ b: LocalDate) -> Int {
        b.daysSinceEpoch - a.daysSinceEpoch
    }

    /// The date a wall clock in `timeZone` shows at `instant`.
    public static func of(_ instant: Date, in timeZone: TimeZone) -> LocalDate {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let parts = calendar.dateComponents([.year, .month, .day], from: instant)
        // Foundation's Gregorian calendar always yields a real year, month and day.
        return LocalDate(year: parts.year!, month: parts.month!, day: parts.day!)!
    }

    public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool {
        (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: return year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }
}

// MARK: - Day numbers and wall-clock times

extension LocalDate {
    /// Days since 1970-01-01 (negative before), by the civil-from-days algorithm of
    /// Howard Hinnant (proleptic Gregorian, exact for every date).
    var daysSinceEpoch: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let monthFromMarch = (month + 9) % 12
        let dayOfYear = (153 * monthFromMarch + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    init(daysSinceEpoch: Int) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        self.year = yearOfEra + era * 400 + (monthFromMarch >= 10 ? 1 : 0)
        self.month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        self.day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
    }

    /// ISO weekday: 1 = Monday … 7 = Sunday.
    var isoWeekday: Int {
        (daysSinceEpoch + 3).floorDivided(by: 7).remainder + 1  // 1970-01-01 was a Thursday
    }

    /// Every instant at which a wall clock in `timeZone` reads this date at `secondOfDay`
    /// (0..<86_400), earliest first: none in a daylight-saving gap, two in an overlap.
    func instants(atSecond secondOfDay: Int, in timeZone: TimeZone) -> [Date] {
        let wall = daysSinceEpoch * 86_400 + secondOfDay  // the wall time read as if it were UTC
        return timeZone.offsets(near: wall)
            .map { wall - $0 }
            .filter { timeZone.secondsFromGMT(for: Date(epochSecond: $0)) == wall - $0 }
            .sorted()
            .map { Date(epochSecond: $0) }
    }

    /// The first instant whose local date in `timeZone` is this date: local midnight (its first
    /// occurrence if repeated), or the end of the daylight-saving gap that swallowed midnight.
    func firstInstant(in timeZone: TimeZone) -> Date {
        if let midnight = instants(atSecond: 0, in: timeZone).first { return midnight }
        let wall = daysSinceEpoch * 86_400
        for transition in timeZone.transitions(near: wall) where LocalDate.of(transition, in: timeZone) >= self {
            return transition
        }
        // Unreachable with real zone data: a missing midnight always has a transition near it.
        return Date(epochSecond: wall - timeZone.secondsFromGMT(for: Date(epochSecond: wall)))
    }
}

extension TimeZone {
    /// A wall time is at most this far from the instant it names (UTC offsets stay within ±15 h).
    private static let reach = 16 * 3600

    /// The offset changes within `reach` of `wall` read as UTC, in order.
    fileprivate func transitions(near wall: Int) -> [Date] {
        var result: [Date] = []
        var cursor = Date(epochSecond: wall - Self.reach)
        let end = Date(epochSecond: wall + Self.reach)
        while let next = nextDaylightSavingTimeTransition(after: cursor), next <= end {
            result.append(next)
            cursor = next
        }
        return result
    }

    /// Every UTC offset in force within `reach` of `wall` read as UTC.
    fileprivate func offsets(near wall: Int) -> Set<Int> {
        var offsets: Set<Int> = [
            secondsFromGMT(for: Date(epochSecond: wall - Self.reach)),
            secondsFromGMT(for: Date(epochSecond: wall)),
            secondsFromGMT(for: Date(epochSecond: wall + Self.reach)),
        ]
        for transition in transitions(near: wall) {
            offsets.insert(secondsFromGMT(for: transition))
        }
        return offsets
    }
}

extension Date {
    fileprivate init(epochSecond: Int) {
        self.init(timeIntervalSince1970: TimeInterval(epochSecond))
    }
}

// MARK: - Standing

/// A member's check-in record summarised.
///
/// Only check-ins on days `0..<length` that are not later than `today` count; others are ignored.
/// A day is *over* when its index is below `today`. Today is never missed: it counts toward the
/// rate once it is checked in, and becomes missed only when it is over.
public struct CheckInStanding: Sendable, Equatable {
    /// Days checked in.
    public var checkedIn: Int
    /// Consecutive checked-in days ending today if today is checked in, else ending yesterday
    /// (0 if yesterday was missed). After the challenge ends, the run that ended on its last day.
    public var currentStreak: Int
    /// The longest run of consecutive checked-in days.
    public var longestStreak: Int
    /// Days that are over and were not checked in.
    public var missed: Int
    /// `checkedIn` ÷ days elapsed so far, where the elapsed days are those that are over plus
    /// today once it is checked in; 0 when no day has elapsed.
    public var completionRate: Double
    /// Every day of the challenge is checked in.
    public var isFinisher: Bool
    /// At least one day was missed.
    public var isBehind: Bool

    /// - Parameters:
    ///   - days: the day indexes checked in.
    ///   - today: the current day index (`ChallengeCalendar.dayIndex(at:)`); may be before the
    ///     start (< 0) or after the end (>= `length`).
    ///   - length: the challenge's number of days.
    public init(days: Set<Int>, today: Int, length: Int) {
        let length = max(0, length)
        let lastCountable = min(today, length - 1)
        let checked = lastCountable >= 0 ? days.filter { (0...lastCountable).contains($0) } : []
        let over = min(max(today, 0), length)
        let isTodayChecked = today < length && checked.contains(today)
        let elapsed = over + (isTodayChecked ? 1 : 0)

        var longest = 0
        var run = 0
        for index in 0..<max(0, lastCountable + 1) {
            run = checked.contains(index) ? run + 1 : 0
            longest = max(longest, run)
        }
        var current = 0
        var cursor = isTodayChecked ? today : over - 1
        while cursor >= 0, checked.contains(cursor) {
            current += 1
            cursor -= 1
        }

        self.checkedIn = checked.count
        self.currentStreak = current
        self.longestStreak = longest
        self.missed = over - checked.filter { $0 < over }.count
        self.completionRate = elapsed == 0 ? 0 : Double(checked.count) / Double(elapsed)
        self.isFinisher = length > 0 && checked.count == length
        self.isBehind = missed > 0
    }
}
