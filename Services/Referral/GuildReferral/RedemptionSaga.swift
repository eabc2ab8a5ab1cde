import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildWire
import Logging
import SQLKit
import SwiftProtobuf

/// Redeeming points (积分兑换) as a saga across two databases: referral's points and
/// membership's coupons (or content's item grants). Either both happen or neither, exactly once,
/// whatever fails in between.
///
/// 1. **Debit** (one transaction in referral, under the caller's idempotency key): the reward is
///    active and in stock, the balance covers the cost (else `failedPrecondition`
///    `not_enough_points`, nothing written); a redemption is written `pending` with a copy of
///    the reward's terms, the points entry −cost (reason `redemption`, source = the
///    redemption's id), and the reward's `redeemed` + 1.
/// 2. **Deliver** (no transaction or connection held): membership `IssueCoupon` (content
///    `GrantItemAccess` for `unlock_item`) with the idempotency key `redeem:<redemption id>`
///    and the copied terms, so that every attempt is the same request and a retry after a lost
///    answer gets the same coupon rather than a second one.
/// 3. **Settle** (one transaction, only while the redemption is still `pending`):
///    - delivered → `completed` with the coupon code (or the item id);
///    - refused for good (`invalidArgument`, `failedPrecondition`, `notFound`,
///      `permissionDenied`, `alreadyExists`: asking again would be refused again) → `failed`
///      with the reason, the points given back (+cost, reason `redemption_reversed`, source =
///      the redemption's id) and `redeemed` − 1;
///    - anything else (unavailable, deadline exceeded, cancelled, internal, a broken
///      connection…): the outcome is unknown (the coupon may exist), so the redemption stays
///      `pending` and the caller sees `pending`.
///
/// ``ReferralService/resumeRedemptions()`` (the scheduler, every tick) repeats steps 2–3 for
/// each pending redemption, which also finishes those interrupted by a restart between steps.
/// The guard on `pending` and the per-redemption key make concurrent or repeated attempts
/// harmless: only one settles, and all of them see the same coupon.
///
/// The retries are bounded (``WorkAttempts``: a backoff from 30 s doubling to an hour, at most
/// ``WorkAttempts/maximumAttempts`` tries, about six hours). Then referral gives up: it asks
/// membership to void the key (`VoidIssuedCoupon`: a coupon issued with it is withdrawn unless
/// used, and a late issue is refused), and the redemption fails with `delivery_gave_up` and the
/// points given back, once (the same guarded step 3); a coupon that was used after all
/// completes it instead. When even the void cannot be asked, or the reward unlocks an item
/// (content has no void), the redemption stays pending as a dead letter for an operator
/// (`guild dead-letters`).
enum RedemptionSaga {
    static let pending = "pending"
    static let completed = "completed"
    static let failed = "failed"
    /// The kind of work a redemption's delivery is, in ``WorkAttempts``.
    static let work = "redemption"
    /// Why a redemption failed when its delivery was given up.
    static let gaveUp = "delivery_gave_up"

    /// What step 2 learnt.
    enum Outcome: Sendable {
        case delivered(couponCode: String, itemID: String)
        case refused(reason: String)
        case undecided(error: String)
    }

    /// The idempotency key of a redemption's call to membership or content.
    static func key(_ redemption: String) -> String { "redeem:" + redemption }

    /// Whether an error is a definitive refusal (see step 3), after which asking again is useless.
    static func isRefusal(_ error: any Error) -> Bool {
        guard let error = error as? GuildError else { return false }
        return [GuildError.Code.invalidArgument, .failedPrecondition, .notFound, .permissionDenied, .alreadyExists].contains(error.code)
    }

    /// The terms copied into a redemption at step 1.
    struct Terms: Sendable {
        var id: String
        var community: String
        var user: String
        var kind: String
        var title: String
        var percentOffBp: Int64
        var amountOffMinorUnits: Int64
        var planIDs: [String]
        var itemID: String
        var validDays: Int32

        init(row: any SQLRow) throws {
            id = try row.decode(column: "id", as: String.self)
            community = try row.decode(column: "community_id", as: String.self)
            user = try row.decode(column: "user_id", as: String.self)
            kind = try row.decode(column: "kind", as: String.self)
            title = try row.decode(column: "title", as: String.self)
            percentOffBp = try row.decode(column: "percent_off_bp", as: Int64.self)
            amountOffMinorUnits = try row.decode(column: "amount_off_minor_units", as: Int64.self)
            planIDs = RedemptionCatalogue.planIDs(try row.decode(column: "plan_ids", as: String.self))
            itemID = try row.decode(column: "item_id", as: String.self)
            validDays = Int32(try row.decode(column: "valid_days", as: Int.self))
        }
    }

    static func redemption(_ row: any SQLRow) throws -> ReferralRedemption {
        var redemption = ReferralRedemption()
        redemption.id = try row.decode(column: "id", as: String.self)
        redemption.communityID = try row.decode(column: "community_id", as: String.self)
        redemption.userID = try row.decode(column: "user_id", as: String.self)
        redemption.entryID = try row.decode(column: "entry_id", as: String.self)
        redemption.costPoints = try row.decode(column: "cost_points", as: Int64.self)
        redemption.status = try row.decode(column: "status", as: String.self)
        redemption.couponCode = try row.decode(column: "coupon_code", as: String.self)
        redemption.itemID = try row.decode(column: "item_id", as: String.self)
        redemption.failureReason = try row.decode(column: "failure_reason", as: String.self)
        redemption.createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        redemption.completedAtMs = try row.decode(column: "completed_at_ms", as: Int64?.self) ?? 0
        redemption.attempts = Int32(try row.decode(column: "attempts", as: Int.self))
        redemption.lastError = redemption.status == pending ? try row.decode(column: "last_error", as: String.self) : ""
        redemption.pointsReturned = redemption.status == failed
        // Listings join the unit's retry state; while pending, when it is tried next.
        if redemption.status == pending, let next = try? row.decode(column: "next_attempt_at_ms", as: Int64?.self) { redemption.nextAttemptAtMs = next }
        return redemption
    }
}

extension ReferralService {
    /// Step 1, in the caller's transaction. Returns the new redemption's id.
    func debitRedemption(_ sql: any SQLDatabase, entry id: String, user: UserID, now: Date) async throws -> String {
        let entry = try await catalogueEntry(sql, id: id)
        let community = CommunityID(entry.communityID)
        guard entry.active else {
            throw GuildError(.failedPrecondition, "This reward is no longer offered.", reason: "reward_inactive")
        }
        guard entry.stock == 0 || entry.redeemed < entry.stock else {
            throw GuildError(.failedPrecondition, "This reward is out of stock.", reason: "out_of_stock")
        }
        _ = try await lockMember(sql, community: community, user: user, at: now)
        let balance = try await totals(sql, community: community, user: user).balance
        guard balance >= entry.costPoints else {
            throw GuildError(.failedPrecondition, "This reward costs \(entry.costPoints) points and you have \(balance).", reason: "not_enough_points")
        }
        // The stock holds under concurrency: the counter only moves while below it.
        let claimed = try await sql.raw("""
            UPDATE catalogue SET redeemed = redeemed + 1, updated_at_ms = \(bind: now.millisecondsSince1970)
            WHERE id = \(bind: entry.id) AND active = \(bind: true) AND (stock = 0 OR redeemed < stock) RETURNING id
            """).first() != nil
        guard claimed else {
            throw GuildError(.failedPrecondition, "This reward is out of stock.", reason: "out_of_stock")
        }
        let redemption = Identifier.make(at: now)
        try await sql.raw("""
            INSERT INTO redemptions (id, community_id, user_id, entry_id, cost_points, status, coupon_code, item_id, failure_reason,
                                     kind, title, percent_off_bp, amount_off_minor_units, plan_ids, valid_days, attempts, last_error,
                                     created_at_ms, completed_at_ms)
            VALUES (\(bind: redemption), \(bind: community.rawValue), \(bind: user.rawValue), \(bind: entry.id), \(bind: entry.costPoints),
                    \(bind: RedemptionSaga.pending), '', \(bind: entry.itemID), '', \(bind: entry.kind), \(bind: entry.title),
                    \(bind: entry.percentOffBp), \(bind: entry.amountOffMinorUnits), \(bind: RedemptionCatalogue.text(entry.planIds)),
                    \(bind: Int(entry.validDays)), 0, '', \(bind: now.millisecondsSince1970), NULL)
            """).run()
        try await appendEntry(sql, community: community, user: user, delta: -entry.costPoints, reason: PointsLedger.redemption, source: redemption, at: now)
        return redemption
    }

    /// Step 2: asks membership for the coupon (or content for the item). Never throws: a
    /// failure is an outcome.
    func deliverReward(_ terms: RedemptionSaga.Terms) async -> RedemptionSaga.Outcome {
        do {
            if terms.kind == RedemptionCatalogue.unlockItem {
                guard let content else { return .refused(reason: "unlock_unavailable") }
                var request = ContentGrantItemAccessRequest()
                request.itemID = terms.itemID
                request.userID = terms.user
                request.reason = "points redemption \(terms.id)"
                request.idempotencyKey = RedemptionSaga.key(terms.id)
                let grant = try await content.call(ContentAPI.grantItemAccess, request)
                return .delivered(couponCode: "", itemID: grant.itemID.isEmpty ? terms.itemID : grant.itemID)
            }
            var request = MembershipIssueCouponRequest()
            request.communityID = terms.community
            request.userID = terms.user
            request.kind = terms.percentOffBp > 0 ? "percent" : "amount"
            request.percentOffBp = terms.percentOffBp
            request.amountOffMinorUnits = terms.amountOffMinorUnits
            request.planIds = terms.planIDs
            request.validDays = terms.validDays
            request.label = terms.title
            request.idempotencyKey = RedemptionSaga.key(terms.id)
            let coupon = try await membership.call(MembershipAPI.issueCoupon, request)
            return .delivered(couponCode: coupon.code, itemID: "")
        } catch {
            if RedemptionSaga.isRefusal(error), let error = error as? GuildError {
                return .refused(reason: error.reason ?? error.code.name)
            }
            return .undecided(error: "\(error)")
        }
    }

    /// Step 3: records the outcome while the redemption is still pending. `tried`: the outcome
    /// is a delivery's (counted in its attempts), not the answer to giving up.
    func settleRedemption(_ id: String, outcome: RedemptionSaga.Outcome, tried: Bool = true, now: Date) async throws {
        let nowMs = now.millisecondsSince1970
        let tried = tried ? 1 : 0
        try await database.transaction { sql in
            switch outcome {
            case .delivered(let code, let item):
                try await sql.raw("""
                    UPDATE redemptions SET status = \(bind: RedemptionSaga.completed), coupon_code = \(bind: code), item_id = \(bind: item),
                           attempts = attempts + \(bind: tried), last_error = '', completed_at_ms = \(bind: nowMs)
                    WHERE id = \(bind: id) AND status = \(bind: RedemptionSaga.pending)
                    """).run()
            case .refused(let reason):
                guard let row = try await sql.raw("""
                    UPDATE redemptions SET status = \(bind: RedemptionSaga.failed), failure_reason = \(bind: reason),
                           attempts = attempts + \(bind: tried), completed_at_ms = \(bind: nowMs)
                    WHERE id = \(bind: id) AND status = \(bind: RedemptionSaga.pending)
                    RETURNING community_id, user_id, entry_id, cost_points
                    """).first() else { return }
                try await self.appendEntry(
                    sql, community: CommunityID(try row.decode(column: "community_id", as: String.self)),
                    user: UserID(try row.decode(column: "user_id", as: String.self)),
                    delta: try row.decode(column: "cost_points", as: Int64.self), reason: PointsLedger.redemptionReversed, source: id, at: now)
                try await sql.raw("""
                    UPDATE catalogue SET redeemed = redeemed - 1, updated_at_ms = \(bind: nowMs)
                    WHERE id = \(bind: try row.decode(column: "entry_id", as: String.self)) AND redeemed > 0
                    """).run()
            case .undecided(let error):
                try await sql.raw("""
                    UPDATE redemptions SET attempts = attempts + 1, last_error = \(bind: String(error.prefix(500)))
                    WHERE id = \(bind: id) AND status = \(bind: RedemptionSaga.pending)
                    """).run()
            }
        }
        switch outcome {
        case .delivered: logger.info("redemption completed", metadata: ["redemption": "\(id)"])
        case .refused(let reason): logger.notice("redemption refused; points returned", metadata: ["redemption": "\(id)", "reason": "\(reason)"])
        case .undecided(let error): logger.warning("redemption left pending", metadata: ["redemption": "\(id)", "error": "\(error)"])
        }
    }

    /// Steps 2 and 3 for one redemption, if it is still pending. Returns whether it settled. An
    /// undecided outcome counts as a failed try (``WorkAttempts``); the last one the bound
    /// allows gives up (see ``RedemptionSaga``).
    @discardableResult
    func advanceRedemption(_ id: String) async throws -> Bool {
        guard let terms = try await database.withConnection({ sql in
            try await sql.raw("SELECT * FROM redemptions WHERE id = \(bind: id) AND status = \(bind: RedemptionSaga.pending)").first()
                .map(RedemptionSaga.Terms.init(row:))
        }) else { return false }
        let outcome = await deliverReward(terms)
        try await settleRedemption(id, outcome: outcome, now: clock.now())
        guard case .undecided(let error) = outcome else {
            try await WorkAttempts.succeeded(database, kind: RedemptionSaga.work, id: id)
            return true
        }
        let (_, isLast) = try await WorkAttempts.failed(database, kind: RedemptionSaga.work, id: id, error: GuildError(.unavailable, error), now: clock.now())
        guard isLast else { return false }
        return try await giveUp(terms)
    }

    /// The bound ran out: voids the redemption's key at membership, then fails it with the
    /// points given back (or completes it, when the coupon was used after all). Leaves it a
    /// dead letter when the void cannot be asked, or for an item (content has no void).
    private func giveUp(_ terms: RedemptionSaga.Terms) async throws -> Bool {
        guard terms.kind != RedemptionCatalogue.unlockItem else {
            logger.error("redemption not delivered; a dead letter until an operator retries it", metadata: ["redemption": "\(terms.id)"])
            return false
        }
        let void: MembershipVoidIssuedCouponResponse
        do {
            void = try await membership.call(MembershipAPI.voidIssuedCoupon, .with {
                $0.communityID = terms.community
                $0.idempotencyKey = RedemptionSaga.key(terms.id)
            })
        } catch {
            logger.error("redemption could not be given up (membership did not void its coupon); a dead letter until an operator retries it",
                         metadata: ["redemption": "\(terms.id)", "error": "\(error)"])
            return false
        }
        let outcome: RedemptionSaga.Outcome = void.outcome == "used" ? .delivered(couponCode: void.couponCode, itemID: "") : .refused(reason: RedemptionSaga.gaveUp)
        try await settleRedemption(terms.id, outcome: outcome, tried: false, now: clock.now())
        try await WorkAttempts.succeeded(database, kind: RedemptionSaga.work, id: terms.id)
        return true
    }

    func redemption(_ sql: any SQLDatabase, id: String) async throws -> ReferralRedemption {
        guard let row = try await sql.raw("SELECT * FROM redemptions WHERE id = \(bind: id)").first() else {
            throw GuildError(.notFound, "No such redemption.")
        }
        return try RedemptionSaga.redemption(row)
    }
}
