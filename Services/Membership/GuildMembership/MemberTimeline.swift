import Foundation
import GuildMessages

/// The membership history of one community as the lifecycle figures read it: when each
/// subscription was live, whether it began as a trial, and when each member paid. A value,
/// computed without a database, so every figure is tested on hand-made histories.
///
/// Definitions (instants are milliseconds since 1970, UTC):
/// - A subscription is *live* from its start until it ends: trialing, active, past due within
///   its grace period, or cancelled before its period's end all count. A member is live at an
///   instant when one of their subscriptions is.
/// - The *end* of a half-open range [a, b) is its last instant, b − 1: a member who joins at
///   b belongs to the next range, one whose subscription ends at b is still counted.
/// - A *payment* is a successful payment that bought a membership (a group buy's payment
///   counts once its group filled); refunds later do not undo the conversion.
struct MemberTimeline: Sendable {
    /// One subscription's live interval.
    struct Span: Sendable {
        let user: String
        let start: Int64
        /// The first instant it is no longer live; nil while it is.
        let end: Int64?
        /// It began as a free trial.
        let startedTrialing: Bool

        func isLive(at instant: Int64) -> Bool { start <= instant && end.map { instant < $0 } ?? true }
    }

    let spans: [Span]
    /// Each member's subscriptions.
    let spansByUser: [String: [Span]]
    /// Each member's membership payments, in order.
    let payments: [String: [Int64]]

    init(spans: [Span], payments: [String: [Int64]]) {
        self.spans = spans
        self.spansByUser = Dictionary(grouping: spans, by: \.user)
        self.payments = payments.mapValues { $0.sorted() }
    }

    /// The members live at `instant`.
    func liveUsers(at instant: Int64) -> Set<String> {
        Set(spans.lazy.filter { $0.isLive(at: instant) }.map(\.user))
    }

    /// How many of `users` are live at `instant`.
    func liveCount(of users: Set<String>, at instant: Int64) -> Int64 {
        Int64(users.count { user in spansByUser[user]?.contains { $0.isLive(at: instant) } ?? false })
    }

    /// When each member's first subscription started.
    var firstStarts: [String: Int64] {
        spansByUser.mapValues { $0.map(\.start).min() ?? .max }
    }

    /// The funnel's membership figures for [from, to) and the cohort table.
    ///
    /// - trials: members whose trial started in the range;
    /// - paid conversions: members whose first payment fell in the range;
    /// - trial → paid: of the trials, the members who paid at or after their trial's start
    ///   (whenever, up to now);
    /// - members at start: live at `from`; members at end: live at the range's end (to − 1);
    ///   retained: live at both.
    /// - Cohorts: the `cohortMonths` calendar months up to the one holding the range's end,
    ///   oldest first. A month's cohort is the members whose first subscription started in it
    ///   (before `to`). `retained[k]` counts the cohort members live at the end of month m + k,
    ///   k = 0 being the cohort's own month, for every month up to the one holding the range's
    ///   end; that last month's end is the range's end.
    func figures(from: Int64, to: Int64, cohortMonths: Int) -> MembershipLifecycleStats {
        var stats = MembershipLifecycleStats()
        let end = to - 1
        var trialStarts: [String: Int64] = [:]
        for span in spans where span.startedTrialing && span.start >= from && span.start < to {
            trialStarts[span.user] = min(trialStarts[span.user] ?? .max, span.start)
        }
        stats.trials = Int64(trialStarts.count)
        stats.trialToPaid = Int64(trialStarts.filter { user, start in payments[user]?.contains { $0 >= start } ?? false }.count)
        stats.paidConversions = Int64(payments.values.filter { guard let first = $0.first else { return false }; return first >= from && first < to }.count)
        let atStart = liveUsers(at: from)
        let atEnd = liveUsers(at: end)
        stats.membersAtStart = Int64(atStart.count)
        stats.membersAtEnd = Int64(atEnd.count)
        stats.retained = Int64(atStart.intersection(atEnd).count)

        let last = CalendarPeriod(containing: end, kind: .month)
        let firstStarts = firstStarts
        for offset in stride(from: Int64(cohortMonths - 1), through: 0, by: -1) {
            let month = last.advanced(by: -offset)
            let members = Set(firstStarts.filter { $0.value >= month.startMs && $0.value < min(month.endMs, to) }.keys)
            var cohort = MembershipCohort()
            cohort.month = month.label
            cohort.size = Int64(members.count)
            for k in 0...offset {
                let instant = min(month.advanced(by: k).endMs, to) - 1
                cohort.retained.append(liveCount(of: members, at: instant))
            }
            stats.cohorts.append(cohort)
        }
        return stats
    }

    /// Live members at the end of each of the `count` periods of `kind` up to the one holding
    /// `asOf`, oldest first; for that last period, at `asOf` itself.
    func counts(kind: CalendarPeriod.Kind, count: Int, asOf: Int64) -> [MembershipPeriodMembers] {
        let current = CalendarPeriod(containing: asOf, kind: kind)
        return stride(from: Int64(count - 1), through: 0, by: -1).map { offset in
            let period = current.advanced(by: -offset)
            var point = MembershipPeriodMembers()
            point.label = period.label
            point.startMs = period.startMs
            point.endMs = period.endMs
            point.members = Int64(liveUsers(at: min(period.endMs - 1, asOf)).count)
            return point
        }
    }
}
