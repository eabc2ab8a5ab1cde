import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import SQLKit

/// The membership side of the lifecycle funnel and the growth forecast: trials, conversions,
/// retention, cohorts and live members per period, read from the subscriptions and payments
/// (definitions in ``MemberTimeline``). Who may read the community's orders reads these
/// figures made from them: its owners and co-owners.
extension MembershipService {
    /// Trials, paid conversions (and trial → paid), members at the start and end of
    /// [from_ms, to_ms) and those retained, and the monthly cohort table (`cohort_months`,
    /// default 12, at most 36, up to the month holding the range's end). `to_ms` 0 means now.
    public func lifecycleStats(_ request: MembershipLifecycleStatsRequest, user: UserID) async throws -> MembershipLifecycleStats {
        let now = clock.now()
        let to = request.toMs == 0 ? now.millisecondsSince1970 : request.toMs
        var violations: [GuildError.FieldViolation] = []
        if request.fromMs < 0 { violations.append(.init(field: "fromMs", description: "An instant from 1970 on.")) }
        if request.fromMs >= to { violations.append(.init(field: "toMs", description: "The range must end after it starts.")) }
        if !(0...36).contains(request.cohortMonths) { violations.append(.init(field: "cohortMonths", description: "From 1 to 36 months (0: 12).")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let timeline = try await timeline(community: CommunityID(request.communityID), user: user, now: now)
        return timeline.figures(from: request.fromMs, to: to, cohortMonths: request.cohortMonths == 0 ? 12 : Int(request.cohortMonths))
    }

    /// Live members at the end of each of the last `periods` (default 12, at most 60) calendar
    /// months or ISO weeks (UTC) up to the one holding `as_of_ms` (default now), and at
    /// `as_of_ms` for that last one. Labels: `2026-05`, `2026-W19`.
    public func memberCounts(_ request: MembershipMemberCountsRequest, user: UserID) async throws -> MembershipMemberCounts {
        let now = clock.now()
        let kind = CalendarPeriod.Kind(rawValue: request.period.isEmpty ? "month" : request.period)
        var violations: [GuildError.FieldViolation] = []
        if kind == nil { violations.append(.init(field: "period", description: "month or week.")) }
        if !(0...60).contains(request.periods) { violations.append(.init(field: "periods", description: "From 1 to 60 periods (0: 12).")) }
        if request.asOfMs < 0 { violations.append(.init(field: "asOfMs", description: "An instant from 1970 on (0: now).")) }
        guard violations.isEmpty, let kind else { throw GuildError.invalid(violations) }
        let timeline = try await timeline(community: CommunityID(request.communityID), user: user, now: now)
        var counts = MembershipMemberCounts()
        counts.period = kind.rawValue
        counts.points = timeline.counts(kind: kind, count: request.periods == 0 ? 12 : Int(request.periods),
                                        asOf: request.asOfMs == 0 ? now.millisecondsSince1970 : request.asOfMs)
        return counts
    }

    /// The community's history, for its owners and co-owners. A subscription the scheduler
    /// has not moved yet is taken as it stands at `now` (its grace run out means it ended then).
    private func timeline(community id: CommunityID, user: UserID, now: Date) async throws -> MemberTimeline {
        try await database.withConnection { sql in
            let (community, role) = try await self.authorized(sql, community: id, user: user, operation: nil)
            guard Self.policy.allows(Operation.readOrders, role: role) else {
                throw GuildError(.permissionDenied, "Only the community's owners and co-owners read its lifecycle figures.", reason: "role_required")
            }
            var plans: [String: PlanRecord] = [:]
            for row in try await sql.raw("SELECT * FROM plans WHERE community_id = \(bind: community.id.rawValue)").all() {
                let plan = try PlanRecord(row: row)
                plans[plan.id.rawValue] = plan
            }
            var spans: [MemberTimeline.Span] = []
            for row in try await sql.raw("SELECT * FROM subscriptions WHERE community_id = \(bind: community.id.rawValue)").all() {
                guard let plan = plans[try row.decode(column: "plan_id", as: String.self)] else { continue }
                var state = try self.subscriptionState(row, plan: plan)
                state.advance(to: now)
                spans.append(MemberTimeline.Span(
                    user: try row.decode(column: "user_id", as: String.self),
                    start: state.startedAt.millisecondsSince1970,
                    end: state.status == .expired ? state.accessUntil?.millisecondsSince1970 : nil,
                    startedTrialing: try row.decode(column: "started_trialing", as: Bool.self)))
            }
            var payments: [String: [Int64]] = [:]
            for row in try await sql.raw("""
                SELECT o.user_id AS user_id, p.completed_at_ms AS paid_at FROM payments p JOIN orders o ON o.id = p.order_id
                WHERE o.community_id = \(bind: community.id.rawValue) AND p.status = 'succeeded' AND o.subscription_id IS NOT NULL
                  AND p.completed_at_ms IS NOT NULL
                """).all() {
                payments[try row.decode(column: "user_id", as: String.self), default: []].append(try row.decode(column: "paid_at", as: Int64.self))
            }
            return MemberTimeline(spans: spans, payments: payments)
        }
    }
}
