import GuildCore

/// The methods of `guild-membership`.
public enum MembershipAPI {
    static let frontDoor: Set<ServiceName> = [.gateway]
    /// Services that decide access by membership.
    static let accessDeciders: Set<ServiceName> = [.gateway, .content, .referral]

    public static let createCommunity = MethodDescriptor<MembershipCreateCommunityRequest, MembershipCommunity>(
        "membership.CreateCommunity", idempotent: false, allowedCallers: frontDoor)
    public static let getCommunity = MethodDescriptor<MembershipGetCommunityRequest, MembershipCommunity>(
        "membership.GetCommunity", idempotent: true, allowedCallers: accessDeciders)
    public static let listCommunities = MethodDescriptor<MembershipListCommunitiesRequest, MembershipListCommunitiesResponse>(
        "membership.ListCommunities", idempotent: true, allowedCallers: frontDoor)
    public static let updateCommunity = MethodDescriptor<MembershipUpdateCommunityRequest, MembershipCommunity>(
        "membership.UpdateCommunity", idempotent: true, allowedCallers: frontDoor)
    public static let setRole = MethodDescriptor<MembershipSetRoleRequest, MembershipRoleAssignment>(
        "membership.SetRole", idempotent: true, allowedCallers: frontDoor)
    public static let getRole = MethodDescriptor<MembershipGetRoleRequest, MembershipRoleAssignment>(
        "membership.GetRole", idempotent: true, allowedCallers: accessDeciders)

    public static let createPlan = MethodDescriptor<MembershipCreatePlanRequest, MembershipPlan>(
        "membership.CreatePlan", idempotent: false, allowedCallers: frontDoor)
    public static let listPlans = MethodDescriptor<MembershipListPlansRequest, MembershipListPlansResponse>(
        "membership.ListPlans", idempotent: true, allowedCallers: accessDeciders)
    public static let retirePlan = MethodDescriptor<MembershipPlanRequest, MembershipPlan>(
        "membership.RetirePlan", idempotent: true, allowedCallers: frontDoor)
    public static let deletePlan = MethodDescriptor<MembershipPlanRequest, MembershipPlan>(
        "membership.DeletePlan", idempotent: false, allowedCallers: frontDoor)
    public static let createOffer = MethodDescriptor<MembershipCreateOfferRequest, MembershipOffer>(
        "membership.CreateOffer", idempotent: false, allowedCallers: frontDoor)
    public static let createCoupon = MethodDescriptor<MembershipCreateCouponRequest, MembershipCoupon>(
        "membership.CreateCoupon", idempotent: false, allowedCallers: frontDoor)
    public static let listCoupons = MethodDescriptor<MembershipListCouponsRequest, MembershipListCouponsResponse>(
        "membership.ListCoupons", idempotent: true, allowedCallers: frontDoor)

    public static let quote = MethodDescriptor<MembershipQuoteRequest, MembershipQuote>(
        "membership.Quote", idempotent: true, allowedCallers: frontDoor)
    /// Idempotent by its idempotency key: a retry returns the first order.
    public static let createOrder = MethodDescriptor<MembershipCreateOrderRequest, MembershipOrder>(
        "membership.CreateOrder", idempotent: true, allowedCallers: frontDoor)
    public static let listMyOrders = MethodDescriptor<MembershipListMyOrdersRequest, MembershipOrderList>(
        "membership.ListMyOrders", idempotent: true, allowedCallers: frontDoor)
    public static let getOrder = MethodDescriptor<MembershipGetOrderRequest, MembershipOrder>(
        "membership.GetOrder", idempotent: true, allowedCallers: frontDoor)
    public static let confirmSandboxPayment = MethodDescriptor<MembershipConfirmSandboxPaymentRequest, MembershipOrder>(
        "membership.ConfirmSandboxPayment", idempotent: true, allowedCallers: frontDoor)

    /// Idempotent by its idempotency key.
    public static let refundOrder = MethodDescriptor<MembershipRefundOrderRequest, MembershipOrder>(
        "membership.RefundOrder", idempotent: true, allowedCallers: frontDoor)
    /// Idempotent by its idempotency key.
    public static let dissolveCommunity = MethodDescriptor<MembershipDissolveCommunityRequest, MembershipDissolveCommunityResponse>(
        "membership.DissolveCommunity", idempotent: true, allowedCallers: frontDoor)

    public static let createGroupBuyOffer = MethodDescriptor<MembershipCreateGroupBuyOfferRequest, MembershipGroupBuyOffer>(
        "membership.CreateGroupBuyOffer", idempotent: false, allowedCallers: frontDoor)
    public static let listGroupBuyOffers = MethodDescriptor<MembershipListGroupBuyOffersRequest, MembershipListGroupBuyOffersResponse>(
        "membership.ListGroupBuyOffers", idempotent: true, allowedCallers: frontDoor)
    /// Idempotent by its idempotency key.
    public static let openGroupBuy = MethodDescriptor<MembershipOpenGroupBuyRequest, MembershipGroupBuy>(
        "membership.OpenGroupBuy", idempotent: true, allowedCallers: frontDoor)
    /// Idempotent by its idempotency key.
    public static let joinGroupBuy = MethodDescriptor<MembershipJoinGroupBuyRequest, MembershipGroupBuy>(
        "membership.JoinGroupBuy", idempotent: true, allowedCallers: frontDoor)
    public static let getGroupBuy = MethodDescriptor<MembershipGetGroupBuyRequest, MembershipGroupBuy>(
        "membership.GetGroupBuy", idempotent: true, allowedCallers: frontDoor)

    public static let listMyMemberships = MethodDescriptor<MembershipListMembershipsRequest, MembershipListMembershipsResponse>(
        "membership.ListMyMemberships", idempotent: true, allowedCallers: frontDoor)
    public static let cancelSubscription = MethodDescriptor<MembershipSubscriptionRequest, MembershipSubscription>(
        "membership.CancelSubscription", idempotent: false, allowedCallers: frontDoor)
    public static let resumeSubscription = MethodDescriptor<MembershipSubscriptionRequest, MembershipSubscription>(
        "membership.ResumeSubscription", idempotent: false, allowedCallers: frontDoor)
    public static let checkEntitlement = MethodDescriptor<MembershipCheckEntitlementRequest, MembershipEntitlement>(
        "membership.CheckEntitlement", idempotent: true, allowedCallers: accessDeciders)

    /// Opened for the paying user by the service that sells (content). Idempotent by its key.
    public static let createCharge = MethodDescriptor<MembershipCreateChargeRequest, MembershipCharge>(
        "membership.CreateCharge", idempotent: true, allowedCallers: [.content])
    /// Idempotent by its key.
    public static let confirmSandboxCharge = MethodDescriptor<MembershipConfirmSandboxChargeRequest, MembershipCharge>(
        "membership.ConfirmSandboxCharge", idempotent: true, allowedCallers: frontDoor)
    /// A transition that happens once: a repeat answers with the charge as it is.
    public static let settleCharge = MethodDescriptor<MembershipSettleChargeRequest, MembershipCharge>(
        "membership.SettleCharge", idempotent: true, allowedCallers: [.content])
    /// A transition that happens once: a repeat answers with the charge as it is.
    public static let refundCharge = MethodDescriptor<MembershipRefundChargeRequest, MembershipCharge>(
        "membership.RefundCharge", idempotent: true, allowedCallers: [.content])
    public static let getCharge = MethodDescriptor<MembershipGetChargeRequest, MembershipCharge>(
        "membership.GetCharge", idempotent: true, allowedCallers: [.gateway, .content])

    public static let checkLedger = MethodDescriptor<MembershipCheckLedgerRequest, MembershipLedgerCheck>(
        "membership.CheckLedger", idempotent: true, allowedCallers: [.cli, .gateway])
    public static let getEarnings = MethodDescriptor<MembershipGetEarningsRequest, MembershipEarningsStatement>(
        "membership.GetEarnings", idempotent: true, allowedCallers: frontDoor)

    /// A single-use coupon for one member (a referral reward, a points redemption). Idempotent by its key.
    public static let issueCoupon = MethodDescriptor<MembershipIssueCouponRequest, MembershipCoupon>(
        "membership.IssueCoupon", idempotent: true, allowedCallers: [.referral])
    /// One movement of a referral commission in the ledger. Idempotent by its key.
    public static let voidIssuedCoupon = MethodDescriptor<MembershipVoidIssuedCouponRequest, MembershipVoidIssuedCouponResponse>(
        "membership.VoidIssuedCoupon", idempotent: true, allowedCallers: [.referral])
    public static let postCommission = MethodDescriptor<MembershipPostCommissionRequest, MembershipCommissionPosting>(
        "membership.PostCommission", idempotent: true, allowedCallers: [.referral])
    /// Trials, conversions, retention and cohorts for the lifecycle funnel.
    public static let getLifecycleStats = MethodDescriptor<MembershipLifecycleStatsRequest, MembershipLifecycleStats>(
        "membership.GetLifecycleStats", idempotent: true, allowedCallers: frontDoor)
    /// Live members per period, for the growth forecast.
    public static let getMemberCounts = MethodDescriptor<MembershipMemberCountsRequest, MembershipMemberCounts>(
        "membership.GetMemberCounts", idempotent: true, allowedCallers: frontDoor)
}

/// The method every consumer of events serves.
public enum EventsAPI {
    /// Services whose outboxes deliver events.
    static let producers: Set<ServiceName> = [.membership, .content, .referral]

    public static let deliver = MethodDescriptor<EventsDeliverRequest, EventsDeliverResponse>(
        "events.Deliver", idempotent: true, allowedCallers: producers)
}

extension MembershipAPI {
    /// Idempotent: a replayed event is recognised by its id and changes nothing.
    public static let handleStripeWebhook = MethodDescriptor<MembershipStripeWebhookRequest, MembershipStripeWebhookResult>(
        "membership.HandleStripeWebhook", idempotent: true, allowedCallers: frontDoor)
}
