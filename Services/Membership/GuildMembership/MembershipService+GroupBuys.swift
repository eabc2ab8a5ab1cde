import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// Group buys (团购): a plan at a group price once enough members join one group in time.
///
/// A member opens a group and shares its link; each member of the group pays the group price,
/// and the payment is held (in the ledger's group-buy holding account) until the group fills.
/// When the last seat is paid within the window every held payment settles and every member's
/// subscription starts. When the window closes short, the scheduler (``closeExpiredGroupBuys()``)
/// refunds every held payment and voids every unpaid one. Each outcome happens once: the group's
/// status moves from `open` only inside the transaction that does the work.
///
/// Seats hold under concurrency because everything that counts them (a join, a payment, the
/// completion, the close) first locks the group's row: joins and payments of one group run one
/// after the other, on PostgreSQL as on SQLite. A payment that reaches a group already full or
/// closed is refunded at once, and ``refundStrandedGroupPayments()`` returns any payment that an
/// earlier version left held in a group that is no longer open.
extension MembershipService {
    // MARK: Offers

    public func createGroupBuyOffer(_ request: MembershipCreateGroupBuyOfferRequest, user: UserID) async throws -> MembershipGroupBuyOffer {
        var violations: [GuildError.FieldViolation] = []
        if !(2...100).contains(request.groupSize) { violations.append(.init(field: "groupSize", description: "From 2 to 100 members.")) }
        if !(1...24 * 30).contains(request.windowHours) { violations.append(.init(field: "windowHours", description: "From 1 hour to 30 days (720).")) }
        if request.priceMinorUnits < 0 { violations.append(.init(field: "priceMinorUnits", description: "A price in minor units, from 0.")) }
        if request.endsAtMs != 0, request.endsAtMs <= request.startsAtMs { violations.append(.init(field: "endsAt", description: "The window must end after it starts.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let now = clock.now()
        let id = Identifier.make(at: now)
        return try await database.transaction { sql in
            let plan = try await self.planRecord(sql, PlanID(request.planID))
            _ = try await self.authorized(sql, community: plan.community, user: user, operation: Operation.managePlans)
            guard plan.isActive else { throw GuildError(.failedPrecondition, "This plan has been retired.", reason: "plan_retired") }
            guard request.priceMinorUnits < plan.price.minorUnits else {
                throw GuildError.invalid([.init(field: "priceMinorUnits", description: "A group price must be below the plan's price (\(plan.price)).")])
            }
            try await sql.raw("""
                INSERT INTO group_buy_offers (id, community_id, plan_id, group_size, price_minor, currency, window_hours, starts_at_ms, ends_at_ms, created_at_ms)
                VALUES (\(bind: id), \(bind: plan.community.rawValue), \(bind: plan.id.rawValue), \(bind: Int(request.groupSize)), \(bind: request.priceMinorUnits),
                        \(bind: plan.price.currency.rawValue), \(bind: Int(request.windowHours)), \(bind: request.startsAtMs), \(bind: request.endsAtMs), \(bind: now.millisecondsSince1970))
                """).run()
            return try await self.groupBuyOffer(sql, id)
        }
    }

    public func groupBuyOffers(_ request: MembershipListGroupBuyOffersRequest, user: UserID?) async throws -> MembershipListGroupBuyOffersResponse {
        try await database.withConnection { sql in
            let (community, role) = try await self.authorized(sql, community: CommunityID(request.communityID), user: user, operation: nil)
            if community.status == .draft, !Self.policy.allows(Operation.viewHiddenPlans, role: role) { throw GuildError(.notFound, "No such community.") }
            var response = MembershipListGroupBuyOffersResponse()
            for row in try await sql.raw("SELECT id FROM group_buy_offers WHERE community_id = \(bind: community.id.rawValue) ORDER BY created_at_ms").all() {
                response.offers.append(try await self.groupBuyOffer(sql, try row.decode(column: "id", as: String.self)))
            }
            response.openGroups = try await self.openGroups(sql, community: community.id, offers: response.offers)
            return response
        }
    }

    /// The groups on `offers` still taking members now, the soonest to close first, with their
    /// paid (held) and pending seats counted in the same statement.
    private func openGroups(_ sql: any SQLDatabase, community: CommunityID, offers: [MembershipGroupBuyOffer]) async throws -> [MembershipGroupBuy] {
        let offersByID = Dictionary(offers.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        let rows = try await sql.raw("""
            SELECT g.id, g.offer_id, g.opener_id, g.opened_at_ms, g.closes_at_ms,
                   (SELECT COUNT(*) FROM orders o WHERE o.group_buy_id = g.id AND o.status = 'held') AS paid,
                   (SELECT COUNT(*) FROM orders o WHERE o.group_buy_id = g.id AND o.status = 'pending') AS pending
            FROM group_buys g
            WHERE g.community_id = \(bind: community.rawValue) AND g.status = 'open' AND g.closes_at_ms > \(bind: clock.now().millisecondsSince1970)
            ORDER BY g.closes_at_ms, g.id LIMIT \(unsafeRaw: String(Self.openGroupsListed))
            """).all()
        return try rows.compactMap { row in
            guard let offer = offersByID[try row.decode(column: "offer_id", as: String.self)] else { return nil }
            var group = MembershipGroupBuy()
            group.id = try row.decode(column: "id", as: String.self)
            group.offer = offer
            group.openerID = try row.decode(column: "opener_id", as: String.self)
            group.status = "open"
            group.openedAtMs = try row.decode(column: "opened_at_ms", as: Int64.self)
            group.closesAtMs = try row.decode(column: "closes_at_ms", as: Int64.self)
            group.paid = Int32(try row.decode(column: "paid", as: Int64.self))
            group.pending = Int32(try row.decode(column: "pending", as: Int64.self))
            return group
        }
    }

    /// How many open groups a community's offer list carries.
    static let openGroupsListed = 50

    func groupBuyOffer(_ sql: any SQLDatabase, _ id: String) async throws -> MembershipGroupBuyOffer {
        guard let row = try await sql.raw("SELECT * FROM group_buy_offers WHERE id = \(bind: id)").first() else {
            throw GuildError(.notFound, "No such group-buy offer.")
        }
        var offer = MembershipGroupBuyOffer()
        offer.id = id
        offer.communityID = try row.decode(column: "community_id", as: String.self)
        offer.planID = try row.decode(column: "plan_id", as: String.self)
        offer.groupSize = Int32(try row.decode(column: "group_size", as: Int.self))
        offer.price.minorUnits = try row.decode(column: "price_minor", as: Int64.self)
        offer.price.currency = try row.decode(column: "currency", as: String.self)
        offer.windowHours = Int32(try row.decode(column: "window_hours", as: Int.self))
        offer.startsAtMs = try row.decode(column: "starts_at_ms", as: Int64.self)
        offer.endsAtMs = try row.decode(column: "ends_at_ms", as: Int64.self)
        offer.createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        return offer
    }

    // MARK: Groups

    /// Opens a group on an offer, with the opener's order to pay.
    public func openGroupBuy(_ request: MembershipOpenGroupBuyRequest, user: UserID) async throws -> MembershipGroupBuy {
        let provider = try paymentProvider(named: request.provider)
        let now = clock.now()
        let groupID = try await once(request, operation: "open_group_buy", user: user, now: now) { sql in
            let offer = try await self.groupBuyOffer(sql, request.offerID)
            let nowMs = now.millisecondsSince1970
            guard nowMs >= offer.startsAtMs, offer.endsAtMs == 0 || nowMs < offer.endsAtMs else {
                throw GuildError(.failedPrecondition, "This group-buy offer is not open now.", reason: "group_offer_closed")
            }
            let groupID = Identifier.make(at: now)
            try await sql.raw("""
                INSERT INTO group_buys (id, offer_id, community_id, opener_id, status, opened_at_ms, closes_at_ms)
                VALUES (\(bind: groupID), \(bind: offer.id), \(bind: offer.communityID), \(bind: user.rawValue), 'open', \(bind: nowMs),
                        \(bind: nowMs + Int64(offer.windowHours) * 3_600_000))
                """).run()
            try await self.placeGroupOrder(sql, group: groupID, offer: offer, user: user, provider: provider, now: now)
            return groupID
        }
        return try await groupBuy(MembershipGetGroupBuyRequest.with { $0.groupBuyID = groupID }, user: user)
    }

    /// Joins an open group through its link, with the joiner's order to pay.
    public func joinGroupBuy(_ request: MembershipJoinGroupBuyRequest, user: UserID) async throws -> MembershipGroupBuy {
        let provider = try paymentProvider(named: request.provider)
        let now = clock.now()
        _ = try await once(request, operation: "join_group_buy", user: user, now: now) { sql in
            // Seats are counted under the group's lock: concurrent joins take turns.
            try await sql.lockRow("group_buys", is: request.groupBuyID)
            let group = try await self.groupRow(sql, request.groupBuyID)
            guard try group.decode(column: "status", as: String.self) == "open",
                  try group.decode(column: "closes_at_ms", as: Int64.self) > now.millisecondsSince1970
            else { throw GuildError(.failedPrecondition, "This group is no longer open.", reason: "group_closed") }
            let offer = try await self.groupBuyOffer(sql, try group.decode(column: "offer_id", as: String.self))
            let members = try await sql.raw("""
                SELECT user_id, status, created_at_ms FROM orders WHERE group_buy_id = \(bind: request.groupBuyID) AND status IN ('pending', 'held')
                """).all()
            if try members.contains(where: { try $0.decode(column: "user_id", as: String.self) == user.rawValue }) {
                throw GuildError(.alreadyExists, "You are in this group already.", reason: "already_in_group")
            }
            // Paid seats and seats waiting (an hour at most) for their payment count.
            let taken = try members.filter {
                try $0.decode(column: "status", as: String.self) == "held" || $0.decode(column: "created_at_ms", as: Int64.self) > now.millisecondsSince1970 - Self.pendingSeatHoldMs
            }.count
            guard taken < offer.groupSize else { throw GuildError(.resourceExhausted, "This group is full.", reason: "group_full") }
            try await self.placeGroupOrder(sql, group: request.groupBuyID, offer: offer, user: user, provider: provider, now: now)
            return request.groupBuyID
        }
        return try await groupBuy(MembershipGetGroupBuyRequest.with { $0.groupBuyID = request.groupBuyID }, user: user)
    }

    /// A group and its progress; the caller's own order when they are in it.
    public func groupBuy(_ request: MembershipGetGroupBuyRequest, user: UserID?) async throws -> MembershipGroupBuy {
        let (group, yourOrder) = try await database.withConnection { sql -> (MembershipGroupBuy, String?) in
            let row = try await self.groupRow(sql, request.groupBuyID)
            var group = MembershipGroupBuy()
            group.id = request.groupBuyID
            group.offer = try await self.groupBuyOffer(sql, try row.decode(column: "offer_id", as: String.self))
            group.openerID = try row.decode(column: "opener_id", as: String.self)
            group.status = try row.decode(column: "status", as: String.self)
            group.openedAtMs = try row.decode(column: "opened_at_ms", as: Int64.self)
            group.closesAtMs = try row.decode(column: "closes_at_ms", as: Int64.self)
            group.settledAtMs = try row.decode(column: "settled_at_ms", as: Int64?.self) ?? 0
            var yourOrder: String?
            for order in try await sql.raw("SELECT id, user_id, status, subscription_id FROM orders WHERE group_buy_id = \(bind: request.groupBuyID)").all() {
                let status = try order.decode(column: "status", as: String.self)
                // Paid seats: held or settled payments, and refunded ones that held a seat (a
                // membership later refunded, or a group that closed short); not a payment that
                // came after the group filled and went straight back.
                let heldASeat = try order.decode(column: "subscription_id", as: String?.self) != nil || group.status == "failed"
                if ["held", "paid", "partially_refunded"].contains(status) || (status == "refunded" && heldASeat) { group.paid += 1 }
                if status == "pending" { group.pending += 1 }
                if let user, try order.decode(column: "user_id", as: String.self) == user.rawValue { yourOrder = try order.decode(column: "id", as: String.self) }
            }
            return (group, yourOrder)
        }
        var answer = group
        if let user, let yourOrder { answer.yourOrder = try await order(OrderID(yourOrder), user: user) }
        return answer
    }

    private func groupRow(_ sql: any SQLDatabase, _ id: String) async throws -> any SQLRow {
        guard let row = try await sql.raw("SELECT * FROM group_buys WHERE id = \(bind: id)").first() else {
            throw GuildError(.notFound, "No such group.")
        }
        return row
    }

    /// An order at the group price, in a group, with a payment to make.
    private func placeGroupOrder(_ sql: any SQLDatabase, group: String, offer: MembershipGroupBuyOffer, user: UserID, provider: any PaymentProvider, now: Date) async throws {
        let community = CommunityID(offer.communityID)
        try await lockBuyer(sql, community: community, user: user, now: now)
        let (record, _) = try await authorized(sql, community: community, user: user, operation: nil)
        guard record.status == .active else {
            throw GuildError(.failedPrecondition, "This community is not open for new members.", reason: "community_not_active")
        }
        guard try await Self.accessGrants(sql, user: user, community: community, at: now).isEmpty else {
            throw GuildError(.failedPrecondition, "You are a member already; group buys are for joining.", reason: "already_member")
        }
        let plan = try await planRecord(sql, PlanID(offer.planID))
        let price = Money(minorUnits: offer.price.minorUnits, currency: plan.price.currency)
        var quote = MembershipQuote()
        quote.communityID = community.rawValue
        quote.planID = plan.id.rawValue
        var planLine = MembershipQuoteLine()
        planLine.kind = "plan_price"
        planLine.label = "\(plan.name) (\(plan.period.name))"
        planLine.amount = MembershipMoney(plan.price)
        var groupLine = MembershipQuoteLine()
        groupLine.kind = "group_price"
        groupLine.label = "Group price when \(offer.groupSize) join within \(offer.windowHours) h"
        groupLine.amount = MembershipMoney(price - plan.price)
        quote.lines = [planLine, groupLine]
        quote.total = MembershipMoney(price)
        quote.quotedAtMs = now.millisecondsSince1970
        let orderID = OrderID.make(at: now)
        try await sql.raw("""
            INSERT INTO orders (id, community_id, plan_id, user_id, quote, total_minor, currency, status, group_buy_id, created_at_ms, updated_at_ms)
            VALUES (\(bind: orderID.rawValue), \(bind: community.rawValue), \(bind: plan.id.rawValue), \(bind: user.rawValue), \(bind: try quote.serializedData()),
                    \(bind: price.minorUnits), \(bind: price.currency.rawValue), 'pending', \(bind: group), \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
            """).run()
        let paymentID = PaymentID.make(at: now)
        let started = try await provider.startPayment(id: paymentID, amount: price, description: "\(plan.name) (group)")
        try await sql.raw("""
            INSERT INTO payments (id, order_id, provider, provider_reference, status, amount_minor, currency, checkout_url, failure_reason, created_at_ms)
            VALUES (\(bind: paymentID.rawValue), \(bind: orderID.rawValue), \(bind: provider.name), \(bind: started.reference), 'pending',
                    \(bind: price.minorUnits), \(bind: price.currency.rawValue), \(bind: started.checkoutURL), '', \(bind: now.millisecondsSince1970))
            """).run()
    }

    // MARK: Payments, completion, closing

    /// A group order's payment succeeded. In an open group in time, the money is held and the
    /// group completes when this was its last seat; a group that has closed (or whose time ran
    /// out a moment ago) is closed now and this payment goes back with the others; a group that
    /// filled or closed already gives this payment back at once. The caller holds the group's
    /// lock (``lockOrder(_:_:)``), so the count of held seats is exact.
    func groupPaymentSucceeded(_ sql: any SQLDatabase, order orderID: OrderID, payment: PaymentID, group groupID: String, now: Date) async throws {
        let order = try await sql.raw("SELECT community_id, total_minor, currency FROM orders WHERE id = \(bind: orderID.rawValue)").first()!
        let community = CommunityID(try order.decode(column: "community_id", as: String.self))
        let amount = Money(minorUnits: try order.decode(column: "total_minor", as: Int64.self),
                           currency: Currency(rawValue: try order.decode(column: "currency", as: String.self)) ?? .cny)
        let provider = try await sql.raw("SELECT provider FROM payments WHERE id = \(bind: payment.rawValue)").first()?.decode(column: "provider", as: String.self) ?? "sandbox"
        try await Ledger.post(sql, kind: Ledger.paymentKind, reference: payment.rawValue, community: community, entries: [
            LedgerEntry(.payerClearing(provider: provider), amount),
            LedgerEntry(.groupBuyHolding(community), -amount),
        ], at: now)
        try await sql.raw("UPDATE orders SET status = 'held', updated_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: orderID.rawValue)").run()
        let group = try await groupRow(sql, groupID)
        let status = try group.decode(column: "status", as: String.self)
        if status == "open", try group.decode(column: "closes_at_ms", as: Int64.self) <= now.millisecondsSince1970 {
            // Too late by the clock, though the scheduler has not run yet: close it now.
            try await closeGroup(sql, groupID, now: now)
            return
        }
        guard status == "open" else {
            // Paid after the group filled or closed: this payment goes back at once.
            let reason = status == "completed" ? "group buy filled before this payment" : "group buy closed before this payment"
            try await refund(sql, order: orderID, amount: 0, reason: reason, by: Self.systemActor, overridingWindow: true, now: now)
            return
        }
        let offer = try await groupBuyOffer(sql, try group.decode(column: "offer_id", as: String.self))
        let held = try await sql.raw("SELECT COUNT(*) AS n FROM orders WHERE group_buy_id = \(bind: groupID) AND status = 'held'")
            .first()?.decode(column: "n", as: Int.self) ?? 0
        if held >= offer.groupSize { try await completeGroup(sql, groupID, now: now) }
    }

    /// The group filled in time: every held payment settles and every member's subscription starts.
    private func completeGroup(_ sql: any SQLDatabase, _ groupID: String, now: Date) async throws {
        guard try await sql.raw("""
            UPDATE group_buys SET status = 'completed', settled_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: groupID) AND status = 'open' RETURNING id
            """).first() != nil else { return }
        for row in try await sql.raw("""
            SELECT o.id AS order_id, o.community_id AS community_id, o.total_minor AS amount, o.currency AS currency, p.id AS payment_id
            FROM orders o JOIN payments p ON p.order_id = o.id AND p.status = 'succeeded'
            WHERE o.group_buy_id = \(bind: groupID) AND o.status = 'held'
            """).all() {
            let community = CommunityID(try row.decode(column: "community_id", as: String.self))
            let amount = Money(minorUnits: try row.decode(column: "amount", as: Int64.self),
                               currency: Currency(rawValue: try row.decode(column: "currency", as: String.self)) ?? .cny)
            let payment = PaymentID(try row.decode(column: "payment_id", as: String.self))
            try await Ledger.post(sql, kind: Ledger.groupSettlementKind, reference: payment.rawValue, community: community,
                                  entries: Ledger.settlementEntries(amount: amount, fee: platformFee(on: amount), from: .groupBuyHolding(community), community: community),
                                  at: now)
            // The money is settled; start the membership as for any paid order (no second posting).
            let order = OrderID(try row.decode(column: "order_id", as: String.self))
            try await completeOrder(sql, order: order, payment: nil, now: now)
            try await emit(sql, Topic.paymentSucceeded, try await paymentEvent(sql, order: order, amount: amount), at: now)
        }
        logger.info("group buy completed", metadata: ["group": "\(groupID)"])
    }

    /// The window closed short: every held payment is refunded and every unpaid one voided.
    private func closeGroup(_ sql: any SQLDatabase, _ groupID: String, now: Date) async throws {
        guard try await sql.raw("""
            UPDATE group_buys SET status = 'failed', settled_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: groupID) AND status = 'open' RETURNING id
            """).first() != nil else { return }
        for row in try await sql.raw("SELECT id, status FROM orders WHERE group_buy_id = \(bind: groupID) AND status IN ('held', 'pending')").all() {
            let order = OrderID(try row.decode(column: "id", as: String.self))
            if try row.decode(column: "status", as: String.self) == "held" {
                try await refund(sql, order: order, amount: 0, reason: "group buy did not fill in time", by: Self.systemActor, overridingWindow: true, now: now)
            } else {
                try await cancelUnpaidOrder(sql, order, reason: "group buy did not fill in time", now: now)
            }
        }
        logger.info("group buy closed short; payments returned", metadata: ["group": "\(groupID)"])
    }

    /// Closes every open group whose window has ended (the scheduler's work). Each group closes
    /// in its own transaction, exactly once: a restart in the middle leaves the rest open for
    /// the next run. Returns how many closed.
    @discardableResult
    public func closeExpiredGroupBuys() async throws -> Int {
        let now = clock.now()
        let due = try await database.withConnection { sql in
            try await sql.raw("SELECT id FROM group_buys WHERE status = 'open' AND closes_at_ms <= \(bind: now.millisecondsSince1970)").all()
                .map { try $0.decode(column: "id", as: String.self) }
        }
        for group in due {
            try await database.transaction { sql in
                try await sql.lockRow("group_buys", is: group)
                try await self.closeGroup(sql, group, now: now)
            }
        }
        return due.count
    }

    /// Refunds every payment held in a group that is no longer open: money an earlier version
    /// could strand when concurrent payments overfilled a group on PostgreSQL (the group
    /// completed without them). Each is refunded once, under the group's and the order's locks,
    /// and only while it is still held. The scheduler's work; returns how many were refunded.
    @discardableResult
    public func refundStrandedGroupPayments() async throws -> Int {
        let now = clock.now()
        let stranded = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT o.id AS id FROM orders o JOIN group_buys g ON g.id = o.group_buy_id
                WHERE o.status = 'held' AND g.status <> 'open'
                """).all().map { OrderID(try $0.decode(column: "id", as: String.self)) }
        }
        var refunded = 0
        for order in stranded {
            let didRefund = try await database.transaction { sql -> Bool in
                guard let group = try await self.lockOrder(sql, order),
                      let row = try await sql.raw("""
                          SELECT o.status AS order_status, g.status AS group_status FROM orders o JOIN group_buys g ON g.id = o.group_buy_id
                          WHERE o.id = \(bind: order.rawValue)
                          """).first(),
                      try row.decode(column: "order_status", as: String.self) == "held",
                      try row.decode(column: "group_status", as: String.self) != "open"
                else { return false }
                try await self.refund(sql, order: order, amount: 0, reason: "group buy was full before this payment", by: Self.systemActor,
                                      overridingWindow: true, now: now)
                self.logger.warning("stranded group-buy payment refunded", metadata: ["order": "\(order)", "group": "\(group)"])
                return true
            }
            if didRefund { refunded += 1 }
        }
        return refunded
    }
}
