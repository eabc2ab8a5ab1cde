import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import Logging
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildMembership

/// Every membership limit raced: at least eight calls at once (on PostgreSQL each on its own
/// connection of the pool), with the exact outcome asserted: how many won, what the others were
/// answered, where their money went, and that the ledger holds. Decisions, "Concurrency", says
/// which mechanism makes each one hold.
enum MembershipRaces {
    typealias Scenario = @Sendable (MembershipFixture) async throws -> Void

    static let all: [String: Scenario] = [
        "group seats: 8 join a group of 3 with 2 seats left; 2 get in, 6 are told it is full": groupJoins,
        "group seats: 8 pay for 2 seats left; 2 complete the group, 6 are refunded at once": groupPayments,
        "group seats: a payment stranded in a completed group is refunded once by the scheduler": strandedPayment,
        "plan seats: 8 buy a plan with 2 seats; 2 orders, 6 told the plan is full": planSeats,
        "coupon total: 8 members redeem a coupon limited to 3; 3 orders, 5 told it is used up": couponTotal,
        "coupon per member: one member sends 8 orders with a once-per-member coupon; 1 order": couponPerMember,
        "first purchase only: one member sends 8 orders with a first-purchase coupon; 1 order": firstPurchaseOnly,
        "trial once: one member starts 8 trials at once; one trial, the rest are full-price renewals": trialOnce,
        "renewal: 8 renewals of one subscription paid at once extend it by exactly 8 periods": renewals,
        "refunds: 8 partial refunds of 50.00 against 199.00 paid; 3 go through, 5 are too large": refunds,
        "payment: 8 confirmations of one payment (8 keys) pay it once": confirmations,
        "idempotency: 8 orders with one key make one order, and every answer is that order": idempotencyKey,
        "abandoned orders: the cancel job racing 8 confirmations leaves each order paid or cancelled, never both": abandonedVersusPaid,
    ]

    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await MembershipFixture.with(kind) { fixture in
            try await all[name]!(fixture)
            try await fixture.expectLedgerHolds()
        }
    }

    static let racers = 8

    // MARK: Group buys

    /// A group of 3 whose opener has paid: two seats are left.
    static func groupWithTwoSeatsLeft(_ f: MembershipFixture) async throws -> (MembershipCommunity, UserID, MembershipGroupBuy) {
        let (community, plan) = try await f.openCommunity()
        let opener = UserID("opener")
        let opened = try await f.openGroup(try await f.groupOffer(plan, size: 3), user: opener)
        _ = try await f.pay(opened.yourOrder, user: opener)
        return (community, opener, opened)
    }

    static func groupJoins(_ f: MembershipFixture) async throws {
        let (community, opener, opened) = try await groupWithTwoSeatsLeft(f)
        let joins = await Race.run(racers) { index in try await f.joinGroup(opened, user: UserID("joiner-\(index)")) }
        let joined = joins.successes()
        #expect(joined.count == 2)
        #expect(joins.refusals() == Array(repeating: "resource_exhausted/group_full", count: 6))
        // The two who got in pay together; the group completes with exactly its three.
        let payments = await Race.run(joined.count) { index in
            try await f.pay(joined[index].yourOrder, user: UserID(joined[index].yourOrder.userID))
        }
        #expect(payments.failures().isEmpty)
        // The first to pay may be answered "held" before the second completes the group.
        for order in joined {
            #expect(try await f.service.order(OrderID(order.yourOrder.id), user: UserID(order.yourOrder.userID)).status == "paid")
        }
        let group = try await f.group(opened.id)
        #expect(group.status == "completed")
        #expect(group.paid == 3)
        var members = 0
        for index in 0..<racers where try await f.entitled(UserID("joiner-\(index)"), community) { members += 1 }
        #expect(members == 2)
        #expect(try await f.entitled(opener, community))
        #expect(try await f.holding(community) == 0)
    }

    static func groupPayments(_ f: MembershipFixture) async throws {
        let (community, _, opened) = try await groupWithTwoSeatsLeft(f)
        // Two seats are left. A joiner's seat is held an hour for their payment; once the hour
        // has passed, two more may join. Eight joiners over four hours, none of whom has paid.
        var orders: [MembershipOrder] = []
        for round in 0..<4 {
            for seat in 0..<2 { orders.append(try await f.joinGroup(opened, user: UserID("payer-\(round * 2 + seat)")).yourOrder) }
            f.clock.advance(by: 3_601)
        }
        let joined = orders
        // Then all eight pay at once, for two seats.
        let payments = await Race.run(joined.count) { index in try await f.pay(joined[index], user: UserID(joined[index].userID)) }
        #expect(payments.failures().isEmpty)
        // Answers may say "held" for a seat the group filled a moment later: read them again.
        var answered: [MembershipOrder] = []
        for order in joined { answered.append(try await f.service.order(OrderID(order.id), user: UserID(order.userID))) }
        #expect(answered.filter { $0.status == "paid" }.count == 2)
        #expect(answered.filter { $0.status == "refunded" }.count == 6)
        // The six late payments went straight back, each in full, once.
        for order in answered where order.status == "refunded" {
            #expect(order.refunds.count == 1)
            #expect(order.refunds.first?.amount.minorUnits == 9_900)
            #expect(try await f.entitled(UserID(order.userID), community) == false)
        }
        let group = try await f.group(opened.id)
        #expect(group.status == "completed")
        #expect(group.paid == 3)
        #expect(try await f.holding(community) == 0)
        // Nothing is left for the healing job.
        #expect(try await f.service.refundStrandedGroupPayments() == 0)
    }

    static func strandedPayment(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let offer = try await f.groupOffer(plan, size: 2)
        let opened = try await f.openGroup(offer, user: UserID("a"))
        let b = try await f.joinGroup(opened, user: UserID("b")).yourOrder
        // What an earlier version could leave behind: a third payment that arrived while the
        // group completed, held with no membership. Written here as that version wrote it.
        let c = try await f.joinGroupWhileStillOpen(opened, user: UserID("c"))
        _ = try await f.pay(opened.yourOrder, user: UserID("a"))
        _ = try await f.pay(b, user: UserID("b"))
        try await f.strand(c, community: CommunityID(community.id))
        #expect(try await f.holding(community) == 9_900)
        // Every replica's scheduler runs the healing job at once; the payment goes back once.
        let runs = await Race.run(racers) { _ in try await f.service.refundStrandedGroupPayments() }
        #expect(runs.successes().reduce(0, +) == 1)
        #expect(runs.failures().isEmpty)
        let healed = try await f.service.order(OrderID(c.id), user: UserID("c"))
        #expect(healed.status == "refunded")
        #expect(healed.refunds.map(\.amount.minorUnits) == [9_900])
        #expect(try await f.holding(community) == 0)
        #expect(try await f.service.refundStrandedGroupPayments() == 0)
    }

    // MARK: Plans and coupons

    static func planSeats(_ f: MembershipFixture) async throws {
        let (community, _) = try await f.openCommunity()
        let plan = try await f.plan(community, seats: 2)
        let orders = await Race.run(racers) { index in try await f.order(plan, user: UserID("buyer-\(index)")) }
        #expect(orders.successes().count == 2)
        #expect(orders.refusals() == Array(repeating: "resource_exhausted/plan_full", count: 6))
        #expect(try await f.count("SELECT COUNT(*) AS n FROM orders WHERE plan_id = \(bind: plan.id)") == 2)
    }

    static func couponTotal(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        _ = try await f.coupon(community, code: "THREE", percentOff: 2000, max: 3)
        let orders = await Race.run(racers) { index in try await f.order(plan, user: UserID("buyer-\(index)"), coupon: "THREE") }
        #expect(orders.successes().count == 3)
        #expect(orders.successes().allSatisfy { $0.quote.total.minorUnits == 15_920 })
        #expect(orders.refusals() == Array(repeating: "failed_precondition/coupon_exhausted", count: 5))
        #expect(try await f.redeemed(community, "THREE") == 3)
    }

    static func couponPerMember(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        _ = try await f.coupon(community, code: "ONCE", percentOff: 2000, perUser: 1)
        let member = UserID("member")
        let orders = await Race.run(racers) { _ in try await f.order(plan, user: member, coupon: "ONCE") }
        #expect(orders.successes().count == 1)
        #expect(orders.refusals() == Array(repeating: "failed_precondition/coupon_user_limit", count: 7))
        #expect(try await f.redeemed(community, "ONCE") == 1)
        #expect(try await f.count("SELECT COUNT(*) AS n FROM orders WHERE user_id = \(bind: member.rawValue)") == 1)
    }

    static func firstPurchaseOnly(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        _ = try await f.coupon(community, code: "HELLO", percentOff: 3000, firstPurchaseOnly: true)
        let member = UserID("member")
        let orders = await Race.run(racers) { _ in try await f.order(plan, user: member, coupon: "HELLO") }
        #expect(orders.successes().count == 1)
        #expect(orders.refusals() == Array(repeating: "failed_precondition/coupon_first_purchase_only", count: 7))
        // Once that order fails, the coupon is the member's first purchase to make again.
        _ = try await f.pay(orders.successes()[0], user: member, fail: true)
        #expect(try await f.order(plan, user: member, coupon: "HELLO").quote.total.minorUnits == 13_930)
    }

    static func trialOnce(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity(trialDays: 7)
        let member = UserID("member")
        let orders = await Race.run(racers) { _ in try await f.order(plan, user: member) }
        let placed = orders.successes()
        #expect(placed.count == racers)
        // One trial; every later order renews that subscription at the full price.
        #expect(placed.filter { $0.quote.trialDays == 7 && $0.status == "paid" }.count == 1)
        #expect(placed.filter { $0.quote.trialDays == 0 && $0.status == "pending" && $0.quote.total.minorUnits == 19_900 }.count == 7)
        #expect(try await f.count("SELECT COUNT(*) AS n FROM subscriptions WHERE user_id = \(bind: member.rawValue)") == 1)
        #expect(try await f.entitled(member, community))
    }

    // MARK: Subscriptions, refunds, payments

    static func renewals(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let member = UserID("member")
        let first = try await f.pay(try await f.order(plan, user: member), user: member)
        let periodEnd = try await f.periodEnd(SubscriptionID(first.subscriptionID))
        var renewals: [MembershipOrder] = []
        for _ in 0..<racers { renewals.append(try await f.order(plan, user: member)) }
        let placed = renewals
        let paid = await Race.run(racers) { index in try await f.pay(placed[index], user: member) }
        #expect(paid.successes().map(\.status) == Array(repeating: "paid", count: racers))
        #expect(Set(paid.successes().map(\.subscriptionID)) == [first.subscriptionID])
        // Each renewal starts where the one before it ended: eight more calendar months.
        var expected = Date(millisecondsSince1970: periodEnd)
        for _ in 0..<racers { expected = try #require(PlanPeriod.monthly.end(after: expected)) }
        #expect(try await f.periodEnd(SubscriptionID(first.subscriptionID)) == expected.millisecondsSince1970)
        #expect(try await f.count("SELECT COUNT(*) AS n FROM ledger_transactions WHERE kind = 'payment' AND community_id = \(bind: community.id)") == 9)
    }

    static func refunds(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let member = UserID("member")
        let order = try await f.pay(try await f.order(plan, user: member), user: member)
        let attempts = await Race.run(racers) { _ in try await f.refund(order, user: f.owner, amount: 5_000) }
        #expect(attempts.successes().count == 3)
        #expect(attempts.refusals() == Array(repeating: "failed_precondition/refund_too_large", count: 5))
        let after = try await f.service.order(OrderID(order.id), user: member)
        #expect(after.refunds.map(\.amount.minorUnits) == [5_000, 5_000, 5_000])
        #expect(after.status == "partially_refunded")
        var request = MembershipGetEarningsRequest()
        request.communityID = community.id
        #expect(try await f.service.earnings(request, user: f.owner).refunds.minorUnits == 15_000)
    }

    static func confirmations(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let member = UserID("member")
        let order = try await f.order(plan, user: member)
        let confirmations = await Race.run(racers) { _ in try await f.pay(order, user: member) }
        #expect(confirmations.successes().map(\.status) == Array(repeating: "paid", count: racers))
        #expect(try await f.count("SELECT COUNT(*) AS n FROM ledger_transactions WHERE kind = 'payment' AND community_id = \(bind: community.id)") == 1)
        #expect(try await f.count("SELECT COUNT(*) AS n FROM outbox_events WHERE topic = \(bind: MembershipService.Topic.paymentSucceeded)") == 1)
    }

    static func idempotencyKey(_ f: MembershipFixture) async throws {
        let (_, plan) = try await f.openCommunity()
        let member = UserID("member")
        let orders = await Race.run(racers) { _ in try await f.order(plan, user: member, key: "the-one-key") }
        let ids = Set(orders.successes().map(\.id))
        #expect(orders.failures().isEmpty)
        #expect(ids.count == 1)
        #expect(try await f.count("SELECT COUNT(*) AS n FROM orders WHERE user_id = \(bind: member.rawValue)") == 1)
    }

    static func abandonedVersusPaid(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        var orders: [MembershipOrder] = []
        for index in 0..<racers { orders.append(try await f.order(plan, user: UserID("buyer-\(index)"))) }
        f.clock.advance(by: 86_400 + 1)
        let placed = orders
        let outcomes = await Race.run(racers * 2) { index -> Int in
            if index < racers {
                _ = try await f.pay(placed[index], user: UserID(placed[index].userID))
                return 0
            }
            return try await f.service.cancelAbandonedOrders()
        }
        #expect(outcomes.failures().isEmpty)
        var cancelled = 0
        for order in orders {
            let now = try await f.service.order(OrderID(order.id), user: UserID(order.userID))
            switch now.status {
            case "paid":
                #expect(now.payment.status == "succeeded")
                #expect(try await f.entitled(UserID(order.userID), community))
            case "cancelled":
                #expect(now.payment.status == "voided")
                #expect(try await f.entitled(UserID(order.userID), community) == false)
                cancelled += 1
            default:
                Issue.record("order \(order.id) ended \(now.status)")
            }
        }
        // Every cancellation the jobs reported is one order cancelled, once.
        #expect(outcomes.successes().reduce(0, +) == cancelled)
    }
}

extension MembershipFixture {
    /// A monthly plan of 199.00 with a seat limit.
    func plan(_ community: MembershipCommunity, seats: Int32) async throws -> MembershipPlan {
        var request = MembershipCreatePlanRequest()
        request.communityID = community.id
        request.name = "Cohort"
        request.priceMinorUnits = 19_900
        request.period = "monthly"
        request.seatLimit = seats
        return try await service.createPlan(request, user: owner)
    }

    /// A number the query counts (its column is `n`).
    func count(_ query: SQLQueryString) async throws -> Int {
        try await database.database.withConnection { sql in try await sql.raw(query).first()?.decode(column: "n", as: Int.self) ?? 0 }
    }

    /// What the community's group-buy holding account holds (minor units, credit positive).
    func holding(_ community: MembershipCommunity) async throws -> Int64 {
        try await database.database.withConnection { sql in
            -(try await Ledger.balance(sql, account: .groupBuyHolding(CommunityID(community.id)), currency: .cny).minorUnits)
        }
    }

    func redeemed(_ community: MembershipCommunity, _ code: String) async throws -> Int32 {
        var list = MembershipListCouponsRequest()
        list.communityID = community.id
        return try await service.coupons(list, user: owner).coupons.first { $0.code == code }?.redeemed ?? -1
    }

    func periodEnd(_ subscription: SubscriptionID) async throws -> Int64 {
        try await database.database.withConnection { sql in
            try await sql.raw("SELECT period_end_ms FROM subscriptions WHERE id = \(bind: subscription.rawValue)").first()?.decode(column: "period_end_ms", as: Int64.self) ?? 0
        }
    }

    /// Joins a group while it still has a seat, by writing the order as a join would even when
    /// the seats are taken: the state an earlier version reached when joins raced.
    func joinGroupWhileStillOpen(_ group: MembershipGroupBuy, user: UserID) async throws -> MembershipOrder {
        let now = clock.now()
        let order = OrderID.make(at: now)
        let payment = PaymentID.make(at: now)
        try await database.database.transaction { sql in
            try await sql.raw("""
                INSERT INTO orders (id, community_id, plan_id, user_id, quote, total_minor, currency, status, group_buy_id, created_at_ms, updated_at_ms)
                VALUES (\(bind: order.rawValue), \(bind: group.offer.communityID), \(bind: group.offer.planID), \(bind: user.rawValue),
                        \(bind: try MembershipQuote().serializedData()), 9900, 'CNY', 'pending', \(bind: group.id), \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
                """).run()
            try await sql.raw("""
                INSERT INTO payments (id, order_id, provider, provider_reference, status, amount_minor, currency, checkout_url, failure_reason, created_at_ms)
                VALUES (\(bind: payment.rawValue), \(bind: order.rawValue), 'sandbox', \(bind: "sandbox_\(payment)"), 'pending', 9900, 'CNY', '', '', \(bind: now.millisecondsSince1970))
                """).run()
        }
        return try await service.order(order, user: user)
    }

    /// Pays `order` the way the earlier version did when its group had completed meanwhile:
    /// the money into the holding account, the order held, and nothing more.
    func strand(_ order: MembershipOrder, community: CommunityID) async throws {
        let now = clock.now()
        try await database.database.transaction { sql in
            try await sql.raw("UPDATE payments SET status = 'succeeded', completed_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: order.payment.id)").run()
            try await sql.raw("UPDATE orders SET status = 'held' WHERE id = \(bind: order.id)").run()
            let amount = Money(minorUnits: 9_900, currency: .cny)
            try await Ledger.post(sql, kind: Ledger.paymentKind, reference: order.payment.id, community: community, entries: [
                LedgerEntry(.payerClearing(provider: "sandbox"), amount), LedgerEntry(.groupBuyHolding(community), -amount),
            ], at: now)
        }
    }
}

@Suite("Membership races on SQLite", .serialized)
struct MembershipRacesOnSQLite {
    @Test("race", arguments: MembershipRaces.names)
    func race(_ name: String) async throws { try await MembershipRaces.run(name, on: .sqlite) }
}

@Suite("Membership races on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct MembershipRacesOnPostgreSQL {
    @Test("race", arguments: MembershipRaces.names)
    func race(_ name: String) async throws { try await MembershipRaces.run(name, on: .postgres) }
}
