/// An ISO 4217 currency code (`CNY`, `USD`), with the number of digits of its minor unit.
public struct Currency: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String

    /// Accepts three ASCII letters, in any case; stored upper-case.
    public init?(rawValue: String) {
        let upper = rawValue.uppercased()
        guard upper.utf8.count == 3, upper.utf8.allSatisfy({ (65...90).contains($0) }) else { return nil }
        self.rawValue = upper
    }

    /// Digits after the decimal point in the currency's usual notation (ISO 4217 exponent):
    /// 0 for JPY and KRW, 3 for the dinars, 2 for the rest.
    public var minorUnitDigits: Int {
        switch rawValue {
        case "JPY", "KRW", "VND", "CLP", "ISK", "UGX", "XAF", "XOF": 0
        case "BHD", "KWD", "OMR", "JOD", "TND", "LYD", "IQD": 3
        default: 2
        }
    }

    public var description: String { rawValue }

    public static let cny = Currency(rawValue: "CNY")!
    public static let usd = Currency(rawValue: "USD")!
    public static let eur = Currency(rawValue: "EUR")!
}

/// An amount of money: an integer count of the currency's minor unit (fen, cents) and the
/// currency. Never a floating-point number; arithmetic traps on overflow and refuses to mix
/// currencies.
public struct Money: Hashable, Sendable, Codable, CustomStringConvertible {
    public var minorUnits: Int64
    public var currency: Currency

    public init(minorUnits: Int64, currency: Currency) {
        self.minorUnits = minorUnits
        self.currency = currency
    }

    public static func zero(_ currency: Currency) -> Money { Money(minorUnits: 0, currency: currency) }

    public var isZero: Bool { minorUnits == 0 }
    public var isNegative: Bool { minorUnits < 0 }

    public static func + (lhs: Money, rhs: Money) -> Money {
        precondition(lhs.currency == rhs.currency, "adding \(lhs.currency) to \(rhs.currency)")
        return Money(minorUnits: lhs.minorUnits + rhs.minorUnits, currency: lhs.currency)
    }

    public static func - (lhs: Money, rhs: Money) -> Money {
        precondition(lhs.currency == rhs.currency, "subtracting \(rhs.currency) from \(lhs.currency)")
        return Money(minorUnits: lhs.minorUnits - rhs.minorUnits, currency: lhs.currency)
    }

    public static prefix func - (amount: Money) -> Money {
        Money(minorUnits: -amount.minorUnits, currency: amount.currency)
    }

    /// `basisPoints`/10,000 of this amount, rounded half away from zero to the minor unit.
    public func portion(basisPoints: Int64) -> Money {
        let (quotient, remainder) = (minorUnits * basisPoints).quotientAndRemainder(dividingBy: 10_000)
        let rounded = abs(remainder) * 2 >= 10_000 ? quotient + (minorUnits * basisPoints < 0 ? -1 : 1) : quotient
        return Money(minorUnits: rounded, currency: currency)
    }

    /// This amount times `numerator`/`denominator`, rounded down (towards zero): pro-rata
    /// shares never add up to more than the whole.
    public func scaled(_ numerator: Int64, over denominator: Int64) -> Money {
        precondition(denominator > 0, "scaling by a non-positive denominator")
        let (high, low) = minorUnits.multipliedFullWidth(by: numerator)
        let (quotient, _) = denominator.dividingFullWidth((high, low))
        return Money(minorUnits: quotient, currency: currency)
    }

    /// The amount in the currency's usual notation: `199.00 CNY`.
    public var description: String {
        let digits = currency.minorUnitDigits
        guard digits > 0 else { return "\(minorUnits) \(currency)" }
        var scale: Int64 = 1
        for _ in 0..<digits { scale *= 10 }
        let magnitude = minorUnits.magnitude
        let whole = magnitude / UInt64(scale)
        let fraction = String(magnitude % UInt64(scale))
        let sign = minorUnits < 0 ? "-" : ""
        return "\(sign)\(whole).\(String(repeating: "0", count: digits - fraction.count))\(fraction) \(currency)"
    }
}
