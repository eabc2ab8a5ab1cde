import Foundation
import Testing

@testable import GuildContent

private func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Date {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
}

private func zone(_ identifier: String) -> TimeZone { TimeZone(identifier: identifier)! }

private func date(_ text: String) -> LocalDate { LocalDate(text)! }

@Suite struct ChallengeCalendarTests {
    let shanghai = ChallengeCalendar(startDate: date("2026-11-26"), days: 7, timeZone: zone("Asia/Shanghai"))
    let losAngeles = ChallengeCalendar(startDate: date("2026-11-26"), days: 7, timeZone: zone("America/Los_Angeles"))

    @Test func theSameInstantIsADifferentDayInDifferentZones() {
        // 10:00 on the 26th in Shanghai is 18:00 on the 25th in Los Angeles.
        let morningInShanghai = utc(2026, 11, 26, 2)
        #expect(shanghai.dayIndex(at: morningInShanghai) == 0)
        #expect(losAngeles.dayIndex(at: morningInShanghai) == -1)
        // 04:00 on the 27th in Shanghai is 12:00 on the 26th in Los Angeles.
        let noonInLosAngeles = utc(2026, 11, 26, 20)
        #expect(shanghai.dayIndex(at: noonInLosAngeles) == 1)
        #expect(losAngeles.dayIndex(at: noonInLosAngeles) == 0)
    }

    @Test func dayTurnsAtLocalMidnight() {
        let midnight = utc(2026, 11, 25, 16)  // 2026-11-26 00:00 in Shanghai
        #expect(shanghai.start(ofDay: 0) == midnight)
        #expect(shanghai.dayIndex(at: midnight) == 0)
        #expect(shanghai.dayIndex(at: midnight.addingTimeInterval(-1)) == -1)
        #expect(shanghai.start(ofDay: 1) == utc(2026, 11, 26, 16))
        #expect(shanghai.dayIndex(at: utc(2026, 11, 26, 15, 59, 59)) == 0)
        #expect(shanghai.dayIndex(at: utc(2026, 11, 26, 16)) == 1)
        #expect(shanghai.start(ofDay: 7) == utc(2026, 12, 2, 16))
        #expect(shanghai.dayIndex(at: utc(2026, 12, 2, 16)) == 7, "the day after the last is index == days")
        #expect(losAngeles.start(ofDay: 0) == utc(2026, 11, 26, 8))
        #expect(losAngeles.dayIndex(at: utc(2026, 11, 26, 7, 59, 59)) == -1)
        #expect(shanghai.localDate(ofDay: 6) == date("2026-12-02"))
        #expect(shanghai.localDate(ofDay: -1) == date("2026-11-25"))
    }

    @Test func springForwardDayHasTwentyThreeHours() {
        let newYork = ChallengeCalendar(startDate: date("2026-03-07"), days: 5, timeZone: zone("America/New_York"))
        #expect(newYork.start(ofDay: 0) == utc(2026, 3, 7, 5))
        #expect(newYork.start(ofDay: 1) == utc(2026, 3, 8, 5))  // midnight EST
        #expect(newYork.start(ofDay: 2) == utc(2026, 3, 9, 4))  // midnight EDT
        #expect(newYork.start(ofDay: 3) == utc(2026, 3, 10, 4))
        #expect(newYork.start(ofDay: 2).timeIntervalSince(newYork.start(ofDay: 1)) == 23 * 3600)
        #expect(newYork.dayIndex(at: utc(2026, 3, 8, 6, 59, 59)) == 1)  // 01:59:59 EST
        #expect(newYork.dayIndex(at: utc(2026, 3, 8, 7)) == 1)  // 03:00 EDT
        #expect(newYork.dayIndex(at: utc(2026, 3, 9, 3, 30)) == 1)  // 23:30 EDT on the 8th
        #expect(newYork.dayIndex(at: utc(2026, 3, 9, 3, 59, 59)) == 1)
        #expect(newYork.dayIndex(at: utc(2026, 3, 9, 4, 30)) == 2)  // 00:30 on the 9th (86 400-second arithmetic says 1)
    }

    @Test func fallBackDayHasTwentyFiveHours() {
        let newYork = ChallengeCalendar(startDate: date("2026-10-31"), days: 5, timeZone: zone("America/New_York"))
        #expect(newYork.start(ofDay: 1) == utc(2026, 11, 1, 4))  // midnight EDT
        #expect(newYork.start(ofDay: 2) == utc(2026, 11, 2, 5))  // midnight EST
        #expect(newYork.start(ofDay: 2).timeIntervalSince(newYork.start(ofDay: 1)) == 25 * 3600)
        #expect(newYork.dayIndex(at: utc(2026, 11, 1, 5, 30)) == 1)  // first 01:30
        #expect(newYork.dayIndex(at: utc(2026, 11, 1, 6, 30)) == 1)  // second 01:30
        #expect(newYork.dayIndex(at: utc(2026, 11, 2, 4, 30)) == 1)  // 23:30 EST on the 1st (86 400-second arithmetic says 2)
        #expect(newYork.dayIndex(at: utc(2026, 11, 2, 5)) == 2)
    }

    @Test func london() {
        let spring = ChallengeCalendar(startDate: date("2026-03-28"), days: 3, timeZone: zone("Europe/London"))
        #expect(spring.start(ofDay: 0) == utc(2026, 3, 28))  // GMT
        #expect(spring.start(ofDay: 1) == utc(2026, 3, 29))  // GMT; clocks go forward at 01:00
        #expect(spring.start(ofDay: 2) == utc(2026, 3, 29, 23))  // BST
        #expect(spring.dayIndex(at: utc(2026, 3, 29, 22, 59, 59)) == 1)
        #expect(spring.dayIndex(at: utc(2026, 3, 29, 23, 30)) == 2)
        let autumn = ChallengeCalendar(startDate: date("2026-10-24"), days: 3, timeZone: zone("Europe/London"))
        #expect(autumn.start(ofDay: 1) == utc(2026, 10, 24, 23))  // BST
        #expect(autumn.start(ofDay: 2) == utc(2026, 10, 26))  // GMT
        #expect(autumn.dayIndex(at: utc(2026, 10, 25, 23, 30)) == 1)  // 23:30 GMT on the 25th
    }

    @Test func missingMidnightStartsTheDayAtTheEndOfTheGap() {
        // Havana springs forward at 00:00 → 01:00 on 2026-03-08, and falls back 01:00 → 00:00 on 2026-11-01.
        let havana = ChallengeCalendar(startDate: date("2026-03-07"), days: 3, timeZone: zone("America/Havana"))
        #expect(havana.start(ofDay: 1) == utc(2026, 3, 8, 5))  // 01:00 CDT, the first instant of the 8th
        #expect(havana.dayIndex(at: havana.start(ofDay: 1)) == 1)
        #expect(havana.dayIndex(at: havana.start(ofDay: 1).addingTimeInterval(-1)) == 0)
        let autumn = ChallengeCalendar(startDate: date("2026-10-31"), days: 3, timeZone: zone("America/Havana"))
        #expect(autumn.start(ofDay: 1) == utc(2026, 11, 1, 4), "a repeated midnight starts the day at its first occurrence")
        #expect(autumn.dayIndex(at: utc(2026, 11, 1, 3, 59, 59)) == 0)
        // Samoa skipped 2011-12-30 entirely: that day "starts" when the 31st does.
        let apia = ChallengeCalendar(startDate: date("2011-12-29"), days: 3, timeZone: zone("Pacific/Apia"))
        #expect(apia.start(ofDay: 1) == utc(2011, 12, 30, 10))
        #expect(apia.start(ofDay: 2) == utc(2011, 12, 30, 10))
        #expect(apia.dayIndex(at: utc(2011, 12, 30, 10)) == 2)
    }

    @Test(arguments: ["Asia/Shanghai", "America/Los_Angeles", "America/New_York", "Europe/London", "America/Havana", "Australia/Lord_Howe"])
    func dayStartsAgreeWithDayIndexAllYear(identifier: String) {
        let calendar = ChallengeCalendar(startDate: date("2026-01-01"), days: 365, timeZone: zone(identifier))
        for index in 0..<366 {
            let start = calendar.start(ofDay: index)
            #expect(calendar.dayIndex(at: start) == index)
            #expect(calendar.dayIndex(at: start.addingTimeInterval(-1)) == index - 1)
            #expect(LocalDate.of(start, in: zone(identifier)) == calendar.localDate(ofDay: index))
        }
    }
}

@Suite struct LocalDateTests {
    @Test(arguments: [
        ("2026-02-28", 2026, 2, 28),
        ("2028-02-29", 2028, 2, 29),
        ("2000-02-29", 2000, 2, 29),
        ("2026-12-31", 2026, 12, 31),
        ("2026-04-30", 2026, 4, 30),
        ("0001-01-01", 1, 1, 1),
        ("9999-12-31", 9999, 12, 31),
    ])
    func parsesValidDates(text: String, year: Int, month: Int, day: Int) throws {
        let parsed = try #require(LocalDate(text))
        #expect(parsed.year == year && parsed.month == month && parsed.day == day)
        #expect(parsed.description == text)
        #expect(LocalDate(year: year, month: month, day: day) == parsed)
    }

    @Test(arguments: [
        "2026-02-30", "2026-02-29", "1900-02-29", "2026-04-31", "2026-13-01", "2026-00-10", "2026-01-00",
        "2026-01-32", "0000-01-01", "2026-1-01", "2026-01-1", "26-01-01", "20260101", "2026/01/01",
        "2026-01-01T00:00", " 2026-01-01", "2026-01-01 ", "", "+2026-01-01", "-2026-01-01", "2026-0a-01",
        "２０２６-01-01", "2026–01–01", "2026-01-01\n",
    ])
    func rejectsInvalidText(text: String) {
        #expect(LocalDate(text) == nil)
    }

    @Test(arguments: [
        ("2026-12-31", 1, "2027-01-01"),
        ("2028-02-28", 1, "2028-02-29"),
        ("2026-02-28", 1, "2026-03-01"),
        ("2026-03-01", -1, "2026-02-28"),
        ("2026-01-01", 365, "2027-01-01"),
        ("2028-01-01", 366, "2029-01-01"),
        ("2026-11-26", 0, "2026-11-26"),
        ("1970-01-01", -1, "1969-12-31"),
        ("2000-03-01", -1, "2000-02-29"),
    ])
    func addsDays(start: String, days: Int, expected: String) {
        #expect(date(start).adding(days: days) == date(expected))
        #expect(LocalDate.daysBetween(date(start), date(expected)) == days)
        #expect(LocalDate.daysBetween(date(expected), date(start)) == -days)
    }

    @Test func dayArithmeticAgreesWithFoundation() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let origin = date("1900-01-01")
        for offset in stride(from: 0, through: 200 * 366, by: 13) {
            let expected = calendar.date(byAdding: .day, value: offset, to: utc(1900, 1, 1))!
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: expected)
            let computed = origin.adding(days: offset)
            #expect(computed == LocalDate(year: parts.year!, month: parts.month!, day: parts.day!))
            #expect(computed.isoWeekday == (parts.weekday! + 5) % 7 + 1)  // Foundation: 1 = Sunday
        }
    }

    @Test func ordersChronologically() {
        let dates = ["2026-11-26", "2025-12-31", "2026-01-02", "2026-11-25", "2026-02-01"].map(date)
        #expect(dates.sorted().map(\.description) == ["2025-12-31", "2026-01-02", "2026-02-01", "2026-11-25", "2026-11-26"])
    }

    @Test func ofReadsTheWallClockInTheZone() {
        let instant = utc(2026, 11, 25, 16)
        #expect(LocalDate.of(instant, in: zone("Asia/Shanghai")) == date("2026-11-26"))
        #expect(LocalDate.of(instant, in: zone("America/Los_Angeles")) == date("2026-11-25"))
        #expect(LocalDate.of(instant.addingTimeInterval(-1), in: zone("Asia/Shanghai")) == date("2026-11-25"))
        #expect(date("2026-11-23").isoWeekday == 1)
        #expect(date("2026-03-08").isoWeekday == 7)
    }
}

@Suite struct CheckInStandingTests {
    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var days: Set<Int>
        var today: Int
        var length = 7
        var checkedIn: Int
        var current: Int
        var longest: Int
        var missed: Int
        var rate: Double
        var finisher = false
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "nothing yet on day 0", days: [], today: 0, checkedIn: 0, current: 0, longest: 0, missed: 0, rate: 0),
        Case(name: "before the start", days: [], today: -2, checkedIn: 0, current: 0, longest: 0, missed: 0, rate: 0),
        Case(name: "checked in on day 0", days: [0], today: 0, checkedIn: 1, current: 1, longest: 1, missed: 0, rate: 1),
        Case(name: "today not yet checked keeps yesterday's streak", days: [0, 1, 2], today: 3,
             checkedIn: 3, current: 3, longest: 3, missed: 0, rate: 1),
        Case(name: "today checked extends the streak", days: [0, 1, 2, 3], today: 3,
             checkedIn: 4, current: 4, longest: 4, missed: 0, rate: 1),
        Case(name: "a gap behind today", days: [0, 2, 3], today: 3, checkedIn: 3, current: 2, longest: 2, missed: 1, rate: 0.75),
        Case(name: "yesterday missed breaks the streak", days: [0, 1], today: 3, checkedIn: 2, current: 0, longest: 2, missed: 1, rate: 2.0 / 3),
        Case(name: "all days, on the last day", days: Set(0..<7), today: 6, checkedIn: 7, current: 7, longest: 7, missed: 0, rate: 1, finisher: true),
        Case(name: "all days, after the end", days: Set(0..<7), today: 10, checkedIn: 7, current: 7, longest: 7, missed: 0, rate: 1, finisher: true),
        Case(name: "last day missed, after the end", days: Set(0..<6), today: 7, checkedIn: 6, current: 0, longest: 6, missed: 1, rate: 6.0 / 7),
        Case(name: "after the end with gaps", days: [0, 1, 5, 6], today: 9, checkedIn: 4, current: 2, longest: 2, missed: 3, rate: 4.0 / 7),
        Case(name: "out-of-range and future check-ins are ignored", days: [-1, 0, 4, 8], today: 2,
             checkedIn: 1, current: 0, longest: 1, missed: 1, rate: 0.5),
        Case(name: "last day not yet checked", days: Set(0..<6), today: 6, checkedIn: 6, current: 6, longest: 6, missed: 0, rate: 1),
        Case(name: "longest run earlier than the current one", days: [0, 1, 2, 3, 5, 6], today: 6, length: 10,
             checkedIn: 6, current: 2, longest: 4, missed: 1, rate: 6.0 / 7),
    ]

    @Test(arguments: cases)
    func summarises(_ c: Case) {
        let standing = CheckInStanding(days: c.days, today: c.today, length: c.length)
        #expect(standing.checkedIn == c.checkedIn)
        #expect(standing.currentStreak == c.current)
        #expect(standing.longestStreak == c.longest)
        #expect(standing.missed == c.missed)
        #expect(abs(standing.completionRate - c.rate) < 1e-12)
        #expect(standing.isFinisher == c.finisher)
        #expect(standing.isBehind == (c.missed > 0))
    }
}
