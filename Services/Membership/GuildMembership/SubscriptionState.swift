import Foundation
import GuildCore

/// The life of one subscription, as a value: every transition is a `mutating` method that either
/// moves it or throws `failedPrecondition`, and time only moves through ``advance(to:)``, so the
/// whole machine is tested without a database or a real clock.
///
/// ```
///            start(trial)              period ends, unpaid          grace ends
///  trialing ───────────────┐    active ─────────────────▶ past_due ───────────▶ expired
///      │ paid    renewed   ▼      ▲  │ cancel                  │ renewed ▲
///      └──────────────▶ active ◀──┘  ▼                         └─────────┘ (back to active)
///                               cancelled ── period ends ──▶ expired
///                                  │ resume (before the end)
///                                  └──▶ active (or trialing)
/// ```
/// A cancelled subscription keeps access until its period ends. Lifetime plans never end.
public struct SubscriptionState: Sendable, Equatable {
    public enum Status: String, Sendable, Equatable, CaseIterable {
        case trialing
        case active
        case pastDue = "past_due"
        case cancelled
        case expired
    }

    public private(set) var status: Status
    public let period: PlanPeriod
    /// How long a past-due subscription keeps access while the member renews.
    public let gracePeriod: TimeInterval
    public private(set) var startedAt: Date
    /// The end of the paid (or trial) period; nil for lifetime.
    public private(set) var periodEnd: Date?
    /// Whether the subscription is (or, when cancelled, was) in its trial: resume goes back to it.
    public private(set) var wasTrialing: Bool
    public private(set) var endedAt: Date?

    /// A new subscription: trialing for `trialDays` when there are any, otherwise active and paid
    /// for one period.
    public static func start(at now: Date, period: PlanPeriod, trialDays: Int, gracePeriod: TimeInterval) -> SubscriptionState {
        if trialDays > 0 {
            return SubscriptionState(status: .trialing, period: period, gracePeriod: gracePeriod, startedAt: now,
                                     periodEnd: now.addingTimeInterval(TimeInterval(trialDays) * 86_400), wasTrialing: true)
        }
        return SubscriptionState(status: .active, period: period, gracePeriod: gracePeriod, startedAt: now,
                                 periodEnd: period.end(after: now), wasTrialing: false)
    }

    /// Restores a stored subscription.
    public init(status: Status, period: PlanPeriod, gracePeriod: TimeInterval, startedAt: Date, periodEnd: Date?, wasTrialing: Bool = false, endedAt: Date? = nil) {
        self.status = status
        self.period = period
        self.gracePeriod = gracePeriod
        self.startedAt = startedAt
        self.periodEnd = periodEnd
        self.wasTrialing = wasTrialing || status == .trialing
        self.endedAt = endedAt
    }

    /// Whether the member cancelled and keeps access until the period ends.
    public var cancelsAtPeriodEnd: Bool { status == .cancelled }

    /// Until when the subscription gives access (nil: for ever, for lifetime plans; a past
    /// instant once it expired).
    public var accessUntil: Date? {
        switch status {
        case .expired: endedAt ?? periodEnd ?? startedAt
        case .pastDue: periodEnd.map { $0.addingTimeInterval(gracePeriod) }
        case .trialing, .active, .cancelled: periodEnd
        }
    }

    /// Whether it gives access at `instant`.
    public func grantsAccess(at instant: Date) -> Bool {
        guard status != .expired, instant >= startedAt else { return false }
        guard let until = accessUntil else { return true }
        return instant < until
    }

    /// A payment for the next period succeeded. The new period runs from the end of the
    /// current one (from now, once that has passed), so paying early loses nothing.
    public mutating func renewed(at now: Date) throws {
        switch status {
        case .expired:
            throw GuildError(.failedPrecondition, "An expired subscription cannot be renewed; start a new one.", reason: "subscription_expired")
        case .trialing, .active, .pastDue, .cancelled:
            guard let end = periodEnd else {
                throw GuildError(.failedPrecondition, "A lifetime subscription needs no renewal.", reason: "lifetime")
            }
            let from = status == .trialing ? now : max(end, now)
            periodEnd = period.end(after: from)
            status = .active
            wasTrialing = false
        }
    }

    /// The member cancels: access lasts until the period ends, then the subscription expires.
    public mutating func cancel(at now: Date) throws {
        switch status {
        case .trialing, .active:
            guard periodEnd != nil else {
                throw GuildError(.failedPrecondition, "A lifetime membership has nothing to cancel.", reason: "lifetime")
            }
            wasTrialing = status == .trialing
            status = .cancelled
        case .pastDue:
            // Nothing paid is running: it ends now.
            status = .expired
            endedAt = now
        case .cancelled:
            throw GuildError(.failedPrecondition, "The subscription is already cancelled.", reason: "already_cancelled")
        case .expired:
            throw GuildError(.failedPrecondition, "The subscription has expired.", reason: "subscription_expired")
        }
    }

    /// The member takes a cancellation back before the period ends.
    public mutating func resume(at now: Date) throws {
        guard status == .cancelled else {
            throw GuildError(.failedPrecondition, "Only a cancelled subscription can be resumed.", reason: "not_cancelled")
        }
        guard let end = periodEnd, now < end else {
            throw GuildError(.failedPrecondition, "The period has ended; start a new subscription.", reason: "subscription_expired")
        }
        status = wasTrialing ? .trialing : .active
    }

    /// Ends the subscription now, whatever its state: a full refund, a dissolved community.
    public mutating func end(at now: Date) {
        guard status != .expired else { return }
        status = .expired
        endedAt = max(now, startedAt)
    }

    /// Time passes: a period that ended unpaid becomes past due, a grace period that ended
    /// expires it, a cancelled subscription expires at its period's end. Returns whether the
    /// status changed.
    @discardableResult
    public mutating func advance(to now: Date) -> Bool {
        guard let end = periodEnd else { return false }
        let before = status
        switch status {
        case .trialing, .active:
            if now >= end { status = .pastDue }
            if status == .pastDue, now >= end.addingTimeInterval(gracePeriod) {
                status = .expired
                endedAt = end.addingTimeInterval(gracePeriod)
            }
        case .pastDue:
            if now >= end.addingTimeInterval(gracePeriod) {
                status = .expired
                endedAt = end.addingTimeInterval(gracePeriod)
            }
        case .cancelled:
            if now >= end {
                status = .expired
                endedAt = end
            }
        case .expired:
            break
        }
        return status != before
    }
}
