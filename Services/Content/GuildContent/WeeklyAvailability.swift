import Foundation

/// When an expert can be booked: windows of local time on days of the week, in the expert's own
/// time zone, cut into back-to-back slots of a fixed length.
///
/// Valid by construction: every window has a weekday in 1...7 and `0 <= startMinute <
/// endMinute <= 1440`, and windows on the same weekday do not overlap (they may touch:
/// 10:00–12:00 and 12:00–13:00 are two windows, cut into slots separately). Windows are kept
/// sorted by weekday, then start.
public struct WeeklyAvailability: Sendable, Equatable {
    /// A stretch of local time on one day of the week.
    public struct Window: Sendable, Equatable, Codable {
        /// ISO weekday: 1 = Monday … 7 = Sunday.
        public var weekday: Int
        /// Minutes after local midnight, 0...1440, `startMinute < endMinute`.
        public var startMinute: Int
        /// Minutes after local midnight, 0...1440; 1440 is the end of the day.
        public var endMinute: Int

        /// A window; it is checked only when a `WeeklyAvailability` is made from it.
        public init(weekday: Int, startMinute: Int, endMinute: Int) {
            self.weekday = weekday
            self.startMinute = startMinute
            self.endMinute = endMinute
        }
    }

    /// The expert's zone: window times are wall-clock times there.
    public private(set) var timeZone: TimeZone
    /// The validated windows, sorted by weekday, then start.
    public private(set) var windows: [Window]

    /// Availability from `windows` in `timeZone`.
    ///
    /// - Throws: `AvailabilityError` naming the first bad window: a weekday outside 1...7,
    ///   minutes outside 0...1440 or not `start < end`, or an overlap with another window on the
    ///   same weekday.
    public init(timeZone: TimeZone, windows: [Window]) throws {
        for window in windows {
            guard (1...7).contains(window.weekday) else {
                throw AvailabilityError(message: "\(Self.describe(window)): weekday must be 1 (Monday) through 7 (Sunday)")
            }
            guard (0...1440).contains(window.startMinute), (0...1440).contains(window.endMinute) else {
                throw AvailabilityError(message: "\(Self.describe(window)): minutes must be within 0...1440")
            }
            guard window.startMinute < window.endMinute else {
                throw AvailabilityError(message: "\(Self.describe(window)): start must be before end")
            }
        }
        let sorted = windows.sorted { ($0.weekday, $0.startMinute, $0.endMinute) < ($1.weekday, $1.startMinute, $1.endMinute) }
        for (earlier, later) in zip(sorted, sorted.dropFirst())
        where earlier.weekday == later.weekday && later.startMinute < earlier.endMinute {
            throw AvailabilityError(message: "\(Self.describe(earlier)) overlaps \(Self.describe(later))")
        }
        self.timeZone = timeZone
        self.windows = sorted
    }

    /// Slot start instants of `durationMinutes` each, back to back inside each window (a window of 10:00–12:00 with 45-minute slots gives 10:00 and 10:45), for local days whose slots start in [from, to), sorted. Local times that do not exist (DST gap) are skipped; an ambiguous local time (DST overlap) uses its first occurrence.
    ///
    /// A slot always ends by its window's end in local minutes. Empty when `durationMinutes <= 0`
    /// or `from >= to`. The work grows with the number of days in the range, so callers bound it.
    public func slots(durationMinutes: Int, from: Date, to: Date) -> [Date] {
        guard durationMinutes > 0, from < to, !windows.isEmpty else { return [] }
        // One day of margin either side: a slot's local date can differ from the UTC one.
        let first = LocalDate.of(from, in: timeZone).adding(days: -1)
        let last = LocalDate.of(to, in: timeZone).adding(days: 1)
        var result: [Date] = []
        var date = first
        while date <= last {
            let weekday = date.isoWeekday
            for window in windows where window.weekday == weekday {
                var minute = window.startMinute
                while minute + durationMinutes <= window.endMinute {
                    if let instant = date.instants(atSecond: minute * 60, in: timeZone).first,
                       instant >= from, instant < to {
                        result.append(instant)
                    }
                    minute += durationMinutes
                }
            }
            date = date.adding(days: 1)
        }
        return Array(Set(result)).sorted()
    }

    /// Whether `start` is one of the slots (for validating a booking request).
    public func isSlot(_ start: Date, durationMinutes: Int) -> Bool {
        slots(durationMinutes: durationMinutes, from: start, to: start.addingTimeInterval(1)).contains(start)
    }

    private static func describe(_ window: Window) -> String {
        "window weekday \(window.weekday) \(window.startMinute)–\(window.endMinute) min"
    }
}

/// A weekly availability that cannot be: says which window and why.
public struct AvailabilityError: Error, CustomStringConvertible, Equatable {
    /// Which window is wrong and why, for the person who entered it.
    public let message: String

    public var description: String { message }
}
