import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildSecurity
import GuildService
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildContent
@testable import GuildReferral

/// A whole in-process cluster (auth, membership, content and referral over the wire on real
/// TLS) over throwaway databases of one kind, with an active community (CNY, refund window 7
/// days) whose owner sells a monthly plan at 199.00, and a manual clock.
struct ReferralFixture: Sendable {
    let cluster: TestCluster
    let clock: ManualWallClock
    let community: MembershipCommunity
    let plan: MembershipPlan

    var referral: ReferralService { cluster.referral }
    var membership: MembershipService { cluster.membership }
    var content: ContentService { cluster.content }

    let owner = UserID("owner-00001")
    let moderator = UserID("moderator-01")

    static func with(_ kind: TestDatabaseKind, _ body: (ReferralFixture) async throws -> Void) async throws {
        let clock = ManualWallClock(Date(timeIntervalSince1970: 1_767_225_600))  // 2026-01-01T00:00:00Z
        try await TestCluster.withCluster(database: kind, clock: clock) { cluster in
            let owner = UserID("owner-00001")
            var create = MembershipCreateCommunityRequest()
            create.slug = "swift-club"
            create.name = "Swift Club"
            create.currency = "CNY"
            create.refundWindowDays = 7
            let community = try await cluster.membership.createCommunity(create, user: owner)
            var publish = MembershipUpdateCommunityRequest()
            publish.communityID = community.id
            publish.status = "active"
            _ = try await cluster.membership.updateCommunity(publish, user: owner)
            var plan = MembershipCreatePlanRequest()
            plan.communityID = community.id
            plan.name = "Monthly"
            plan.priceMinorUnits = 19_900
            plan.period = "monthly"
            let fixture = ReferralFixture(cluster: cluster, clock: clock, community: community, plan: try await cluster.membership.createPlan(plan, user: owner))
            var role = MembershipSetRoleRequest()
            role.communityID = community.id
            role.userID = fixture.moderator.rawValue
            role.role = "moderator"
            _ = try await cluster.membership.setRole(role, user: owner)
            try await fixture.deliver()
            try await body(fixture)
        }
    }

    /// Delivers what membership and content wrote to their outboxes (to content and referral),
    /// then runs referral's jobs (ledger postings, rewards, redemptions).
    func deliver() async throws {
        try await cluster.membershipEvents.deliverDue()
        try await cluster.contentEvents.deliverDue()
        _ = await referral.runJobs()
    }

    /// `user` buys the plan with the sandbox provider (with `card` as the card's fingerprint);
    /// membership's events reach content and referral. Returns the paid order.
    @discardableResult
    func pay(_ user: UserID, plan: MembershipPlan? = nil, coupon: String = "", card: String = "") async throws -> MembershipOrder {
        var order = MembershipCreateOrderRequest()
        order.communityID = community.id
        order.planID = (plan ?? self.plan).id
        order.couponCode = coupon
        order.idempotencyKey = Identifier.make()
        let placed = try await membership.createOrder(order, user: user)
        guard placed.status == "pending" else { try await deliver(); return placed }
        var confirm = MembershipConfirmSandboxPaymentRequest()
        confirm.paymentID = placed.payment.id
        confirm.idempotencyKey = Identifier.make()
        confirm.cardFingerprint = card
        let paid = try await membership.confirmSandboxPayment(confirm, user: user)
        try await deliver()
        return paid
    }

    /// The owner refunds `amount` (0: all) of `order`.
    @discardableResult
    func refund(_ order: MembershipOrder, amount: Int64 = 0) async throws -> MembershipOrder {
        var request = MembershipRefundOrderRequest()
        request.orderID = order.id
        request.amountMinorUnits = amount
        request.reason = "test"
        request.idempotencyKey = Identifier.make()
        let refunded = try await membership.refundOrder(request, user: owner)
        try await deliver()
        return refunded
    }

    /// Membership's ledger check, which must hold after every money movement.
    func expectLedgerBalanced() async throws {
        let check = try await membership.checkLedger()
        #expect(check.violations.isEmpty, "\(check.violations)")
    }
}
