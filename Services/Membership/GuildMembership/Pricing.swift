import Foundation
import GuildCore
import GuildMessages

/// Computes what a purchase costs, line by line, from the plan, the offer in force and a
/// coupon. Pure: the service loads the records and the buyer's history, and checks the
/// coupon's total limit atomically when the order is placed.
struct Pricing: Sendable {
    /// What the service knows about the buyer.
    struct Buyer: Sendable {
        /// The buyer has paid for something in this community before.
        var hasPurchased: Bool
        /// The buyer has had a subscription in this community before (no second trial).
        var hasSubscribed: Bool
        /// How many times the buyer redeemed the coupon already.
        var couponRedemptions: Int
        /// The buyer holds a live subscription to this plan: this purchase renews it.
        var isRenewal: Bool = false
        /// The buyer has an order waiting for its payment that uses a first-purchase coupon:
        /// only one order can be the first purchase.
        var hasFirstPurchaseWaiting: Bool = false
    }

    let plan: PlanRecord
    let offer: OfferRecord?
    let coupon: CouponRecord?
    let buyer: Buyer
    let now: Date

    /// The quote, or `failedPrecondition` / `invalidArgument` naming why the coupon does not apply.
    func quote() throws -> MembershipQuote {
        var lines: [MembershipQuoteLine] = []
        var total = plan.price
        lines.append(line("plan_price", "\(plan.name) (\(plan.period.name))", plan.price))
        if let offer, offer.price.minorUnits < plan.price.minorUnits {
            let discount = offer.price - plan.price
            lines.append(line("offer", offer.label.isEmpty ? "Limited-time price" : offer.label, discount))
            total = total + discount
        }
        if buyer.isRenewal, plan.renewalDiscountBasisPoints > 0 {
            let off = total.portion(basisPoints: plan.renewalDiscountBasisPoints)
            lines.append(line("renewal", "Renewal discount: \(Self.percentText(plan.renewalDiscountBasisPoints)) off", -off))
            total = total - off
        }
        var trialDays = 0
        if let coupon {
            try check(coupon)
            let off: Money = switch coupon.kind {
            case .percent: total.portion(basisPoints: coupon.percentOffBasisPoints)
            case .amount: Money(minorUnits: min(coupon.amountOffMinorUnits, total.minorUnits), currency: total.currency)
            }
            let label = coupon.kind == .percent
                ? "Coupon \(coupon.code): \(Self.percentText(coupon.percentOffBasisPoints)) off"
                : "Coupon \(coupon.code)"
            lines.append(line("coupon", label, -off))
            total = total - off
        } else if plan.trialDays > 0, !buyer.hasSubscribed, !buyer.isRenewal {
            // A first subscription starts with the trial; the price is paid when it ends.
            trialDays = plan.trialDays
            lines.append(line("trial", "\(plan.trialDays)-day free trial; \(total) when it ends", -total))
            total = .zero(total.currency)
        }
        var quote = MembershipQuote()
        quote.communityID = plan.community.rawValue
        quote.planID = plan.id.rawValue
        quote.lines = lines
        quote.total = MembershipMoney(total)
        quote.couponCode = coupon?.code ?? ""
        quote.trialDays = Int32(trialDays)
        quote.quotedAtMs = now.millisecondsSince1970
        return quote
    }

    /// Why the coupon cannot be used for this purchase, if it cannot.
    private func check(_ coupon: CouponRecord) throws {
        let nowMs = now.millisecondsSince1970
        func refuse(_ message: String, _ reason: String) -> GuildError {
            GuildError(.failedPrecondition, message, fieldViolations: [.init(field: "couponCode", description: message)], reason: reason)
        }
        if nowMs < coupon.startsAtMs { throw refuse("Coupon \(coupon.code) is not valid yet.", "coupon_not_started") }
        if coupon.endsAtMs != 0, nowMs >= coupon.endsAtMs { throw refuse("Coupon \(coupon.code) has expired.", "coupon_expired") }
        if !coupon.plans.isEmpty, !coupon.plans.contains(plan.id) {
            throw refuse("Coupon \(coupon.code) does not apply to \(plan.name).", "coupon_plan_mismatch")
        }
        if coupon.isFirstPurchaseOnly, buyer.hasPurchased || buyer.hasFirstPurchaseWaiting {
            throw refuse("Coupon \(coupon.code) is for a first purchase only.", "coupon_first_purchase_only")
        }
        if coupon.maxPerUser > 0, buyer.couponRedemptions >= coupon.maxPerUser {
            throw refuse("You have used coupon \(coupon.code) as often as it allows.", "coupon_user_limit")
        }
        if coupon.maxRedemptions > 0, coupon.redeemed >= coupon.maxRedemptions {
            throw refuse("Coupon \(coupon.code) has been used up.", "coupon_exhausted")
        }
    }

    private func line(_ kind: String, _ label: String, _ amount: Money) -> MembershipQuoteLine {
        var line = MembershipQuoteLine()
        line.kind = kind
        line.label = label
        line.amount = MembershipMoney(amount)
        return line
    }

    /// `1500` → `15%`, `1250` → `12.5%`.
    static func percentText(_ basisPoints: Int64) -> String {
        let whole = basisPoints / 100
        let fraction = basisPoints % 100
        guard fraction != 0 else { return "\(whole)%" }
        var digits = String(fraction)
        if digits.count == 1 { digits = "0" + digits }
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)%"
    }
}
