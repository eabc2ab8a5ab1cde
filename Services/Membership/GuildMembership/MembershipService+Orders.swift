import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// Quotes, orders, payments, subscriptions, entitlements and the ledger.
extension MembershipService {
    // MARK: Quotes

    /// What buying `plan` costs the caller now, line by line.
    public func quote(_ request: MembershipQuoteRequest, user: UserID) async throws -> MembershipQuote {
        try await database.withConnection { sql in
            var quote = try await self.pricing(sql, community: CommunityID(request.communityID), plan: PlanID(request.planID), couponCode: request.couponCode, user: user, now: self.clock.now()).quote()
            quote.providers = self.providerNames
            return quote
        }
    }

    private func pricing(_ sql: any SQLDatabase, community id: CommunityID, plan planID: PlanID, couponCode: String, user: UserID, now: Date) async throws -> Pricing {
        let (community, _) = try await authorized(sql, community: id, user: user, operation: nil)
        guard community.status == .active else {
            throw GuildError(.failedPrecondition, "This community is not open for new members.", reason: "community_not_active")
        }
        let plan = try await planRecord(sql, planID)
        guard plan.community == id else { throw GuildError(.notFound, "No such plan in this community.") }
        let coupon = couponCode.isEmpty ? nil : try await coupon(sql, community: id, code: couponCode)
        if let coupon, !coupon.issuedTo.isEmpty, coupon.issuedTo != user.rawValue {
            let message = "Coupon \(coupon.code) was issued to another member."
            throw GuildError(.failedPrecondition, message, fieldViolations: [.init(field: "couponCode", description: message)], reason: "coupon_not_yours")
        }
        let history = try await sql.raw("""
            SELECT (SELECT COUNT(*) FROM orders WHERE user_id = \(bind: user.rawValue) AND community_id = \(bind: id.rawValue) AND status = 'paid' AND total_minor > 0) AS purchases,
                   (SELECT COUNT(*) FROM subscriptions WHERE user_id = \(bind: user.rawValue) AND community_id = \(bind: id.rawValue)) AS subscriptions,
                   (SELECT COUNT(*) FROM coupon_redemptions WHERE coupon_id = \(bind: coupon?.id ?? "") AND user_id = \(bind: user.rawValue)) AS redemptions,
                   (SELECT COUNT(*) FROM subscriptions WHERE user_id = \(bind: user.rawValue) AND plan_id = \(bind: planID.rawValue) AND status <> 'expired') AS holding,
                   (SELECT COUNT(*) FROM orders o JOIN coupons c ON c.id = o.coupon_id
                    WHERE o.user_id = \(bind: user.rawValue) AND o.community_id = \(bind: id.rawValue) AND o.status IN ('pending', 'held')
                      AND c.first_purchase_only = \(bind: true)) AS first_purchases_waiting
            """).first()
        let buyer = Pricing.Buyer(
            hasPurchased: try history?.decode(column: "purchases", as: Int.self) ?? 0 > 0,
            hasSubscribed: try history?.decode(column: "subscriptions", as: Int.self) ?? 0 > 0,
            couponRedemptions: try history?.decode(column: "redemptions", as: Int.self) ?? 0,
            isRenewal: try history?.decode(column: "holding", as: Int.self) ?? 0 > 0,
            hasFirstPurchaseWaiting: try history?.decode(column: "first_purchases_waiting", as: Int.self) ?? 0 > 0)
        // A retired plan sells no more, but its members may keep renewing it.
        guard plan.isActive || buyer.isRenewal else {
            throw GuildError(.failedPrecondition, "This plan has been retired.", reason: "plan_retired")
        }
        return Pricing(plan: plan, offer: try await currentOffer(sql, plan: plan, at: now), coupon: coupon, buyer: buyer, now: now)
    }

    // MARK: Orders

    /// Places an order from a fresh quote. A zero total (a trial, a 100 % coupon) completes at
    /// once; otherwise a payment is started with the provider and the order waits for it.
    /// Repeating the request with the same idempotency key returns the same order.
    public func createOrder(_ request: MembershipCreateOrderRequest, user: UserID) async throws -> MembershipOrder {
        let provider = try paymentProvider(named: request.provider)
        var normalized = request
        normalized.provider = provider.name  // "" and "sandbox" are the same request
        let now = clock.now()
        let orderID = try await once(normalized, operation: "create_order", user: user, now: now) { sql in
            try await self.placeOrder(sql, request: request, provider: provider, user: user, now: now).rawValue
        }
        return try await order(OrderID(orderID), user: user)
    }

    private func placeOrder(_ sql: any SQLDatabase, request: MembershipCreateOrderRequest, provider: any PaymentProvider, user: UserID, now: Date) async throws -> OrderID {
        let communityID = CommunityID(request.communityID)
        // The buyer's lock first: what pricing reads of their history (coupon uses, trials, a
        // first purchase waiting, the plan they hold) stays true until this order is written.
        guard try await sql.raw("SELECT id FROM communities WHERE id = \(bind: communityID.rawValue)").first() != nil else {
            throw GuildError(.notFound, "No such community.")
        }
        try await lockBuyer(sql, community: communityID, user: user, now: now)
        let pricing = try await pricing(sql, community: communityID, plan: PlanID(request.planID), couponCode: request.couponCode, user: user, now: now)
        let plan = pricing.plan
        // One live subscription per member and community; paying again for the same plan renews it.
        let live = try await sql.raw("""
            SELECT plan_id FROM subscriptions WHERE user_id = \(bind: user.rawValue) AND community_id = \(bind: communityID.rawValue) AND status <> 'expired'
            """).all().map { PlanID(try $0.decode(column: "plan_id", as: String.self)) }
        if let current = live.first, current != plan.id {
            throw GuildError(.failedPrecondition, "You are already a member on another plan; changing plans is not supported yet.", reason: "already_member")
        }
        if live.isEmpty, plan.seatLimit > 0 {
            // Live subscriptions hold seats, and so do orders waiting for their payment (for an
            // hour). Counted under the plan's lock: concurrent buyers of a full plan take turns.
            try await sql.lockRow("plans", is: plan.id.rawValue)
            let seats = try await sql.raw("""
                SELECT (SELECT COUNT(*) FROM subscriptions WHERE plan_id = \(bind: plan.id.rawValue) AND status <> 'expired')
                     + (SELECT COUNT(*) FROM orders WHERE plan_id = \(bind: plan.id.rawValue) AND status = 'pending'
                        AND created_at_ms > \(bind: now.millisecondsSince1970 - Self.pendingSeatHoldMs)) AS n
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            if seats >= plan.seatLimit {
                throw GuildError(.resourceExhausted, "This plan is full (\(plan.seatLimit) seats).", reason: "plan_full")
            }
        }
        let quote = try pricing.quote()
        let total = Money(minorUnits: quote.total.minorUnits, currency: plan.price.currency)
        let orderID = OrderID.make(at: now)
        try await sql.raw("""
            INSERT INTO orders (id, community_id, plan_id, user_id, quote, total_minor, currency, coupon_id, status, created_at_ms, updated_at_ms)
            VALUES (\(bind: orderID.rawValue), \(bind: communityID.rawValue), \(bind: plan.id.rawValue), \(bind: user.rawValue),
                    \(bind: try quote.serializedData()), \(bind: total.minorUnits), \(bind: total.currency.rawValue), \(bind: pricing.coupon?.id),
                    'pending', \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
            """).run()
        if let coupon = pricing.coupon {
            // The limit holds under concurrency: the counter only moves while below it.
            let claimed = try await sql.raw("""
                UPDATE coupons SET redeemed = redeemed + 1
                WHERE id = \(bind: coupon.id) AND (max_redemptions = 0 OR redeemed < max_redemptions) RETURNING id
                """).first() != nil
            guard claimed else {
                throw GuildError(.failedPrecondition, "Coupon \(coupon.code) has been used up.", fieldViolations: [.init(field: "couponCode", description: "Used up.")], reason: "coupon_exhausted")
            }
            try await sql.raw("""
                INSERT INTO coupon_redemptions (coupon_id, order_id, user_id, created_at_ms)
                VALUES (\(bind: coupon.id), \(bind: orderID.rawValue), \(bind: user.rawValue), \(bind: now.millisecondsSince1970))
                """).run()
        }
        if total.isZero {
            try await completeOrder(sql, order: orderID, payment: nil, now: now)
            return orderID
        }
        let paymentID = PaymentID.make(at: now)
        let started = try await provider.startPayment(id: paymentID, amount: total, description: plan.name)
        try await sql.raw("""
            INSERT INTO payments (id, order_id, provider, provider_reference, status, amount_minor, currency, checkout_url, failure_reason, created_at_ms)
            VALUES (\(bind: paymentID.rawValue), \(bind: orderID.rawValue), \(bind: provider.name), \(bind: started.reference), 'pending',
                    \(bind: total.minorUnits), \(bind: total.currency.rawValue), \(bind: started.checkoutURL), '', \(bind: now.millisecondsSince1970))
            """).run()
        logger.info("order placed", metadata: ["order": "\(orderID)", "payment": "\(paymentID)", "amount": "\(total)"])
        return orderID
    }

    /// The sandbox provider's confirmation: the payer paid (or the payment failed). Only the
    /// buyer (or the community's owners) may confirm; a payment already settled answers with
    /// its order as it is.
    public func confirmSandboxPayment(_ request: MembershipConfirmSandboxPaymentRequest, user: UserID) async throws -> MembershipOrder {
        guard request.cardFingerprint.count <= 128 else {
            throw GuildError.invalid([.init(field: "cardFingerprint", description: "At most 128 characters.")])
        }
        let now = clock.now()
        let paymentID = PaymentID(request.paymentID)
        let orderID = try await once(request, operation: "confirm_payment", user: user, now: now) { sql in
            guard let row = try await sql.raw("""
                SELECT p.order_id AS order_id, p.provider AS provider, p.status AS status, o.user_id AS user_id, o.community_id AS community_id
                FROM payments p JOIN orders o ON o.id = p.order_id WHERE p.id = \(bind: paymentID.rawValue)
                """).first() else { throw GuildError(.notFound, "No such payment.") }
            let orderID = OrderID(try row.decode(column: "order_id", as: String.self))
            let buyer = UserID(try row.decode(column: "user_id", as: String.self))
            if buyer != user {
                // Someone else's payment: as if it did not exist, unless the caller runs the community.
                let role = try await Self.role(sql, user: user, community: CommunityID(try row.decode(column: "community_id", as: String.self)), now: now)
                guard Self.policy.allows(Operation.readOrders, role: role) else { throw GuildError(.notFound, "No such payment.") }
            }
            guard try row.decode(column: "provider", as: String.self) == "sandbox" else {
                throw GuildError(.failedPrecondition, "Only sandbox payments are confirmed through the API.", reason: "not_sandbox")
            }
            guard try row.decode(column: "status", as: String.self) == "pending" else { return orderID.rawValue }
            if request.fail {
                try await self.failPayment(sql, payment: paymentID, order: orderID, reason: request.failureReason.isEmpty ? "declined" : String(request.failureReason.prefix(200)), now: now)
            } else {
                try await self.paymentSucceeded(sql, payment: paymentID, order: orderID, cardFingerprint: request.cardFingerprint, now: now)
            }
            return orderID.rawValue
        }
        return try await order(OrderID(orderID), user: user)
    }

    /// A provider says a pending payment succeeded: record it, then complete the order (or hold
    /// it, for a group buy). `reference` replaces the provider's reference when given (Stripe's
    /// payment intent, which refunds need). `cardFingerprint` is the provider's fingerprint of
    /// the card ("" when unknown); the payment events carry it (referral's self-referral check).
    ///
    /// Once per payment: under the order's lock (and its group's), the payment moves from
    /// `pending` only here; a second confirmation, webhook or race finds it moved and changes
    /// nothing (returns false).
    @discardableResult
    func paymentSucceeded(_ sql: any SQLDatabase, payment: PaymentID, order: OrderID, reference: String? = nil, cardFingerprint: String = "", now: Date) async throws -> Bool {
        let group = try await lockOrder(sql, order)
        guard try await sql.raw("""
            UPDATE payments SET status = 'succeeded', completed_at_ms = \(bind: now.millisecondsSince1970), card_fingerprint = \(bind: String(cardFingerprint.prefix(128))),
                   provider_reference = COALESCE(\(bind: reference), provider_reference)
            WHERE id = \(bind: payment.rawValue) AND status = 'pending' RETURNING id
            """).first() != nil else { return false }
        if let group {
            try await groupPaymentSucceeded(sql, order: order, payment: payment, group: group, now: now)
        } else {
            try await completeOrder(sql, order: order, payment: payment, now: now)
        }
        return true
    }

    /// Cancels orders left unpaid for ``MembershipConfiguration/abandonedOrderAge``: the
    /// payment is voided, the coupon redemption given back, the seat freed. (Group-buy orders
    /// end with their group.) The scheduler's work; returns how many were cancelled.
    @discardableResult
    public func cancelAbandonedOrders() async throws -> Int {
        let now = clock.now()
        let cutoff = now.millisecondsSince1970 - Int64(configuration.abandonedOrderAge.timeInterval * 1000)
        return try await database.transaction { sql in
            let rows = try await sql.raw("""
                SELECT id FROM orders WHERE status = 'pending' AND group_buy_id IS NULL AND created_at_ms < \(bind: cutoff)
                """).all()
            var cancelled = 0
            for row in rows where try await self.cancelUnpaidOrder(sql, OrderID(try row.decode(column: "id", as: String.self)), reason: "abandoned", now: now) {
                cancelled += 1
            }
            return cancelled
        }
    }

    /// Cancels an order nobody paid: its pending payment is voided and its coupon redemption
    /// given back. Under the order's lock and only while it is pending: an order paid a moment
    /// ago stays paid (returns false).
    @discardableResult
    func cancelUnpaidOrder(_ sql: any SQLDatabase, _ order: OrderID, reason: String, now: Date) async throws -> Bool {
        try await lockOrder(sql, order)
        guard try await sql.raw("""
            UPDATE orders SET status = 'cancelled', updated_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: order.rawValue) AND status = 'pending' RETURNING id
            """).first() != nil else { return false }
        try await sql.raw("""
            UPDATE payments SET status = 'voided', failure_reason = \(bind: reason), completed_at_ms = \(bind: now.millisecondsSince1970)
            WHERE order_id = \(bind: order.rawValue) AND status = 'pending'
            """).run()
        try await releaseCoupons(sql, order: order)
        return true
    }

    /// The platform's fee on `amount`.
    func platformFee(on amount: Money) -> Money {
        amount.portion(basisPoints: configuration.platformFeeBasisPoints)
    }

    /// Gives back the coupon redemptions an order held.
    func releaseCoupons(_ sql: any SQLDatabase, order: OrderID) async throws {
        for row in try await sql.raw("SELECT coupon_id FROM coupon_redemptions WHERE order_id = \(bind: order.rawValue)").all() {
            let coupon = try row.decode(column: "coupon_id", as: String.self)
            try await sql.raw("UPDATE coupons SET redeemed = redeemed - 1 WHERE id = \(bind: coupon) AND redeemed > 0").run()
        }
        try await sql.raw("DELETE FROM coupon_redemptions WHERE order_id = \(bind: order.rawValue)").run()
    }

    /// A payment failed: the order fails and its coupon redemption is given back. Once, under
    /// the order's lock, and only for a payment still pending.
    func failPayment(_ sql: any SQLDatabase, payment: PaymentID, order: OrderID, reason: String, now: Date) async throws {
        try await lockOrder(sql, order)
        guard try await sql.raw("""
            UPDATE payments SET status = 'failed', failure_reason = \(bind: reason), completed_at_ms = \(bind: now.millisecondsSince1970)
            WHERE id = \(bind: payment.rawValue) AND status = 'pending' RETURNING id
            """).first() != nil else { return }
        try await sql.raw("UPDATE orders SET status = 'failed', updated_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: order.rawValue)").run()
        try await releaseCoupons(sql, order: order)
        logger.info("payment failed", metadata: ["payment": "\(payment)", "reason": "\(reason)"])
    }

    /// An order is paid (or needed no payment): record the money in the ledger, then start the
    /// subscription or renew the one the buyer has.
    func completeOrder(_ sql: any SQLDatabase, order orderID: OrderID, payment: PaymentID?, now: Date) async throws {
        guard let row = try await sql.raw("SELECT * FROM orders WHERE id = \(bind: orderID.rawValue)").first() else {
            throw GuildError(.internal, "Order \(orderID) vanished.")
        }
        let community = CommunityID(try row.decode(column: "community_id", as: String.self))
        let planID = PlanID(try row.decode(column: "plan_id", as: String.self))
        let buyer = UserID(try row.decode(column: "user_id", as: String.self))
        let quote = try MembershipQuote(serializedBytes: try row.decode(column: "quote", as: Data.self))
        let total = Money(minorUnits: try row.decode(column: "total_minor", as: Int64.self),
                          currency: Currency(rawValue: try row.decode(column: "currency", as: String.self)) ?? .cny)
        if let payment, !total.isZero {
            let provider = try await sql.raw("SELECT provider FROM payments WHERE id = \(bind: payment.rawValue)").first()?.decode(column: "provider", as: String.self) ?? "sandbox"
            try await Ledger.post(sql, kind: Ledger.paymentKind, reference: payment.rawValue, community: community,
                                  entries: Ledger.settlementEntries(amount: total, fee: platformFee(on: total), from: .payerClearing(provider: provider), community: community), at: now)
        }
        let plan = try await planRecord(sql, planID)
        let subscription: SubscriptionID
        // Under the buyer's lock, then the subscription's: two payments completing at once make
        // one subscription, and a renewal extends the period the other one left.
        try await lockBuyer(sql, community: community, user: buyer, now: now)
        if let existing = try await sql.raw("""
            SELECT * FROM subscriptions WHERE user_id = \(bind: buyer.rawValue) AND community_id = \(bind: community.rawValue) AND status <> 'expired'
            \(SQLLockingClause.update)
            """).first() {
            subscription = SubscriptionID(try existing.decode(column: "id", as: String.self))
            var state = try subscriptionState(existing, plan: plan)
            try state.renewed(at: now)
            try await save(sql, subscription: subscription, state: state, now: now)
        } else {
            subscription = SubscriptionID.make(at: now)
            let state = SubscriptionState.start(at: now, period: plan.period, trialDays: Int(quote.trialDays), gracePeriod: configuration.gracePeriod.timeInterval)
            try await sql.raw("""
                INSERT INTO subscriptions (id, community_id, plan_id, user_id, status, was_trialing, started_trialing, started_at_ms, updated_at_ms)
                VALUES (\(bind: subscription.rawValue), \(bind: community.rawValue), \(bind: planID.rawValue), \(bind: buyer.rawValue),
                        \(bind: state.status.rawValue), \(bind: state.status == .trialing), \(bind: state.status == .trialing),
                        \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
                """).run()
            try await save(sql, subscription: subscription, state: state, now: now)
            try await emit(sql, Topic.subscriptionStarted, try await subscriptionEvent(sql, subscription), at: now)
        }
        try await sql.raw("""
            UPDATE orders SET status = 'paid', subscription_id = \(bind: subscription.rawValue), updated_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: orderID.rawValue)
            """).run()
        if payment != nil, !total.isZero {
            try await emit(sql, Topic.paymentSucceeded, try await paymentEvent(sql, order: orderID, amount: total), at: now)
        }
        logger.info("order paid", metadata: ["order": "\(orderID)", "subscription": "\(subscription)", "amount": "\(total)"])
    }

    /// An order: the buyer's own, or any of the community's for its owners.
    public func order(_ id: OrderID, user: UserID) async throws -> MembershipOrder {
        try await database.withConnection { sql in
            guard let row = try await sql.raw("SELECT * FROM orders WHERE id = \(bind: id.rawValue)").first() else {
                throw GuildError(.notFound, "No such order.")
            }
            let buyer = UserID(try row.decode(column: "user_id", as: String.self))
            if buyer != user {
                // Someone else's order: as if it did not exist, unless the caller runs the community.
                let community = CommunityID(try row.decode(column: "community_id", as: String.self))
                let role = try await Self.role(sql, user: user, community: community, now: self.clock.now())
                guard Self.policy.allows(Operation.readOrders, role: role) else { throw GuildError(.notFound, "No such order.") }
            }
            return try await Self.orderMessages(sql, rows: [row])[0]
        }
    }

    /// The calling user's orders, newest first, each as ``order(_:user:)`` answers it: four
    /// statements for the page, whatever its length.
    public func myOrders(_ request: MembershipListMyOrdersRequest, user: UserID) async throws -> MembershipOrderList {
        guard (0...100).contains(request.limit) else { throw GuildError.invalid([.init(field: "limit", description: "From 1 to 100 (0: 50).")]) }
        let limit = request.limit == 0 ? 50 : Int(request.limit)
        var list = MembershipOrderList()
        list.orders = try await database.withConnection { sql in
            let rows = try await sql.raw("""
                SELECT * FROM orders WHERE user_id = \(bind: user.rawValue)
                  AND (\(bind: request.communityID) = '' OR community_id = \(bind: request.communityID))
                ORDER BY created_at_ms DESC, id DESC LIMIT \(unsafeRaw: String(limit))
                """).all()
            return try await Self.orderMessages(sql, rows: rows)
        }
        return list
    }

    /// `rows` of `orders` as messages, in their order: each with its latest payment, its
    /// refunds and the end of its refund window, read for all of them at once.
    private static func orderMessages(_ sql: any SQLDatabase, rows: [any SQLRow]) async throws -> [MembershipOrder] {
        guard !rows.isEmpty else { return [] }
        var orders = try rows.map { row in
            var order = MembershipOrder()
            order.id = try row.decode(column: "id", as: String.self)
            order.communityID = try row.decode(column: "community_id", as: String.self)
            order.planID = try row.decode(column: "plan_id", as: String.self)
            order.userID = try row.decode(column: "user_id", as: String.self)
            order.quote = try MembershipQuote(serializedBytes: try row.decode(column: "quote", as: Data.self))
            order.status = try row.decode(column: "status", as: String.self)
            order.subscriptionID = try row.decode(column: "subscription_id", as: String?.self) ?? ""
            order.createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
            order.groupBuyID = try row.decode(column: "group_buy_id", as: String?.self) ?? ""
            return order
        }
        let ids = orders.map(\.id)
        // The latest payment of each order (the newest first, so the first seen is kept).
        var payments: [String: MembershipPayment] = [:]
        for payment in try await sql.raw("SELECT * FROM payments WHERE order_id IN (\(binds: ids)) ORDER BY created_at_ms DESC, id DESC").all() {
            let orderID = try payment.decode(column: "order_id", as: String.self)
            guard payments[orderID] == nil else { continue }
            var message = MembershipPayment()
            message.id = try payment.decode(column: "id", as: String.self)
            message.orderID = orderID
            message.provider = try payment.decode(column: "provider", as: String.self)
            message.status = try payment.decode(column: "status", as: String.self)
            message.amount.minorUnits = try payment.decode(column: "amount_minor", as: Int64.self)
            message.amount.currency = try payment.decode(column: "currency", as: String.self)
            message.checkoutURL = try payment.decode(column: "checkout_url", as: String.self)
            message.failureReason = try payment.decode(column: "failure_reason", as: String.self)
            message.createdAtMs = try payment.decode(column: "created_at_ms", as: Int64.self)
            message.completedAtMs = try payment.decode(column: "completed_at_ms", as: Int64?.self) ?? 0
            payments[orderID] = message
        }
        var refunds: [String: [MembershipRefund]] = [:]
        for refund in try await sql.raw("SELECT * FROM refunds WHERE order_id IN (\(binds: ids)) ORDER BY created_at_ms").all() {
            var message = MembershipRefund()
            message.id = try refund.decode(column: "id", as: String.self)
            message.amount.minorUnits = try refund.decode(column: "amount_minor", as: Int64.self)
            message.amount.currency = try refund.decode(column: "currency", as: String.self)
            message.reason = try refund.decode(column: "reason", as: String.self)
            message.refundedBy = try refund.decode(column: "refunded_by", as: String.self)
            message.createdAtMs = try refund.decode(column: "created_at_ms", as: Int64.self)
            refunds[try refund.decode(column: "order_id", as: String.self), default: []].append(message)
        }
        let communities = Array(Set(orders.map(\.communityID)))
        var windows: [String: Int64] = [:]
        for row in try await sql.raw("SELECT id, refund_window_days FROM communities WHERE id IN (\(binds: communities))").all() {
            windows[try row.decode(column: "id", as: String.self)] = Int64(try row.decode(column: "refund_window_days", as: Int.self))
        }
        for index in orders.indices {
            let id = orders[index].id
            if let payment = payments[id] { orders[index].payment = payment }
            let payment = orders[index].payment
            if ["paid", "partially_refunded", "held"].contains(orders[index].status), payment.status == "succeeded", payment.completedAtMs > 0,
               let days = windows[orders[index].communityID] {
                // The window refund() holds a buyer's own request to.
                orders[index].refundableUntilMs = payment.completedAtMs + days * 86_400_000
            }
            orders[index].refunds = refunds[id] ?? []
        }
        return orders
    }

    /// The providers a member may pay with: the sandbox first, the others by name.
    var providerNames: [String] {
        providers.keys.sorted { a, b in a == "sandbox" || (b != "sandbox" && a < b) }
    }

    /// The provider called `name` ("" means the sandbox), or `invalidArgument` naming those there are.
    func paymentProvider(named name: String) throws -> any PaymentProvider {
        guard let provider = providers[name.isEmpty ? "sandbox" : name] else {
            throw GuildError.invalid([.init(field: "provider", description: "One of: \(providers.keys.sorted().joined(separator: ", ")).")])
        }
        return provider
    }

    /// How long an unpaid order holds a seat of a plan with a seat limit.
    static let pendingSeatHoldMs: Int64 = 3_600_000

    /// Runs a money-moving request once per idempotency key of `user` and `operation`: a repeat
    /// with the same content returns the id the first run returned, without running `body`.
    func once<Request: IdempotentRequest>(
        _ request: Request, operation: String, user: UserID, now: Date,
        _ body: @escaping @Sendable (any SQLDatabase) async throws -> String
    ) async throws -> String {
        try await IdempotencyKeys.run(
            database, scope: "\(operation):\(user)", key: request.idempotencyKey, fingerprint: try request.fingerprint, now: now,
            encode: { Array($0.utf8) }, decode: { String(decoding: $0, as: UTF8.self) }, body: body)
    }
}
