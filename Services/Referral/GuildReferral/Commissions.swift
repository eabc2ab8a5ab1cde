import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildWire
import Logging
import SQLKit

// Commissions (分销返利) and newcomer rewards.
//
// A commission's life: held (its attribution awaits review) → pending (the community's refund
// window is open) → payable (``ReferralService/matureCommissions()``); a refund claws back
// (clawed_back once nothing is left); a rejected review makes a held one void.
//
// Every money movement is written to membership's double-entry ledger through
// `membership.PostCommission`: `accrue` when a commission becomes pending, `mature` when it
// becomes payable, `claw_back` from pending or payable on a refund. A movement is recorded in
// `ledger_movements` in the same transaction as the change it mirrors, and posted afterwards,
// in order per commission, with its id as the idempotency key
// (``ReferralService/postPendingLedgerMovements()``): a crash or a failure of membership delays
// a movement but never loses nor doubles it. Held commissions move no money until approved.
//
// Newcomer rewards are recorded `pending` at sign-up and issued by
// ``ReferralService/issuePendingRewards()`` once the attribution is `attributed`, through
// `membership.IssueCoupon` keyed "reward:<attribution id>", so a retry returns the same coupon.

extension ReferralService {
    // MARK: Payments

    /// A payment succeeded: the card and the member's first payment are noted; for an
    /// attributed user it may convert the attribution (first successful payment in the
    /// community, after sign-up and within the window), and earn the referrer a commission:
    /// in `first_payment` mode on the converting payment only, in `recurring` mode on each
    /// payment within `recurring_months` of it. The payment's card matching one seen on the
    /// referrer's own payments makes the attribution a self-referral instead. A payment seen
    /// before (another event for the same payment id) changes nothing.
    func paymentSucceeded(_ sql: any SQLDatabase, payment: MembershipPaymentEvent, prepared: PreparedAttributionEvent?, at: Date, now: Date) async throws {
        let (community, user) = (payment.communityID, payment.userID)
        guard !community.isEmpty, !user.isEmpty, !payment.paymentID.isEmpty else { return }
        let atMS = at.millisecondsSince1970
        if !payment.cardFingerprint.isEmpty {
            try await sql.raw("""
                INSERT INTO card_fingerprints (user_id, fingerprint, first_seen_at_ms) VALUES (\(bind: user), \(bind: payment.cardFingerprint), \(bind: atMS))
                ON CONFLICT (user_id, fingerprint) DO NOTHING
                """).run()
        }
        let earlierPaid = try await sql.raw("""
            SELECT paid_at_ms FROM member_facts WHERE community_id = \(bind: community) AND user_id = \(bind: user)
            """).first()?.decode(column: "paid_at_ms", as: Int64?.self) ?? nil
        try await sql.raw("""
            INSERT INTO member_facts (community_id, user_id, trial_at_ms, paid_at_ms)
            VALUES (\(bind: community), \(bind: user), \(bind: nil as Int64?), \(bind: atMS))
            ON CONFLICT (community_id, user_id) DO UPDATE SET paid_at_ms = CASE
                WHEN member_facts.paid_at_ms IS NULL OR member_facts.paid_at_ms > excluded.paid_at_ms THEN excluded.paid_at_ms
                ELSE member_facts.paid_at_ms END
            """).run()
        guard let row = try await sql.raw("""
            SELECT * FROM attributions WHERE community_id = \(bind: community) AND user_id = \(bind: user) \(SQLLockingClause.update)
            """).first() else { return }
        guard try await sql.raw("SELECT id FROM commissions WHERE payment_id = \(bind: payment.paymentID)").first() == nil else { return }
        var attribution = try Self.attributionMessage(row)
        let program = try await AttributionProgram.load(sql, community: community, windowDays: configuration.defaultAttributionWindowDays)
        var converting = false
        if attribution.convertedAtMs == 0 {
            let isFirst = earlierPaid.map { $0 >= atMS } ?? true
            guard isFirst, atMS >= attribution.signedUpAtMs, atMS - attribution.signedUpAtMs <= program.attributionWindowDays * Self.dayMS else { return }
            try await sql.raw("""
                UPDATE attributions SET converted_at_ms = \(bind: atMS), first_payment_id = \(bind: payment.paymentID) WHERE id = \(bind: attribution.id)
                """).run()
            attribution.convertedAtMs = atMS
            attribution.firstPaymentID = payment.paymentID
            converting = true
        }
        guard !attribution.referrerID.isEmpty, ["attributed", "held"].contains(attribution.status) else { return }
        if !payment.cardFingerprint.isEmpty, try await sql.raw("""
            SELECT user_id FROM card_fingerprints WHERE user_id = \(bind: attribution.referrerID) AND fingerprint = \(bind: payment.cardFingerprint)
            """).first() != nil {
            try await sql.raw("""
                UPDATE attributions SET status = 'self_referral', reason = 'same payment card',
                       reward_status = CASE WHEN reward_status = 'pending' THEN 'none' ELSE reward_status END
                WHERE id = \(bind: attribution.id)
                """).run()
            logger.notice("self-referral by payment card", metadata: ["attribution": "\(attribution.id)", "payment": "\(payment.paymentID)"])
            return
        }
        if converting, attribution.status == "attributed" {
            try await converted(sql, attribution: attribution, paymentID: payment.paymentID, at: at)
        }
        guard program.paysCommission else { return }
        let commissioned = converting || (
            program.commissionMode == "recurring" && payment.paymentID != attribution.firstPaymentID
                && CommissionRules.isWithin(months: program.recurringMonths, of: Date(millisecondsSince1970: attribution.convertedAtMs), instant: at))
        guard commissioned else { return }
        let amount = CommissionRules.amount(payment: payment.amount.minorUnits, basisPoints: program.commissionBP)
        guard amount > 0 else { return }
        guard let refundWindowDays = prepared?.refundWindowDays else {
            // Rolled back and delivered again, when membership has said.
            throw GuildError(.unavailable, "The community's refund window is not known yet.", reason: "refund_window_unknown")
        }
        let status = attribution.status == "held" ? "held" : "pending"
        let id = Identifier.make(at: now)
        try await sql.raw("""
            INSERT INTO commissions (id, community_id, attribution_id, referrer_id, referee_id, payment_id, order_id, payment_minor_units,
                                     amount_minor_units, clawed_back_minor_units, currency, status, reason, created_at_ms, payable_at_ms)
            VALUES (\(bind: id), \(bind: community), \(bind: attribution.id), \(bind: attribution.referrerID), \(bind: user), \(bind: payment.paymentID),
                    \(bind: payment.orderID), \(bind: payment.amount.minorUnits), \(bind: amount), 0, \(bind: payment.amount.currency), \(bind: status),
                    \(bind: status == "held" ? attribution.reason : ""), \(bind: now.millisecondsSince1970),
                    \(bind: atMS + Int64(refundWindowDays) * Self.dayMS))
            """).run()
        if status == "pending", let commission = try await sql.raw("SELECT * FROM commissions WHERE id = \(bind: id)").first() {
            try await recordMovement(sql, commission: commission, movement: "accrue", amount: amount, fromState: "", now: now)
        }
    }

    // MARK: Refunds

    /// A refund of a commissioned payment claws back, once per refund id: everything left for a
    /// full refund or the programme's `full` rule, else amount × refund / payment (rounded
    /// down, at most what is left). From a pending or payable commission the ledger moves back
    /// to the owner; a held one is only reduced (it moved nothing). Nothing left: clawed_back.
    func paymentRefunded(_ sql: any SQLDatabase, refund: MembershipPaymentEvent, eventID: String, at: Date, now: Date) async throws {
        guard !refund.paymentID.isEmpty, let row = try await sql.raw("""
            SELECT * FROM commissions WHERE payment_id = \(bind: refund.paymentID) \(SQLLockingClause.update)
            """).first() else { return }
        let refundID = refund.refundID.isEmpty ? "event:" + eventID : refund.refundID
        guard try await sql.raw("SELECT refund_id FROM clawbacks WHERE refund_id = \(bind: refundID)").first() == nil else { return }
        let commission = try Self.commissionMessage(row)
        let program = try await AttributionProgram.load(sql, community: commission.communityID, windowDays: configuration.defaultAttributionWindowDays)
        var claw: Int64 = 0
        if ["held", "pending", "payable"].contains(commission.status) {
            let paymentAmount = refund.hasPaymentAmount && refund.paymentAmount.minorUnits > 0 ? refund.paymentAmount.minorUnits : commission.paymentMinorUnits
            claw = CommissionRules.clawback(
                amount: commission.amountMinorUnits, clawedBack: commission.clawedBackMinorUnits, refund: refund.amount.minorUnits,
                payment: paymentAmount, full: refund.full || program.clawback == "full")
        }
        try await sql.raw("""
            INSERT INTO clawbacks (refund_id, commission_id, amount_minor_units, at_ms)
            VALUES (\(bind: refundID), \(bind: commission.id), \(bind: claw), \(bind: at.millisecondsSince1970))
            """).run()
        guard claw > 0 else { return }
        let left = commission.amountMinorUnits - commission.clawedBackMinorUnits - claw
        try await sql.raw("""
            UPDATE commissions SET clawed_back_minor_units = clawed_back_minor_units + \(bind: claw),
                   status = \(bind: left == 0 ? "clawed_back" : commission.status),
                   reason = \(bind: left == 0 ? "The payment was refunded." : commission.reason)
            WHERE id = \(bind: commission.id)
            """).run()
        if commission.status == "pending" || commission.status == "payable" {
            try await recordMovement(sql, commission: row, movement: "claw_back", amount: claw, fromState: commission.status, now: now)
        }
    }

    // MARK: Ledger movements

    /// Records a movement of `commission` (a commissions row) for membership's ledger, after
    /// the commission's earlier movements.
    func recordMovement(_ sql: any SQLDatabase, commission: any SQLRow, movement: String, amount: Int64, fromState: String, now: Date) async throws {
        let id = try commission.decode(column: "id", as: String.self)
        let seq = (try await sql.raw("""
            SELECT COALESCE(MAX(seq), 0) AS seq FROM ledger_movements WHERE commission_id = \(bind: id)
            """).first()?.decode(column: "seq", as: Int64.self) ?? 0) + 1
        try await sql.raw("""
            INSERT INTO ledger_movements (id, commission_id, seq, community_id, movement, amount_minor_units, currency, from_state, referrer_id,
                                          posted, attempts, last_error, created_at_ms, posted_at_ms)
            VALUES (\(bind: "commission:\(id):\(seq)"), \(bind: id), \(bind: seq), \(bind: try commission.decode(column: "community_id", as: String.self)),
                    \(bind: movement), \(bind: amount), \(bind: try commission.decode(column: "currency", as: String.self)), \(bind: fromState),
                    \(bind: try commission.decode(column: "referrer_id", as: String.self)), \(bind: false), 0, '', \(bind: now.millisecondsSince1970),
                    \(bind: nil as Int64?))
            """).run()
    }

    /// Commissions whose refund window closed become payable, the money moving from pending to
    /// payable in the ledger (what is left after clawbacks). Returns how many.
    func matureCommissions() async throws -> Int {
        let now = clock.now()
        return try await database.transaction { sql in
            let due = try await sql.raw("""
                SELECT * FROM commissions WHERE status = 'pending' AND payable_at_ms <= \(bind: now.millisecondsSince1970)
                ORDER BY payable_at_ms, id LIMIT 500 \(SQLLockingClause.update)
                """).all()
            for commission in due {
                let id = try commission.decode(column: "id", as: String.self)
                let left = try commission.decode(column: "amount_minor_units", as: Int64.self) - commission.decode(column: "clawed_back_minor_units", as: Int64.self)
                try await sql.raw("UPDATE commissions SET status = 'payable' WHERE id = \(bind: id)").run()
                if left > 0 {
                    try await self.recordMovement(sql, commission: commission, movement: "mature", amount: left, fromState: "", now: now)
                }
            }
            return due.count
        }
    }

    /// Sends membership the ledger movements recorded but not yet confirmed, in order per
    /// commission; a failure stops that commission's movements (attempts, last error, a
    /// backoff), and after ``WorkAttempts/maximumAttempts`` the movement is a dead letter that
    /// waits for an operator (money is never given up on: it is posted once retried). Never
    /// inside a transaction. Returns how many were posted.
    func postPendingLedgerMovements() async throws -> Int {
        let attempts = try await WorkAttempts.states(database, kind: Self.ledgerMovementWork, now: clock.now())
        let rows = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT * FROM ledger_movements WHERE posted = \(bind: false) ORDER BY commission_id, seq LIMIT 1000
                """).all()
        }
        var posted = 0
        var blocked: Set<String> = []
        for row in rows {
            let commission = try row.decode(column: "commission_id", as: String.self)
            guard !blocked.contains(commission) else { continue }
            let id = try row.decode(column: "id", as: String.self)
            guard !attempts.resting.contains(id) else {
                blocked.insert(commission)  // later movements of this commission wait for it
                continue
            }
            var request = MembershipPostCommissionRequest()
            request.communityID = try row.decode(column: "community_id", as: String.self)
            request.commissionID = commission
            request.movement = try row.decode(column: "movement", as: String.self)
            request.amount.minorUnits = try row.decode(column: "amount_minor_units", as: Int64.self)
            request.amount.currency = try row.decode(column: "currency", as: String.self)
            request.fromState = try row.decode(column: "from_state", as: String.self)
            request.referrerID = try row.decode(column: "referrer_id", as: String.self)
            request.idempotencyKey = id
            do {
                _ = try await membership.call(MembershipAPI.postCommission, request)
            } catch {
                blocked.insert(commission)
                let (count, isLast) = try await WorkAttempts.failed(database, kind: Self.ledgerMovementWork, id: id, error: error, now: clock.now())
                logger.log(level: isLast ? .error : .warning, isLast ? "ledger movement not posted; a dead letter until an operator retries it" : "ledger movement not posted; retried with backoff",
                           metadata: ["movement": "\(id)", "attempts": "\(count)", "error": "\(error)"])
                let message = String(describing: error).prefix(500)
                try await database.withConnection { sql in
                    try await sql.raw("""
                        UPDATE ledger_movements SET attempts = attempts + 1, last_error = \(bind: String(message)) WHERE id = \(bind: id)
                        """).run()
                }
                continue
            }
            let now = clock.now()
            try await database.withConnection { sql in
                try await sql.raw("""
                    UPDATE ledger_movements SET posted = \(bind: true), attempts = attempts + 1, last_error = '', posted_at_ms = \(bind: now.millisecondsSince1970)
                    WHERE id = \(bind: id)
                    """).run()
            }
            if attempts.failing.contains(id) { try await WorkAttempts.succeeded(database, kind: Self.ledgerMovementWork, id: id) }
            posted += 1
        }
        return posted
    }

    /// The kinds of work, in ``WorkAttempts``, of posting a ledger movement and issuing a newcomer's reward.
    static let ledgerMovementWork = "ledger_movement"
    static let rewardWork = "newcomer_reward"

    // MARK: Rewards

    /// Asks membership for the newcomer reward coupons recorded but not yet issued, for
    /// attributions that stand (`attributed`): the programme's kind, value and validity,
    /// labelled "Welcome reward", for the newcomer only. A definitive refusal (invalid,
    /// precondition, not found, denied) is recorded as refused; anything else is retried at the
    /// next tick. Never inside a transaction. Returns how many were issued.
    func issuePendingRewards() async throws -> Int {
        let windowDays = configuration.defaultAttributionWindowDays
        let due = try await database.withConnection { sql in
            var due: [(ReferralAttribution, AttributionProgram)] = []
            for row in try await sql.raw("""
                SELECT * FROM attributions WHERE reward_status = 'pending' AND status = 'attributed' ORDER BY signed_up_at_ms, id LIMIT 200
                """).all() {
                let attribution = try Self.attributionMessage(row)
                due.append((attribution, try await AttributionProgram.load(sql, community: attribution.communityID, windowDays: windowDays)))
            }
            return due
        }
        var issued = 0
        let attempts = try await WorkAttempts.states(database, kind: Self.rewardWork, now: clock.now())
        for (attribution, program) in due where !attempts.resting.contains(attribution.id) {
            guard program.givesReward else {
                try await settleReward(attribution.id, status: "refused", code: "")
                logger.notice("reward not issued: the programme no longer gives one", metadata: ["attribution": "\(attribution.id)"])
                continue
            }
            var request = MembershipIssueCouponRequest()
            request.communityID = attribution.communityID
            request.userID = attribution.userID
            request.kind = program.rewardKind
            request.percentOffBp = program.rewardKind == "percent" ? program.rewardPercentOffBP : 0
            request.amountOffMinorUnits = program.rewardKind == "amount" ? program.rewardAmountOffMinorUnits : 0
            request.validDays = Int32(program.rewardValidDays)
            request.label = "Welcome reward"
            request.idempotencyKey = "reward:" + attribution.id
            do {
                let coupon = try await membership.call(MembershipAPI.issueCoupon, request)
                try await settleReward(attribution.id, status: "issued", code: coupon.code)
                issued += 1
            } catch let error as GuildError where [.invalidArgument, .failedPrecondition, .notFound, .permissionDenied].contains(error.code) {
                logger.error("membership refused a newcomer reward", metadata: ["attribution": "\(attribution.id)", "error": "\(error)"])
                try await settleReward(attribution.id, status: "refused", code: "")
            } catch {
                let (count, isLast) = try await WorkAttempts.failed(database, kind: Self.rewardWork, id: attribution.id, error: error, now: clock.now())
                logger.log(level: isLast ? .error : .warning, isLast ? "newcomer reward not issued; a dead letter until an operator retries it" : "newcomer reward not issued; retried with backoff",
                           metadata: ["attribution": "\(attribution.id)", "attempts": "\(count)", "error": "\(error)"])
                continue
            }
            if attempts.failing.contains(attribution.id) { try await WorkAttempts.succeeded(database, kind: Self.rewardWork, id: attribution.id) }
        }
        return issued
    }

    private func settleReward(_ attribution: String, status: String, code: String) async throws {
        try await database.withConnection { sql in
            try await sql.raw("""
                UPDATE attributions SET reward_status = \(bind: status), reward_coupon_code = \(bind: code)
                WHERE id = \(bind: attribution) AND reward_status = 'pending'
                """).run()
        }
    }
}
