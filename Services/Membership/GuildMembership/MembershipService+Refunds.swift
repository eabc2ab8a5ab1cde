import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import Logging
import SQLKit

/// Refunds and dissolution.
extension MembershipService {
    /// Refunds an order, in full or in part. The buyer may take back a whole order within the
    /// community's refund window (counted from the payment); owners and co-owners may refund
    /// any part of any order at any time. A full refund ends the subscription at once.
    public func refundOrder(_ request: MembershipRefundOrderRequest, user: UserID) async throws -> MembershipOrder {
        let now = clock.now()
        let orderID = OrderID(request.orderID)
        guard request.amountMinorUnits >= 0 else {
            throw GuildError.invalid([.init(field: "amountMinorUnits", description: "0 (everything not yet refunded) or a positive amount.")])
        }
        guard request.reason.count <= 500 else { throw GuildError.invalid([.init(field: "reason", description: "At most 500 characters.")]) }
        _ = try await once(request, operation: "refund_order", user: user, now: now) { sql in
            guard let row = try await sql.raw("SELECT user_id, community_id FROM orders WHERE id = \(bind: orderID.rawValue)").first() else {
                throw GuildError(.notFound, "No such order.")
            }
            let buyer = UserID(try row.decode(column: "user_id", as: String.self))
            let community = CommunityID(try row.decode(column: "community_id", as: String.self))
            let role = try await Self.role(sql, user: user, community: community, now: now)
            let asStaff = Self.policy.allows(Operation.refundOrders, role: role)
            guard asStaff || buyer == user else { throw GuildError(.notFound, "No such order.") }
            return try await self.refund(sql, order: orderID, amount: request.amountMinorUnits, reason: request.reason, by: user,
                                         overridingWindow: asStaff, now: now).rawValue
        }
        return try await order(orderID, user: user)
    }

    /// Refunds `amount` (0: the rest) of an order's payment: the provider returns it, the
    /// ledger records it, and a full refund ends the subscription. Under the order's lock, so
    /// concurrent refunds of one order never return more than was paid.
    @discardableResult
    func refund(
        _ sql: any SQLDatabase, order orderID: OrderID, amount requested: Int64, reason: String, by actor: UserID,
        overridingWindow: Bool, now: Date
    ) async throws -> PaymentID {
        try await lockOrder(sql, orderID)
        guard let row = try await sql.raw("""
            SELECT o.status AS order_status, o.community_id AS community_id, o.subscription_id AS subscription_id, o.user_id AS user_id,
                   p.id AS payment_id, p.provider AS provider, p.provider_reference AS reference, p.amount_minor AS amount, p.currency AS currency,
                   p.completed_at_ms AS paid_at, c.refund_window_days AS window_days
            FROM orders o JOIN payments p ON p.order_id = o.id AND p.status = 'succeeded' JOIN communities c ON c.id = o.community_id
            WHERE o.id = \(bind: orderID.rawValue)
            """).first() else {
            throw GuildError(.failedPrecondition, "This order has no payment to refund.", reason: "nothing_to_refund")
        }
        let status = try row.decode(column: "order_status", as: String.self)
        guard ["paid", "partially_refunded", "held"].contains(status) else {
            throw GuildError(.failedPrecondition, "A \(status) order cannot be refunded.", reason: "nothing_to_refund")
        }
        let payment = PaymentID(try row.decode(column: "payment_id", as: String.self))
        let community = CommunityID(try row.decode(column: "community_id", as: String.self))
        let currency = Currency(rawValue: try row.decode(column: "currency", as: String.self)) ?? .cny
        let paid = Money(minorUnits: try row.decode(column: "amount", as: Int64.self), currency: currency)
        let refunded = try await sql.raw("""
            SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM refunds WHERE payment_id = \(bind: payment.rawValue)
            """).first()?.decode(column: "total", as: Int64.self) ?? 0
        let remaining = paid.minorUnits - refunded
        let amount = Money(minorUnits: requested == 0 ? remaining : requested, currency: currency)
        guard amount.minorUnits > 0, amount.minorUnits <= remaining else {
            throw GuildError(.failedPrecondition, "At most \(Money(minorUnits: remaining, currency: currency)) of this order can still be refunded.",
                             fieldViolations: [.init(field: "amountMinorUnits", description: "At most \(remaining).")], reason: "refund_too_large")
        }
        if !overridingWindow {
            guard amount.minorUnits == remaining else {
                throw GuildError(.permissionDenied, "Members refund whole orders; a partial refund is the owner's decision.", reason: "partial_refund_by_member")
            }
            let paidAt = Date(millisecondsSince1970: try row.decode(column: "paid_at", as: Int64?.self) ?? 0)
            let windowDays = try row.decode(column: "window_days", as: Int.self)
            guard now < paidAt.addingTimeInterval(TimeInterval(windowDays) * 86_400) else {
                throw GuildError(.failedPrecondition, "The refund window of \(windowDays) days after payment has closed; ask the community's owner.", reason: "refund_window_closed")
            }
        }
        let providerName = try row.decode(column: "provider", as: String.self)
        guard let provider = providers[providerName] else {
            throw GuildError(.unavailable, "The payment provider \(providerName) is not configured here.", retryAfterSeconds: 60)
        }
        // The platform gives back its fee in proportion; what the owner was owed goes down by the rest.
        let fee = Money(minorUnits: try await sql.raw("""
            SELECT CAST(COALESCE(SUM(-e.amount_minor), 0) AS BIGINT) AS fee FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
            WHERE t.kind IN ('payment', 'group_settlement') AND t.reference = \(bind: payment.rawValue) AND e.account = 'platform_fees'
            """).first()?.decode(column: "fee", as: Int64.self) ?? 0, currency: currency)
        let feeBack = fee.scaled(amount.minorUnits, over: paid.minorUnits)
        let refundID = Identifier.make(at: now)
        try await provider.refund(reference: try row.decode(column: "reference", as: String.self), amount: amount, idempotencyKey: refundID)
        try await sql.raw("""
            INSERT INTO refunds (id, order_id, payment_id, amount_minor, currency, reason, refunded_by, created_at_ms)
            VALUES (\(bind: refundID), \(bind: orderID.rawValue), \(bind: payment.rawValue), \(bind: amount.minorUnits), \(bind: currency.rawValue),
                    \(bind: reason), \(bind: actor.rawValue), \(bind: now.millisecondsSince1970))
            """).run()
        // A held group-buy payment comes back out of the holding account; a settled one out of
        // the platform's fee and the owner's payable.
        let entries: [LedgerEntry] = status == "held"
            ? [LedgerEntry(.payerClearing(provider: providerName), -amount), LedgerEntry(.groupBuyHolding(community), amount)]
            : [LedgerEntry(.payerClearing(provider: providerName), -amount), LedgerEntry(.platformFees, feeBack), LedgerEntry(.ownerPayable(community), amount - feeBack)]
        try await Ledger.post(sql, kind: Ledger.refundKind, reference: refundID, community: community, entries: entries.filter { !$0.amount.isZero }, at: now)
        let isFull = amount.minorUnits == remaining
        try await sql.raw("""
            UPDATE orders SET status = \(bind: isFull ? "refunded" : "partially_refunded"), updated_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: orderID.rawValue)
            """).run()
        try await emit(sql, Topic.paymentRefunded, try await paymentEvent(sql, order: orderID, amount: amount, full: isFull, refund: refundID), at: now)
        if isFull, let subscription = try row.decode(column: "subscription_id", as: String?.self) {
            try await endSubscription(sql, SubscriptionID(subscription), now: now)
        }
        logger.info("refunded", metadata: ["order": "\(orderID)", "amount": "\(amount)", "full": "\(isFull)"])
        return payment
    }

    /// Ends a subscription at once.
    func endSubscription(_ sql: any SQLDatabase, _ id: SubscriptionID, now: Date) async throws {
        guard let row = try await sql.raw("SELECT * FROM subscriptions WHERE id = \(bind: id.rawValue) \(SQLLockingClause.update)").first() else { return }
        let plan = try await planRecord(sql, PlanID(try row.decode(column: "plan_id", as: String.self)))
        var state = try subscriptionState(row, plan: plan)
        guard state.status != .expired else { return }
        state.end(at: now)
        try await save(sql, subscription: id, state: state, now: now)
        try await emit(sql, Topic.subscriptionEnded, try await subscriptionEvent(sql, id), at: now)
    }

    /// Dissolves a community (owner only): it takes no more members, every live subscription
    /// ends now, and with the `pro_rata` rule each member gets back the unused share (by time) of
    /// their latest payment. Lifetime memberships and trials have no unused share to return.
    public func dissolveCommunity(_ request: MembershipDissolveCommunityRequest, user: UserID) async throws -> MembershipDissolveCommunityResponse {
        let now = clock.now()
        let id = CommunityID(request.communityID)
        let outcome: DissolveOutcome = try await IdempotencyKeys.run(
            database, scope: "dissolve:\(user)", key: request.idempotencyKey, fingerprint: try request.fingerprint, now: now,
            encode: { (outcome: DissolveOutcome) in Array("\(outcome.refunds),\(outcome.refunded)".utf8) },
            decode: { (bytes: [UInt8]) in
                let parts = String(decoding: bytes, as: UTF8.self).split(separator: ",").compactMap { Int64($0) }
                return DissolveOutcome(refunds: parts.first ?? 0, refunded: parts.last ?? 0)
            }
        ) { (sql: any SQLDatabase) -> DissolveOutcome in
            // The community's lock: a second dissolution (another key) waits, then finds it dissolved.
            try await sql.lockRow("communities", is: id.rawValue)
            let (community, _) = try await self.authorized(sql, community: id, user: user, operation: Operation.changeLifecycle)
            guard community.status != .dissolved else {
                throw GuildError(.failedPrecondition, "The community is already dissolved.", reason: "already_dissolved")
            }
            try await sql.raw("UPDATE communities SET status = 'dissolved', updated_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: id.rawValue)").run()
            var refunds: Int64 = 0
            var refunded: Int64 = 0
            for row in try await sql.raw("""
                SELECT id, period_end_ms FROM subscriptions WHERE community_id = \(bind: id.rawValue) AND status <> 'expired'
                """).all() {
                let subscription = SubscriptionID(try row.decode(column: "id", as: String.self))
                if community.dissolutionRefund == "pro_rata", let end = try row.decode(column: "period_end_ms", as: Int64?.self),
                   let latest = try await sql.raw("""
                       SELECT o.id AS order_id, p.amount_minor AS amount, p.completed_at_ms AS paid_at,
                              (SELECT CAST(COALESCE(SUM(r.amount_minor), 0) AS BIGINT) FROM refunds r WHERE r.payment_id = p.id) AS refunded
                       FROM orders o JOIN payments p ON p.order_id = o.id AND p.status = 'succeeded'
                       WHERE o.subscription_id = \(bind: subscription.rawValue) AND o.status IN ('paid', 'partially_refunded')
                       ORDER BY p.completed_at_ms DESC LIMIT 1
                       """).first() {
                    let paidAt = try latest.decode(column: "paid_at", as: Int64.self)
                    let unused = max(0, end - now.millisecondsSince1970)
                    let span = max(1, end - paidAt)
                    let left = try latest.decode(column: "amount", as: Int64.self) - (try latest.decode(column: "refunded", as: Int64.self))
                    let share = Money(minorUnits: left, currency: community.currency).scaled(min(unused, span), over: span)
                    if share.minorUnits > 0 {
                        try await self.refund(sql, order: OrderID(try latest.decode(column: "order_id", as: String.self)), amount: share.minorUnits,
                                              reason: "community dissolved", by: user, overridingWindow: true, now: now)
                        refunds += 1
                        refunded += share.minorUnits
                    }
                }
                try await self.endSubscription(sql, subscription, now: now)
            }
            return DissolveOutcome(refunds: refunds, refunded: refunded)
        }
        var response = MembershipDissolveCommunityResponse()
        response.community = try await community(id.rawValue, user: user)
        response.refunds = outcome.refunds
        response.refunded = MembershipMoney(Money(minorUnits: outcome.refunded, currency: Currency(rawValue: response.community.currency) ?? .cny))
        logger.info("community dissolved", metadata: ["community": "\(id)", "refunds": "\(outcome.refunds)"])
        return response
    }
}

/// What dissolving a community did.
struct DissolveOutcome: Sendable {
    var refunds: Int64
    var refunded: Int64
}
