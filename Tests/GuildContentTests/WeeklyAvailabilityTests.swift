import Foundation
import Testing

@testable import GuildContent

@Suite struct WeeklyAvailabilityTests {
    typealias Window = WeeklyAvailability.Window

    static func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
    }

    static let shanghai = TimeZone(identifier: "Asia/Shanghai")!
    static let newYork = TimeZone(identifier: "America/New_York")!

    /// Mondays 09:00–11:00 in Shanghai.
    static func mondayMornings() throws -> WeeklyAvailability {
        try WeeklyAvailability(timeZone: shanghai, windows: [Window(weekday: 1, startMinute: 9 * 60, endMinute: 11 * 60)])
    }

    @Test func oneWeekOfThirtyMinuteSlots() throws {
        // 2026-11-23 is a Monday; the range is that whole local week.
        let slots = try Self.mondayMornings().slots(durationMinutes: 30, from: Self.utc(2026, 11, 22, 16), to: Self.utc(2026, 11, 29, 16))
        #expect(slots == [Self.utc(2026, 11, 23, 1), Self.utc(2026, 11, 23, 1, 30), Self.utc(2026, 11, 23, 2), Self.utc(2026, 11, 23, 2, 30)])
    }

    @Test func aWeekStartingMidweekFindsTheNextMonday() throws {
        let slots = try Self.mondayMornings().slots(durationMinutes: 30, from: Self.utc(2026, 11, 25), to: Self.utc(2026, 12, 2))
        #expect(slots == [Self.utc(2026, 11, 30, 1), Self.utc(2026, 11, 30, 1, 30), Self.utc(2026, 11, 30, 2), Self.utc(2026, 11, 30, 2, 30)])
    }

    @Test func slotsAreBackToBackAndEndInsideTheWindow() throws {
        let availability = try WeeklyAvailability(timeZone: Self.shanghai, windows: [Window(weekday: 1, startMinute: 10 * 60, endMinute: 12 * 60)])
        let slots = availability.slots(durationMinutes: 45, from: Self.utc(2026, 11, 22, 16), to: Self.utc(2026, 11, 23, 16))
        #expect(slots == [Self.utc(2026, 11, 23, 2), Self.utc(2026, 11, 23, 2, 45)])
    }

    @Test func rangeIsHalfOpen() throws {
        let availability = try Self.mondayMornings()
        #expect(availability.slots(durationMinutes: 30, from: Self.utc(2026, 11, 23, 1), to: Self.utc(2026, 11, 23, 2))
            == [Self.utc(2026, 11, 23, 1), Self.utc(2026, 11, 23, 1, 30)])
        #expect(availability.slots(durationMinutes: 30, from: Self.utc(2026, 11, 23, 1, 0, 1), to: Self.utc(2026, 11, 24))
            == [Self.utc(2026, 11, 23, 1, 30), Self.utc(2026, 11, 23, 2), Self.utc(2026, 11, 23, 2, 30)])
        #expect(availability.slots(durationMinutes: 30, from: Self.utc(2026, 11, 23, 2), to: Self.utc(2026, 11, 23, 2)).isEmpty)
        #expect(availability.slots(durationMinutes: 30, from: Self.utc(2026, 11, 24), to: Self.utc(2026, 11, 23)).isEmpty)
        #expect(availability.slots(durationMinutes: 0, from: Self.utc(2026, 11, 22), to: Self.utc(2026, 11, 24)).isEmpty)
    }

    @Test func springForwardGapHasNoSlots() throws {
        // Sunday 2026-03-08 01:00–04:00 in New York; 02:00–03:00 does not exist that night.
        let availability = try WeeklyAvailability(timeZone: Self.newYork, windows: [Window(weekday: 7, startMinute: 60, endMinute: 240)])
        let slots = availability.slots(durationMinutes: 30, from: Self.utc(2026, 3, 8), to: Self.utc(2026, 3, 9))
        #expect(slots == [
            Self.utc(2026, 3, 8, 6),  // 01:00 EST
            Self.utc(2026, 3, 8, 6, 30),  // 01:30 EST
            Self.utc(2026, 3, 8, 7),  // 03:00 EDT
            Self.utc(2026, 3, 8, 7, 30),  // 03:30 EDT
        ])
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = Self.newYork
        #expect(!slots.contains { calendar.component(.hour, from: $0) == 2 }, "no 02:00 or 02:30 slot")
        // The week before, the same window has all six slots.
        #expect(availability.slots(durationMinutes: 30, from: Self.utc(2026, 3, 1), to: Self.utc(2026, 3, 2)).count == 6)
    }

    @Test func fallBackOverlapUsesTheFirstOccurrence() throws {
        // Sunday 2026-11-01 01:00–02:00 in New York happens twice; slots use the first (EDT) pass.
        let availability = try WeeklyAvailability(timeZone: Self.newYork, windows: [Window(weekday: 7, startMinute: 60, endMinute: 120)])
        let slots = availability.slots(durationMinutes: 30, from: Self.utc(2026, 11, 1), to: Self.utc(2026, 11, 2))
        #expect(slots == [Self.utc(2026, 11, 1, 5), Self.utc(2026, 11, 1, 5, 30)])
        #expect(availability.isSlot(Self.utc(2026, 11, 1, 5), durationMinutes: 30))
        #expect(!availability.isSlot(Self.utc(2026, 11, 1, 6), durationMinutes: 30), "the second 01:00 is not a slot")
    }

    @Test func windowsAreSortedAndMayRunToMidnight() throws {
        let availability = try WeeklyAvailability(timeZone: Self.shanghai, windows: [
            Window(weekday: 7, startMinute: 23 * 60, endMinute: 1440),
            Window(weekday: 1, startMinute: 0, endMinute: 60),
            Window(weekday: 1, startMinute: 60, endMinute: 90),  // touches the one before
        ])
        #expect(availability.windows.map(\.weekday) == [1, 1, 7])
        // Sunday 2026-11-22 23:00 Shanghai through Monday 01:30.
        let slots = availability.slots(durationMinutes: 30, from: Self.utc(2026, 11, 22), to: Self.utc(2026, 11, 23))
        #expect(slots == [
            Self.utc(2026, 11, 22, 15), Self.utc(2026, 11, 22, 15, 30),
            Self.utc(2026, 11, 22, 16), Self.utc(2026, 11, 22, 16, 30), Self.utc(2026, 11, 22, 17),
        ])
    }

    static let isSlotCases: [(Date, Int, Bool)] = [
        (utc(2026, 11, 23, 1), 30, true),  // Monday 09:00
        (utc(2026, 11, 23, 2, 30), 30, true),  // 10:30, ends at 11:00
        (utc(2026, 11, 23, 1, 15), 30, false),  // not on the grid
        (utc(2026, 11, 23, 3), 30, false),  // 11:00, the window's end
        (utc(2026, 11, 24, 1), 30, false),  // Tuesday
        (utc(2026, 11, 23, 1).addingTimeInterval(0.5), 30, false),
        (utc(2026, 11, 23, 1, 45), 45, true),  // 09:45
        (utc(2026, 11, 23, 1, 30), 45, false),  // on the 30-minute grid only
        (utc(2026, 11, 23, 2, 30), 45, false),  // would end 11:15
        (utc(2026, 11, 23, 1), 0, false),
    ]

    @Test(arguments: isSlotCases)
    func isSlot(start: Date, duration: Int, expected: Bool) throws {
        #expect(try Self.mondayMornings().isSlot(start, durationMinutes: duration) == expected)
    }

    @Test(arguments: [
        ([Window(weekday: 0, startMinute: 540, endMinute: 600)], "weekday"),
        ([Window(weekday: 8, startMinute: 540, endMinute: 600)], "weekday"),
        ([Window(weekday: 1, startMinute: -1, endMinute: 600)], "0...1440"),
        ([Window(weekday: 1, startMinute: 540, endMinute: 1441)], "0...1440"),
        ([Window(weekday: 1, startMinute: 600, endMinute: 600)], "before"),
        ([Window(weekday: 1, startMinute: 660, endMinute: 600)], "before"),
        ([Window(weekday: 2, startMinute: 540, endMinute: 660), Window(weekday: 2, startMinute: 600, endMinute: 700)], "overlaps"),
        ([Window(weekday: 2, startMinute: 540, endMinute: 700), Window(weekday: 2, startMinute: 560, endMinute: 600)], "overlaps"),
        ([Window(weekday: 3, startMinute: 540, endMinute: 600), Window(weekday: 3, startMinute: 540, endMinute: 600)], "overlaps"),
    ])
    func rejectsInvalidWindows(windows: [Window], mention: String) {
        #expect {
            try WeeklyAvailability(timeZone: Self.shanghai, windows: windows)
        } throws: { error in
            guard let error = error as? AvailabilityError else { return false }
            return error.description.contains(mention)
        }
    }

    @Test func acceptsTouchingWindowsAndTheSameTimesOnOtherDays() throws {
        let windows = [
            Window(weekday: 1, startMinute: 540, endMinute: 600),
            Window(weekday: 1, startMinute: 600, endMinute: 660),
            Window(weekday: 2, startMinute: 540, endMinute: 660),
            Window(weekday: 7, startMinute: 0, endMinute: 1440),
        ]
        #expect(try WeeklyAvailability(timeZone: Self.shanghai, windows: windows).windows == windows)
    }
}
