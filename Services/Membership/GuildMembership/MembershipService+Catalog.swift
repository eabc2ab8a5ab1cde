import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import SQLKit

/// Plans, limited-time offers and coupons.
extension MembershipService {
    // MARK: Plans

    public func createPlan(_ request: MembershipCreatePlanRequest, user: UserID) async throws -> MembershipPlan {
        var violations: [GuildError.FieldViolation] = []
        let name = request.name.trimmingCharacters(in: .whitespaces)
        if name.isEmpty || name.count > 100 { violations.append(.init(field: "name", description: "A name of 1 to 100 characters is required.")) }
        if request.priceMinorUnits < 0 || request.priceMinorUnits > 100_000_000_00 {
            violations.append(.init(field: "priceMinorUnits", description: "A price in minor units (fen, cents), from 0."))
        }
        let period = PlanPeriod(name: request.period, days: Int(request.periodDays))
        if period == nil { violations.append(.init(field: "period", description: "monthly, yearly, lifetime, or days (with periodDays from 1 to 3650).")) }
        if !(0...365).contains(request.trialDays) { violations.append(.init(field: "trialDays", description: "From 0 to 365 days.")) }
        if request.seatLimit < 0 { violations.append(.init(field: "seatLimit", description: "0 (no limit) or more.")) }
        if !(0...9_000).contains(request.renewalDiscountBp) {
            violations.append(.init(field: "renewalDiscountBp", description: "Basis points off a renewal, from 0 to 9000 (90 %)."))
        }
        guard violations.isEmpty, let period else { throw GuildError.invalid(violations) }
        let now = clock.now()
        let id = PlanID.make(at: now)
        try await database.transaction { sql in
            let (community, _) = try await self.authorized(sql, community: CommunityID(request.communityID), user: user, operation: Operation.managePlans)
            try await sql.raw("""
                INSERT INTO plans (id, community_id, name, price_minor, currency, period, period_days, trial_days, seat_limit, visible, status, created_at_ms, renewal_discount_bp)
                VALUES (\(bind: id.rawValue), \(bind: community.id.rawValue), \(bind: name), \(bind: request.priceMinorUnits), \(bind: community.currency.rawValue),
                        \(bind: period.name), \(bind: period.dayCount), \(bind: Int(request.trialDays)), \(bind: Int(request.seatLimit)),
                        \(bind: !request.hidden), 'active', \(bind: now.millisecondsSince1970), \(bind: request.renewalDiscountBp))
                """).run()
        }
        return try await plan(id)
    }

    /// The community's plans: visible active ones for everyone; hidden and retired ones too for staff.
    public func plans(_ request: MembershipListPlansRequest, user: UserID?) async throws -> MembershipListPlansResponse {
        try await database.withConnection { sql in
            let (community, role) = try await self.authorized(sql, community: CommunityID(request.communityID), user: user, operation: nil)
            let isStaff = Self.policy.allows(Operation.viewHiddenPlans, role: role)
            if community.status == .draft, !isStaff { throw GuildError(.notFound, "No such community.") }
            var response = MembershipListPlansResponse()
            for row in try await sql.raw("SELECT * FROM plans WHERE community_id = \(bind: community.id.rawValue) ORDER BY created_at_ms").all() {
                let plan = try PlanRecord(row: row)
                guard isStaff || (plan.isVisible && plan.isActive) else { continue }
                response.plans.append(try await self.planMessage(sql, plan))
            }
            return response
        }
    }

    /// Retires a plan: no new purchases; members keep what they paid for.
    public func retirePlan(_ request: MembershipPlanRequest, user: UserID) async throws -> MembershipPlan {
        let id = PlanID(request.planID)
        try await database.transaction { sql in
            let plan = try await self.planRecord(sql, id)
            _ = try await self.authorized(sql, community: plan.community, user: user, operation: Operation.managePlans)
            try await sql.raw("UPDATE plans SET status = 'retired' WHERE id = \(bind: id.rawValue)").run()
        }
        return try await plan(id)
    }

    /// Deletes a plan nobody ever bought; a plan with members (or orders) can only be retired.
    public func deletePlan(_ request: MembershipPlanRequest, user: UserID) async throws -> MembershipPlan {
        let id = PlanID(request.planID)
        return try await database.transaction { sql in
            let plan = try await self.planRecord(sql, id)
            _ = try await self.authorized(sql, community: plan.community, user: user, operation: Operation.managePlans)
            let message = try await self.planMessage(sql, plan)
            let used = try await sql.raw("""
                SELECT (SELECT COUNT(*) FROM subscriptions WHERE plan_id = \(bind: id.rawValue)) + (SELECT COUNT(*) FROM orders WHERE plan_id = \(bind: id.rawValue)) AS n
                """).first()?.decode(column: "n", as: Int.self) ?? 0
            guard used == 0 else {
                throw GuildError(.failedPrecondition, "This plan has members or orders; retire it instead of deleting it.", reason: "plan_in_use")
            }
            try await sql.raw("DELETE FROM offers WHERE plan_id = \(bind: id.rawValue)").run()
            try await sql.raw("DELETE FROM plans WHERE id = \(bind: id.rawValue)").run()
            return message
        }
    }

    func plan(_ id: PlanID) async throws -> MembershipPlan {
        try await database.withConnection { sql in try await self.planMessage(sql, try await self.planRecord(sql, id)) }
    }

    func planRecord(_ sql: any SQLDatabase, _ id: PlanID) async throws -> PlanRecord {
        guard let row = try await sql.raw("SELECT * FROM plans WHERE id = \(bind: id.rawValue)").first() else {
            throw GuildError(.notFound, "No such plan.")
        }
        return try PlanRecord(row: row)
    }

    func planMessage(_ sql: any SQLDatabase, _ plan: PlanRecord) async throws -> MembershipPlan {
        let now = clock.now()
        let members = try await sql.raw("""
            SELECT COUNT(*) AS n FROM subscriptions WHERE plan_id = \(bind: plan.id.rawValue) AND status <> 'expired'
            """).first()?.decode(column: "n", as: Int64.self) ?? 0
        return plan.message(members: members, offer: try await currentOffer(sql, plan: plan, at: now))
    }

    // MARK: Offers

    /// A limited-time price for a plan, for a window.
    public func createOffer(_ request: MembershipCreateOfferRequest, user: UserID) async throws -> MembershipOffer {
        var violations: [GuildError.FieldViolation] = []
        if request.priceMinorUnits < 0 { violations.append(.init(field: "priceMinorUnits", description: "A price in minor units, from 0.")) }
        if request.endsAtMs <= request.startsAtMs { violations.append(.init(field: "endsAt", description: "The window must end after it starts.")) }
        if request.label.count > 100 { violations.append(.init(field: "label", description: "At most 100 characters.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let id = Identifier.make(at: clock.now())
        return try await database.transaction { sql in
            let plan = try await self.planRecord(sql, PlanID(request.planID))
            _ = try await self.authorized(sql, community: plan.community, user: user, operation: Operation.managePlans)
            guard request.priceMinorUnits < plan.price.minorUnits else {
                throw GuildError.invalid([.init(field: "priceMinorUnits", description: "An offer must be below the plan's price (\(plan.price)).")])
            }
            try await sql.raw("""
                INSERT INTO offers (id, plan_id, price_minor, starts_at_ms, ends_at_ms, label)
                VALUES (\(bind: id), \(bind: plan.id.rawValue), \(bind: request.priceMinorUnits), \(bind: request.startsAtMs), \(bind: request.endsAtMs), \(bind: request.label))
                """).run()
            let row = try await sql.raw("SELECT * FROM offers WHERE id = \(bind: id)").first()!
            return try OfferRecord(row: row, currency: plan.price.currency).message
        }
    }

    /// The lowest offer in force for `plan` at `instant`.
    func currentOffer(_ sql: any SQLDatabase, plan: PlanRecord, at instant: Date) async throws -> OfferRecord? {
        let ms = instant.millisecondsSince1970
        guard let row = try await sql.raw("""
            SELECT * FROM offers WHERE plan_id = \(bind: plan.id.rawValue) AND starts_at_ms <= \(bind: ms) AND ends_at_ms > \(bind: ms)
            ORDER BY price_minor LIMIT 1
            """).first() else { return nil }
        return try OfferRecord(row: row, currency: plan.price.currency)
    }

    // MARK: Coupons

    public func createCoupon(_ request: MembershipCreateCouponRequest, user: UserID) async throws -> MembershipCoupon {
        var violations: [GuildError.FieldViolation] = []
        let code = request.code.uppercased()
        if !(3...32).contains(code.utf8.count) || !code.utf8.allSatisfy({ (65...90).contains($0) || (48...57).contains($0) || $0 == 45 || $0 == 95 }) {
            violations.append(.init(field: "code", description: "3 to 32 letters, digits, hyphens or underscores."))
        }
        switch request.kind {
        case "percent":
            if !(1...10_000).contains(request.percentOffBp) { violations.append(.init(field: "percentOffBp", description: "Basis points off, from 1 to 10000 (100 %).")) }
        case "amount":
            if request.amountOffMinorUnits <= 0 { violations.append(.init(field: "amountOffMinorUnits", description: "The amount off in minor units, above 0.")) }
        default:
            violations.append(.init(field: "kind", description: "percent or amount."))
        }
        if request.endsAtMs != 0, request.endsAtMs <= request.startsAtMs { violations.append(.init(field: "endsAt", description: "The window must end after it starts.")) }
        if request.maxRedemptions < 0 { violations.append(.init(field: "maxRedemptions", description: "0 (no limit) or more.")) }
        if request.maxPerUser < 0 { violations.append(.init(field: "maxPerUser", description: "0 (no limit) or more.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let now = clock.now()
        let id = Identifier.make(at: now)
        let community = CommunityID(request.communityID)
        do {
            try await database.transaction { sql in
                _ = try await self.authorized(sql, community: community, user: user, operation: Operation.manageCoupons)
                for plan in request.planIds {
                    let record = try await self.planRecord(sql, PlanID(plan))
                    guard record.community == community else { throw GuildError(.notFound, "No such plan in this community: \(plan).") }
                }
                try await sql.raw("""
                    INSERT INTO coupons (id, community_id, code, kind, percent_off_bp, amount_off_minor, starts_at_ms, ends_at_ms, max_redemptions,
                                         max_per_user, plan_ids, first_purchase_only, redeemed, created_at_ms)
                    VALUES (\(bind: id), \(bind: community.rawValue), \(bind: code), \(bind: request.kind),
                            \(bind: request.kind == "percent" ? request.percentOffBp : 0), \(bind: request.kind == "amount" ? request.amountOffMinorUnits : 0),
                            \(bind: request.startsAtMs), \(bind: request.endsAtMs), \(bind: Int(request.maxRedemptions)), \(bind: Int(request.maxPerUser)),
                            \(bind: request.planIds.joined(separator: ",")), \(bind: request.firstPurchaseOnly), 0, \(bind: now.millisecondsSince1970))
                    """).run()
            }
        } catch let error as GuildError where error.code == .alreadyExists {
            throw GuildError(.alreadyExists, "This community has a coupon with that code.", fieldViolations: [.init(field: "code", description: "Taken in this community.")], reason: "coupon_code_taken")
        }
        return try await database.withConnection { sql in
            try CouponRecord(row: try await sql.raw("SELECT * FROM coupons WHERE id = \(bind: id)").first()!).message
        }
    }

    public func coupons(_ request: MembershipListCouponsRequest, user: UserID) async throws -> MembershipListCouponsResponse {
        try await database.withConnection { sql in
            let (community, _) = try await self.authorized(sql, community: CommunityID(request.communityID), user: user, operation: Operation.manageCoupons)
            var response = MembershipListCouponsResponse()
            response.coupons = try await sql.raw("SELECT * FROM coupons WHERE community_id = \(bind: community.id.rawValue) ORDER BY created_at_ms")
                .all().map { try CouponRecord(row: $0).message }
            return response
        }
    }

    func coupon(_ sql: any SQLDatabase, community: CommunityID, code: String) async throws -> CouponRecord {
        guard let row = try await sql.raw("""
            SELECT * FROM coupons WHERE community_id = \(bind: community.rawValue) AND code = \(bind: code.uppercased())
            """).first() else {
            throw GuildError(.notFound, "No such coupon: \(code.prefix(32)).", fieldViolations: [.init(field: "couponCode", description: "No such coupon.")], reason: "coupon_not_found")
        }
        return try CouponRecord(row: row)
    }
}
