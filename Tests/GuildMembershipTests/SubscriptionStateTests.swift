import Foundation
import GuildCore
import Testing

@testable import GuildMembership

/// The subscription state machine, on its own: no database, time moved by hand.
@Suite("Subscription state machine")
struct SubscriptionStateTests {
    let start = Date(timeIntervalSince1970: 1_767_225_600)  // 2026-01-01T00:00:00Z
    let day: TimeInterval = 86_400
    let grace: TimeInterval = 3 * 86_400

    @Test("a paid monthly subscription runs a calendar month, falls past due, then expires after the grace period")
    func paidLifecycle() throws {
        var state = SubscriptionState.start(at: start, period: .monthly, trialDays: 0, gracePeriod: grace)
        #expect(state.status == .active)
        let end = start.addingTimeInterval(31 * day)  // January has 31 days
        #expect(state.periodEnd == end)
        #expect(state.grantsAccess(at: end.addingTimeInterval(-1)))
        let movedEarly = state.advance(to: end.addingTimeInterval(-1))
        #expect(!movedEarly)
        let movedAtEnd = state.advance(to: end)
        #expect(movedAtEnd)
        #expect(state.status == .pastDue)
        #expect(state.grantsAccess(at: end.addingTimeInterval(grace - 1)))
        let movedAfterGrace = state.advance(to: end.addingTimeInterval(grace))
        #expect(movedAfterGrace)
        #expect(state.status == .expired)
        #expect(!state.grantsAccess(at: end.addingTimeInterval(grace)))
        #expect(throws: GuildError.self) { try state.renewed(at: end.addingTimeInterval(grace)) }
    }

    @Test("renewing early extends from the period's end; renewing past due starts from now")
    func renewal() throws {
        var state = SubscriptionState.start(at: start, period: .days(30), trialDays: 0, gracePeriod: grace)
        try state.renewed(at: start.addingTimeInterval(10 * day))
        #expect(state.periodEnd == start.addingTimeInterval(60 * day))
        state.advance(to: start.addingTimeInterval(61 * day))
        #expect(state.status == .pastDue)
        let now = start.addingTimeInterval(62 * day)
        try state.renewed(at: now)
        #expect(state.status == .active)
        #expect(state.periodEnd == now.addingTimeInterval(30 * day))
    }

    @Test("a trial ends in past due unless paid; paying ends the trial and starts a period from now")
    func trial() throws {
        var state = SubscriptionState.start(at: start, period: .monthly, trialDays: 7, gracePeriod: grace)
        #expect(state.status == .trialing)
        #expect(state.periodEnd == start.addingTimeInterval(7 * day))
        var unpaid = state
        unpaid.advance(to: start.addingTimeInterval(7 * day))
        #expect(unpaid.status == .pastDue)
        let paidAt = start.addingTimeInterval(3 * day)
        try state.renewed(at: paidAt)
        #expect(state.status == .active)
        #expect(state.periodEnd == Calendar.utc.date(byAdding: .month, value: 1, to: paidAt))
    }

    @Test("cancel keeps access to the period's end; resume before it goes back; after it the subscription has expired")
    func cancelAndResume() throws {
        var state = SubscriptionState.start(at: start, period: .days(30), trialDays: 0, gracePeriod: grace)
        try state.cancel(at: start.addingTimeInterval(day))
        #expect(state.status == .cancelled)
        #expect(state.cancelsAtPeriodEnd)
        #expect(state.grantsAccess(at: start.addingTimeInterval(29 * day)))
        #expect(throws: GuildError.self) { try state.cancel(at: start.addingTimeInterval(2 * day)) }
        try state.resume(at: start.addingTimeInterval(2 * day))
        #expect(state.status == .active)
        try state.cancel(at: start.addingTimeInterval(3 * day))
        state.advance(to: start.addingTimeInterval(30 * day))
        #expect(state.status == .expired)
        #expect(state.endedAt == start.addingTimeInterval(30 * day))
        #expect(throws: GuildError.self) { try state.resume(at: start.addingTimeInterval(31 * day)) }
    }

    @Test("a cancelled trial resumes as a trial")
    func cancelledTrialResumes() throws {
        var state = SubscriptionState.start(at: start, period: .monthly, trialDays: 14, gracePeriod: grace)
        try state.cancel(at: start.addingTimeInterval(day))
        try state.resume(at: start.addingTimeInterval(2 * day))
        #expect(state.status == .trialing)
    }

    @Test("cancelling while past due ends at once; lifetime plans never end and cannot be cancelled")
    func pastDueAndLifetime() throws {
        var state = SubscriptionState.start(at: start, period: .days(10), trialDays: 0, gracePeriod: grace)
        state.advance(to: start.addingTimeInterval(11 * day))
        try state.cancel(at: start.addingTimeInterval(11 * day))
        #expect(state.status == .expired)
        #expect(!state.grantsAccess(at: start.addingTimeInterval(11 * day)))

        var lifetime = SubscriptionState.start(at: start, period: .lifetime, trialDays: 0, gracePeriod: grace)
        let lifetimeMoved = lifetime.advance(to: start.addingTimeInterval(10_000 * day))
        #expect(!lifetimeMoved)
        #expect(lifetime.grantsAccess(at: start.addingTimeInterval(10_000 * day)))
        #expect(lifetime.accessUntil == nil)
        #expect(throws: GuildError.self) { try lifetime.cancel(at: start) }
        #expect(throws: GuildError.self) { try lifetime.renewed(at: start) }
    }

    @Test("month ends clamp: January 31 plus a month is the end of February")
    func monthClamp() {
        let jan31 = Date(timeIntervalSince1970: 1_769_817_600)  // 2026-01-31T00:00:00Z
        #expect(PlanPeriod.monthly.end(after: jan31) == Date(timeIntervalSince1970: 1_772_236_800))  // 2026-02-28
    }
}

extension Calendar {
    static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar
    }
}
