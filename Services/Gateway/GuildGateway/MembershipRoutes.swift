import Foundation
import NIOCore
import GuildCore
import GuildMessages
import GuildSecurity
import GuildWire
import Hummingbird
import HTTPTypes

/// Routes served by `guild-membership`: communities, roles, plans, offers, coupons, quotes,
/// orders, payments, subscriptions, entitlements and earnings.
extension GatewayRoutes {
    static let membership: [GatewayRoute] = communities + catalog + purchases + groupBuys

    static let groupBuys: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/plans/{planId}/group-offers") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.GroupOfferBody.self, from: request, context: context)
            var message = MembershipCreateGroupBuyOfferRequest()
            message.planID = try context.parameters.require("planId")
            message.groupSize = body.groupSize ?? 0
            message.priceMinorUnits = body.priceMinorUnits ?? -1
            message.windowHours = body.windowHours ?? 24
            message.startsAtMs = body.startsAt == nil ? 0 : try gateway.instant(body.startsAt, field: "startsAt")
            message.endsAtMs = body.endsAt == nil ? 0 : try gateway.instant(body.endsAt, field: "endsAt")
            let offer = try await gateway.client(.membership).call(MembershipAPI.createGroupBuyOffer, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.GroupOffer(offer), status: .created)
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/group-offers") { gateway, request, context in
            let context = try await gateway.authenticateIfPresent(request, context: context)
            var message = MembershipListGroupBuyOffersRequest()
            message.communityID = try context.parameters.require("communityId")
            let offers = try await gateway.client(.membership).call(MembershipAPI.listGroupBuyOffers, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.GroupOfferList(offers))
        },
        GatewayRoute(method: .post, path: "/api/v1/group-offers/{offerId}/groups") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipOpenGroupBuyRequest()
            message.offerID = try context.parameters.require("offerId")
            message.idempotencyKey = try gateway.idempotencyKey(request)
            message.provider = request.uri.queryParameters.get("provider") ?? ""
            let group = try await gateway.client(.membership).call(MembershipAPI.openGroupBuy, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Group(group), status: .created)
        },
        GatewayRoute(method: .get, path: "/api/v1/groups/{groupId}") { gateway, request, context in
            let context = try await gateway.authenticateIfPresent(request, context: context)
            var message = MembershipGetGroupBuyRequest()
            message.groupBuyID = try context.parameters.require("groupId")
            let group = try await gateway.client(.membership).call(MembershipAPI.getGroupBuy, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Group(group))
        },
        GatewayRoute(method: .post, path: "/api/v1/groups/{groupId}/join") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipJoinGroupBuyRequest()
            message.groupBuyID = try context.parameters.require("groupId")
            message.idempotencyKey = try gateway.idempotencyKey(request)
            message.provider = request.uri.queryParameters.get("provider") ?? ""
            let group = try await gateway.client(.membership).call(MembershipAPI.joinGroupBuy, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Group(group))
        },
    ]

    static let communities: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/communities") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.CommunityBody.self, from: request, context: context)
            var message = MembershipCreateCommunityRequest()
            message.slug = body.slug ?? ""
            message.name = body.name ?? ""
            message.description_p = body.description ?? ""
            message.currency = body.currency ?? ""
            message.refundWindowDays = body.refundWindowDays ?? 7
            message.dissolutionRefund = body.dissolutionRefund ?? ""
            let community = try await gateway.client(.membership).call(MembershipAPI.createCommunity, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Community(community), status: .created)
        },
        GatewayRoute(method: .get, path: "/api/v1/communities") { gateway, request, context in
            let answer = try await gateway.communityDirectory(query: request.query("q"), cursor: request.query("cursor"), limit: try request.intQuery("limit"), request: request, context: context)
            return try gateway.json(API.CommunityDirectory(answer))
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}") { gateway, request, context in
            let context = try await gateway.authenticateIfPresent(request, context: context)
            var message = MembershipGetCommunityRequest()
            message.community = try context.parameters.require("communityId")  // an id or a slug
            let community = try await gateway.client(.membership).call(MembershipAPI.getCommunity, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Community(community))
        },
        GatewayRoute(method: .patch, path: "/api/v1/communities/{communityId}") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.CommunityBody.self, from: request, context: context)
            var message = MembershipUpdateCommunityRequest()
            message.communityID = try context.parameters.require("communityId")
            if let slug = body.slug { message.slug = slug }
            if let name = body.name { message.name = name }
            if let description = body.description { message.description_p = description }
            if let days = body.refundWindowDays { message.refundWindowDays = days }
            if let status = body.status { message.status = status }
            if let currency = body.currency { message.currency = currency }
            if let dissolutionRefund = body.dissolutionRefund { message.dissolutionRefund = dissolutionRefund }
            let community = try await gateway.client(.membership).call(MembershipAPI.updateCommunity, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Community(community))
        },
        GatewayRoute(method: .put, path: "/api/v1/communities/{communityId}/roles/{userId}") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.RoleBody.self, from: request, context: context)
            var message = MembershipSetRoleRequest()
            message.communityID = try context.parameters.require("communityId")
            message.userID = try context.parameters.require("userId")
            message.role = body.role ?? ""
            let assignment = try await gateway.client(.membership).call(MembershipAPI.setRole, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.RoleAssignment(assignment))
        },
        GatewayRoute(method: .delete, path: "/api/v1/communities/{communityId}/roles/{userId}") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipSetRoleRequest()
            message.communityID = try context.parameters.require("communityId")
            message.userID = try context.parameters.require("userId")
            _ = try await gateway.client(.membership).call(MembershipAPI.setRole, message, metadata: gateway.metadata(context, request: request))
            return Response(status: .noContent)
        },
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/dissolve") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipDissolveCommunityRequest()
            message.communityID = try context.parameters.require("communityId")
            message.idempotencyKey = try gateway.idempotencyKey(request)
            let result = try await gateway.client(.membership).call(MembershipAPI.dissolveCommunity, message, metadata: gateway.metadata(context, request: request))
            let currency = result.refunded
            return try gateway.json(API.Dissolution(community: API.Community(result.community), refunds: result.refunds, refunded: API.Money(currency)))
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/earnings") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipGetEarningsRequest()
            message.communityID = try context.parameters.require("communityId")
            let statement = try await gateway.client(.membership).call(MembershipAPI.getEarnings, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Earnings(statement))
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/entitlement") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipCheckEntitlementRequest()
            message.communityID = try context.parameters.require("communityId")
            message.userID = context.claims!.userID.rawValue
            let entitlement = try await gateway.client(.membership).call(MembershipAPI.checkEntitlement, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Entitlement(entitlement))
        },
    ]

    static let catalog: [GatewayRoute] = [
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/plans") { gateway, request, context in
            let context = try await gateway.authenticateIfPresent(request, context: context)
            var message = MembershipListPlansRequest()
            message.communityID = try context.parameters.require("communityId")
            let plans = try await gateway.client(.membership).call(MembershipAPI.listPlans, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.PlanList(plans: plans.plans.map(API.Plan.init)))
        },
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/plans") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.PlanBody.self, from: request, context: context)
            var message = MembershipCreatePlanRequest()
            message.communityID = try context.parameters.require("communityId")
            message.name = body.name ?? ""
            message.priceMinorUnits = body.priceMinorUnits ?? -1
            message.period = body.period ?? ""
            message.periodDays = body.periodDays ?? 0
            message.trialDays = body.trialDays ?? 0
            message.seatLimit = body.seatLimit ?? 0
            message.hidden = body.hidden ?? false
            message.renewalDiscountBp = body.renewalDiscountBp ?? 0
            let plan = try await gateway.client(.membership).call(MembershipAPI.createPlan, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Plan(plan), status: .created)
        },
        GatewayRoute(method: .post, path: "/api/v1/plans/{planId}/retire") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipPlanRequest()
            message.planID = try context.parameters.require("planId")
            let plan = try await gateway.client(.membership).call(MembershipAPI.retirePlan, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Plan(plan))
        },
        GatewayRoute(method: .delete, path: "/api/v1/plans/{planId}") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipPlanRequest()
            message.planID = try context.parameters.require("planId")
            _ = try await gateway.client(.membership).call(MembershipAPI.deletePlan, message, metadata: gateway.metadata(context, request: request))
            return Response(status: .noContent)
        },
        GatewayRoute(method: .post, path: "/api/v1/plans/{planId}/offers") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.OfferBody.self, from: request, context: context)
            var message = MembershipCreateOfferRequest()
            message.planID = try context.parameters.require("planId")
            message.priceMinorUnits = body.priceMinorUnits ?? -1
            message.startsAtMs = try gateway.instant(body.startsAt, field: "startsAt")
            message.endsAtMs = try gateway.instant(body.endsAt, field: "endsAt")
            message.label = body.label ?? ""
            let offer = try await gateway.client(.membership).call(MembershipAPI.createOffer, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Offer(offer), status: .created)
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/coupons") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipListCouponsRequest()
            message.communityID = try context.parameters.require("communityId")
            let coupons = try await gateway.client(.membership).call(MembershipAPI.listCoupons, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.CouponList(coupons: coupons.coupons.map(API.Coupon.init)))
        },
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/coupons") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.CouponBody.self, from: request, context: context)
            var message = MembershipCreateCouponRequest()
            message.communityID = try context.parameters.require("communityId")
            message.code = body.code ?? ""
            message.kind = body.kind ?? ""
            message.percentOffBp = body.percentOffBp ?? 0
            message.amountOffMinorUnits = body.amountOffMinorUnits ?? 0
            message.startsAtMs = body.startsAt == nil ? 0 : try gateway.instant(body.startsAt, field: "startsAt")
            message.endsAtMs = body.endsAt == nil ? 0 : try gateway.instant(body.endsAt, field: "endsAt")
            message.maxRedemptions = body.maxRedemptions ?? 0
            message.maxPerUser = body.maxPerUser ?? 0
            message.planIds = body.planIds ?? []
            message.firstPurchaseOnly = body.firstPurchaseOnly ?? false
            let coupon = try await gateway.client(.membership).call(MembershipAPI.createCoupon, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Coupon(coupon), status: .created)
        },
    ]

    static let purchases: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/quote") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.QuoteBody.self, from: request, context: context)
            var message = MembershipQuoteRequest()
            message.communityID = try context.parameters.require("communityId")
            message.planID = body.planId ?? ""
            message.couponCode = body.couponCode ?? ""
            let quote = try await gateway.client(.membership).call(MembershipAPI.quote, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Quote(quote))
        },
        GatewayRoute(method: .post, path: "/api/v1/orders") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let key = try gateway.idempotencyKey(request)
            let body = try await gateway.decode(API.OrderBody.self, from: request, context: context)
            var message = MembershipCreateOrderRequest()
            message.communityID = body.communityId ?? ""
            message.planID = body.planId ?? ""
            message.couponCode = body.couponCode ?? ""
            message.provider = body.provider ?? ""
            message.idempotencyKey = key
            let order = try await gateway.client(.membership).call(MembershipAPI.createOrder, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Order(order), status: .created)
        },
        GatewayRoute(method: .get, path: "/api/v1/me/orders") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipListMyOrdersRequest()
            message.communityID = request.uri.queryParameters.get("communityId") ?? ""
            message.limit = try request.intQuery("limit")
            let list = try await gateway.client(.membership).call(MembershipAPI.listMyOrders, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.OrderList(orders: list.orders.map(API.Order.init)))
        },
        GatewayRoute(method: .get, path: "/api/v1/orders/{orderId}") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipGetOrderRequest()
            message.orderID = try context.parameters.require("orderId")
            let order = try await gateway.client(.membership).call(MembershipAPI.getOrder, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Order(order))
        },
        GatewayRoute(method: .post, path: "/api/v1/payments/{paymentId}/sandbox-confirm") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let key = try gateway.idempotencyKey(request)
            let body = try await gateway.decode(API.SandboxConfirmBody.self, from: request, context: context)
            var message = MembershipConfirmSandboxPaymentRequest()
            message.paymentID = try context.parameters.require("paymentId")
            switch body.outcome ?? "succeeded" {
            case "succeeded": message.fail = false
            case "failed": message.fail = true
            default:
                throw GuildError.invalid([.init(field: "outcome", description: "succeeded or failed.")])
            }
            message.failureReason = body.reason ?? ""
            message.idempotencyKey = key
            if let fingerprint = body.cardFingerprint {
                guard fingerprint.count <= 128 else {
                    throw GuildError.invalid([.init(field: "cardFingerprint", description: "At most 128 characters.")])
                }
                message.cardFingerprint = fingerprint
            }
            let order = try await gateway.client(.membership).call(MembershipAPI.confirmSandboxPayment, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Order(order))
        },
        GatewayRoute(method: .post, path: "/api/v1/orders/{orderId}/refunds") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let key = try gateway.idempotencyKey(request)
            let body = try await gateway.decode(API.RefundBody.self, from: request, context: context)
            var message = MembershipRefundOrderRequest()
            message.orderID = try context.parameters.require("orderId")
            message.amountMinorUnits = body.amountMinorUnits ?? 0
            message.reason = body.reason ?? ""
            message.idempotencyKey = key
            let order = try await gateway.client(.membership).call(MembershipAPI.refundOrder, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Order(order))
        },
        // Stripe calls this; it carries no bearer token: the Stripe-Signature header, checked by
        // membership with the endpoint's secret, is its authentication.
        GatewayRoute(method: .post, path: "/api/v1/webhooks/stripe") { gateway, request, context in
            let payload: ByteBuffer
            do {
                payload = try await request.body.collect(upTo: 256 * 1024)
            } catch {
                throw Problem(status: .contentTooLarge, code: "content_too_large", title: "Content too large", detail: "A webhook body is at most 256 KiB.")
            }
            var message = MembershipStripeWebhookRequest()
            message.payload = Data(payload.readableBytesView)
            message.signature = request.headers[HTTPField.Name("Stripe-Signature")!] ?? ""
            let result = try await gateway.client(.membership).call(MembershipAPI.handleStripeWebhook, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(["received": "true", "event": result.eventID, "outcome": result.outcome])
        },
        GatewayRoute(method: .get, path: "/api/v1/me/memberships") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let list = try await gateway.client(.membership).call(MembershipAPI.listMyMemberships, MembershipListMembershipsRequest(), metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.MembershipList(memberships: list.memberships.map(API.Membership.init)))
        },
        GatewayRoute(method: .post, path: "/api/v1/subscriptions/{subscriptionId}/cancel") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipSubscriptionRequest()
            message.subscriptionID = try context.parameters.require("subscriptionId")
            let subscription = try await gateway.client(.membership).call(MembershipAPI.cancelSubscription, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Subscription(subscription))
        },
        GatewayRoute(method: .post, path: "/api/v1/subscriptions/{subscriptionId}/resume") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipSubscriptionRequest()
            message.subscriptionID = try context.parameters.require("subscriptionId")
            let subscription = try await gateway.client(.membership).call(MembershipAPI.resumeSubscription, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Subscription(subscription))
        },
    ]
}

extension Gateway {
    /// The public directory of active communities (`GET /api/v1/communities`, and the web
    /// front end's `/`).
    package func communityDirectory(query: String, cursor: String, limit: Int32, request: Request, context: GatewayRequestContext) async throws -> MembershipListCommunitiesResponse {
        var message = MembershipListCommunitiesRequest()
        message.query = query
        message.cursor = cursor
        message.limit = limit
        return try await client(.membership).call(MembershipAPI.listCommunities, message, metadata: metadata(context, request: request))
    }
}
