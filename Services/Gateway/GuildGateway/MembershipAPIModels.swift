import Foundation
import GuildCore
import GuildMessages

/// JSON bodies of the membership part of the HTTP API, as the OpenAPI document describes them.
extension API {
    struct Money: Codable {
        /// Integer minor units (fen, cents).
        var minorUnits: Int64
        var currency: String
        /// For people: `199.00 CNY`.
        var formatted: String

        init(_ money: MembershipMoney) {
            minorUnits = money.minorUnits
            currency = money.currency
            formatted = Currency(rawValue: money.currency).map { GuildCore.Money(minorUnits: money.minorUnits, currency: $0).description } ?? "\(money.minorUnits) \(money.currency)"
        }
    }

    struct CommunityBody: Decodable {
        var slug: String?
        var name: String?
        var description: String?
        var currency: String?
        var refundWindowDays: Int32?
        var dissolutionRefund: String?
        var status: String?
    }

    struct Community: Encodable {
        var id, slug, name, description, currency, status, ownerId, dissolutionRefund, createdAt: String
        var refundWindowDays: Int32
        var members: Int64
        var yourRole: String?

        init(_ community: MembershipCommunity) {
            id = community.id
            slug = community.slug
            name = community.name
            description = community.description_p
            currency = community.currency
            status = community.status
            ownerId = community.ownerID
            dissolutionRefund = community.dissolutionRefund
            createdAt = timestamp(milliseconds: community.createdAtMs)
            refundWindowDays = community.refundWindowDays
            members = community.members
            yourRole = community.callerRole.isEmpty ? nil : community.callerRole
        }
    }

    struct DirectoryEntry: Encodable {
        var community: Community
        var members: Int64
    }

    struct CommunityDirectory: Encodable {
        var communities: [DirectoryEntry]
        var nextCursor: String?

        init(_ response: MembershipListCommunitiesResponse) {
            communities = response.communities.map { DirectoryEntry(community: Community($0.community), members: $0.members) }
            nextCursor = response.nextCursor.isEmpty ? nil : response.nextCursor
        }
    }

    struct RoleBody: Decodable {
        var role: String?
    }

    struct RoleAssignment: Encodable {
        var communityId, userId: String
        var role: String?

        init(_ assignment: MembershipRoleAssignment) {
            communityId = assignment.communityID
            userId = assignment.userID
            role = assignment.role.isEmpty ? nil : assignment.role
        }
    }

    struct PlanBody: Decodable {
        var name: String?
        var priceMinorUnits: Int64?
        var period: String?
        var periodDays: Int32?
        var trialDays: Int32?
        var seatLimit: Int32?
        var hidden: Bool?
        var renewalDiscountBp: Int64?
    }

    struct Offer: Encodable {
        var id, planId, label, startsAt, endsAt: String
        var price: Money

        init(_ offer: MembershipOffer) {
            id = offer.id
            planId = offer.planID
            label = offer.label
            startsAt = timestamp(milliseconds: offer.startsAtMs)
            endsAt = timestamp(milliseconds: offer.endsAtMs)
            price = Money(offer.price)
        }
    }

    struct Plan: Encodable {
        var id, communityId, name, period, status, createdAt: String
        var price: Money
        var periodDays: Int32?
        var trialDays, seatLimit: Int32
        var visible: Bool
        var members: Int64
        var currentOffer: Offer?
        var renewalDiscountBp: Int64

        init(_ plan: MembershipPlan) {
            id = plan.id
            communityId = plan.communityID
            name = plan.name
            period = plan.period
            status = plan.status
            createdAt = timestamp(milliseconds: plan.createdAtMs)
            price = Money(plan.price)
            periodDays = plan.period == "days" ? plan.periodDays : nil
            trialDays = plan.trialDays
            seatLimit = plan.seatLimit
            visible = plan.visible
            members = plan.members
            currentOffer = plan.hasCurrentOffer ? Offer(plan.currentOffer) : nil
            renewalDiscountBp = plan.renewalDiscountBp
        }
    }

    struct PlanList: Encodable {
        var plans: [Plan]
    }

    struct OfferBody: Decodable {
        var priceMinorUnits: Int64?
        var startsAt: String?
        var endsAt: String?
        var label: String?
    }

    struct CouponBody: Decodable {
        var code: String?
        var kind: String?
        var percentOffBp: Int64?
        var amountOffMinorUnits: Int64?
        var startsAt: String?
        var endsAt: String?
        var maxRedemptions: Int32?
        var maxPerUser: Int32?
        var planIds: [String]?
        var firstPurchaseOnly: Bool?
    }

    struct Coupon: Encodable {
        var id, communityId, code, kind, startsAt, createdAt: String
        var endsAt: String?
        var percentOffBp, amountOffMinorUnits: Int64?
        var maxRedemptions, maxPerUser, redeemed: Int32
        var planIds: [String]
        var firstPurchaseOnly: Bool

        init(_ coupon: MembershipCoupon) {
            id = coupon.id
            communityId = coupon.communityID
            code = coupon.code
            kind = coupon.kind
            startsAt = timestamp(milliseconds: coupon.startsAtMs)
            createdAt = timestamp(milliseconds: coupon.createdAtMs)
            endsAt = coupon.endsAtMs == 0 ? nil : timestamp(milliseconds: coupon.endsAtMs)
            percentOffBp = coupon.kind == "percent" ? coupon.percentOffBp : nil
            amountOffMinorUnits = coupon.kind == "amount" ? coupon.amountOffMinorUnits : nil
            maxRedemptions = coupon.maxRedemptions
            maxPerUser = coupon.maxPerUser
            redeemed = coupon.redeemed
            planIds = coupon.planIds
            firstPurchaseOnly = coupon.firstPurchaseOnly
        }
    }

    struct CouponList: Encodable {
        var coupons: [Coupon]
    }

    struct QuoteBody: Decodable {
        var planId: String?
        var couponCode: String?
    }

    struct QuoteLine: Encodable {
        var kind, label: String
        var amount: Money
    }

    struct Quote: Encodable {
        var communityId, planId, quotedAt: String
        var lines: [QuoteLine]
        var total: Money
        var couponCode: String?
        var trialDays: Int32
        var providers: [String]

        init(_ quote: MembershipQuote) {
            communityId = quote.communityID
            planId = quote.planID
            quotedAt = timestamp(milliseconds: quote.quotedAtMs)
            lines = quote.lines.map { QuoteLine(kind: $0.kind, label: $0.label, amount: Money($0.amount)) }
            total = Money(quote.total)
            couponCode = quote.couponCode.isEmpty ? nil : quote.couponCode
            trialDays = quote.trialDays
            providers = quote.providers
        }
    }

    struct OrderBody: Decodable {
        var communityId: String?
        var planId: String?
        var couponCode: String?
        var provider: String?
    }

    struct Payment: Encodable {
        var id, provider, status, createdAt: String
        var amount: Money
        var checkoutUrl, failureReason, completedAt: String?

        init(_ payment: MembershipPayment) {
            id = payment.id
            provider = payment.provider
            status = payment.status
            createdAt = timestamp(milliseconds: payment.createdAtMs)
            amount = Money(payment.amount)
            checkoutUrl = payment.checkoutURL.isEmpty || payment.status != "pending" ? nil : payment.checkoutURL
            failureReason = payment.failureReason.isEmpty ? nil : payment.failureReason
            completedAt = payment.completedAtMs == 0 ? nil : timestamp(milliseconds: payment.completedAtMs)
        }
    }

    struct Refund: Encodable {
        var id, reason, refundedBy, createdAt: String
        var amount: Money

        init(_ refund: MembershipRefund) {
            id = refund.id
            reason = refund.reason
            refundedBy = refund.refundedBy
            createdAt = timestamp(milliseconds: refund.createdAtMs)
            amount = Money(refund.amount)
        }
    }

    struct RefundBody: Decodable {
        /// Absent or 0: everything not yet refunded.
        var amountMinorUnits: Int64?
        var reason: String?
    }

    struct Dissolution: Encodable {
        var community: Community
        var refunds: Int64
        var refunded: Money
    }

    struct Order: Encodable {
        var id, communityId, planId, userId, status, createdAt: String
        var quote: Quote
        var payment: Payment?
        var subscriptionId: String?
        var refunds: [Refund]
        var groupBuyId: String?
        var refundableUntil: String?

        init(_ order: MembershipOrder) {
            id = order.id
            communityId = order.communityID
            planId = order.planID
            userId = order.userID
            status = order.status
            createdAt = timestamp(milliseconds: order.createdAtMs)
            quote = Quote(order.quote)
            payment = order.hasPayment ? Payment(order.payment) : nil
            subscriptionId = order.subscriptionID.isEmpty ? nil : order.subscriptionID
            refunds = order.refunds.map(Refund.init)
            groupBuyId = order.groupBuyID.isEmpty ? nil : order.groupBuyID
            refundableUntil = order.refundableUntilMs == 0 ? nil : timestamp(milliseconds: order.refundableUntilMs)
        }
    }

    struct OrderList: Encodable {
        var orders: [Order]
    }

    struct ProfileBody: Decodable {
        var displayName: String?
    }

    struct SandboxConfirmBody: Decodable {
        /// `succeeded` (the default) or `failed`.
        var outcome: String?
        var reason: String?
        /// The card's fingerprint as a real provider would report it (fraud checks compare them).
        var cardFingerprint: String?
    }

    struct Subscription: Encodable {
        var id, communityId, planId, userId, state, startedAt: String
        var currentPeriodEnd, endedAt: String?
        var cancelAtPeriodEnd: Bool

        init(_ subscription: MembershipSubscription) {
            id = subscription.id
            communityId = subscription.communityID
            planId = subscription.planID
            userId = subscription.userID
            state = subscription.state
            startedAt = timestamp(milliseconds: subscription.startedAtMs)
            currentPeriodEnd = subscription.currentPeriodEndMs == 0 ? nil : timestamp(milliseconds: subscription.currentPeriodEndMs)
            endedAt = subscription.endedAtMs == 0 ? nil : timestamp(milliseconds: subscription.endedAtMs)
            cancelAtPeriodEnd = subscription.cancelAtPeriodEnd
        }
    }

    struct Membership: Encodable {
        var community: Community
        var subscription: Subscription?
        var role: String?

        init(_ membership: MembershipMembership) {
            community = Community(membership.community)
            subscription = membership.hasSubscription ? Subscription(membership.subscription) : nil
            role = membership.role.isEmpty ? nil : membership.role
        }
    }

    struct MembershipList: Encodable {
        var memberships: [Membership]
    }

    struct Entitlement: Encodable {
        var entitled: Bool
        var role: String?
        var planIds: [String]
        var validUntil: String?

        init(_ entitlement: MembershipEntitlement) {
            entitled = entitlement.entitled
            role = entitlement.role.isEmpty ? nil : entitlement.role
            planIds = entitlement.planIds
            validUntil = entitlement.validUntilMs == 0 || entitlement.validUntilMs == Int64.max ? nil : timestamp(milliseconds: entitlement.validUntilMs)
        }
    }

    struct Earnings: Encodable {
        var communityId: String
        var gross, platformFees, refunds, commissions, payable, held: Money
        var payments: Int64

        init(_ statement: MembershipEarningsStatement) {
            communityId = statement.communityID
            gross = Money(statement.gross)
            platformFees = Money(statement.platformFees)
            refunds = Money(statement.refunds)
            commissions = Money(statement.commissions)
            payable = Money(statement.payable)
            held = Money(statement.held)
            payments = statement.payments
        }
    }
}

extension API {
    struct GroupOfferBody: Decodable {
        var groupSize: Int32?
        var priceMinorUnits: Int64?
        var windowHours: Int32?
        var startsAt: String?
        var endsAt: String?
    }

    struct GroupOffer: Encodable {
        var id, communityId, planId, startsAt, createdAt: String
        var endsAt: String?
        var groupSize, windowHours: Int32
        var price: Money

        init(_ offer: MembershipGroupBuyOffer) {
            id = offer.id
            communityId = offer.communityID
            planId = offer.planID
            startsAt = timestamp(milliseconds: offer.startsAtMs)
            createdAt = timestamp(milliseconds: offer.createdAtMs)
            endsAt = offer.endsAtMs == 0 ? nil : timestamp(milliseconds: offer.endsAtMs)
            groupSize = offer.groupSize
            windowHours = offer.windowHours
            price = Money(offer.price)
        }
    }

    struct GroupOfferList: Encodable {
        var offers: [GroupOffer]
        var openGroups: [Group]

        init(_ response: MembershipListGroupBuyOffersResponse) {
            offers = response.offers.map(GroupOffer.init)
            openGroups = response.openGroups.map(Group.init)
        }
    }

    struct Group: Encodable {
        var id, openerId, status, openedAt, closesAt, sharePath: String
        var offer: GroupOffer
        var paid, pending: Int32
        var settledAt: String?
        var yourOrder: Order?

        init(_ group: MembershipGroupBuy) {
            id = group.id
            openerId = group.openerID
            status = group.status
            openedAt = timestamp(milliseconds: group.openedAtMs)
            closesAt = timestamp(milliseconds: group.closesAtMs)
            sharePath = "/api/v1/groups/\(group.id)"
            offer = GroupOffer(group.offer)
            paid = group.paid
            pending = group.pending
            settledAt = group.settledAtMs == 0 ? nil : timestamp(milliseconds: group.settledAtMs)
            yourOrder = group.hasYourOrder ? Order(group.yourOrder) : nil
        }
    }
}

/// Parses an RFC 3339 timestamp (`2026-12-01T00:00:00Z`, fractional seconds allowed) into
/// milliseconds since 1970.
func milliseconds(rfc3339 text: String) -> Int64? {
    if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) {
        return date.millisecondsSince1970
    }
    if let date = try? Date(text, strategy: Date.ISO8601FormatStyle()) {
        return date.millisecondsSince1970
    }
    return nil
}
