import Foundation
import GuildCore
import GuildStorage
import SQLKit

/// An account of the double-entry ledger. Balances are never stored: an account's balance is
/// the sum of its entries (debits positive, credits negative).
public struct LedgerAccount: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Money received from payers, held at the payment provider (an asset: debit balance).
    public static func payerClearing(provider: String) -> LedgerAccount { LedgerAccount(rawValue: "payer_clearing:\(provider)") }
    /// The platform's fees (revenue: credit balance).
    public static let platformFees = LedgerAccount(rawValue: "platform_fees")
    /// What the platform owes a community's owner (a liability: credit balance).
    public static func ownerPayable(_ community: CommunityID) -> LedgerAccount { LedgerAccount(rawValue: "owner_payable:\(community)") }
    /// Commission owed to referrers of a community's members (a liability: credit balance),
    /// once the refund window of the payment it was earned on has closed.
    public static func referralCommissionPayable(_ community: CommunityID) -> LedgerAccount { LedgerAccount(rawValue: "referral_commission_payable:\(community)") }
    /// Commission earned but not yet payable: the payment it came from can still be refunded
    /// (a liability: credit balance). Taken out of what the owner is owed.
    public static func referralCommissionPending(_ community: CommunityID) -> LedgerAccount { LedgerAccount(rawValue: "referral_commission_pending:\(community)") }
    /// Payments for group buys that have not filled yet: owed back to the payers unless the
    /// group completes (a liability: credit balance).
    public static func groupBuyHolding(_ community: CommunityID) -> LedgerAccount { LedgerAccount(rawValue: "group_buy_holding:\(community)") }
    /// Payments for charges (a paid question, a booked session) the platform holds until the
    /// selling service settles or refunds them (a liability: credit balance).
    public static func chargeHolding(_ community: CommunityID) -> LedgerAccount { LedgerAccount(rawValue: "charge_holding:\(community)") }
    /// What the platform owes a payee of settled charges in a community: an answerer, an expert
    /// (a liability: credit balance).
    public static func payeePayable(_ community: CommunityID, _ payee: UserID) -> LedgerAccount { LedgerAccount(rawValue: "payee_payable:\(community):\(payee)") }
    /// Money returned to payers (contra-revenue: debit balance).
    public static func refunds(_ community: CommunityID) -> LedgerAccount { LedgerAccount(rawValue: "refunds:\(community)") }

    public var description: String { rawValue }
}

/// One line of a ledger transaction: an amount on an account (positive debit, negative credit).
public struct LedgerEntry: Sendable, Equatable {
    public var account: LedgerAccount
    public var amount: Money

    public init(_ account: LedgerAccount, _ amount: Money) {
        self.account = account
        self.amount = amount
    }
}

/// The money ledger of `guild-membership`: every money movement is one transaction whose entries
/// sum to zero in each currency, written in the same database transaction as the change that
/// caused it, at most once per (kind, reference).
public enum Ledger {
    /// Kinds of transaction.
    public static let paymentKind = "payment"
    public static let refundKind = "refund"
    /// A group buy filled: its held payments move to the platform's fee and the owner.
    public static let groupSettlementKind = "group_settlement"
    /// A charge was paid (the platform holds it), settled (to its payee) or refunded.
    public static let chargePaymentKind = "charge_payment"
    public static let chargeSettlementKind = "charge_settlement"
    public static let chargeRefundKind = "charge_refund"
    /// A referral commission was earned (owner payable to pending), became payable (pending to
    /// payable), or was taken back after a refund (pending or payable back to the owner). The
    /// reference is the referral service's idempotency key.
    public static let commissionAccrueKind = "commission_accrue"
    public static let commissionMatureKind = "commission_mature"
    public static let commissionClawBackKind = "commission_claw_back"

    /// Posts a balanced transaction. Throws `internal` for an unbalanced or empty one (a bug) and
    /// `alreadyExists` when (kind, reference) was posted before.
    @discardableResult
    public static func post(
        _ sql: any SQLDatabase, kind: String, reference: String, community: CommunityID,
        entries: [LedgerEntry], at now: Date
    ) async throws -> String {
        guard entries.count >= 2 else {
            throw GuildError(.internal, "A ledger transaction needs at least two entries.")
        }
        var sums: [Currency: Int64] = [:]
        for entry in entries { sums[entry.amount.currency, default: 0] += entry.amount.minorUnits }
        guard sums.values.allSatisfy({ $0 == 0 }) else {
            throw GuildError(.internal, "Refusing an unbalanced ledger transaction (\(kind) \(reference)).")
        }
        let id = Identifier.make(at: now)
        try await sql.raw("""
            INSERT INTO ledger_transactions (id, kind, reference, community_id, created_at_ms)
            VALUES (\(bind: id), \(bind: kind), \(bind: reference), \(bind: community.rawValue), \(bind: now.millisecondsSince1970))
            """).run()
        for entry in entries {
            try await sql.raw("""
                INSERT INTO ledger_entries (id, transaction_id, account, community_id, amount_minor, currency)
                VALUES (\(bind: Identifier.make(at: now)), \(bind: id), \(bind: entry.account.rawValue), \(bind: community.rawValue),
                        \(bind: entry.amount.minorUnits), \(bind: entry.amount.currency.rawValue))
                """).run()
        }
        return id
    }

    /// The entries that settle `amount` taken from `source` (the payer's clearing account for a
    /// payment, the group-buy holding for a group that filled): `fee` to the platform, the rest
    /// owed to the community's owner.
    public static func settlementEntries(amount: Money, fee: Money, from source: LedgerAccount, community: CommunityID) -> [LedgerEntry] {
        [
            LedgerEntry(source, amount),
            LedgerEntry(.platformFees, -fee),
            LedgerEntry(.ownerPayable(community), -(amount - fee)),
        ].filter { !$0.amount.isZero }
    }

    /// The balance of `account` in `currency`.
    public static func balance(_ sql: any SQLDatabase, account: LedgerAccount, currency: Currency) async throws -> Money {
        let row = try await sql.raw("""
            SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM ledger_entries
            WHERE account = \(bind: account.rawValue) AND currency = \(bind: currency.rawValue)
            """).first()
        return Money(minorUnits: try row?.decode(column: "total", as: Int64.self) ?? 0, currency: currency)
    }

    /// Liabilities and holdings: never owed to the platform (never a debit balance).
    static let creditAccountPrefixes = [
        "owner_payable:", "group_buy_holding:", "charge_holding:", "payee_payable:", "referral_commission_pending:", "referral_commission_payable:",
    ]

    /// Every invariant of the ledger, checked against the ledger itself and the payments it
    /// records. Returns the violations (empty when all hold).
    public static func check(_ sql: any SQLDatabase) async throws -> (transactions: Int64, entries: Int64, violations: [String]) {
        var violations: [String] = []
        let counts = try await sql.raw("""
            SELECT (SELECT COUNT(*) FROM ledger_transactions) AS transactions, (SELECT COUNT(*) FROM ledger_entries) AS entries
            """).first()
        let transactions = try counts?.decode(column: "transactions", as: Int64.self) ?? 0
        let entries = try counts?.decode(column: "entries", as: Int64.self) ?? 0

        // 1. Every transaction balances in every currency.
        for row in try await sql.raw("""
            SELECT transaction_id, currency, CAST(SUM(amount_minor) AS BIGINT) AS total FROM ledger_entries
            GROUP BY transaction_id, currency HAVING SUM(amount_minor) <> 0
            """).all() {
            violations.append("transaction \(try row.decode(column: "transaction_id", as: String.self)) does not balance in \(try row.decode(column: "currency", as: String.self)): off by \(try row.decode(column: "total", as: Int64.self))")
        }
        // 2. Every transaction has at least two entries.
        for row in try await sql.raw("""
            SELECT t.id AS id, COUNT(e.id) AS n FROM ledger_transactions t LEFT JOIN ledger_entries e ON e.transaction_id = t.id
            GROUP BY t.id HAVING COUNT(e.id) < 2
            """).all() {
            violations.append("transaction \(try row.decode(column: "id", as: String.self)) has \(try row.decode(column: "n", as: Int64.self)) entries")
        }
        // 3. Every succeeded payment is in the ledger once, for its amount.
        for row in try await sql.raw("""
            SELECT p.id AS id, p.amount_minor AS amount, p.currency AS currency, p.provider AS provider,
                   (SELECT CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
                    WHERE t.kind = 'payment' AND t.reference = p.id AND e.account = 'payer_clearing:' || p.provider) AS recorded
            FROM payments p WHERE p.status = 'succeeded'
            """).all() {
            let amount = try row.decode(column: "amount", as: Int64.self)
            let recorded = try row.decode(column: "recorded", as: Int64.self)
            if amount != recorded {
                violations.append("payment \(try row.decode(column: "id", as: String.self)) of \(amount) \(try row.decode(column: "currency", as: String.self)) is recorded as \(recorded)")
            }
        }
        // 4. Every payment transaction belongs to a succeeded payment.
        for row in try await sql.raw("""
            SELECT t.id AS id, t.reference AS reference FROM ledger_transactions t
            WHERE t.kind = 'payment' AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = t.reference AND p.status = 'succeeded')
            """).all() {
            violations.append("transaction \(try row.decode(column: "id", as: String.self)) records payment \(try row.decode(column: "reference", as: String.self)), which did not succeed")
        }
        // 5. No payment is refunded beyond what was paid, and every refund is in the ledger once, for its amount.
        for row in try await sql.raw("""
            SELECT p.id AS id, p.amount_minor AS amount,
                   (SELECT CAST(COALESCE(SUM(r.amount_minor), 0) AS BIGINT) FROM refunds r WHERE r.payment_id = p.id) AS refunded
            FROM payments p
            """).all() {
            let amount = try row.decode(column: "amount", as: Int64.self)
            let refunded = try row.decode(column: "refunded", as: Int64.self)
            if refunded > amount {
                violations.append("payment \(try row.decode(column: "id", as: String.self)) of \(amount) was refunded \(refunded)")
            }
        }
        for row in try await sql.raw("""
            SELECT r.id AS id, r.amount_minor AS amount,
                   (SELECT CAST(COALESCE(SUM(-e.amount_minor), 0) AS BIGINT) FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
                    WHERE t.kind = 'refund' AND t.reference = r.id AND e.account LIKE 'payer_clearing:%') AS recorded
            FROM refunds r
            """).all() {
            let amount = try row.decode(column: "amount", as: Int64.self)
            let recorded = try row.decode(column: "recorded", as: Int64.self)
            if amount != recorded {
                violations.append("refund \(try row.decode(column: "id", as: String.self)) of \(amount) is recorded as \(recorded)")
            }
        }
        for row in try await sql.raw("""
            SELECT t.id AS id FROM ledger_transactions t
            WHERE t.kind = 'refund' AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.id = t.reference)
            """).all() {
            violations.append("transaction \(try row.decode(column: "id", as: String.self)) records a refund that does not exist")
        }
        // 6. What group buys hold is exactly what their held orders paid.
        for row in try await sql.raw("""
            SELECT c.id AS community,
                   (SELECT CAST(COALESCE(SUM(-e.amount_minor), 0) AS BIGINT) FROM ledger_entries e WHERE e.account = 'group_buy_holding:' || c.id) AS held,
                   (SELECT CAST(COALESCE(SUM(o.total_minor), 0) AS BIGINT) FROM orders o WHERE o.community_id = c.id AND o.status = 'held') AS owed
            FROM communities c
            """).all() {
            let held = try row.decode(column: "held", as: Int64.self)
            let owed = try row.decode(column: "owed", as: Int64.self)
            if held != owed {
                violations.append("group buys of community \(try row.decode(column: "community", as: String.self)) hold \(held) but their held orders paid \(owed)")
            }
        }
        // 7. What charges hold is exactly what their held charges paid, and every charge that was
        //    paid is in the ledger once, for its amount.
        for row in try await sql.raw("""
            SELECT c.id AS community,
                   (SELECT CAST(COALESCE(SUM(-e.amount_minor), 0) AS BIGINT) FROM ledger_entries e WHERE e.account = 'charge_holding:' || c.id) AS held,
                   (SELECT CAST(COALESCE(SUM(h.amount_minor), 0) AS BIGINT) FROM charges h WHERE h.community_id = c.id AND h.status = 'held') AS owed
            FROM communities c
            """).all() {
            let held = try row.decode(column: "held", as: Int64.self)
            let owed = try row.decode(column: "owed", as: Int64.self)
            if held != owed {
                violations.append("charges of community \(try row.decode(column: "community", as: String.self)) hold \(held) but their held charges paid \(owed)")
            }
        }
        for row in try await sql.raw("""
            SELECT h.id AS id, h.amount_minor AS amount,
                   (SELECT CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) FROM ledger_transactions t JOIN ledger_entries e ON e.transaction_id = t.id
                    WHERE t.kind = 'charge_payment' AND t.reference = h.id AND e.account LIKE 'payer_clearing:%') AS recorded
            FROM charges h WHERE h.status IN ('held', 'settled', 'refunded')
            """).all() {
            let amount = try row.decode(column: "amount", as: Int64.self)
            let recorded = try row.decode(column: "recorded", as: Int64.self)
            if amount != recorded {
                violations.append("charge \(try row.decode(column: "id", as: String.self)) of \(amount) is recorded as paid \(recorded)")
            }
        }
        // 8. No account is on the wrong side: payer clearing never owes, payables are never owed.
        for row in try await sql.raw("""
            SELECT account, currency, CAST(SUM(amount_minor) AS BIGINT) AS balance FROM ledger_entries GROUP BY account, currency
            """).all() {
            let account = try row.decode(column: "account", as: String.self)
            let balance = try row.decode(column: "balance", as: Int64.self)
            let currency = try row.decode(column: "currency", as: String.self)
            if account.hasPrefix("payer_clearing:"), balance < 0 {
                violations.append("\(account) has a credit balance of \(-balance) \(currency)")
            }
            if Self.creditAccountPrefixes.contains(where: { account.hasPrefix($0) }) || account == LedgerAccount.platformFees.rawValue, balance > 0 {
                violations.append("\(account) has a debit balance of \(balance) \(currency)")
            }
        }
        // 9. Every commission posting is in the ledger once, for its amount, and no commission
        //    ever matured or was taken back beyond what it had earned.
        for row in try await sql.raw("""
            SELECT c.transaction_id AS id, c.amount_minor AS amount,
                   (SELECT CAST(COALESCE(SUM(e.amount_minor), 0) AS BIGINT) FROM ledger_entries e
                    WHERE e.transaction_id = c.transaction_id AND e.amount_minor > 0) AS recorded
            FROM commission_postings c
            """).all() {
            let amount = try row.decode(column: "amount", as: Int64.self)
            let recorded = try row.decode(column: "recorded", as: Int64.self)
            if amount != recorded {
                violations.append("commission posting \(try row.decode(column: "id", as: String.self)) of \(amount) is recorded as \(recorded)")
            }
        }
        for row in try await sql.raw("""
            SELECT commission_id,
                   CAST(SUM(CASE WHEN movement = 'accrue' THEN amount_minor WHEN movement = 'mature' THEN -amount_minor
                                 WHEN movement = 'claw_back' AND from_state = 'pending' THEN -amount_minor ELSE 0 END) AS BIGINT) AS pending,
                   CAST(SUM(CASE WHEN movement = 'mature' THEN amount_minor
                                 WHEN movement = 'claw_back' AND from_state = 'payable' THEN -amount_minor ELSE 0 END) AS BIGINT) AS payable
            FROM commission_postings GROUP BY commission_id
            """).all() {
            let pending = try row.decode(column: "pending", as: Int64.self)
            let payable = try row.decode(column: "payable", as: Int64.self)
            if pending < 0 || payable < 0 {
                violations.append("commission \(try row.decode(column: "commission_id", as: String.self)) is below zero: pending \(pending), payable \(payable)")
            }
        }
        return (transactions, entries, violations)
    }
}
