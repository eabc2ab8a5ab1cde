import Foundation

/// An iCalendar (RFC 5545) feed of events, rendered as the text a calendar app subscribes to.
///
/// What the output promises:
/// - every line ends with CRLF, including the last;
/// - no physical line is longer than 75 octets: longer lines are folded (CRLF followed by one
///   space) between Unicode scalars, so a multi-byte UTF-8 character is never split and each
///   physical line is valid UTF-8 on its own;
/// - TEXT values (`UID`, `SUMMARY`, `DESCRIPTION`, `LOCATION`, `X-WR-CALNAME`) are escaped:
///   `\` → `\\`, `;` → `\;`, `,` → `\,`, a line break (LF, or CRLF) → `\n`; a lone CR and
///   other control characters except TAB are dropped, so no value can start a new property;
/// - `URL` and `STATUS` are written unescaped, with CR, LF and other control characters removed;
/// - instants are written in UTC form (`20261126T093000Z`), whole seconds, rounded down.
public struct ICalendar: Sendable {
    /// One `VEVENT`.
    public struct Event: Sendable {
        /// Globally unique and stable across renders, so that clients update rather than duplicate.
        public var uid: String
        /// When the event begins (`DTSTART`).
        public var start: Date
        /// When the event ends (`DTEND`), not before `start`.
        public var end: Date
        /// The title calendar apps show.
        public var summary: String
        /// Written only when non-empty.
        public var description: String
        /// Written only when non-empty.
        public var location: String
        /// Written only when non-empty; not TEXT-escaped.
        public var url: String
        /// `CONFIRMED`, `CANCELLED` or `TENTATIVE`.
        public var status: String
        /// Written as `CREATED` when set.
        public var created: Date?
        /// Revision counter: raise it whenever the event changes, so clients take the new version.
        public var sequence: Int

        /// An event; everything after `summary` may be left out.
        public init(
            uid: String,
            start: Date,
            end: Date,
            summary: String,
            description: String = "",
            location: String = "",
            url: String = "",
            status: String = "CONFIRMED",
            created: Date? = nil,
            sequence: Int = 0
        ) {
            self.uid = uid
            self.start = start
            self.end = end
            self.summary = summary
            self.description = description
            self.location = location
            self.url = url
            self.status = status
            self.created = created
            self.sequence = sequence
        }
    }

    /// The calendar's display name (`X-WR-CALNAME`).
    public var name: String
    /// Written in this order.
    public var events: [Event]

    /// A calendar named `name` holding `events`.
    public init(name: String, events: [Event]) {
        self.name = name
        self.events = events
    }

    /// The whole `VCALENDAR`, events in the given order. `stamp` is every event's `DTSTAMP`
    /// (when this rendering was produced); the same inputs always render the same bytes.
    public func render(stamp: Date) -> String {
        var lines = [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Guild//Guild//EN",
            "CALSCALE:GREGORIAN",
            "METHOD:PUBLISH",
            "X-WR-CALNAME:" + Self.escapeText(name),
        ]
        let dtstamp = Self.utc(stamp)
        for event in events {
            lines.append("BEGIN:VEVENT")
            lines.append("UID:" + Self.escapeText(event.uid))
            lines.append("DTSTAMP:" + dtstamp)
            lines.append("DTSTART:" + Self.utc(event.start))
            lines.append("DTEND:" + Self.utc(event.end))
            if let created = event.created {
                lines.append("CREATED:" + Self.utc(created))
            }
            lines.append("SUMMARY:" + Self.escapeText(event.summary))
            if !event.description.isEmpty {
                lines.append("DESCRIPTION:" + Self.escapeText(event.description))
            }
            if !event.location.isEmpty {
                lines.append("LOCATION:" + Self.escapeText(event.location))
            }
            let url = Self.stripControls(event.url)
            if !url.isEmpty {
                lines.append("URL:" + url)
            }
            lines.append("STATUS:" + Self.stripControls(event.status))
            lines.append("SEQUENCE:" + String(event.sequence))
            lines.append("END:VEVENT")
        }
        lines.append("END:VCALENDAR")
        return lines.map { Self.fold($0) + "\r\n" }.joined()
    }

    // MARK: - Encoding rules

    /// The longest physical line, in octets, CRLF excluded (RFC 5545 §3.1).
    static let maximumLineOctets = 75

    /// Escapes a TEXT value (RFC 5545 §3.3.11).
    static func escapeText(_ value: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\\": out.append(contentsOf: "\\\\".unicodeScalars)
            case ";": out.append(contentsOf: "\\;".unicodeScalars)
            case ",": out.append(contentsOf: "\\,".unicodeScalars)
            case "\n": out.append(contentsOf: "\\n".unicodeScalars)
            case "\t": out.append(scalar)
            default:
                if !isControl(scalar) { out.append(scalar) }
            }
        }
        return String(out)
    }

    /// Removes CR, LF and every other control character except TAB.
    static func stripControls(_ value: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in value.unicodeScalars where scalar == "\t" || !isControl(scalar) {
            out.append(scalar)
        }
        return String(out)
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || scalar.value == 0x7F
    }

    /// Folds one content line into physical lines of at most 75 octets, joined by CRLF + space,
    /// breaking only between Unicode scalars.
    static func fold(_ line: String) -> String {
        guard line.utf8.count > maximumLineOctets else { return line }
        var out = String.UnicodeScalarView()
        var octets = 0
        for scalar in line.unicodeScalars {
            let width = UTF8.width(scalar)
            if octets + width > maximumLineOctets {
                out.append(contentsOf: "\r\n ".unicodeScalars)
                octets = 1  // the leading space
            }
            out.append(scalar)
            octets += width
        }
        return String(out)
    }

    /// `yyyyMMdd'T'HHmmss'Z'` in UTC, seconds rounded down.
    static func utc(_ instant: Date) -> String {
        let seconds = Int(instant.timeIntervalSince1970.rounded(.down))
        let (days, secondOfDay) = seconds.floorDivided(by: 86_400)
        let date = LocalDate(daysSinceEpoch: days)
        return pad(date.year, 4) + pad(date.month, 2) + pad(date.day, 2) + "T"
            + pad(secondOfDay / 3600, 2) + pad(secondOfDay / 60 % 60, 2) + pad(secondOfDay % 60, 2) + "Z"
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
}

extension Int {
    /// Quotient rounded toward negative infinity, and the non-negative remainder.
    func floorDivided(by divisor: Int) -> (quotient: Int, remainder: Int) {
        let remainder = ((self % divisor) + divisor) % divisor
        return ((self - remainder) / divisor, remainder)
    }
}
