import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import Logging
import SQLKit

/// What membership does for the referral service: coupons issued to one member (a newcomer's
/// reward, a points redemption) and the commission movements in the ledger. Both are called by
/// referral over the wire, retried until they answer, so both happen at most once per key.
extension MembershipService {
    // MARK: Issued coupons

    /// Issues a single-use coupon to one member, with a generated code only they may redeem,
    /// valid from now for `validDays`. Once per (community, caller, key): a retry gets the same
    /// coupon, the same key with other content `failedPrecondition`. A community that is not
    /// active is refused with `failedPrecondition` (`community_not_active`), which the caller
    /// may treat as final.
    public func issueCoupon(_ request: MembershipIssueCouponRequest, caller: ServiceName) async throws -> MembershipCoupon {
        var violations: [GuildError.FieldViolation] = []
        if request.communityID.isEmpty { violations.append(.init(field: "communityId", description: "Required.")) }
        if request.userID.isEmpty || request.userID.count > 128 { violations.append(.init(field: "userId", description: "The member the coupon is for (1 to 128 characters).")) }
        switch request.kind {
        case "percent":
            if !(1...10_000).contains(request.percentOffBp) { violations.append(.init(field: "percentOffBp", description: "Basis points off, from 1 to 10000 (100 %).")) }
        case "amount":
            if request.amountOffMinorUnits <= 0 { violations.append(.init(field: "amountOffMinorUnits", description: "The amount off in minor units, above 0.")) }
        default:
            violations.append(.init(field: "kind", description: "percent or amount."))
        }
        if !(1...365).contains(request.validDays) { violations.append(.init(field: "validDays", description: "From 1 to 365 days.")) }
        if request.label.count > 100 { violations.append(.init(field: "label", description: "At most 100 characters.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let community = CommunityID(request.communityID)
        let now = clock.now()
        let couponID = try await IdempotencyKeys.run(
            database, scope: "issue_coupon:\(community):\(caller)", key: request.idempotencyKey, fingerprint: try request.fingerprint, now: now,
            encode: { Array($0.utf8) }, decode: { String(decoding: $0, as: UTF8.self) }
        ) { sql in
            guard let row = try await sql.raw("SELECT * FROM communities WHERE id = \(bind: community.rawValue)").first() else {
                throw GuildError(.notFound, "No such community.")
            }
            let record = try CommunityRecord(row: row)
            guard record.status == .active else {
                throw GuildError(.failedPrecondition, "The community is \(record.status.rawValue); it issues no coupons.", reason: "community_not_active")
            }
            for plan in request.planIds {
                guard try await self.planRecord(sql, PlanID(plan)).community == community else {
                    throw GuildError(.notFound, "No such plan in this community: \(plan.prefix(64)).", fieldViolations: [.init(field: "planIds", description: "Not a plan of this community.")])
                }
            }
            var code = Self.issuedCouponCode()
            while try await sql.raw("SELECT id FROM coupons WHERE community_id = \(bind: community.rawValue) AND code = \(bind: code)").first() != nil {
                code = Self.issuedCouponCode()
            }
            let id = Identifier.make(at: now)
            let ends = now.millisecondsSince1970 + Int64(request.validDays) * 86_400_000
            try await sql.raw("""
                INSERT INTO coupons (id, community_id, code, kind, percent_off_bp, amount_off_minor, starts_at_ms, ends_at_ms, max_redemptions,
                                     max_per_user, plan_ids, first_purchase_only, redeemed, created_at_ms, issued_to, label)
                VALUES (\(bind: id), \(bind: community.rawValue), \(bind: code), \(bind: request.kind),
                        \(bind: request.kind == "percent" ? request.percentOffBp : 0), \(bind: request.kind == "amount" ? request.amountOffMinorUnits : 0),
                        \(bind: now.millisecondsSince1970), \(bind: ends), 1, 1, \(bind: request.planIds.joined(separator: ",")), \(bind: false), 0,
                        \(bind: now.millisecondsSince1970), \(bind: request.userID), \(bind: request.label))
                """).run()
            self.logger.info("coupon issued", metadata: ["community": "\(community)", "coupon": "\(id)", "caller": "\(caller)"])
            return id
        }
        return try await database.withConnection { sql in
            try CouponRecord(row: try await sql.raw("SELECT * FROM coupons WHERE id = \(bind: couponID)").first()!).message
        }
    }

    /// Makes whatever ``issueCoupon(_:caller:)`` did or will do with a key come to nothing (referral
    /// giving up on a redemption whose delivery it could not confirm). The key is claimed in the
    /// same table and scope as the issue's: a coupon issued with it is withdrawn (its validity
    /// ends now) unless it was used, in which case the answer is `used`; a key never used is
    /// taken, so that an issue arriving later is refused (`idempotency_key_reused`). Idempotent.
    public func voidIssuedCoupon(_ request: MembershipVoidIssuedCouponRequest, caller: ServiceName) async throws -> MembershipVoidIssuedCouponResponse {
        try IdempotencyKeys.validate(request.idempotencyKey)
        let community = CommunityID(request.communityID)
        let scope = "issue_coupon:\(community):\(caller)"
        let now = clock.now()
        return try await database.transaction { sql in
            var response = MembershipVoidIssuedCouponResponse()
            let claimed = try await sql.raw("""
                INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, result, created_at_ms)
                VALUES (\(bind: scope), \(bind: request.idempotencyKey), \(bind: Self.voidedFingerprint), \(bind: Data()), \(bind: now.millisecondsSince1970))
                ON CONFLICT (scope, idempotency_key) DO NOTHING RETURNING scope
                """).first() != nil
            if claimed {
                response.outcome = "voided"
                return response
            }
            guard let row = try await sql.raw("""
                SELECT fingerprint, result FROM idempotency_keys WHERE scope = \(bind: scope) AND idempotency_key = \(bind: request.idempotencyKey)
                """).first() else { throw GuildError(.internal, "An idempotency key vanished.") }
            if try row.decode(column: "fingerprint", as: String.self) == Self.voidedFingerprint {
                response.outcome = "voided"
                return response
            }
            guard let result = try row.decode(column: "result", as: Data?.self) else {
                throw GuildError(.aborted, "The coupon is being issued; retry shortly.", retryAfterSeconds: 1, reason: "idempotency_key_in_progress")
            }
            let couponID = String(decoding: result, as: UTF8.self)
            guard let coupon = try await sql.raw("SELECT * FROM coupons WHERE id = \(bind: couponID) \(SQLLockingClause.update)").first().map(CouponRecord.init(row:)) else {
                response.outcome = "voided"
                return response
            }
            response.couponCode = coupon.code
            if coupon.redeemed > 0 {
                response.outcome = "used"
                return response
            }
            // Its validity ends now: it can no longer be redeemed.
            try await sql.raw("UPDATE coupons SET ends_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: couponID)").run()
            self.logger.notice("issued coupon withdrawn", metadata: ["coupon": "\(couponID)", "caller": "\(caller)"])
            response.outcome = "voided"
            return response
        }
    }

    /// The fingerprint that marks a key claimed by ``voidIssuedCoupon(_:caller:)``.
    static let voidedFingerprint = "voided"

    /// `R-` and ten characters of the RFC 4648 base32 alphabet: 50 random bits, not guessable,
    /// and valid as a coupon code typed by hand.
    static func issuedCouponCode() -> String {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var generator = SystemRandomNumberGenerator()
        return "R-" + String((0..<10).map { _ in alphabet[Int(generator.next(upperBound: UInt32(alphabet.count)))] })
    }

    // MARK: Commission postings

    /// Posts one movement of a referral commission as one ledger transaction:
    /// - `accrue`: owner payable → referral commission pending (a commission was earned);
    /// - `mature`: pending → payable (the refund window closed);
    /// - `claw_back`: pending or payable (`from_state`) → owner payable (a refund took it back).
    ///
    /// At most once per idempotency key (the transaction's reference): a repeat answers with
    /// the first posting; the same key with other content is `failedPrecondition`. A commission
    /// never matures or is taken back beyond what it holds in that state
    /// (`commission_exceeds_balance`): post its accrual first.
    public func postCommission(_ request: MembershipPostCommissionRequest, caller: ServiceName) async throws -> MembershipCommissionPosting {
        var violations: [GuildError.FieldViolation] = []
        if request.communityID.isEmpty { violations.append(.init(field: "communityId", description: "Required.")) }
        if request.commissionID.isEmpty || request.commissionID.count > 100 { violations.append(.init(field: "commissionId", description: "1 to 100 characters.")) }
        if request.referrerID.count > 128 { violations.append(.init(field: "referrerId", description: "At most 128 characters.")) }
        let kind: String
        switch request.movement {
        case "accrue": kind = Ledger.commissionAccrueKind
        case "mature": kind = Ledger.commissionMatureKind
        case "claw_back": kind = Ledger.commissionClawBackKind
        default:
            kind = ""
            violations.append(.init(field: "movement", description: "accrue, mature or claw_back."))
        }
        let fromState = request.movement == "claw_back" ? request.fromState : ""
        if request.movement == "claw_back", !["pending", "payable"].contains(fromState) {
            violations.append(.init(field: "fromState", description: "pending or payable: where the commission is taken back from."))
        }
        if request.amount.minorUnits <= 0 { violations.append(.init(field: "amount", description: "A positive amount in minor units.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        try IdempotencyKeys.validate(request.idempotencyKey)
        let community = CommunityID(request.communityID)
        let now = clock.now()
        do {
            return try await database.transaction { sql in
                if let posted = try await self.commissionPosting(sql, key: request.idempotencyKey) {
                    return try Self.replay(posted, of: request, fromState: fromState)
                }
                // The community's row is locked (PostgreSQL; SQLite writes one at a time anyway), so
                // two movements of one commission cannot both take the same balance.
                guard let row = try await sql.raw("SELECT * FROM communities WHERE id = \(bind: community.rawValue) \(SQLLockingClause.update)").first() else {
                    throw GuildError(.notFound, "No such community.")
                }
                // Any status: a dissolved community's commissions are still taken back.
                let currency = try CommunityRecord(row: row).currency
                guard request.amount.currency.uppercased() == currency.rawValue else {
                    throw GuildError.invalid([.init(field: "amount", description: "In the community's currency, \(currency.rawValue).")])
                }
                let amount = Money(minorUnits: request.amount.minorUnits, currency: currency)
                let (source, target): (LedgerAccount, LedgerAccount)
                switch (request.movement, fromState) {
                case ("accrue", _): (source, target) = (.ownerPayable(community), .referralCommissionPending(community))
                case ("mature", _): (source, target) = (.referralCommissionPending(community), .referralCommissionPayable(community))
                case (_, "pending"): (source, target) = (.referralCommissionPending(community), .ownerPayable(community))
                default: (source, target) = (.referralCommissionPayable(community), .ownerPayable(community))
                }
                if request.movement != "accrue" {
                    let state = request.movement == "mature" ? "pending" : fromState
                    let held = try await self.commissionBalance(sql, commission: request.commissionID, community: community, state: state)
                    guard amount.minorUnits <= held else {
                        throw GuildError(.failedPrecondition, "Commission \(request.commissionID.prefix(100)) holds \(Money(minorUnits: held, currency: currency)) \(state); \(amount) cannot move.",
                                         reason: "commission_exceeds_balance")
                    }
                }
                // The source is debited (a liability going down), the target credited.
                let transaction = try await Ledger.post(sql, kind: kind, reference: request.idempotencyKey, community: community, entries: [
                    LedgerEntry(source, amount), LedgerEntry(target, -amount),
                ], at: now)
                try await sql.raw("""
                    INSERT INTO commission_postings (transaction_id, idempotency_key, community_id, commission_id, referrer_id, movement, from_state,
                                                     amount_minor, currency, posted_at_ms)
                    VALUES (\(bind: transaction), \(bind: request.idempotencyKey), \(bind: community.rawValue), \(bind: request.commissionID),
                            \(bind: request.referrerID), \(bind: request.movement), \(bind: fromState), \(bind: amount.minorUnits), \(bind: currency.rawValue),
                            \(bind: now.millisecondsSince1970))
                    """).run()
                self.logger.info("commission posted", metadata: [
                    "community": "\(community)", "commission": "\(request.commissionID)", "movement": "\(request.movement)", "amount": "\(amount)", "caller": "\(caller)",
                ])
                return try await self.commissionPosting(sql, key: request.idempotencyKey)!.message
            }
        } catch let error as GuildError where error.code == .alreadyExists {
            // A concurrent call with the same key committed first.
            guard let posted = try await database.withConnection({ sql in try await self.commissionPosting(sql, key: request.idempotencyKey) }) else { throw error }
            return try Self.replay(posted, of: request, fromState: fromState)
        }
    }

    /// A posting as stored, and the request it answered.
    struct CommissionPostingRecord: Sendable {
        let message: MembershipCommissionPosting
        let community: String
        let referrer: String
        let fromState: String
    }

    private func commissionPosting(_ sql: any SQLDatabase, key: String) async throws -> CommissionPostingRecord? {
        guard let row = try await sql.raw("SELECT * FROM commission_postings WHERE idempotency_key = \(bind: key)").first() else { return nil }
        var posting = MembershipCommissionPosting()
        posting.transactionID = try row.decode(column: "transaction_id", as: String.self)
        posting.commissionID = try row.decode(column: "commission_id", as: String.self)
        posting.movement = try row.decode(column: "movement", as: String.self)
        posting.amount.minorUnits = try row.decode(column: "amount_minor", as: Int64.self)
        posting.amount.currency = try row.decode(column: "currency", as: String.self)
        posting.postedAtMs = try row.decode(column: "posted_at_ms", as: Int64.self)
        return CommissionPostingRecord(
            message: posting, community: try row.decode(column: "community_id", as: String.self),
            referrer: try row.decode(column: "referrer_id", as: String.self), fromState: try row.decode(column: "from_state", as: String.self))
    }

    /// The first posting for a repeated key, or `failedPrecondition` when the key was used for
    /// another movement.
    private static func replay(_ posted: CommissionPostingRecord, of request: MembershipPostCommissionRequest, fromState: String) throws -> MembershipCommissionPosting {
        let same = posted.community == request.communityID && posted.message.commissionID == request.commissionID
            && posted.message.movement == request.movement && posted.fromState == fromState && posted.referrer == request.referrerID
            && posted.message.amount.minorUnits == request.amount.minorUnits
            && posted.message.amount.currency == request.amount.currency.uppercased()
        guard same else {
            throw GuildError(.failedPrecondition, "This idempotency key was used for a different commission movement; use a new key for a new movement.",
                             reason: "idempotency_key_reused")
        }
        return posted.message
    }

    /// What one commission holds `pending` or `payable`, from its postings.
    private func commissionBalance(_ sql: any SQLDatabase, commission: String, community: CommunityID, state: String) async throws -> Int64 {
        let row = try await sql.raw("""
            SELECT CAST(COALESCE(SUM(CASE WHEN movement = 'accrue' THEN amount_minor WHEN movement = 'mature' THEN -amount_minor
                                          WHEN movement = 'claw_back' AND from_state = 'pending' THEN -amount_minor ELSE 0 END), 0) AS BIGINT) AS pending,
                   CAST(COALESCE(SUM(CASE WHEN movement = 'mature' THEN amount_minor
                                          WHEN movement = 'claw_back' AND from_state = 'payable' THEN -amount_minor ELSE 0 END), 0) AS BIGINT) AS payable
            FROM commission_postings WHERE commission_id = \(bind: commission) AND community_id = \(bind: community.rawValue)
            """).first()
        return try row?.decode(column: state, as: Int64.self) ?? 0
    }
}
