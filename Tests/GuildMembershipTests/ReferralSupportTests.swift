import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildMembership

/// What membership does for the referral service (issue 7): coupons issued to one member,
/// commission movements in the ledger, the card's fingerprint and the refund's id on payment
/// events, and the lifecycle figures and member counts, checked by hand.
enum ReferralSupportScenarios {
    typealias Scenario = @Sendable (MembershipFixture) async throws -> Void

    static let all: [String: Scenario] = [
        "an issued coupon is its holder's alone, once; a retry returns it; a dissolved community issues none": issuedCoupons,
        "commission movements balance, post once per key, claw back from pending and payable, never beyond": commissions,
        "payment events carry the card's fingerprint; refund events the refund's id and the payment's amount": paymentEvents,
        "lifecycle figures and member counts match a history worked out by hand": lifecycle,
        "lifecycle figures are for owners and co-owners, and refuse bad ranges": lifecycleRefusals,
        "migration 9 marks converted trials and fills missing ends": migrationBackfill,
    ]

    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await MembershipFixture.with(kind) { fixture in try await all[name]!(fixture) }
    }

    // MARK: Issued coupons

    static func issueRequest(_ community: MembershipCommunity, to user: String, key: String, percent: Int64 = 2_000, plans: [String] = [], days: Int32 = 30) -> MembershipIssueCouponRequest {
        var request = MembershipIssueCouponRequest()
        request.communityID = community.id
        request.userID = user
        request.kind = "percent"
        request.percentOffBp = percent
        request.planIds = plans
        request.validDays = days
        request.label = "Welcome reward"
        request.idempotencyKey = key
        return request
    }

    static func issuedCoupons(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let holder = UserID("member-1")
        let other = UserID("member-2")
        let now = f.clock.now().millisecondsSince1970
        let coupon = try await f.service.issueCoupon(issueRequest(community, to: holder.rawValue, key: "reward-1", plans: [plan.id]), caller: .referral)
        #expect(coupon.code.hasPrefix("R-") && coupon.code.count == 12)
        #expect(coupon.code.dropFirst(2).allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains($0) })
        #expect(coupon.issuedTo == holder.rawValue && coupon.label == "Welcome reward")
        #expect(coupon.maxRedemptions == 1 && coupon.maxPerUser == 1 && coupon.redeemed == 0)
        #expect(coupon.startsAtMs == now && coupon.endsAtMs == now + 30 * 86_400_000)
        #expect(coupon.kind == "percent" && coupon.percentOffBp == 2_000 && coupon.planIds == [plan.id])
        // A retry is the same coupon; the same key for something else is refused.
        let retry = try await f.service.issueCoupon(issueRequest(community, to: holder.rawValue, key: "reward-1", plans: [plan.id]), caller: .referral)
        #expect(retry.id == coupon.id && retry.code == coupon.code)
        #expect(await thrownError {
            _ = try await f.service.issueCoupon(issueRequest(community, to: holder.rawValue, key: "reward-1", percent: 3_000, plans: [plan.id]), caller: .referral)
        }?.reason == "idempotency_key_reused")
        // Another key is another coupon, with another code.
        let second = try await f.service.issueCoupon(issueRequest(community, to: other.rawValue, key: "reward-2"), caller: .referral)
        #expect(second.id != coupon.id && second.code != coupon.code)

        // Bad requests.
        #expect(await thrownError { _ = try await f.service.issueCoupon(issueRequest(community, to: holder.rawValue, key: "k3", days: 0), caller: .referral) }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await f.service.issueCoupon(issueRequest(community, to: holder.rawValue, key: "k4", days: 366), caller: .referral) }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await f.service.issueCoupon(issueRequest(community, to: holder.rawValue, key: "k5", percent: 10_001), caller: .referral) }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await f.service.issueCoupon(issueRequest(community, to: "", key: "k6"), caller: .referral) }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await f.service.issueCoupon(issueRequest(community, to: holder.rawValue, key: ""), caller: .referral) }?.code == .invalidArgument)
        var amount = issueRequest(community, to: holder.rawValue, key: "k7")
        amount.kind = "amount"
        amount.amountOffMinorUnits = 0
        #expect(await thrownError { _ = try await f.service.issueCoupon(amount, caller: .referral) }?.code == .invalidArgument)
        let (elsewhere, foreignPlan) = try await f.openCommunity(slug: "rust-club")
        #expect(await thrownError { _ = try await f.service.issueCoupon(issueRequest(community, to: holder.rawValue, key: "k8", plans: [foreignPlan.id]), caller: .referral) }?.code == .notFound)

        // Only its holder may use it, once.
        let quote = { (user: UserID) in
            var request = MembershipQuoteRequest()
            request.communityID = community.id
            request.planID = plan.id
            request.couponCode = coupon.code.lowercased()
            return try await f.service.quote(request, user: user)
        }
        #expect(await thrownError { _ = try await quote(other) }?.reason == "coupon_not_yours")
        #expect(await thrownError { _ = try await f.order(plan, user: other, coupon: coupon.code) }?.reason == "coupon_not_yours")
        #expect(try await quote(holder).total.minorUnits == 15_920)  // 199.00 − 20 %
        let paid = try await f.pay(try await f.order(plan, user: holder, coupon: coupon.code), user: holder)
        #expect(paid.status == "paid" && paid.payment.amount.minorUnits == 15_920)
        #expect(await thrownError { _ = try await f.order(plan, user: holder, coupon: coupon.code) }?.reason == "coupon_user_limit")
        // The owners see issued coupons with their holders.
        var list = MembershipListCouponsRequest()
        list.communityID = community.id
        let listed = try await f.service.coupons(list, user: f.owner).coupons
        #expect(Set(listed.map(\.id)) == [coupon.id, second.id])
        let shown = try #require(listed.first { $0.id == coupon.id })
        #expect(shown.issuedTo == holder.rawValue && shown.label == "Welcome reward" && shown.redeemed == 1)
        #expect(try await f.service.coupons(MembershipListCouponsRequest.with { $0.communityID = elsewhere.id }, user: f.owner).coupons.isEmpty)

        // A dissolved community issues nothing more; a retry of an issued one still answers.
        var dissolve = MembershipDissolveCommunityRequest()
        dissolve.communityID = community.id
        dissolve.idempotencyKey = "dissolve-1"
        _ = try await f.service.dissolveCommunity(dissolve, user: f.owner)
        #expect(await thrownError { _ = try await f.service.issueCoupon(issueRequest(community, to: holder.rawValue, key: "reward-3"), caller: .referral) }?.reason == "community_not_active")
        #expect(try await f.service.issueCoupon(issueRequest(community, to: other.rawValue, key: "reward-2"), caller: .referral).id == second.id)
        // So does an archived one.
        var archive = MembershipUpdateCommunityRequest()
        archive.communityID = elsewhere.id
        archive.status = "archived"
        _ = try await f.service.updateCommunity(archive, user: f.owner)
        #expect(await thrownError { _ = try await f.service.issueCoupon(issueRequest(elsewhere, to: holder.rawValue, key: "reward-4"), caller: .referral) }?.reason == "community_not_active")
        try await f.expectLedgerHolds()
    }

    // MARK: Commissions

    static func commission(
        _ community: MembershipCommunity, _ id: String, _ movement: String, _ amount: Int64, from: String = "", key: String, currency: String = "CNY"
    ) -> MembershipPostCommissionRequest {
        var request = MembershipPostCommissionRequest()
        request.communityID = community.id
        request.commissionID = id
        request.movement = movement
        request.amount.minorUnits = amount
        request.amount.currency = currency
        request.fromState = from
        request.referrerID = "referrer-1"
        request.idempotencyKey = key
        return request
    }

    static func commissions(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let member = UserID("member-1")
        _ = try await f.pay(try await f.order(plan, user: member), user: member)
        let owner = "owner_payable:\(community.id)"
        let pending = "referral_commission_pending:\(community.id)"
        let payable = "referral_commission_payable:\(community.id)"
        #expect(try await f.balance(owner) == -18_905)  // 199.00 less the platform's 5 %
        let post = { (request: MembershipPostCommissionRequest) in try await f.service.postCommission(request, caller: .referral) }

        // Accrue: out of the owner's payable into pending; once per key.
        let accrued = try await post(commission(community, "c1", "accrue", 1_990, key: "c1-accrue"))
        #expect(accrued.movement == "accrue" && accrued.commissionID == "c1" && accrued.amount.minorUnits == 1_990 && accrued.amount.currency == "CNY")
        #expect(accrued.postedAtMs == f.clock.now().millisecondsSince1970)
        #expect(try await f.balance(owner) == -16_915)
        #expect(try await f.balance(pending) == -1_990)
        #expect(try await post(commission(community, "c1", "accrue", 1_990, key: "c1-accrue")).transactionID == accrued.transactionID)
        #expect(try await f.ledgerTransactions(kind: "commission_accrue", reference: "c1-accrue") == 1)
        #expect(try await f.balance(pending) == -1_990)
        #expect(await thrownError { _ = try await post(commission(community, "c1", "accrue", 2_000, key: "c1-accrue")) }?.reason == "idempotency_key_reused")
        #expect(await thrownError { _ = try await post(commission(community, "c2", "accrue", 1_990, key: "c1-accrue")) }?.reason == "idempotency_key_reused")

        // Mature: pending to payable, never more than the commission holds.
        #expect(await thrownError { _ = try await post(commission(community, "c1", "mature", 1_991, key: "c1-mature-too-much")) }?.reason == "commission_exceeds_balance")
        let matured = try await post(commission(community, "c1", "mature", 1_990, key: "c1-mature"))
        #expect(try await f.balance(pending) == 0)
        #expect(try await f.balance(payable) == -1_990)
        #expect(try await f.balance(owner) == -16_915)

        // Claw back from payable (a refund after the window), in part, then not beyond.
        _ = try await post(commission(community, "c1", "claw_back", 995, from: "payable", key: "c1-claw-1"))
        #expect(try await f.balance(payable) == -995)
        #expect(try await f.balance(owner) == -17_910)
        #expect(await thrownError { _ = try await post(commission(community, "c1", "claw_back", 996, from: "payable", key: "c1-claw-2")) }?.reason == "commission_exceeds_balance")
        #expect(await thrownError { _ = try await post(commission(community, "c1", "claw_back", 1, from: "pending", key: "c1-claw-3")) }?.reason == "commission_exceeds_balance")
        // A repeat of the maturing answers with the first posting, though the balance has moved since.
        #expect(try await post(commission(community, "c1", "mature", 1_990, key: "c1-mature")).transactionID == matured.transactionID)

        // Claw back from pending (a refund within the window).
        _ = try await post(commission(community, "c2", "accrue", 500, key: "c2-accrue"))
        #expect(try await f.balance(pending) == -500)
        #expect(try await f.balance(owner) == -17_410)
        _ = try await post(commission(community, "c2", "claw_back", 500, from: "pending", key: "c2-claw"))
        #expect(try await f.balance(pending) == 0)
        #expect(try await f.balance(owner) == -17_910)
        #expect(try await f.ledgerTransactions(kind: "commission_claw_back", reference: "c2-claw") == 1)
        #expect(await thrownError { _ = try await post(commission(community, "c3", "mature", 1, key: "c3-mature")) }?.reason == "commission_exceeds_balance")

        // Bad requests.
        for bad in [
            commission(community, "c4", "accrue", 0, key: "bad-1"),
            commission(community, "c4", "accrue", 100, key: "bad-2", currency: "USD"),
            commission(community, "c4", "pay_out", 100, key: "bad-3"),
            commission(community, "c4", "claw_back", 100, key: "bad-4"),
            commission(community, "", "accrue", 100, key: "bad-5"),
            commission(community, "c4", "accrue", 100, key: ""),
        ] {
            #expect(await thrownError { _ = try await post(bad) }?.code == .invalidArgument, "\(bad)")
        }
        var unknown = commission(community, "c4", "accrue", 100, key: "bad-6")
        unknown.communityID = "no-such-community"
        #expect(await thrownError { _ = try await post(unknown) }?.code == .notFound)

        // The owner's statement shows what they are owed after commissions.
        var request = MembershipGetEarningsRequest()
        request.communityID = community.id
        #expect(try await f.service.earnings(request, user: f.owner).payable.minorUnits == 17_910)
        let check = try await f.service.checkLedger()
        #expect(check.violations == [])
        #expect(check.transactions == 6)  // the payment and five commission movements

        // The check notices a commission account on the wrong side.
        _ = try await f.database.database.transaction { sql in
            try await Ledger.post(sql, kind: "test_breakage", reference: "1", community: CommunityID(community.id), entries: [
                LedgerEntry(.referralCommissionPending(CommunityID(community.id)), Money(minorUnits: 1, currency: .cny)),
                LedgerEntry(.ownerPayable(CommunityID(community.id)), Money(minorUnits: -1, currency: .cny)),
            ], at: f.clock.now())
        }
        #expect(try await f.service.checkLedger().violations == ["\(pending) has a debit balance of 1 CNY"])
    }

    // MARK: Payment events

    static func paymentEvents(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let member = UserID("member-1")
        let order = try await f.order(plan, user: member)
        var tooLong = MembershipConfirmSandboxPaymentRequest()
        tooLong.paymentID = order.payment.id
        tooLong.cardFingerprint = String(repeating: "f", count: 129)
        tooLong.idempotencyKey = "confirm-long"
        #expect(await thrownError { _ = try await f.service.confirmSandboxPayment(tooLong, user: member) }?.code == .invalidArgument)
        var confirm = MembershipConfirmSandboxPaymentRequest()
        confirm.paymentID = order.payment.id
        confirm.cardFingerprint = "fp_card_0001"
        confirm.idempotencyKey = "confirm-1"
        _ = try await f.service.confirmSandboxPayment(confirm, user: member)
        let succeeded = try await f.paymentEvents(MembershipService.Topic.paymentSucceeded)
        #expect(succeeded.count == 1)
        let paid = try #require(succeeded.first)
        #expect(paid.orderID == order.id && paid.paymentID == order.payment.id && paid.userID == member.rawValue)
        #expect(paid.cardFingerprint == "fp_card_0001" && paid.amount.minorUnits == 19_900 && paid.paymentAmount.minorUnits == 19_900 && paid.refundID.isEmpty)

        // Two refunds: each its own id, each with the payment's whole amount.
        _ = try await f.refund(try await f.service.order(OrderID(order.id), user: member), user: f.owner, amount: 4_900)
        let afterOne = try await f.service.order(OrderID(order.id), user: member)
        _ = try await f.refund(afterOne, user: f.owner)
        let refunds = try await f.service.order(OrderID(order.id), user: member).refunds
        #expect(refunds.count == 2)
        let refunded = try await f.paymentEvents(MembershipService.Topic.paymentRefunded)
        #expect(refunded.count == 2)
        for refund in refunds {
            let event = try #require(refunded.first { $0.refundID == refund.id })
            #expect(event.amount.minorUnits == refund.amount.minorUnits && event.paymentAmount.minorUnits == 19_900 && event.paymentAmount.currency == "CNY")
            #expect(event.cardFingerprint == "fp_card_0001" && event.paymentID == order.payment.id)
            #expect(event.full == (refund.amount.minorUnits == 15_000))
        }
        #expect(Set(refunded.map(\.amount.minorUnits)) == [4_900, 15_000])

        // A group buy: its payments' events carry their cards; dissolution's refunds their ids.
        let offer = try await f.groupOffer(plan, size: 2)
        let group = try await f.openGroup(offer, user: UserID("g1"))
        let joined = try await f.joinGroup(group, user: UserID("g2"))
        for (user, order) in [(UserID("g1"), group.yourOrder), (UserID("g2"), joined.yourOrder)] {
            var request = MembershipConfirmSandboxPaymentRequest()
            request.paymentID = order.payment.id
            request.cardFingerprint = "fp_\(user)"
            request.idempotencyKey = Identifier.make()
            _ = try await f.service.confirmSandboxPayment(request, user: user)
        }
        let groupEvents = try await f.paymentEvents(MembershipService.Topic.paymentSucceeded).filter { $0.userID.hasPrefix("g") }
        #expect(Set(groupEvents.map(\.cardFingerprint)) == ["fp_g1", "fp_g2"])
        #expect(groupEvents.allSatisfy { $0.paymentAmount.minorUnits == 9_900 && $0.amount.minorUnits == 9_900 && $0.cardFingerprint == "fp_\($0.userID)" })
        f.clock.advance(by: 86_400)
        var dissolve = MembershipDissolveCommunityRequest()
        dissolve.communityID = community.id
        dissolve.idempotencyKey = "dissolve-1"
        #expect(try await f.service.dissolveCommunity(dissolve, user: f.owner).refunds == 2)
        let dissolution = try await f.paymentEvents(MembershipService.Topic.paymentRefunded).filter { $0.userID.hasPrefix("g") }
        #expect(dissolution.count == 2)
        let refundIDs = try await f.database.database.withConnection { sql in
            try await sql.raw("SELECT r.id AS id FROM refunds r JOIN orders o ON o.id = r.order_id WHERE o.user_id IN ('g1', 'g2')").all()
                .map { try $0.decode(column: "id", as: String.self) }
        }
        #expect(Set(dissolution.map(\.refundID)) == Set(refundIDs) && refundIDs.count == 2)
        #expect(dissolution.allSatisfy { $0.paymentAmount.minorUnits == 9_900 && $0.cardFingerprint == "fp_\($0.userID)" && $0.amount.minorUnits > 0 })
        try await f.expectLedgerHolds()
    }

    // MARK: Lifecycle figures

    /// A history worked out by hand (2026, UTC; monthly plans; grace 3 days):
    /// - Jan 5 10:00: u1, u2, u3 pay (periods to Feb 5). Jan 20: u2 cancels (access to Feb 5).
    /// - Feb 2: u1, u3 renew (to Mar 5). Feb 10: u4, u5 pay (to Mar 10). Feb 12: u5 refunded in full.
    /// - Mar 2: u1, u4 renew (to Apr 5, Apr 10); u3 lapses (past due Mar 5, ends Mar 8 10:00).
    /// - Mar 15: u6 starts a 7-day trial; Mar 20 10:00 pays (to Apr 20). Mar 25: u7 pays (to Apr 25).
    /// - Asked on Apr 12 12:00: u1 ended Apr 8 10:00 (grace), u4 is past due until Apr 13 10:00.
    static func lifecycle(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        var trialRequest = MembershipCreatePlanRequest()
        trialRequest.communityID = community.id
        trialRequest.name = "Monthly with a trial"
        trialRequest.priceMinorUnits = 19_900
        trialRequest.period = "monthly"
        trialRequest.trialDays = 7
        let trialPlan = try await f.service.createPlan(trialRequest, user: f.owner)
        let u = (1...7).map { UserID("u\($0)") }
        func join(_ user: UserID, _ plan: MembershipPlan) async throws -> MembershipOrder {
            let order = try await f.order(plan, user: user)
            return order.status == "pending" ? try await f.pay(order, user: user) : order
        }

        f.clock.set(at("2026-01-05T10:00:00Z"))
        var orders: [UserID: MembershipOrder] = [:]
        for user in u[0...2] { orders[user] = try await join(user, plan) }
        f.clock.set(at("2026-01-20T10:00:00Z"))
        _ = try await f.service.cancelSubscription(.with { $0.subscriptionID = orders[u[1]]!.subscriptionID }, user: u[1])
        f.clock.set(at("2026-02-02T10:00:00Z"))
        for user in [u[0], u[2]] { _ = try await join(user, plan) }
        f.clock.set(at("2026-02-10T10:00:00Z"))
        for user in u[3...4] { orders[user] = try await join(user, plan) }
        f.clock.set(at("2026-02-12T10:00:00Z"))
        _ = try await f.refund(orders[u[4]]!, user: f.owner)
        f.clock.set(at("2026-03-02T10:00:00Z"))
        #expect(try await f.service.advanceSubscriptions() == 1)  // u2's cancelled subscription ends (as of Feb 5)
        for user in [u[0], u[3]] { _ = try await join(user, plan) }
        f.clock.set(at("2026-03-15T10:00:00Z"))
        #expect(try await join(u[5], trialPlan).quote.trialDays == 7)
        f.clock.set(at("2026-03-20T10:00:00Z"))
        #expect(try await join(u[5], trialPlan).payment.amount.minorUnits == 19_900)
        f.clock.set(at("2026-03-25T10:00:00Z"))
        _ = try await join(u[6], plan)
        f.clock.set(at("2026-04-12T12:00:00Z"))

        func stats(_ from: String, _ to: String, months: Int32 = 0) async throws -> MembershipLifecycleStats {
            var request = MembershipLifecycleStatsRequest()
            request.communityID = community.id
            request.fromMs = at(from).millisecondsSince1970
            request.toMs = at(to).millisecondsSince1970
            request.cohortMonths = months
            return try await f.service.lifecycleStats(request, user: f.owner)
        }
        func table(_ stats: MembershipLifecycleStats) -> [String] {
            stats.cohorts.map { "\($0.month) \($0.size): \($0.retained.map(String.init).joined(separator: " "))" }
        }

        // The first quarter.
        let quarter = try await stats("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z", months: 3)
        #expect(quarter.trials == 1 && quarter.paidConversions == 7 && quarter.trialToPaid == 1)
        #expect(quarter.membersAtStart == 0 && quarter.retained == 0 && quarter.membersAtEnd == 4)
        #expect(table(quarter) == ["2026-01 3: 3 2 1", "2026-02 2: 1 1", "2026-03 2: 2"])

        // February: u4 and u5 convert; u2 leaves; u5 comes and goes.
        let february = try await stats("2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z", months: 2)
        #expect(february.trials == 0 && february.paidConversions == 2 && february.trialToPaid == 0)
        #expect(february.membersAtStart == 3 && february.retained == 2 && february.membersAtEnd == 3)
        #expect(table(february) == ["2026-01 3: 3 2", "2026-02 2: 1"])

        // March, with the default twelve cohort months (the empty ones are zeros).
        let march = try await stats("2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z")
        #expect(march.trials == 1 && march.paidConversions == 2 && march.trialToPaid == 1)
        #expect(march.membersAtStart == 3 && march.retained == 2 && march.membersAtEnd == 4)
        #expect(march.cohorts.count == 12 && march.cohorts.first?.month == "2025-04" && march.cohorts.first?.retained == Array(repeating: 0, count: 12))
        #expect(Array(table(march).suffix(3)) == ["2026-01 3: 3 2 1", "2026-02 2: 1 1", "2026-03 2: 2"])

        // A range ending at u6's payment: the payment is outside it, the trial's conversion is not
        // (it counts whenever it came); u7 is not in March's cohort yet.
        let partial = try await stats("2026-03-01T00:00:00Z", "2026-03-20T10:00:00Z", months: 1)
        #expect(partial.trials == 1 && partial.paidConversions == 0 && partial.trialToPaid == 1)
        #expect(partial.membersAtStart == 3 && partial.retained == 2 && partial.membersAtEnd == 3)
        #expect(table(partial) == ["2026-03 1: 1"])

        // Member counts per month and per ISO week.
        func counts(_ period: String, _ periods: Int32, asOf: String? = nil) async throws -> [String] {
            var request = MembershipMemberCountsRequest()
            request.communityID = community.id
            request.period = period
            request.periods = periods
            request.asOfMs = asOf.map { at($0).millisecondsSince1970 } ?? 0
            let answer = try await f.service.memberCounts(request, user: f.owner)
            #expect(answer.period == (period.isEmpty ? "month" : period))
            return answer.points.map { "\($0.label) \($0.members)" }
        }
        #expect(try await counts("month", 4) == ["2026-01 3", "2026-02 3", "2026-03 4", "2026-04 3"])
        #expect(try await counts("week", 3) == ["2026-W13 4", "2026-W14 4", "2026-W15 3"])
        #expect(try await counts("", 2, asOf: "2026-02-11T00:00:00Z") == ["2026-01 3", "2026-02 4"])
        var request = MembershipMemberCountsRequest()
        request.communityID = community.id
        let defaults = try await f.service.memberCounts(request, user: f.owner)
        #expect(defaults.points.count == 12 && defaults.points.last?.label == "2026-04" && defaults.points.first?.label == "2025-05")
        #expect(defaults.points.last?.startMs == at("2026-04-01T00:00:00Z").millisecondsSince1970)
        #expect(defaults.points.last?.endMs == at("2026-05-01T00:00:00Z").millisecondsSince1970)
        request.period = "week"
        request.periods = 1
        let week = try #require(try await f.service.memberCounts(request, user: f.owner).points.first)
        #expect(week.startMs == at("2026-04-06T00:00:00Z").millisecondsSince1970 && week.endMs == at("2026-04-13T00:00:00Z").millisecondsSince1970)

        // Once the scheduler has caught up, the answers are the same.
        #expect(try await f.service.advanceSubscriptions() == 3)  // u1 ended, u4 past due, u3 ended
        #expect(try await counts("month", 4) == ["2026-01 3", "2026-02 3", "2026-03 4", "2026-04 3"])
        #expect(table(try await stats("2026-01-01T00:00:00Z", "2026-04-01T00:00:00Z", months: 3)) == ["2026-01 3: 3 2 1", "2026-02 2: 1 1", "2026-03 2: 2"])

        // A co-owner reads them too.
        var role = MembershipSetRoleRequest()
        role.communityID = community.id
        role.userID = "co-1"
        role.role = "co_owner"
        _ = try await f.service.setRole(role, user: f.owner)
        var coOwner = MembershipLifecycleStatsRequest()
        coOwner.communityID = community.id
        coOwner.fromMs = at("2026-02-01T00:00:00Z").millisecondsSince1970
        coOwner.toMs = at("2026-03-01T00:00:00Z").millisecondsSince1970
        #expect(try await f.service.lifecycleStats(coOwner, user: UserID("co-1")).paidConversions == 2)
        try await f.expectLedgerHolds()
    }

    static func lifecycleRefusals(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        let member = UserID("member-1")
        _ = try await f.pay(try await f.order(plan, user: member), user: member)
        f.clock.advance(by: 3_600)
        var stats = MembershipLifecycleStatsRequest()
        stats.communityID = community.id
        stats.fromMs = 0
        var counts = MembershipMemberCountsRequest()
        counts.communityID = community.id
        for user in [member, UserID("stranger")] {
            #expect(await thrownError { _ = try await f.service.lifecycleStats(stats, user: user) }?.code == .permissionDenied)
            #expect(await thrownError { _ = try await f.service.memberCounts(counts, user: user) }?.code == .permissionDenied)
        }
        // The owner, with to_ms 0 meaning now.
        let now = try await f.service.lifecycleStats(stats, user: f.owner)
        #expect(now.paidConversions == 1 && now.membersAtEnd == 1 && now.cohorts.count == 12)
        var bad = stats
        bad.fromMs = 10
        bad.toMs = 10
        #expect(await thrownError { _ = try await f.service.lifecycleStats(bad, user: f.owner) }?.code == .invalidArgument)
        bad = stats
        bad.cohortMonths = 37
        #expect(await thrownError { _ = try await f.service.lifecycleStats(bad, user: f.owner) }?.code == .invalidArgument)
        var badCounts = counts
        badCounts.period = "year"
        #expect(await thrownError { _ = try await f.service.memberCounts(badCounts, user: f.owner) }?.code == .invalidArgument)
        badCounts = counts
        badCounts.periods = 61
        #expect(await thrownError { _ = try await f.service.memberCounts(badCounts, user: f.owner) }?.code == .invalidArgument)
        stats.communityID = "no-such-community"
        #expect(await thrownError { _ = try await f.service.lifecycleStats(stats, user: f.owner) }?.code == .notFound)
    }

    /// A database made before migration 9: a trial that converted (was_trialing cleared), a
    /// paid subscription, a free-plan one, and an expired row with no end recorded.
    static func migrationBackfill(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        var trialRequest = MembershipCreatePlanRequest()
        trialRequest.communityID = community.id
        trialRequest.name = "Trial"
        trialRequest.priceMinorUnits = 19_900
        trialRequest.period = "monthly"
        trialRequest.trialDays = 7
        let trialPlan = try await f.service.createPlan(trialRequest, user: f.owner)
        // Trial, then paid: the subscription no longer says it was a trial.
        _ = try await f.order(trialPlan, user: UserID("t1"))
        f.clock.advance(by: 86_400)
        _ = try await f.pay(try await f.order(trialPlan, user: UserID("t1")), user: UserID("t1"))
        _ = try await f.pay(try await f.order(plan, user: UserID("p1")), user: UserID("p1"))
        let trialing = try await f.order(trialPlan, user: UserID("t2"))
        try await f.database.database.transaction { sql in
            // As an older version left them: no trial start recorded, an expired row without its end.
            try await sql.raw("UPDATE subscriptions SET started_trialing = \(bind: false)").run()
            try await sql.raw("UPDATE subscriptions SET status = 'expired', ended_at_ms = NULL, access_until_ms = 12345 WHERE id = \(bind: trialing.subscriptionID)").run()
            try await sql.raw("DELETE FROM guild_migrations WHERE version = 9").run()
            for statement in [
                "DROP TABLE commission_postings", "DROP INDEX subscriptions_by_community",
                "ALTER TABLE subscriptions DROP COLUMN started_trialing", "ALTER TABLE payments DROP COLUMN card_fingerprint",
                "ALTER TABLE coupons DROP COLUMN label", "ALTER TABLE coupons DROP COLUMN issued_to",
            ] { try await sql.raw(SQLQueryString(statement)).run() }
        }
        try await f.service.prepare()
        let rows = try await f.database.database.withConnection { sql in
            try await sql.raw("SELECT user_id, started_trialing, ended_at_ms FROM subscriptions").all().map {
                (try $0.decode(column: "user_id", as: String.self), try $0.decode(column: "started_trialing", as: Bool.self), try $0.decode(column: "ended_at_ms", as: Int64?.self))
            }
        }
        let byUser = Dictionary(uniqueKeysWithValues: rows.map { ($0.0, ($0.1, $0.2)) })
        #expect(byUser["t1"]?.0 == true && byUser["t1"]?.1 == nil)
        #expect(byUser["p1"]?.0 == false)
        #expect(byUser["t2"]?.0 == true && byUser["t2"]?.1 == 12_345)  // was_trialing still said so
    }

    static func at(_ text: String) -> Date {
        ISO8601DateFormatter().date(from: text)!
    }
}

extension MembershipFixture {
    /// The payment events of `topic` in the outbox.
    func paymentEvents(_ topic: String) async throws -> [MembershipPaymentEvent] {
        try await database.database.withConnection { sql in
            try await sql.raw("SELECT payload FROM outbox_events WHERE topic = \(bind: topic)").all()
                .map { try MembershipPaymentEvent(serializedBytes: try $0.decode(column: "payload", as: Data.self)) }
        }
    }
}

@Suite("Referral support on SQLite", .serialized)
struct ReferralSupportSQLiteTests {
    @Test("scenario", arguments: ReferralSupportScenarios.names)
    func scenario(_ name: String) async throws { try await ReferralSupportScenarios.run(name, on: .sqlite) }
}

@Suite("Referral support on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct ReferralSupportPostgresTests {
    @Test("scenario", arguments: ReferralSupportScenarios.names)
    func scenario(_ name: String) async throws { try await ReferralSupportScenarios.run(name, on: .postgres) }
}

/// Calendar periods and the Stripe fingerprint, without a database; the wire's gate on who
/// may issue coupons.
@Suite("Referral support: periods, Stripe, the wire")
struct ReferralSupportUnitTests {
    static func ms(_ text: String) -> Int64 { ReferralSupportScenarios.at(text).millisecondsSince1970 }

    @Test("months and ISO weeks: labels, bounds, year ends")
    func periods() {
        let cases: [(String, CalendarPeriod.Kind, String, String, String)] = [
            ("2026-05-09T12:00:00Z", .month, "2026-05", "2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z"),
            ("2026-12-31T23:59:59Z", .month, "2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
            ("2024-02-29T00:00:00Z", .month, "2024-02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
            ("1969-12-31T23:59:59Z", .month, "1969-12", "1969-12-01T00:00:00Z", "1970-01-01T00:00:00Z"),
            ("2026-05-06T08:00:00Z", .week, "2026-W19", "2026-05-04T00:00:00Z", "2026-05-11T00:00:00Z"),
            ("2026-01-01T00:00:00Z", .week, "2026-W01", "2025-12-29T00:00:00Z", "2026-01-05T00:00:00Z"),
            ("2027-01-01T00:00:00Z", .week, "2026-W53", "2026-12-28T00:00:00Z", "2027-01-04T00:00:00Z"),
            ("2024-12-30T00:00:00Z", .week, "2025-W01", "2024-12-30T00:00:00Z", "2025-01-06T00:00:00Z"),
            ("2021-01-03T23:59:59Z", .week, "2020-W53", "2020-12-28T00:00:00Z", "2021-01-04T00:00:00Z"),
            ("1970-01-01T00:00:00Z", .week, "1970-W01", "1969-12-29T00:00:00Z", "1970-01-05T00:00:00Z"),
        ]
        for (instant, kind, label, start, end) in cases {
            let period = CalendarPeriod(containing: Self.ms(instant), kind: kind)
            #expect(period.label == label, "\(instant)")
            #expect(period.startMs == Self.ms(start) && period.endMs == Self.ms(end), "\(instant)")
            #expect(CalendarPeriod(containing: period.endMs - 1, kind: kind) == period && CalendarPeriod(containing: period.endMs, kind: kind) == period.advanced(by: 1))
        }
        #expect(CalendarPeriod(containing: Self.ms("2026-03-15T00:00:00Z"), kind: .month).advanced(by: -14).label == "2025-01")
    }

    @Test("the timeline's figures on a history small enough to read")
    func timeline() {
        let day: Int64 = 86_400_000
        let jan1 = Self.ms("2026-01-01T00:00:00Z")
        // a: Jan 10 – Feb 10; b: trial Jan 20, paid Jan 27, still live; c: Feb 5 – Feb 5 (refunded at once).
        let timeline = MemberTimeline(spans: [
            .init(user: "a", start: jan1 + 9 * day, end: jan1 + 40 * day, startedTrialing: false),
            .init(user: "b", start: jan1 + 19 * day, end: nil, startedTrialing: true),
            .init(user: "c", start: jan1 + 35 * day, end: jan1 + 35 * day, startedTrialing: false),
        ], payments: ["a": [jan1 + 9 * day], "b": [jan1 + 26 * day], "c": [jan1 + 35 * day]])
        let stats = timeline.figures(from: jan1, to: jan1 + 31 * day, cohortMonths: 2)
        #expect(stats.trials == 1 && stats.trialToPaid == 1 && stats.paidConversions == 2)
        #expect(stats.membersAtStart == 0 && stats.membersAtEnd == 2 && stats.retained == 0)
        #expect(stats.cohorts.map(\.month) == ["2025-12", "2026-01"] && stats.cohorts.map(\.size) == [0, 2] && stats.cohorts.last?.retained == [2])
        #expect(timeline.counts(kind: .month, count: 2, asOf: jan1 + 45 * day).map(\.members) == [2, 1])
    }

    @Test("Stripe's card fingerprint is found where Stripe puts it")
    func stripeFingerprint() {
        let card: [String: Any] = ["payment_method_details": ["card": ["fingerprint": "Xt5EWLLDS7FJjR1c"]]]
        #expect(MembershipService.cardFingerprint(in: card) == "Xt5EWLLDS7FJjR1c")
        #expect(MembershipService.cardFingerprint(in: ["charges": ["data": [["id": "ch_1"], card]]]) == "Xt5EWLLDS7FJjR1c")
        #expect(MembershipService.cardFingerprint(in: ["payment_intent": ["id": "pi_1", "latest_charge": card]]) == "Xt5EWLLDS7FJjR1c")
        #expect(MembershipService.cardFingerprint(in: ["payment_intent": "pi_1", "payment_status": "paid"]) == nil)
        #expect(MembershipService.cardFingerprint(in: ["payment_method_details": ["card": ["fingerprint": String(repeating: "x", count: 200)]]])?.count == 128)
    }

    @Test("a Stripe checkout whose payment intent carries the card: the event has its fingerprint")
    func stripeWebhookFingerprint() async throws {
        let fake = FakeStripe()
        try await fake.serve { port in
            var configuration = StripeConfiguration(apiKey: "sk_test_guild", webhookSecret: StripeTests.secret,
                                                    successURL: "https://guild.example/paid", cancelURL: "https://guild.example/cancelled")
            configuration.apiBase = "http://127.0.0.1:\(port)"
            try await MembershipFixture.with(.sqlite, providers: [SandboxPaymentProvider(), StripePaymentProvider(configuration: configuration)]) { f in
                let (_, plan) = try await f.openCommunity()
                let order = try await f.order(plan, user: UserID("member-1"), provider: "stripe")
                let body = #"{"id":"evt_fp","object":"event","type":"checkout.session.completed","data":{"object":{"id":"cs_test_1","object":"checkout.session","client_reference_id":"\#(order.payment.id)","payment_status":"paid","payment_intent":{"id":"pi_3QxGuildTest0002","object":"payment_intent","latest_charge":{"id":"ch_1","payment_method_details":{"type":"card","card":{"brand":"visa","fingerprint":"Xt5EWLLDS7FJjR1c"}}}}}}}"#
                var request = MembershipStripeWebhookRequest()
                request.payload = Data(body.utf8)
                request.signature = StripeSignature.header(payload: Array(body.utf8), timestamp: Int64(f.clock.now().timeIntervalSince1970), secret: StripeTests.secret)
                #expect(try await f.service.handleStripeWebhook(request).outcome == "applied")
                let event = try #require(try await f.paymentEvents(MembershipService.Topic.paymentSucceeded).first)
                #expect(event.cardFingerprint == "Xt5EWLLDS7FJjR1c" && event.provider == "stripe" && event.paymentAmount.minorUnits == 19_900)
                let reference = try await f.database.database.withConnection { sql in
                    try await sql.raw("SELECT provider_reference FROM payments WHERE id = \(bind: order.payment.id)").first()!.decode(column: "provider_reference", as: String.self)
                }
                #expect(reference == "pi_3QxGuildTest0002")
                try await f.expectLedgerHolds()
            }
        }
    }

    @Test("over the wire: referral issues coupons and posts commissions; the gateway may not")
    func wireCallers() async throws {
        try await MembershipFixture.with(.sqlite) { f in
            let (community, _) = try await f.openCommunity()
            let directory = try TemporaryDirectory()
            defer { directory.remove() }
            let certificates = try TestCertificates(directory: directory.url.appendingPathComponent("certs"))
            let logger = Logger(label: "referral-support-wire")
            let server = try await WireServer.bind(host: "127.0.0.1", port: 0, serviceName: .membership, router: f.service.wireRouter,
                                                   tls: try certificates.tls(for: .membership), logger: logger)
            func client(_ service: ServiceName) throws -> WireClient {
                try WireClient(service: .membership, endpoints: [WireEndpoint(host: "127.0.0.1", port: server.port)], tls: try certificates.tls(for: service), logger: logger)
            }
            let referral = try client(.referral)
            let gateway = try client(.gateway)
            do {
                let request = ReferralSupportScenarios.issueRequest(community, to: "member-1", key: "wire-1")
                let coupon = try await referral.call(MembershipAPI.issueCoupon, request)
                #expect(coupon.issuedTo == "member-1")
                #expect(await thrownError { _ = try await gateway.call(MembershipAPI.issueCoupon, request, metadata: [MetadataKey.userID: f.owner.rawValue]) }?.code == .permissionDenied)
                let commission = ReferralSupportScenarios.commission(community, "c1", "accrue", 1, key: "wire-c1")
                #expect(await thrownError { _ = try await gateway.call(MembershipAPI.postCommission, commission) }?.code == .permissionDenied)
                // Lifecycle figures come through the gateway, for the signed-in owner.
                var stats = MembershipLifecycleStatsRequest()
                stats.communityID = community.id
                #expect(try await gateway.call(MembershipAPI.getLifecycleStats, stats, metadata: [MetadataKey.userID: f.owner.rawValue]).cohorts.count == 12)
                #expect(await thrownError { _ = try await gateway.call(MembershipAPI.getLifecycleStats, stats) }?.code == .unauthenticated)
                #expect(await thrownError { _ = try await referral.call(MembershipAPI.getMemberCounts, MembershipMemberCountsRequest.with { $0.communityID = community.id }) }?.code == .permissionDenied)
            } catch {
                await referral.close()
                await gateway.close()
                await server.close()
                throw error
            }
            await referral.close()
            await gateway.close()
            await server.close()
        }
    }
}
