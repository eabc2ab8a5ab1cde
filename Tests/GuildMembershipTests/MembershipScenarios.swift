import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import Logging
import Testing

@testable import GuildMembership

/// A membership service over a throwaway database, with a clock the test moves.
struct MembershipFixture: Sendable {
    let service: MembershipService
    let clock: ManualWallClock
    let database: TestDatabase

    static func with(_ kind: TestDatabaseKind, providers: [any PaymentProvider] = [SandboxPaymentProvider()], _ body: (MembershipFixture) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let logger = Logger(label: "membership-test")
        let database = try await TestDatabase.create(kind, directory: directory.url, logger: logger)
        let clock = ManualWallClock(Date(timeIntervalSince1970: 1_767_225_600))  // 2026-01-01T00:00:00Z
        let service = MembershipService(database: database.database, providers: providers, clock: clock, logger: logger)
        do {
            try await service.prepare()
            try await body(MembershipFixture(service: service, clock: clock, database: database))
        } catch {
            await database.drop()
            directory.remove()
            throw error
        }
        await database.drop()
        directory.remove()
    }

    let owner = UserID("owner-1")

    /// An active community with a monthly plan of 199.00 CNY.
    func openCommunity(slug: String = "swift-club", trialDays: Int32 = 0) async throws -> (MembershipCommunity, MembershipPlan) {
        var create = MembershipCreateCommunityRequest()
        create.slug = slug
        create.name = "Swift Club"
        create.currency = "CNY"
        create.refundWindowDays = 7
        let community = try await service.createCommunity(create, user: owner)
        var publish = MembershipUpdateCommunityRequest()
        publish.communityID = community.id
        publish.status = "active"
        _ = try await service.updateCommunity(publish, user: owner)
        var plan = MembershipCreatePlanRequest()
        plan.communityID = community.id
        plan.name = "Monthly"
        plan.priceMinorUnits = 19_900
        plan.period = "monthly"
        plan.trialDays = trialDays
        return (community, try await service.createPlan(plan, user: owner))
    }

    func coupon(_ community: MembershipCommunity, code: String, percentOff: Int64 = 0, amountOff: Int64 = 0, max: Int32 = 0, perUser: Int32 = 0, firstPurchaseOnly: Bool = false) async throws -> MembershipCoupon {
        var request = MembershipCreateCouponRequest()
        request.communityID = community.id
        request.code = code
        request.kind = percentOff > 0 ? "percent" : "amount"
        request.percentOffBp = percentOff
        request.amountOffMinorUnits = amountOff
        request.maxRedemptions = max
        request.maxPerUser = perUser
        request.firstPurchaseOnly = firstPurchaseOnly
        return try await service.createCoupon(request, user: owner)
    }

    func order(_ plan: MembershipPlan, user: UserID, coupon: String = "", provider: String = "", key: String = Identifier.make()) async throws -> MembershipOrder {
        var request = MembershipCreateOrderRequest()
        request.communityID = plan.communityID
        request.planID = plan.id
        request.couponCode = coupon
        request.provider = provider
        request.idempotencyKey = key
        return try await service.createOrder(request, user: user)
    }

    func refund(_ order: MembershipOrder, user: UserID, amount: Int64 = 0, key: String = Identifier.make()) async throws -> MembershipOrder {
        var request = MembershipRefundOrderRequest()
        request.orderID = order.id
        request.amountMinorUnits = amount
        request.reason = "changed my mind"
        request.idempotencyKey = key
        return try await service.refundOrder(request, user: user)
    }

    func pay(_ order: MembershipOrder, user: UserID, fail: Bool = false, key: String = Identifier.make()) async throws -> MembershipOrder {
        var request = MembershipConfirmSandboxPaymentRequest()
        request.paymentID = order.payment.id
        request.fail = fail
        request.idempotencyKey = key
        return try await service.confirmSandboxPayment(request, user: user)
    }

    /// A group-buy offer on `plan`: `size` members within 24 hours at 99.00.
    func groupOffer(_ plan: MembershipPlan, size: Int32) async throws -> MembershipGroupBuyOffer {
        var request = MembershipCreateGroupBuyOfferRequest()
        request.planID = plan.id
        request.groupSize = size
        request.priceMinorUnits = 9_900
        request.windowHours = 24
        return try await service.createGroupBuyOffer(request, user: owner)
    }

    func openGroup(_ offer: MembershipGroupBuyOffer, user: UserID) async throws -> MembershipGroupBuy {
        var request = MembershipOpenGroupBuyRequest()
        request.offerID = offer.id
        request.idempotencyKey = Identifier.make()
        return try await service.openGroupBuy(request, user: user)
    }

    func joinGroup(_ group: MembershipGroupBuy, user: UserID) async throws -> MembershipGroupBuy {
        var request = MembershipJoinGroupBuyRequest()
        request.groupBuyID = group.id
        request.idempotencyKey = Identifier.make()
        return try await service.joinGroupBuy(request, user: user)
    }

    func group(_ id: String) async throws -> MembershipGroupBuy {
        var request = MembershipGetGroupBuyRequest()
        request.groupBuyID = id
        return try await service.groupBuy(request, user: nil)
    }

    func entitled(_ user: UserID, _ community: MembershipCommunity) async throws -> Bool {
        var request = MembershipCheckEntitlementRequest()
        request.userID = user.rawValue
        request.communityID = community.id
        return try await service.entitlement(request).entitled
    }

    /// Every ledger invariant holds.
    func expectLedgerHolds(sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let check = try await service.checkLedger()
        #expect(check.violations == [], sourceLocation: sourceLocation)
    }
}

/// Membership rules, each against SQLite and (when configured) PostgreSQL.
enum MembershipScenarios {
    typealias Scenario = @Sendable (MembershipFixture) async throws -> Void

    static let all: [String: Scenario] = [
        "a member pays with the sandbox and is entitled; the ledger balances and the owner's statement adds up": purchase,
        "a repeated idempotency key returns the first order; the same key with another body is refused": idempotency,
        "100 concurrent redemptions of a coupon limited to 10: exactly 10 succeed": couponRace,
        "a failed payment fails the order, gives the coupon back, and moves no money; so does an abandoned one": failedPayment,
        "a quote explains the price line by line: offer, then coupon; coupon rules are enforced": quotes,
        "a trial needs no payment; unpaid it falls past due, then expires after the grace period": trialExpiry,
        "cancel keeps access to the period's end, then the scheduler expires it": cancelThenExpire,
        "a plan with members can be retired but not deleted; seat limits hold": planRules,
        "community slugs are unique, drafts are hidden, lifecycle moves are the owner's": communityRules,
        "a member cannot read another member's order; an owner has no power in another community": isolation,
        "a member refunds in full within the window and loses access; after it only the owner refunds, in part": refunds,
        "dissolving refunds each member the unused share of their payment and ends every membership": dissolution,
        "a renewal gets the plan's renewal discount; a first purchase does not": renewalDiscount,
        "a group that fills in time makes everyone a member and settles the held money": groupBuyCompletes,
        "a group that closes short is refunded and voided by the scheduler exactly once, even across a restart": groupBuyCloses,
        "a group's last payment one millisecond before the close completes it; at the close it is refunded": groupBuyLastMoment,
    ]

    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await MembershipFixture.with(kind) { fixture in
            try await all[name]!(fixture)
            // Whatever the scenario did, the ledger's invariants hold afterwards.
            try await fixture.expectLedgerHolds()
        }
    }

    static func purchase(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        _ = try await f.coupon(community, code: "WELCOME15", percentOff: 1500)
        let member = UserID("member-1")
        #expect(try await f.entitled(member, community) == false)
        let order = try await f.order(plan, user: member, coupon: "welcome15")
        #expect(order.status == "pending")
        #expect(order.quote.total.minorUnits == 16_915)  // 199.00 - 15 %
        #expect(order.payment.status == "pending")
        #expect(order.payment.amount.minorUnits == 16_915)
        let paid = try await f.pay(order, user: member)
        #expect(paid.status == "paid")
        #expect(paid.payment.status == "succeeded")
        #expect(try await f.entitled(member, community))
        let memberships = try await f.service.memberships(user: member).memberships
        #expect(memberships.count == 1)
        #expect(memberships.first?.subscription.state == "active")
        #expect(memberships.first?.role == "member")
        // Paying again for the same plan renews: one subscription, a second period.
        let renewal = try await f.pay(try await f.order(plan, user: member), user: member)
        #expect(renewal.subscriptionID == paid.subscriptionID)
        try await f.expectLedgerHolds()
        var request = MembershipGetEarningsRequest()
        request.communityID = community.id
        let statement = try await f.service.earnings(request, user: f.owner)
        #expect(statement.gross.minorUnits == 16_915 + 19_900)
        #expect(statement.platformFees.minorUnits == 846 + 995)  // 5 %, rounded half up
        #expect(statement.payable.minorUnits == statement.gross.minorUnits - statement.platformFees.minorUnits)
        #expect(statement.payments == 2)
        await #expect(throws: GuildError.self) { _ = try await f.service.earnings(request, user: member) }
    }

    static func idempotency(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        _ = try await f.coupon(community, code: "TEN", amountOff: 1000)
        let member = UserID("member-1")
        let first = try await f.order(plan, user: member, key: "key-1")
        let again = try await f.order(plan, user: member, key: "key-1")
        #expect(again.id == first.id)
        let refused = await thrownError { _ = try await f.order(plan, user: member, coupon: "TEN", key: "key-1") }
        #expect(refused?.reason == "idempotency_key_reused")
        // Another user's identical key is theirs alone.
        let other = try await f.order(plan, user: UserID("member-2"), key: "key-1")
        #expect(other.id != first.id)
        // Confirming twice with one key pays once.
        let paid = try await f.pay(first, user: member, key: "pay-1")
        let repaid = try await f.pay(first, user: member, key: "pay-1")
        #expect(paid == repaid)
        #expect(try await f.service.checkLedger().transactions == 1)
        #expect(await thrownError { _ = try await f.order(plan, user: member, key: "") }?.code == .invalidArgument)
        try await f.expectLedgerHolds()
    }

    static func couponRace(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        _ = try await f.coupon(community, code: "FIRST10", percentOff: 5000, max: 10)
        let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<100 {
                group.addTask {
                    do {
                        _ = try await f.order(plan, user: UserID("racer-\(index)"), coupon: "FIRST10")
                        return true
                    } catch let error as GuildError where error.reason == "coupon_exhausted" {
                        return false
                    }
                }
            }
            var results: [Bool] = []
            for try await outcome in group { results.append(outcome) }
            return results
        }
        #expect(outcomes.filter { $0 }.count == 10)
        var list = MembershipListCouponsRequest()
        list.communityID = community.id
        #expect(try await f.service.coupons(list, user: f.owner).coupons.first?.redeemed == 10)
    }

    static func failedPayment(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        _ = try await f.coupon(community, code: "ONLYONE", amountOff: 900, max: 1)
        let member = UserID("member-1")
        let order = try await f.order(plan, user: member, coupon: "ONLYONE")
        // The single redemption is held by the pending order.
        #expect(await thrownError { _ = try await f.order(plan, user: UserID("member-2"), coupon: "ONLYONE") }?.reason == "coupon_exhausted")
        let failed = try await f.pay(order, user: member, fail: true)
        #expect(failed.status == "failed")
        #expect(failed.payment.failureReason == "declined")
        #expect(try await f.entitled(member, community) == false)
        // Given back: someone else can use it now.
        let second = try await f.order(plan, user: UserID("member-2"), coupon: "ONLYONE")
        // Left unpaid for a day, the order is cancelled and the coupon given back again.
        f.clock.advance(by: 24 * 3_600 - 1)
        #expect(try await f.service.cancelAbandonedOrders() == 0)
        f.clock.advance(by: 2)
        #expect(try await f.service.cancelAbandonedOrders() == 1)
        let cancelled = try await f.service.order(OrderID(second.id), user: UserID("member-2"))
        #expect(cancelled.status == "cancelled")
        #expect(cancelled.payment.status == "voided")
        #expect(try await f.pay(cancelled, user: UserID("member-2")).status == "cancelled")
        _ = try await f.order(plan, user: UserID("member-3"), coupon: "ONLYONE")
        #expect(try await f.service.checkLedger().transactions == 0)
        try await f.expectLedgerHolds()
    }

    static func quotes(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let now = f.clock.now().timeIntervalSince1970
        var offer = MembershipCreateOfferRequest()
        offer.planID = plan.id
        offer.priceMinorUnits = 14_900
        offer.startsAtMs = Int64(now * 1000) - 1000
        offer.endsAtMs = Int64(now * 1000) + 3_600_000
        offer.label = "New year price"
        _ = try await f.service.createOffer(offer, user: f.owner)
        _ = try await f.coupon(community, code: "MINUS20", amountOff: 2000, perUser: 1, firstPurchaseOnly: true)
        let member = UserID("member-1")
        var request = MembershipQuoteRequest()
        request.communityID = community.id
        request.planID = plan.id
        request.couponCode = "MINUS20"
        let quote = try await f.service.quote(request, user: member)
        #expect(quote.lines.map(\.kind) == ["plan_price", "offer", "coupon"])
        #expect(quote.lines.map(\.amount.minorUnits) == [19_900, -5_000, -2_000])
        #expect(quote.total.minorUnits == 12_900)
        // First purchase only, once per user.
        _ = try await f.pay(try await f.order(plan, user: member, coupon: "MINUS20"), user: member)
        #expect(await thrownError { _ = try await f.service.quote(request, user: member) }?.reason == "coupon_first_purchase_only")
        // After the offer's window the plan price is back.
        f.clock.advance(by: 7200)
        request.couponCode = ""
        #expect(try await f.service.quote(request, user: UserID("member-2")).total.minorUnits == 19_900)
        request.couponCode = "NOPE"
        #expect(await thrownError { _ = try await f.service.quote(request, user: member) }?.code == .notFound)
    }

    static func trialExpiry(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity(trialDays: 7)
        let member = UserID("member-1")
        let order = try await f.order(plan, user: member)
        #expect(order.status == "paid")
        #expect(order.quote.trialDays == 7)
        #expect(order.quote.total.minorUnits == 0)
        #expect(order.payment.id.isEmpty)
        #expect(try await f.entitled(member, community))
        f.clock.advance(by: 7 * 86_400)
        #expect(try await f.service.advanceSubscriptions() == 1)
        #expect(try await f.service.memberships(user: member).memberships.first?.subscription.state == "past_due")
        #expect(try await f.entitled(member, community))  // grace period
        f.clock.advance(by: 3 * 86_400)
        #expect(try await f.service.advanceSubscriptions() == 1)
        #expect(try await f.entitled(member, community) == false)
        #expect(try await f.service.memberships(user: member).memberships.first?.subscription.state == "expired")
        // No second trial: the next order costs the full price.
        #expect(try await f.order(plan, user: member).quote.total.minorUnits == 19_900)
        try await f.expectLedgerHolds()
    }

    static func cancelThenExpire(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let member = UserID("member-1")
        let paid = try await f.pay(try await f.order(plan, user: member), user: member)
        var request = MembershipSubscriptionRequest()
        request.subscriptionID = paid.subscriptionID
        #expect(await thrownError { _ = try await f.service.cancelSubscription(request, user: UserID("someone-else")) }?.code == .notFound)
        let cancelled = try await f.service.cancelSubscription(request, user: member)
        #expect(cancelled.state == "cancelled")
        #expect(cancelled.cancelAtPeriodEnd)
        #expect(try await f.service.resumeSubscription(request, user: member).state == "active")
        _ = try await f.service.cancelSubscription(request, user: member)
        f.clock.advance(by: 30 * 86_400)
        #expect(try await f.entitled(member, community))
        f.clock.advance(by: 86_400)  // January has 31 days
        #expect(try await f.entitled(member, community) == false)  // the index answers before the scheduler runs
        #expect(try await f.service.advanceSubscriptions() == 1)
        #expect(await thrownError { _ = try await f.service.resumeSubscription(request, user: member) }?.code == .failedPrecondition)
    }

    static func planRules(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        var small = MembershipCreatePlanRequest()
        small.communityID = community.id
        small.name = "Inner circle"
        small.priceMinorUnits = 99_900
        small.period = "yearly"
        small.seatLimit = 1
        small.hidden = true
        let inner = try await f.service.createPlan(small, user: f.owner)
        var list = MembershipListPlansRequest()
        list.communityID = community.id
        #expect(try await f.service.plans(list, user: nil).plans.map(\.id) == [plan.id])  // hidden from visitors
        #expect(try await f.service.plans(list, user: f.owner).plans.count == 2)
        _ = try await f.order(inner, user: UserID("member-1"))
        #expect(await thrownError { _ = try await f.order(inner, user: UserID("member-2")) }?.reason == "plan_full")
        var target = MembershipPlanRequest()
        target.planID = inner.id
        #expect(await thrownError { _ = try await f.service.deletePlan(target, user: f.owner) }?.reason == "plan_in_use")
        #expect(try await f.service.retirePlan(target, user: f.owner).status == "retired")
        var unused = small
        unused.name = "Never sold"
        unused.seatLimit = 0
        let neverSold = try await f.service.createPlan(unused, user: f.owner)
        target.planID = neverSold.id
        _ = try await f.service.deletePlan(target, user: f.owner)
        #expect(await thrownError { _ = try await f.service.plan(PlanID(neverSold.id)) }?.code == .notFound)
        var bad = small
        bad.period = "weekly"
        bad.priceMinorUnits = -1
        let violations = await thrownError { _ = try await f.service.createPlan(bad, user: f.owner) }?.fieldViolations.map(\.field)
        #expect(violations == ["priceMinorUnits", "period"])
    }

    static func communityRules(_ f: MembershipFixture) async throws {
        var create = MembershipCreateCommunityRequest()
        create.slug = "Rust-Club"
        create.name = "Rust Club"
        let draft = try await f.service.createCommunity(create, user: f.owner)
        #expect(draft.slug == "rust-club")
        #expect(draft.status == "draft")
        #expect(draft.callerRole == "owner")
        #expect(await thrownError { _ = try await f.service.createCommunity(create, user: UserID("other")) }?.reason == "slug_taken")
        #expect(await thrownError { _ = try await f.service.community("rust-club", user: nil) }?.code == .notFound)
        var coOwner = MembershipSetRoleRequest()
        coOwner.communityID = draft.id
        coOwner.userID = "co-1"
        coOwner.role = "co_owner"
        _ = try await f.service.setRole(coOwner, user: f.owner)
        var publish = MembershipUpdateCommunityRequest()
        publish.communityID = draft.id
        publish.status = "active"
        #expect(await thrownError { _ = try await f.service.updateCommunity(publish, user: UserID("co-1")) }?.code == .permissionDenied)
        #expect(try await f.service.updateCommunity(publish, user: f.owner).status == "active")
        #expect(try await f.service.community("rust-club", user: nil).name == "Rust Club")
        var recurrency = MembershipUpdateCommunityRequest()
        recurrency.communityID = draft.id
        recurrency.currency = "usd"
        #expect(try await f.service.updateCommunity(recurrency, user: f.owner).currency == "USD")  // no plans yet
        var plan = MembershipCreatePlanRequest()
        plan.communityID = draft.id
        plan.name = "Monthly"
        plan.priceMinorUnits = 900
        plan.period = "monthly"
        #expect(try await f.service.createPlan(plan, user: f.owner).price.currency == "USD")
        recurrency.currency = "EUR"
        #expect(await thrownError { _ = try await f.service.updateCommunity(recurrency, user: f.owner) }?.reason == "currency_fixed")
        var rename = MembershipUpdateCommunityRequest()
        rename.communityID = draft.id
        rename.name = "Rustaceans"
        #expect(try await f.service.updateCommunity(rename, user: UserID("co-1")).name == "Rustaceans")
        publish.status = "draft"
        #expect(await thrownError { _ = try await f.service.updateCommunity(publish, user: f.owner) }?.code == .invalidArgument)
        var bad = MembershipCreateCommunityRequest()
        bad.slug = "-x"
        bad.currency = "yuan"
        bad.refundWindowDays = 400
        let fields = await thrownError { _ = try await f.service.createCommunity(bad, user: f.owner) }?.fieldViolations.map(\.field)
        #expect(fields == ["slug", "name", "currency", "refundWindowDays"])
    }

    static func isolation(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let alice = UserID("alice")
        let order = try await f.order(plan, user: alice)
        #expect(await thrownError { _ = try await f.service.order(OrderID(order.id), user: UserID("bob")) }?.code == .notFound)
        #expect(await thrownError { _ = try await f.pay(order, user: UserID("bob")) }?.code == .notFound)
        #expect(try await f.service.order(OrderID(order.id), user: f.owner).id == order.id)
        // The owner of another community has no power here.
        let rival = UserID("rival-owner")
        var create = MembershipCreateCommunityRequest()
        create.slug = "rival"
        create.name = "Rival"
        _ = try await f.service.createCommunity(create, user: rival)
        #expect(await thrownError { _ = try await f.service.order(OrderID(order.id), user: rival) }?.code == .notFound)
        var plan2 = MembershipCreatePlanRequest()
        plan2.communityID = community.id
        plan2.name = "Hijack"
        plan2.period = "lifetime"
        #expect(await thrownError { _ = try await f.service.createPlan(plan2, user: rival) }?.code == .permissionDenied)
    }

    static func refunds(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()  // refund window: 7 days
        let alice = UserID("alice")
        let first = try await f.pay(try await f.order(plan, user: alice), user: alice)
        // Members refund whole orders only.
        #expect(await thrownError { _ = try await f.refund(first, user: alice, amount: 100) }?.reason == "partial_refund_by_member")
        f.clock.advance(by: 6 * 86_400)
        let refunded = try await f.refund(first, user: alice, key: "refund-1")
        #expect(refunded.status == "refunded")
        #expect(refunded.refunds.map(\.amount.minorUnits) == [19_900])
        #expect(try await f.entitled(alice, community) == false)
        // The same key again returns the same order; nothing more moves.
        #expect(try await f.refund(first, user: alice, key: "refund-1") == refunded)
        #expect(await thrownError { _ = try await f.refund(first, user: alice) }?.reason == "nothing_to_refund")

        let bob = UserID("bob")
        let second = try await f.pay(try await f.order(plan, user: bob), user: bob)
        f.clock.advance(by: 7 * 86_400 + 1)
        #expect(await thrownError { _ = try await f.refund(second, user: bob) }?.reason == "refund_window_closed")
        #expect(await thrownError { _ = try await f.refund(second, user: UserID("mallory")) }?.code == .notFound)
        // The owner may override the window, and refund in part: access stays.
        let partly = try await f.refund(second, user: f.owner, amount: 5_000)
        #expect(partly.status == "partially_refunded")
        #expect(try await f.entitled(bob, community))
        #expect(await thrownError { _ = try await f.refund(second, user: f.owner, amount: 15_000) }?.reason == "refund_too_large")
        let rest = try await f.refund(second, user: f.owner)
        #expect(rest.refunds.map(\.amount.minorUnits) == [5_000, 14_900])
        #expect(try await f.entitled(bob, community) == false)

        var request = MembershipGetEarningsRequest()
        request.communityID = community.id
        let statement = try await f.service.earnings(request, user: f.owner)
        #expect(statement.gross.minorUnits == 39_800)
        #expect(statement.refunds.minorUnits == 39_800)
        #expect(statement.platformFees.minorUnits == 0)
        #expect(statement.payable.minorUnits == 0)
        try await f.expectLedgerHolds()
    }

    static func dissolution(_ f: MembershipFixture) async throws {
        var create = MembershipCreateCommunityRequest()
        create.slug = "short-lived"
        create.name = "Short lived"
        create.dissolutionRefund = "pro_rata"
        let community = try await f.service.createCommunity(create, user: f.owner)
        var publish = MembershipUpdateCommunityRequest()
        publish.communityID = community.id
        publish.status = "active"
        _ = try await f.service.updateCommunity(publish, user: f.owner)
        var planRequest = MembershipCreatePlanRequest()
        planRequest.communityID = community.id
        planRequest.name = "100 days"
        planRequest.priceMinorUnits = 10_000
        planRequest.period = "days"
        planRequest.periodDays = 100
        let plan = try await f.service.createPlan(planRequest, user: f.owner)
        let members = [UserID("m1"), UserID("m2")]
        for member in members { _ = try await f.pay(try await f.order(plan, user: member), user: member) }
        f.clock.advance(by: 25 * 86_400)  // a quarter used
        var request = MembershipDissolveCommunityRequest()
        request.communityID = community.id
        request.idempotencyKey = "dissolve-1"
        #expect(await thrownError { _ = try await f.service.dissolveCommunity(request, user: UserID("m1")) }?.code == .permissionDenied)
        let result = try await f.service.dissolveCommunity(request, user: f.owner)
        #expect(result.community.status == "dissolved")
        #expect(result.refunds == 2)
        #expect(result.refunded.minorUnits == 2 * 7_500)
        for member in members {
            #expect(try await f.entitled(member, community) == false)
        }
        // Exactly once: the same key answers the same; another key finds it dissolved.
        #expect(try await f.service.dissolveCommunity(request, user: f.owner).refunds == 2)
        request.idempotencyKey = "dissolve-2"
        #expect(await thrownError { _ = try await f.service.dissolveCommunity(request, user: f.owner) }?.reason == "already_dissolved")
        #expect(await thrownError { _ = try await f.order(plan, user: UserID("late")) }?.reason == "community_not_active")
        try await f.expectLedgerHolds()
    }

    static func renewalDiscount(_ f: MembershipFixture) async throws {
        let (community, _) = try await f.openCommunity()
        var planRequest = MembershipCreatePlanRequest()
        planRequest.communityID = community.id
        planRequest.name = "Yearly"
        planRequest.priceMinorUnits = 36_500
        planRequest.period = "yearly"
        planRequest.renewalDiscountBp = 3000
        let plan = try await f.service.createPlan(planRequest, user: f.owner)
        let member = UserID("member")
        let first = try await f.order(plan, user: member)
        #expect(first.quote.total.minorUnits == 36_500)
        _ = try await f.pay(first, user: member)
        let renewal = try await f.order(plan, user: member)
        #expect(renewal.quote.lines.map(\.kind) == ["plan_price", "renewal"])
        #expect(renewal.quote.total.minorUnits == 25_550)
        let paid = try await f.pay(renewal, user: member)
        let subscription = try await f.service.memberships(user: member).memberships.first?.subscription
        #expect(paid.subscriptionID == subscription?.id)
        // Two years from the first payment.
        #expect(subscription?.currentPeriodEndMs == Int64(Calendar.utc.date(byAdding: .year, value: 2, to: f.clock.now())!.timeIntervalSince1970 * 1000))
        // Retired, the plan sells no more, but its member may still renew it.
        var retire = MembershipPlanRequest()
        retire.planID = plan.id
        _ = try await f.service.retirePlan(retire, user: f.owner)
        #expect(await thrownError { _ = try await f.order(plan, user: UserID("newcomer")) }?.reason == "plan_retired")
        #expect(try await f.order(plan, user: member).quote.total.minorUnits == 25_550)
        try await f.expectLedgerHolds()
    }

    static func groupBuyCompletes(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let offer = try await f.groupOffer(plan, size: 3)
        let users = [UserID("g1"), UserID("g2"), UserID("g3")]
        let opened = try await f.openGroup(offer, user: users[0])
        #expect(opened.status == "open")
        #expect(opened.yourOrder.quote.lines.map(\.kind) == ["plan_price", "group_price"])
        #expect(opened.yourOrder.quote.total.minorUnits == 9_900)
        var orders = [opened.yourOrder]
        for user in users.dropFirst() { orders.append(try await f.joinGroup(opened, user: user).yourOrder) }
        #expect(await thrownError { _ = try await f.joinGroup(opened, user: users[1]) }?.reason == "already_in_group")
        #expect(await thrownError { _ = try await f.joinGroup(opened, user: UserID("g4")) }?.reason == "group_full")
        // Paid but held: nobody is a member until the group fills.
        for (order, user) in zip(orders, users).prefix(2) {
            #expect(try await f.pay(order, user: user).status == "held")
            #expect(try await f.entitled(user, community) == false)
        }
        try await f.expectLedgerHolds()
        #expect(try await f.pay(orders[2], user: users[2]).status == "paid")
        let done = try await f.group(opened.id)
        #expect(done.status == "completed")
        #expect(done.paid == 3)
        for user in users { #expect(try await f.entitled(user, community)) }
        var request = MembershipGetEarningsRequest()
        request.communityID = community.id
        let statement = try await f.service.earnings(request, user: f.owner)
        #expect(statement.payable.minorUnits == 3 * (9_900 - 495))
        // Closing later changes nothing.
        f.clock.advance(by: 2 * 86_400)
        #expect(try await f.service.closeExpiredGroupBuys() == 0)
        try await f.expectLedgerHolds()
    }

    static func groupBuyCloses(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let offer = try await f.groupOffer(plan, size: 4)
        let opened = try await f.openGroup(offer, user: UserID("a"))
        let b = try await f.joinGroup(opened, user: UserID("b"))
        let c = try await f.joinGroup(opened, user: UserID("c"))
        _ = try await f.pay(opened.yourOrder, user: UserID("a"))
        _ = try await f.pay(b.yourOrder, user: UserID("b"))
        // c never pays. The window passes.
        f.clock.advance(by: 24 * 3_600)
        #expect(await thrownError { _ = try await f.joinGroup(opened, user: UserID("d")) }?.reason == "group_closed")
        // A restart: a new service over the same database does the closing, then the old one runs again.
        let restarted = MembershipService(database: f.database.database, clock: f.clock, logger: Logger(label: "restarted"))
        try await restarted.prepare()
        #expect(try await restarted.closeExpiredGroupBuys() == 1)
        #expect(try await f.service.closeExpiredGroupBuys() == 0)
        let closed = try await f.group(opened.id)
        #expect(closed.status == "failed")
        let refundedA = try await f.service.order(OrderID(opened.yourOrder.id), user: UserID("a"))
        #expect(refundedA.status == "refunded")
        #expect(refundedA.refunds.map(\.amount.minorUnits) == [9_900])
        let voided = try await f.service.order(OrderID(c.yourOrder.id), user: UserID("c"))
        #expect(voided.status == "cancelled")
        #expect(voided.payment.status == "voided")
        for user in ["a", "b", "c"] { #expect(try await f.entitled(UserID(user), community) == false) }
        // Paying a voided payment later does nothing.
        #expect(try await f.pay(c.yourOrder, user: UserID("c")).status == "cancelled")
        let check = try await f.service.checkLedger()
        #expect(check.violations == [])
        #expect(check.transactions == 4)  // two payments into holding, two refunds out of it
    }

    static func groupBuyLastMoment(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let offer = try await f.groupOffer(plan, size: 2)
        // Group one: the last seat is paid one millisecond before the close.
        let first = try await f.openGroup(offer, user: UserID("p1"))
        let second = try await f.joinGroup(first, user: UserID("p2"))
        _ = try await f.pay(first.yourOrder, user: UserID("p1"))
        f.clock.advance(by: 24 * 3_600 - 0.001)
        #expect(try await f.pay(second.yourOrder, user: UserID("p2")).status == "paid")
        #expect(try await f.group(first.id).status == "completed")
        #expect(try await f.entitled(UserID("p2"), community))
        // Group two: the last payment arrives exactly at the close, before the scheduler ran.
        let third = try await f.openGroup(offer, user: UserID("q1"))
        let fourth = try await f.joinGroup(third, user: UserID("q2"))
        _ = try await f.pay(third.yourOrder, user: UserID("q1"))
        f.clock.advance(by: 24 * 3_600)
        #expect(try await f.pay(fourth.yourOrder, user: UserID("q2")).status == "refunded")
        #expect(try await f.group(third.id).status == "failed")
        #expect(try await f.service.order(OrderID(third.yourOrder.id), user: UserID("q1")).status == "refunded")
        #expect(try await f.entitled(UserID("q2"), community) == false)
        #expect(try await f.service.closeExpiredGroupBuys() == 0)
        try await f.expectLedgerHolds()
    }
}

// Scenarios run one after another (each is a whole service over its own database; the coupon
// race alone places 100 orders at once).
@Suite("Membership on SQLite", .serialized)
struct MembershipSQLiteTests {
    @Test("scenario", arguments: MembershipScenarios.names)
    func scenario(_ name: String) async throws {
        try await MembershipScenarios.run(name, on: .sqlite)
    }
}

@Suite("Membership on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct MembershipPostgresTests {
    @Test("scenario", arguments: MembershipScenarios.names)
    func scenario(_ name: String) async throws {
        try await MembershipScenarios.run(name, on: .postgres)
    }
}
