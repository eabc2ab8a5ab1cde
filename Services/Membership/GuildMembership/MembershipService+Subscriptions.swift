import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import SQLKit

/// Subscriptions, entitlements, the scheduler's work, and the ledger's reports.
extension MembershipService {
    // MARK: Subscriptions

    func subscriptionState(_ row: any SQLRow, plan: PlanRecord) throws -> SubscriptionState {
        SubscriptionState(
            status: SubscriptionState.Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .expired,
            period: plan.period,
            gracePeriod: configuration.gracePeriod.timeInterval,
            startedAt: Date(millisecondsSince1970: try row.decode(column: "started_at_ms", as: Int64.self)),
            periodEnd: try row.decode(column: "period_end_ms", as: Int64?.self).map(Date.init(millisecondsSince1970:)),
            wasTrialing: try row.decode(column: "was_trialing", as: Bool.self),
            endedAt: try row.decode(column: "ended_at_ms", as: Int64?.self).map(Date.init(millisecondsSince1970:)))
    }

    /// Writes a subscription's state and the access window the entitlement index reads.
    func save(_ sql: any SQLDatabase, subscription id: SubscriptionID, state: SubscriptionState, now: Date) async throws {
        try await sql.raw("""
            UPDATE subscriptions SET status = \(bind: state.status.rawValue), was_trialing = \(bind: state.wasTrialing),
                period_end_ms = \(bind: state.periodEnd?.millisecondsSince1970), ended_at_ms = \(bind: state.endedAt?.millisecondsSince1970),
                access_until_ms = \(bind: state.accessUntil?.millisecondsSince1970), updated_at_ms = \(bind: now.millisecondsSince1970)
            WHERE id = \(bind: id.rawValue)
            """).run()
    }

    private func subscriptionMessage(_ row: any SQLRow, state: SubscriptionState) throws -> MembershipSubscription {
        var message = MembershipSubscription()
        message.id = try row.decode(column: "id", as: String.self)
        message.communityID = try row.decode(column: "community_id", as: String.self)
        message.planID = try row.decode(column: "plan_id", as: String.self)
        message.userID = try row.decode(column: "user_id", as: String.self)
        message.state = state.status.rawValue
        message.startedAtMs = state.startedAt.millisecondsSince1970
        message.currentPeriodEndMs = state.periodEnd?.millisecondsSince1970 ?? 0
        message.cancelAtPeriodEnd = state.cancelsAtPeriodEnd
        message.endedAtMs = state.endedAt?.millisecondsSince1970 ?? 0
        return message
    }

    /// The caller's memberships: every community where they hold a role or a subscription.
    public func memberships(user: UserID) async throws -> MembershipListMembershipsResponse {
        try await database.withConnection { sql in
            let now = self.clock.now()
            var response = MembershipListMembershipsResponse()
            var seen: Set<String> = []
            for row in try await sql.raw("SELECT * FROM subscriptions WHERE user_id = \(bind: user.rawValue) ORDER BY started_at_ms DESC").all() {
                let community = try row.decode(column: "community_id", as: String.self)
                guard seen.insert(community).inserted else { continue }  // the newest per community
                let plan = try await self.planRecord(sql, PlanID(try row.decode(column: "plan_id", as: String.self)))
                var membership = MembershipMembership()
                let role = try await Self.role(sql, user: user, community: CommunityID(community), now: now)
                membership.community = try await self.communityMessage(sql, CommunityID(community), role: role)
                membership.subscription = try self.subscriptionMessage(row, state: try self.subscriptionState(row, plan: plan))
                membership.role = role?.rawValue ?? ""
                response.memberships.append(membership)
            }
            for row in try await sql.raw("SELECT community_id, role FROM community_roles WHERE user_id = \(bind: user.rawValue)").all() {
                let community = try row.decode(column: "community_id", as: String.self)
                guard seen.insert(community).inserted else { continue }
                let role = CommunityRole(rawValue: try row.decode(column: "role", as: String.self))
                var membership = MembershipMembership()
                membership.community = try await self.communityMessage(sql, CommunityID(community), role: role)
                membership.role = role.rawValue
                response.memberships.append(membership)
            }
            return response
        }
    }

    private func communityMessage(_ sql: any SQLDatabase, _ id: CommunityID, role: CommunityRole?) async throws -> MembershipCommunity {
        guard let row = try await sql.raw("SELECT * FROM communities WHERE id = \(bind: id.rawValue)").first() else {
            throw GuildError(.internal, "Community \(id) vanished.")
        }
        return try CommunityRecord(row: row).message(callerRole: role)
    }

    /// Cancels at the period's end (the member keeps access until then).
    public func cancelSubscription(_ request: MembershipSubscriptionRequest, user: UserID) async throws -> MembershipSubscription {
        try await changeSubscription(request, user: user) { state, now in try state.cancel(at: now) }
    }

    /// Takes a cancellation back before the period ends.
    public func resumeSubscription(_ request: MembershipSubscriptionRequest, user: UserID) async throws -> MembershipSubscription {
        try await changeSubscription(request, user: user) { state, now in try state.resume(at: now) }
    }

    private func changeSubscription(
        _ request: MembershipSubscriptionRequest, user: UserID,
        _ change: @escaping @Sendable (inout SubscriptionState, Date) throws -> Void
    ) async throws -> MembershipSubscription {
        let id = SubscriptionID(request.subscriptionID)
        let now = clock.now()
        return try await database.transaction { sql in
            guard let row = try await sql.raw("SELECT * FROM subscriptions WHERE id = \(bind: id.rawValue) \(SQLLockingClause.update)").first(),
                  try row.decode(column: "user_id", as: String.self) == user.rawValue
            else { throw GuildError(.notFound, "No such subscription.") }
            let plan = try await self.planRecord(sql, PlanID(try row.decode(column: "plan_id", as: String.self)))
            var state = try self.subscriptionState(row, plan: plan)
            let wasLive = state.status != .expired
            state.advance(to: now)
            try change(&state, now)
            try await self.save(sql, subscription: id, state: state, now: now)
            if wasLive, state.status == .expired {
                try await self.emit(sql, Topic.subscriptionEnded, try await self.subscriptionEvent(sql, id), at: now)
            }
            let updated = try await sql.raw("SELECT * FROM subscriptions WHERE id = \(bind: id.rawValue)").first()!
            return try self.subscriptionMessage(updated, state: state)
        }
    }

    /// Moves every subscription whose period (or grace) ended: past due, expired. Run by the
    /// scheduler; returns how many changed. The rows are locked as they are read; on PostgreSQL
    /// a row a renewal changed meanwhile is read again as it now is (and skipped when its new
    /// period has not ended).
    @discardableResult
    public func advanceSubscriptions() async throws -> Int {
        let now = clock.now()
        return try await database.transaction { sql in
            var changed = 0
            for row in try await sql.raw("""
                SELECT * FROM subscriptions WHERE status <> 'expired' AND period_end_ms IS NOT NULL AND period_end_ms <= \(bind: now.millisecondsSince1970)
                \(SQLLockingClause.update)
                """).all() {
                let plan = try await self.planRecord(sql, PlanID(try row.decode(column: "plan_id", as: String.self)))
                var state = try self.subscriptionState(row, plan: plan)
                if state.advance(to: now) {
                    let id = SubscriptionID(try row.decode(column: "id", as: String.self))
                    try await self.save(sql, subscription: id, state: state, now: now)
                    if state.status == .expired {
                        try await self.emit(sql, Topic.subscriptionEnded, try await self.subscriptionEvent(sql, id), at: now)
                    }
                    changed += 1
                }
            }
            return changed
        }
    }

    // MARK: Entitlements

    /// Is the user entitled to the community (to one of the plans, when given) at the instant?
    /// Staff roles are entitled without a plan. Answered from the subscriptions index.
    public func entitlement(_ request: MembershipCheckEntitlementRequest) async throws -> MembershipEntitlement {
        let user = UserID(request.userID)
        let community = CommunityID(request.communityID)
        let instant = request.atMs == 0 ? clock.now() : Date(millisecondsSince1970: request.atMs)
        return try await database.withConnection { sql in
            var entitlement = MembershipEntitlement()
            let rows = try await Self.accessGrants(sql, user: user, community: community, at: instant)
            entitlement.planIds = rows.map(\.plan)
            let validUntil = rows.map { $0.until ?? Int64.max }.max() ?? 0
            let staff = try await sql.raw("""
                SELECT role FROM community_roles WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue)
                """).first().map { CommunityRole(rawValue: try $0.decode(column: "role", as: String.self)) }
            entitlement.role = staff?.rawValue ?? (rows.isEmpty ? "" : CommunityRole.member.rawValue)
            let holdsPlan = request.planIds.isEmpty ? !rows.isEmpty : !Set(request.planIds).isDisjoint(with: entitlement.planIds)
            entitlement.entitled = staff != nil || holdsPlan
            entitlement.validUntilMs = staff != nil ? Int64.max : validUntil
            return entitlement
        }
    }

    // MARK: Ledger

    /// Checks every ledger invariant.
    public func checkLedger() async throws -> MembershipLedgerCheck {
        let result = try await database.withConnection { sql in try await Ledger.check(sql) }
        var check = MembershipLedgerCheck()
        check.transactions = result.transactions
        check.entries = result.entries
        check.violations = result.violations
        return check
    }

    /// The owner's earnings statement for a community, from the ledger. Its lines add up:
    /// gross − platform fees − refunds − commissions = payable, where gross is what members
    /// paid that was settled to the community (a direct payment, a group buy that filled),
    /// fees are net of those the platform gave back with refunds, refunds are those out of
    /// settled payments, and commissions are referral commissions accrued net of clawbacks.
    /// Money still held for an open group buy is in `held`, outside the sum until it settles.
    public func earnings(_ request: MembershipGetEarningsRequest, user: UserID) async throws -> MembershipEarningsStatement {
        try await database.withConnection { sql in
            let (community, _) = try await self.authorized(sql, community: CommunityID(request.communityID), user: user, operation: Operation.readEarnings)
            let id = community.id.rawValue
            let currency = community.currency
            let owner = LedgerAccount.ownerPayable(community.id).rawValue
            let fees = LedgerAccount.platformFees.rawValue
            // Each line from the entries on the owner's account and the platform's fee that
            // the kinds of transaction make (decision 11).
            let row = try await sql.raw("""
                SELECT
                  CAST(COALESCE(SUM(CASE WHEN t.kind IN ('payment', 'group_settlement') AND e.account IN (\(bind: owner), \(bind: fees)) THEN -e.amount_minor ELSE 0 END), 0) AS BIGINT) AS gross,
                  CAST(COALESCE(SUM(CASE WHEN t.kind IN ('payment', 'group_settlement', 'refund') AND e.account = \(bind: fees) THEN -e.amount_minor ELSE 0 END), 0) AS BIGINT) AS fees,
                  CAST(COALESCE(SUM(CASE WHEN t.kind = 'refund' AND e.account IN (\(bind: owner), \(bind: fees)) THEN e.amount_minor ELSE 0 END), 0) AS BIGINT) AS refunds,
                  CAST(COALESCE(SUM(CASE WHEN t.kind IN ('commission_accrue', 'commission_claw_back') AND e.account = \(bind: owner) THEN e.amount_minor ELSE 0 END), 0) AS BIGINT) AS commissions,
                  CAST(COALESCE(SUM(CASE WHEN e.account = \(bind: owner) THEN -e.amount_minor ELSE 0 END), 0) AS BIGINT) AS payable,
                  CAST(COALESCE(SUM(CASE WHEN e.account = \(bind: LedgerAccount.groupBuyHolding(community.id).rawValue) THEN -e.amount_minor ELSE 0 END), 0) AS BIGINT) AS held,
                  COUNT(DISTINCT CASE WHEN t.kind IN ('payment', 'group_settlement') AND e.account = \(bind: owner) THEN t.id END) AS payments
                FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
                WHERE t.community_id = \(bind: id) AND e.currency = \(bind: currency.rawValue)
                """).first()
            func money(_ column: String) throws -> MembershipMoney {
                MembershipMoney(Money(minorUnits: try row?.decode(column: column, as: Int64.self) ?? 0, currency: currency))
            }
            var statement = MembershipEarningsStatement()
            statement.communityID = id
            statement.gross = try money("gross")
            statement.platformFees = try money("fees")
            statement.refunds = try money("refunds")
            statement.commissions = try money("commissions")
            statement.payable = try money("payable")
            statement.held = try money("held")
            statement.payments = try row?.decode(column: "payments", as: Int64.self) ?? 0
            return statement
        }
    }
}
