import Foundation
import Testing

@testable import GuildContent

@Suite struct ICalendarTests {
    static func utc(_ year: Int, _ month: Int, _ day: Int, _ hour: Int = 0, _ minute: Int = 0, _ second: Int = 0) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))!
    }

    static let stamp = utc(2026, 11, 20, 8, 0, 5)

    /// The physical lines of a rendering, split on CRLF, without the empty piece after the last CRLF.
    static func physicalLines(_ text: String) -> [[UInt8]] {
        var lines: [[UInt8]] = [[]]
        var bytes = Array(text.utf8)[...]
        while let byte = bytes.popFirst() {
            if byte == 13, bytes.first == 10 {
                bytes.removeFirst()
                lines.append([])
            } else {
                lines[lines.count - 1].append(byte)
            }
        }
        #expect(lines.last == [], "the rendering ends with CRLF")
        return Array(lines.dropLast())
    }

    /// Undoes folding and returns the logical content lines.
    static func logicalLines(_ text: String) -> [String] {
        text.replacingOccurrences(of: "\r\n ", with: "")
            .components(separatedBy: "\r\n")
            .dropLast()
            .map { $0 }
    }

    static func unescape(_ value: String) -> String {
        var out = ""
        var escaping = false
        for character in value.unicodeScalars {
            if escaping {
                out.unicodeScalars.append(character == "n" || character == "N" ? "\n" : character)
                escaping = false
            } else if character == "\\" {
                escaping = true
            } else {
                out.unicodeScalars.append(character)
            }
        }
        return out
    }

    @Test func rendersAnEventExactly() {
        let event = ICalendar.Event(
            uid: "session-42@guild.example",
            start: Self.utc(2026, 11, 26, 9, 30),
            end: Self.utc(2026, 11, 26, 10, 45),
            summary: "Office hours",
            description: "Bring questions",
            location: "Room 1",
            url: "https://guild.example/s/42",
            created: Self.utc(2026, 11, 1, 12, 0, 0)
        )
        let text = ICalendar(name: "Guild sessions", events: [event]).render(stamp: Self.stamp)
        #expect(text == [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Guild//Guild//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:Guild sessions",
            "BEGIN:VEVENT",
            "UID:session-42@guild.example",
            "DTSTAMP:20261120T080005Z",
            "DTSTART:20261126T093000Z",
            "DTEND:20261126T104500Z",
            "CREATED:20261101T120000Z",
            "SUMMARY:Office hours",
            "DESCRIPTION:Bring questions",
            "LOCATION:Room 1",
            "URL:https://guild.example/s/42",
            "STATUS:CONFIRMED",
            "SEQUENCE:0",
            "END:VEVENT",
            "END:VCALENDAR",
        ].map { $0 + "\r\n" }.joined())
    }

    @Test func emptyCalendarHasOnlyTheEnvelope() {
        let text = ICalendar(name: "Nothing, yet", events: []).render(stamp: Self.stamp)
        #expect(text == "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Guild//Guild//EN\r\nCALSCALE:GREGORIAN\r\n"
            + "METHOD:PUBLISH\r\nX-WR-CALNAME:Nothing\\, yet\r\nEND:VCALENDAR\r\n")
    }

    @Test func cancelledEventCarriesStatusAndSequence() {
        var event = ICalendar.Event(uid: "u1", start: Self.utc(2026, 1, 2, 3, 4, 5), end: Self.utc(2026, 1, 2, 4, 4, 5), summary: "Live Q&A")
        event.status = "CANCELLED"
        event.sequence = 2
        let lines = Self.logicalLines(ICalendar(name: "c", events: [event]).render(stamp: Self.stamp))
        #expect(lines.contains("STATUS:CANCELLED"))
        #expect(lines.contains("SEQUENCE:2"))
        #expect(lines.contains("DTSTART:20260102T030405Z"))
        // Empty optional properties are left out.
        #expect(!lines.contains { $0.hasPrefix("DESCRIPTION") || $0.hasPrefix("LOCATION") || $0.hasPrefix("URL") || $0.hasPrefix("CREATED") })
        let statusIndex = lines.firstIndex(of: "STATUS:CANCELLED")!
        #expect(lines[statusIndex + 1] == "SEQUENCE:2")
        #expect(lines[statusIndex + 2] == "END:VEVENT")
    }

    @Test(arguments: [
        ("plain", "plain"),
        ("a,b", "a\\,b"),
        ("a;b", "a\\;b"),
        ("back\\slash", "back\\\\slash"),
        ("one\ntwo", "one\\ntwo"),
        ("one\r\ntwo", "one\\ntwo"),
        ("lone\rcr", "lonecr"),
        ("bell\u{07}and\u{7F}del", "bellanddel"),
        ("tab\tkept", "tab\tkept"),
        ("\\n is not a newline", "\\\\n is not a newline"),
        ("会议，第一天；", "会议，第一天；"),
        ("END:VEVENT\r\nBEGIN:VEVENT", "END:VEVENT\\nBEGIN:VEVENT"),
    ])
    func escapesText(raw: String, escaped: String) {
        #expect(ICalendar.escapeText(raw) == escaped)
        #expect(Self.unescape(escaped) == raw.replacingOccurrences(of: "\r\n", with: "\n").filter { $0 != "\r" && $0 != "\u{07}" && $0 != "\u{7F}" })
        let event = ICalendar.Event(uid: "u", start: Self.stamp, end: Self.stamp, summary: raw, description: raw, location: raw)
        let lines = Self.logicalLines(ICalendar(name: raw, events: [event]).render(stamp: Self.stamp))
        #expect(lines.contains("SUMMARY:" + escaped))
        #expect(lines.contains("DESCRIPTION:" + escaped))
        #expect(lines.contains("LOCATION:" + escaped))
        #expect(lines.contains("X-WR-CALNAME:" + escaped))
        #expect(lines.filter { $0 == "BEGIN:VEVENT" }.count == 1, "a value cannot open another event")
    }

    @Test func urlIsNotEscapedButLosesLineBreaks() {
        let event = ICalendar.Event(uid: "u", start: Self.stamp, end: Self.stamp, summary: "s",
                                    url: "https://guild.example/a,b;c?x=1\r\nSTATUS:CANCELLED")
        let lines = Self.logicalLines(ICalendar(name: "c", events: [event]).render(stamp: Self.stamp))
        #expect(lines.contains("URL:https://guild.example/a,b;c?x=1STATUS:CANCELLED"))
        #expect(!lines.contains("STATUS:CANCELLED"))
        #expect(lines.contains("STATUS:CONFIRMED"))
    }

    static let longValues: [String] = [
        String(repeating: "中文标题：周末读书会，第一期；", count: 12),
        String(repeating: "🎉 party, ", count: 20),
        "a" + String(repeating: "é", count: 80),
        String(repeating: "x", count: 300),
        String(repeating: "長い説明\n", count: 30),
    ]

    @Test(arguments: longValues)
    func foldsLongLinesWithoutSplittingCharacters(value: String) {
        let event = ICalendar.Event(uid: "u", start: Self.stamp, end: Self.stamp, summary: value, description: value)
        let text = ICalendar(name: value, events: [event]).render(stamp: Self.stamp)
        let physical = Self.physicalLines(text)
        #expect(physical.count > Self.logicalLines(text).count, "something was folded")
        for line in physical {
            #expect(line.count <= 75)
            #expect(String(validating: line, as: UTF8.self) != nil, "each physical line is valid UTF-8 on its own")
        }
        let lines = Self.logicalLines(text)
        for name in ["SUMMARY:", "DESCRIPTION:", "X-WR-CALNAME:"] {
            let line = lines.first { $0.hasPrefix(name) }
            #expect(line.map { Self.unescape(String($0.dropFirst(name.count))) } == value)
        }
    }

    @Test func foldsAtExactlySeventyFiveOctets() {
        let fits = String(repeating: "x", count: 75 - "SUMMARY:".count)
        #expect(ICalendar.fold("SUMMARY:" + fits) == "SUMMARY:" + fits)
        let folded = ICalendar.fold("SUMMARY:" + fits + "yz")
        #expect(folded == "SUMMARY:" + fits + "\r\n yz")
        // A three-octet character that would straddle octet 75 moves whole to the next line.
        let straddle = ICalendar.fold("SUMMARY:" + String(fits.dropLast()) + "中")
        #expect(straddle == "SUMMARY:" + String(fits.dropLast()) + "\r\n 中")
    }

    @Test func everyLineEndsWithCRLF() {
        let events = (0..<3).map { index in
            ICalendar.Event(uid: "u\(index)", start: Self.stamp, end: Self.stamp,
                            summary: String(repeating: "标题\r\n", count: 40), description: "a\rb\nc")
        }
        let bytes = Array(ICalendar(name: "n\n", events: events).render(stamp: Self.stamp).utf8)
        #expect(bytes.suffix(2) == [13, 10])
        for (index, byte) in bytes.enumerated() {
            if byte == 10 { #expect(index > 0 && bytes[index - 1] == 13, "LF at \(index) follows CR") }
            if byte == 13 { #expect(index + 1 < bytes.count && bytes[index + 1] == 10, "CR at \(index) precedes LF") }
        }
    }

    @Test func timesAreUTCAndRoundDown() {
        #expect(ICalendar.utc(Self.utc(2026, 11, 26, 9, 30).addingTimeInterval(0.999)) == "20261126T093000Z")
        #expect(ICalendar.utc(Date(timeIntervalSince1970: 0)) == "19700101T000000Z")
        #expect(ICalendar.utc(Date(timeIntervalSince1970: -1)) == "19691231T235959Z")
        #expect(ICalendar.utc(Self.utc(2028, 2, 29, 23, 59, 59)) == "20280229T235959Z")
    }
}
