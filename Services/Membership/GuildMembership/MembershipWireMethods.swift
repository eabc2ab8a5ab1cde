import GuildCore
import GuildMessages
import GuildStorage
import GuildWire

extension MembershipService {
    /// The wire methods of `guild-membership`, bound to this service. Methods that act for a
    /// user take them from the call's metadata (set by the gateway after verifying the token).
    public var wireRouter: WireRouter {
        WireRouter([
            WireMethod(MembershipAPI.createCommunity) { request, context in try await self.createCommunity(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.getCommunity) { request, context in try await self.community(request.community, user: context.userID) },
            WireMethod(MembershipAPI.listCommunities) { request, _ in try await self.directory(request) },
            WireMethod(MembershipAPI.updateCommunity) { request, context in try await self.updateCommunity(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.setRole) { request, context in try await self.setRole(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.getRole) { request, _ in try await self.role(request) },
            WireMethod(MembershipAPI.createPlan) { request, context in try await self.createPlan(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.listPlans) { request, context in try await self.plans(request, user: context.userID) },
            WireMethod(MembershipAPI.retirePlan) { request, context in try await self.retirePlan(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.deletePlan) { request, context in try await self.deletePlan(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.createOffer) { request, context in try await self.createOffer(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.createCoupon) { request, context in try await self.createCoupon(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.listCoupons) { request, context in try await self.coupons(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.quote) { request, context in try await self.quote(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.createOrder) { request, context in try await self.createOrder(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.listMyOrders) { request, context in try await self.myOrders(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.getOrder) { request, context in try await self.order(OrderID(request.orderID), user: try context.requireUser()) },
            WireMethod(MembershipAPI.confirmSandboxPayment) { request, context in
                try await self.confirmSandboxPayment(request, user: try context.requireUser())
            },
            WireMethod(MembershipAPI.refundOrder) { request, context in try await self.refundOrder(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.dissolveCommunity) { request, context in try await self.dissolveCommunity(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.createGroupBuyOffer) { request, context in try await self.createGroupBuyOffer(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.listGroupBuyOffers) { request, context in try await self.groupBuyOffers(request, user: context.userID) },
            WireMethod(MembershipAPI.openGroupBuy) { request, context in try await self.openGroupBuy(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.joinGroupBuy) { request, context in try await self.joinGroupBuy(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.getGroupBuy) { request, context in try await self.groupBuy(request, user: context.userID) },
            WireMethod(MembershipAPI.listMyMemberships) { _, context in try await self.memberships(user: try context.requireUser()) },
            WireMethod(MembershipAPI.cancelSubscription) { request, context in try await self.cancelSubscription(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.resumeSubscription) { request, context in try await self.resumeSubscription(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.checkEntitlement) { request, _ in try await self.entitlement(request) },
            WireMethod(MembershipAPI.handleStripeWebhook) { request, _ in try await self.handleStripeWebhook(request) },
            WireMethod(MembershipAPI.createCharge) { request, context in try await self.createCharge(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.confirmSandboxCharge) { request, context in try await self.confirmSandboxCharge(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.settleCharge) { request, _ in try await self.settleCharge(request) },
            WireMethod(MembershipAPI.refundCharge) { request, _ in try await self.refundCharge(request) },
            // Content reads a charge for its own bookkeeping; a user (through the gateway) only their own.
            WireMethod(MembershipAPI.getCharge) { request, context in
                try await self.charge(request, user: context.caller == .content ? nil : try context.requireUser())
            },
            WireMethod(MembershipAPI.checkLedger) { _, _ in try await self.checkLedger() },
            WireMethod(MembershipAPI.getEarnings) { request, context in try await self.earnings(request, user: try context.requireUser()) },
            // Referral's: the caller is the wire peer (only referral's certificate is let through).
            WireMethod(MembershipAPI.issueCoupon) { request, context in try await self.issueCoupon(request, caller: context.caller) },
            WireMethod(MembershipAPI.postCommission) { request, context in try await self.postCommission(request, caller: context.caller) },
            WireMethod(MembershipAPI.getLifecycleStats) { request, context in try await self.lifecycleStats(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.getMemberCounts) { request, context in try await self.memberCounts(request, user: try context.requireUser()) },
            WireMethod(MembershipAPI.voidIssuedCoupon) { request, context in try await self.voidIssuedCoupon(request, caller: context.caller) },
            // The operator's: what the retry loops gave up on.
            WireMethod(OpsAPI.listDeadLetters(.membership)) { request, _ in try await DeadLetterOffice(database: self.database).list(request) },
            WireMethod(OpsAPI.retryDeadLetter(.membership)) { request, _ in try await DeadLetterOffice(database: self.database).retry(request) },
        ])
    }
}
