import Foundation

/// The arithmetic of commissions, apart from storage so it is tested on its own. Amounts are
/// integer minor units; every division rounds down, so the referrer is never paid a fraction
/// the payment did not contain and a clawback never exceeds what was earned.
enum CommissionRules {
    /// The commission on a payment: `payment` × `basisPoints` / 10 000, rounded down.
    static func amount(payment: Int64, basisPoints: Int64) -> Int64 {
        guard payment > 0, basisPoints > 0 else { return 0 }
        let (product, overflow) = payment.multipliedReportingOverflow(by: basisPoints)
        return overflow ? payment / 10_000 * basisPoints : product / 10_000
    }

    /// What a refund claws back of a commission of `amount` of which `clawedBack` is gone
    /// already: everything left for a full refund or the programme's `full` rule, else the
    /// refund's share of the payment (`amount` × `refund` / `payment`, rounded down), never
    /// more than is left.
    static func clawback(amount: Int64, clawedBack: Int64, refund: Int64, payment: Int64, full: Bool) -> Int64 {
        let left = max(0, amount - clawedBack)
        if full { return left }
        guard refund > 0, payment > 0 else { return 0 }
        let (product, overflow) = amount.multipliedReportingOverflow(by: refund)
        let share = overflow ? amount / payment * refund : product / payment
        return min(left, max(0, share))
    }

    /// Whether a payment at `instant` falls within `months` calendar months (UTC) of the
    /// converting payment at `first`: a recurring commission's span.
    static func isWithin(months: Int64, of first: Date, instant: Date) -> Bool {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        guard months > 0, let end = calendar.date(byAdding: .month, value: Int(months), to: first) else { return false }
        return instant >= first && instant < end
    }
}
