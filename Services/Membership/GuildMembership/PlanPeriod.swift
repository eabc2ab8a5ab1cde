import Foundation
import GuildCore

/// How long one paid period of a plan lasts.
public enum PlanPeriod: Sendable, Equatable {
    case monthly
    case yearly
    /// Paid once, never ends.
    case lifetime
    /// A fixed number of days.
    case days(Int)

    /// Parses the wire form (`monthly`, `yearly`, `lifetime`, `days` with a count).
    public init?(name: String, days: Int) {
        switch name {
        case "monthly": self = .monthly
        case "yearly": self = .yearly
        case "lifetime": self = .lifetime
        case "days" where (1...3650).contains(days): self = .days(days)
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .monthly: "monthly"
        case .yearly: "yearly"
        case .lifetime: "lifetime"
        case .days: "days"
        }
    }

    public var dayCount: Int {
        if case .days(let count) = self { count } else { 0 }
    }

    /// The end of a period that starts at `start` (nil for lifetime). Months and years are
    /// calendar months and years in UTC (Jan 31 + 1 month = Feb 28/29).
    public func end(after start: Date) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        switch self {
        case .monthly: return calendar.date(byAdding: .month, value: 1, to: start)
        case .yearly: return calendar.date(byAdding: .year, value: 1, to: start)
        case .lifetime: return nil
        case .days(let count): return start.addingTimeInterval(TimeInterval(count) * 86_400)
        }
    }
}
