import Foundation
import GuildCore
import GuildMessages
import SQLKit

/// A community as stored.
struct CommunityRecord: Sendable {
    enum Status: String, Sendable {
        case draft, active, archived, dissolved
    }

    let id: CommunityID
    var slug: String
    var name: String
    var description: String
    var currency: Currency
    var refundWindowDays: Int
    var dissolutionRefund: String
    var status: Status
    let owner: UserID
    let createdAtMs: Int64

    init(row: any SQLRow) throws {
        id = CommunityID(try row.decode(column: "id", as: String.self))
        slug = try row.decode(column: "slug", as: String.self)
        name = try row.decode(column: "name", as: String.self)
        description = try row.decode(column: "description", as: String.self)
        currency = Currency(rawValue: try row.decode(column: "currency", as: String.self)) ?? .cny
        refundWindowDays = try row.decode(column: "refund_window_days", as: Int.self)
        dissolutionRefund = try row.decode(column: "dissolution_refund", as: String.self)
        status = Status(rawValue: try row.decode(column: "status", as: String.self)) ?? .draft
        owner = UserID(try row.decode(column: "owner_id", as: String.self))
        createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
    }

    func message(callerRole: CommunityRole?) -> MembershipCommunity {
        var message = MembershipCommunity()
        message.id = id.rawValue
        message.slug = slug
        message.name = name
        message.description_p = description
        message.currency = currency.rawValue
        message.refundWindowDays = Int32(refundWindowDays)
        message.status = status.rawValue
        message.ownerID = owner.rawValue
        message.dissolutionRefund = dissolutionRefund
        message.createdAtMs = createdAtMs
        message.callerRole = callerRole?.rawValue ?? ""
        return message
    }
}

/// A plan as stored.
struct PlanRecord: Sendable {
    let id: PlanID
    let community: CommunityID
    let name: String
    let price: Money
    let period: PlanPeriod
    let trialDays: Int
    let seatLimit: Int
    let isVisible: Bool
    let status: String
    let createdAtMs: Int64
    /// Off the price of a renewal, in basis points.
    let renewalDiscountBasisPoints: Int64

    var isActive: Bool { status == "active" }

    init(row: any SQLRow) throws {
        id = PlanID(try row.decode(column: "id", as: String.self))
        community = CommunityID(try row.decode(column: "community_id", as: String.self))
        name = try row.decode(column: "name", as: String.self)
        price = Money(
            minorUnits: try row.decode(column: "price_minor", as: Int64.self),
            currency: Currency(rawValue: try row.decode(column: "currency", as: String.self)) ?? .cny)
        period = PlanPeriod(name: try row.decode(column: "period", as: String.self), days: try row.decode(column: "period_days", as: Int.self)) ?? .monthly
        trialDays = try row.decode(column: "trial_days", as: Int.self)
        seatLimit = try row.decode(column: "seat_limit", as: Int.self)
        isVisible = try row.decode(column: "visible", as: Bool.self)
        status = try row.decode(column: "status", as: String.self)
        createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        renewalDiscountBasisPoints = try row.decode(column: "renewal_discount_bp", as: Int64.self)
    }

    func message(members: Int64, offer: OfferRecord?) -> MembershipPlan {
        var message = MembershipPlan()
        message.id = id.rawValue
        message.communityID = community.rawValue
        message.name = name
        message.price = MembershipMoney(price)
        message.period = period.name
        message.periodDays = Int32(period.dayCount)
        message.trialDays = Int32(trialDays)
        message.seatLimit = Int32(seatLimit)
        message.visible = isVisible
        message.status = status
        message.members = members
        message.createdAtMs = createdAtMs
        message.renewalDiscountBp = renewalDiscountBasisPoints
        if let offer { message.currentOffer = offer.message }
        return message
    }
}

/// A limited-time price of a plan.
struct OfferRecord: Sendable {
    let id: String
    let plan: PlanID
    let price: Money
    let startsAtMs: Int64
    let endsAtMs: Int64
    let label: String

    init(row: any SQLRow, currency: Currency) throws {
        id = try row.decode(column: "id", as: String.self)
        plan = PlanID(try row.decode(column: "plan_id", as: String.self))
        price = Money(minorUnits: try row.decode(column: "price_minor", as: Int64.self), currency: currency)
        startsAtMs = try row.decode(column: "starts_at_ms", as: Int64.self)
        endsAtMs = try row.decode(column: "ends_at_ms", as: Int64.self)
        label = try row.decode(column: "label", as: String.self)
    }

    var message: MembershipOffer {
        var message = MembershipOffer()
        message.id = id
        message.planID = plan.rawValue
        message.price = MembershipMoney(price)
        message.startsAtMs = startsAtMs
        message.endsAtMs = endsAtMs
        message.label = label
        return message
    }
}

/// A coupon as stored.
struct CouponRecord: Sendable {
    enum Kind: String, Sendable {
        case percent, amount
    }

    let id: String
    let community: CommunityID
    let code: String
    let kind: Kind
    let percentOffBasisPoints: Int64
    let amountOffMinorUnits: Int64
    let startsAtMs: Int64
    /// 0: no end.
    let endsAtMs: Int64
    let maxRedemptions: Int
    let maxPerUser: Int
    let plans: Set<PlanID>
    let isFirstPurchaseOnly: Bool
    let redeemed: Int
    let createdAtMs: Int64
    /// The one member who may redeem it ("" for anyone): a referral reward, a points redemption.
    let issuedTo: String
    let label: String

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        community = CommunityID(try row.decode(column: "community_id", as: String.self))
        code = try row.decode(column: "code", as: String.self)
        kind = Kind(rawValue: try row.decode(column: "kind", as: String.self)) ?? .amount
        percentOffBasisPoints = try row.decode(column: "percent_off_bp", as: Int64.self)
        amountOffMinorUnits = try row.decode(column: "amount_off_minor", as: Int64.self)
        startsAtMs = try row.decode(column: "starts_at_ms", as: Int64.self)
        endsAtMs = try row.decode(column: "ends_at_ms", as: Int64.self)
        maxRedemptions = try row.decode(column: "max_redemptions", as: Int.self)
        maxPerUser = try row.decode(column: "max_per_user", as: Int.self)
        plans = Set(try row.decode(column: "plan_ids", as: String.self).split(separator: ",").map { PlanID(String($0)) })
        isFirstPurchaseOnly = try row.decode(column: "first_purchase_only", as: Bool.self)
        redeemed = try row.decode(column: "redeemed", as: Int.self)
        createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        issuedTo = try row.decode(column: "issued_to", as: String.self)
        label = try row.decode(column: "label", as: String.self)
    }

    var message: MembershipCoupon {
        var message = MembershipCoupon()
        message.id = id
        message.communityID = community.rawValue
        message.code = code
        message.kind = kind.rawValue
        message.percentOffBp = percentOffBasisPoints
        message.amountOffMinorUnits = amountOffMinorUnits
        message.startsAtMs = startsAtMs
        message.endsAtMs = endsAtMs
        message.maxRedemptions = Int32(maxRedemptions)
        message.maxPerUser = Int32(maxPerUser)
        message.planIds = plans.map(\.rawValue).sorted()
        message.firstPurchaseOnly = isFirstPurchaseOnly
        message.redeemed = Int32(redeemed)
        message.createdAtMs = createdAtMs
        message.issuedTo = issuedTo
        message.label = label
        return message
    }
}

extension MembershipMoney {
    init(_ money: Money) {
        self.init()
        minorUnits = money.minorUnits
        currency = money.currency.rawValue
    }
}
