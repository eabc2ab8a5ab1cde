import Foundation
import GuildCore

/// Money and time as people read them, in the page's language.
struct Formatting: Sendable {
    let locale: WebLocale
    let timeZone: TimeZone

    /// `399_00` CNY as `¥399.00` (Chinese) or `CNY 399.00` (English); dollars as `$19.00`.
    func money(_ minorUnits: Int64, currency code: String) -> String {
        let currency = Currency(rawValue: code)
        let digits = currency?.minorUnitDigits ?? 2
        let code = currency?.rawValue ?? code.uppercased()
        let negative = minorUnits < 0
        let magnitude = minorUnits.magnitude
        var scale: UInt64 = 1
        for _ in 0..<digits { scale *= 10 }
        let whole = grouped(magnitude / scale)
        let fraction = digits == 0 ? "" : "." + String(String(magnitude % scale + scale).dropFirst())
        let amount = whole + fraction
        let text: String = switch (code, locale) {
        case ("CNY", .zhCN): "¥" + amount
        case ("USD", .en): "$" + amount
        case ("USD", .zhCN): "US$" + amount
        default: code + " " + amount
        }
        return negative ? "−" + text : text
    }

    /// 1284 as `1,284`.
    func number(_ value: Int64) -> String {
        value < 0 ? "−" + grouped(value.magnitude) : grouped(value.magnitude)
    }

    private func grouped(_ value: UInt64) -> String {
        let digits = String(value)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return out
    }

    /// A date and time in the viewer's zone, with the zone named: `2026年12月3日 14:05 (GMT+8)`
    /// or `3 Dec 2026, 14:05 (GMT+8)`.
    func dateTime(milliseconds: Int64) -> String {
        format(milliseconds, withTime: true) + " (" + zoneName + ")"
    }

    /// A date alone: `2026年12月3日` or `3 Dec 2026`.
    func date(milliseconds: Int64) -> String {
        format(milliseconds, withTime: false)
    }

    /// The zone as `GMT+8`.
    var zoneName: String {
        let seconds = timeZone.secondsFromGMT()
        if seconds == 0 { return "UTC" }
        let hours = seconds / 3600, minutes = abs(seconds % 3600) / 60
        return "GMT" + (seconds >= 0 ? "+" : "−") + String(abs(hours)) + (minutes == 0 ? "" : String(format: ":%02d", minutes))
    }

    private func format(_ milliseconds: Int64, withTime: Bool) -> String {
        let parts = Self.civil(milliseconds, offsetSeconds: timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(milliseconds) / 1000)))
        let time = String(format: "%02d:%02d", parts.hour, parts.minute)
        switch locale {
        case .zhCN: return "\(parts.year)年\(parts.month)月\(parts.day)日" + (withTime ? " " + time : "")
        case .en: return "\(parts.day) \(Self.months[parts.month - 1]) \(parts.year)" + (withTime ? ", " + time : "")
        }
    }

    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// The calendar date and time of an instant at a UTC offset (proleptic Gregorian, from the
    /// days since 1970 by Howard Hinnant's civil-from-days): arithmetic only, so no formatter is
    /// made or shared per request.
    static func civil(_ milliseconds: Int64, offsetSeconds: Int) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int) {
        let seconds = Int(milliseconds.quotientAndRemainder(dividingBy: 1000).quotient) + offsetSeconds
        let days = Int((Double(seconds) / 86_400).rounded(.down))
        let secondOfDay = seconds - days * 86_400
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, secondOfDay / 3600, secondOfDay % 3600 / 60)
    }

    /// How long until `milliseconds` from `now`, in whole units: `2 天 3 小时`, `2 days 3 hours`.
    func timeLeft(until milliseconds: Int64, now: Date, catalogue: Catalogue) -> String {
        let seconds = max(0, (milliseconds - Int64(now.timeIntervalSince1970 * 1000)) / 1000)
        let days = seconds / 86_400, hours = (seconds % 86_400) / 3600, minutes = (seconds % 3600) / 60
        if days > 0 {
            return hours > 0
                ? catalogue.plural("time_days", count: days) + " " + catalogue.plural("time_hours", count: hours)
                : catalogue.plural("time_days", count: days)
        }
        if hours > 0 { return catalogue.plural("time_hours", count: hours) + (minutes > 0 ? " " + catalogue.plural("time_minutes", count: minutes) : "") }
        return catalogue.plural("time_minutes", count: max(1, minutes))
    }
}
