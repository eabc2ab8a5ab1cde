import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import Logging
import SwiftProtobuf
import Testing

@testable import GuildMembership

/// The owner's statement over a community with every kind of money movement: its lines add up
/// (gross − fees − refunds − commissions = payable) and each equals what happened.
enum EarningsStatementScenarios {
    static func everyMovement(_ f: MembershipFixture) async throws {
        let (community, plan) = try await f.openCommunity()
        _ = try await f.coupon(community, code: "TEN", percentOff: 1000)
        // Two direct payments (one with a coupon), and a renewal.
        let a = try await f.pay(try await f.order(plan, user: UserID("a"), coupon: "TEN"), user: UserID("a"))  // 179.10
        let b = try await f.pay(try await f.order(plan, user: UserID("b")), user: UserID("b"))  // 199.00
        _ = try await f.pay(try await f.order(plan, user: UserID("b")), user: UserID("b"))  // 199.00, renewal
        // A group of 2 that fills (2 × 99.00 settled), one that closes short (99.00 held, then
        // returned), and one still open (99.00 held).
        let offer = try await f.groupOffer(plan, size: 2)
        let filled = try await f.openGroup(offer, user: UserID("g1"))
        let second = try await f.joinGroup(filled, user: UserID("g2"))
        _ = try await f.pay(filled.yourOrder, user: UserID("g1"))
        _ = try await f.pay(second.yourOrder, user: UserID("g2"))
        let short = try await f.openGroup(offer, user: UserID("g3"))
        _ = try await f.pay(short.yourOrder, user: UserID("g3"))
        f.clock.advance(by: 25 * 3_600)
        #expect(try await f.service.closeExpiredGroupBuys() == 1)
        let open = try await f.openGroup(offer, user: UserID("g4"))
        _ = try await f.pay(open.yourOrder, user: UserID("g4"))
        // A member's full refund is out of the window now; the owner refunds 50.00 of a's order
        // and all of b's first one.
        _ = try await f.refund(a, user: f.owner, amount: 5_000)
        _ = try await f.refund(b, user: f.owner)
        // A paid question, settled to its answerer: not the owner's money.
        let charge = try await f.charge(community, amount: 3_000, reference: "question-1")
        _ = try await f.confirm(charge, by: ChargeScenarios.payer)
        _ = try await f.service.settleCharge(.with { $0.chargeID = charge.id })
        // Referral commissions: 20.00 earned, matured, 5.00 clawed back from payable; 10.00
        // earned and taken back while pending.
        let post = { (request: MembershipPostCommissionRequest) in _ = try await f.service.postCommission(request, caller: .referral) }
        try await post(ReferralSupportScenarios.commission(community, "c1", "accrue", 2_000, key: "c1-accrue"))
        try await post(ReferralSupportScenarios.commission(community, "c1", "mature", 2_000, key: "c1-mature"))
        try await post(ReferralSupportScenarios.commission(community, "c1", "claw_back", 500, from: "payable", key: "c1-claw"))
        try await post(ReferralSupportScenarios.commission(community, "c2", "accrue", 1_000, key: "c2-accrue"))
        try await post(ReferralSupportScenarios.commission(community, "c2", "claw_back", 1_000, from: "pending", key: "c2-claw"))

        var request = MembershipGetEarningsRequest()
        request.communityID = community.id
        let statement = try await f.service.earnings(request, user: f.owner)
        let fee = { (amount: Int64) in f.service.platformFee(on: Money(minorUnits: amount, currency: .cny)).minorUnits }
        let gross: Int64 = 17_910 + 19_900 + 19_900 + 2 * 9_900
        #expect(statement.gross.minorUnits == gross)
        #expect(statement.payments == 5)
        let bFeeBack = fee(19_900)  // b's whole order: its whole fee comes back
        let aFeeBack = Money(minorUnits: fee(17_910), currency: .cny).scaled(5_000, over: 17_910).minorUnits
        #expect(statement.platformFees.minorUnits == fee(17_910) + 2 * fee(19_900) + 2 * fee(9_900) - bFeeBack - aFeeBack)
        #expect(statement.refunds.minorUnits == 5_000 + 19_900)
        #expect(statement.commissions.minorUnits == 2_000 - 500 + 1_000 - 1_000)
        #expect(statement.held.minorUnits == 9_900)
        #expect(statement.gross.minorUnits - statement.platformFees.minorUnits - statement.refunds.minorUnits - statement.commissions.minorUnits
                == statement.payable.minorUnits)
        // And payable is what the ledger owes the owner.
        #expect(statement.payable.minorUnits == -(try await f.balance("owner_payable:\(community.id)")))
    }
}

@Suite("Earnings statement")
struct EarningsStatementTests {
    @Test("every kind of money movement: the statement's lines add up to what the owner is owed", arguments: TestDatabaseKind.available)
    func everyMovement(_ store: TestDatabaseKind) async throws {
        try await MembershipFixture.with(store) { f in
            try await EarningsStatementScenarios.everyMovement(f)
            try await f.expectLedgerHolds()
        }
    }
}
