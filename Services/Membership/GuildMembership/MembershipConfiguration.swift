import Foundation

/// The tunable rules of the membership service. Defaults are production values.
public struct MembershipConfiguration: Sendable {
    /// The platform's fee on every payment, in basis points (500 = 5 %).
    public var platformFeeBasisPoints: Int64 = 500
    /// How long a past-due subscription keeps access while the member renews.
    public var gracePeriod: Duration = .seconds(3 * 86_400)
    /// How often the scheduler moves subscriptions whose period ended and closes group buys
    /// whose window ended.
    public var schedulerInterval: Duration = .seconds(15)

    /// An order left unpaid this long is cancelled (its coupon and seat freed).
    public var abandonedOrderAge: Duration = .seconds(24 * 3600)

    public init() {}
}
