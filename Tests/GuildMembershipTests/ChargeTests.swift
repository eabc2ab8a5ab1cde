import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildMembership

/// Charges (decision 18) on membership alone: each transition happens once, in the ledger once,
/// and only from the state it starts from.
enum ChargeScenarios {
    static let payer = UserID("payer-00001")
    static let payee = UserID("expert-0001")

    static func transitions(_ f: MembershipFixture) async throws {
        let (community, _) = try await f.openCommunity()
        let key = Identifier.make()
        let charge = try await f.charge(community, amount: 5_000, reference: "question-1", key: key)
        #expect(charge.status == "pending" && charge.amount.minorUnits == 5_000 && charge.amount.currency == "CNY")
        #expect(charge.payment.checkoutURL == "/api/v1/charges/\(charge.id)/sandbox-confirm")
        #expect(try await f.charge(community, amount: 5_000, reference: "question-1", key: key).id == charge.id)
        #expect(await thrownError { _ = try await f.charge(community, amount: 6_000, reference: "question-1", key: key) }?.reason == "idempotency_key_reused")

        // Not paid yet: nothing to settle. Only the payer confirms.
        #expect(await thrownError { _ = try await f.service.settleCharge(.with { $0.chargeID = charge.id }) }?.reason == "charge_not_held")
        #expect(await thrownError { _ = try await f.confirm(charge, by: f.owner) }?.code == .notFound)
        #expect(try await f.confirm(charge, by: payer).status == "held")
        #expect(try await f.balance("charge_holding:\(community.id)") == -5_000)

        // Settled once: the platform keeps 5 %, the payee is owed the rest; asking again changes nothing.
        let settled = try await f.service.settleCharge(.with { $0.chargeID = charge.id })
        #expect(settled.status == "settled" && settled.fee.minorUnits == 250)
        #expect(try await f.service.settleCharge(.with { $0.chargeID = charge.id }).status == "settled")
        #expect(try await f.balance("payee_payable:\(community.id):\(payee)") == -4_750)
        #expect(try await f.balance("charge_holding:\(community.id)") == 0)
        #expect(await thrownError { _ = try await f.service.refundCharge(.with { $0.chargeID = charge.id }) }?.reason == "charge_settled")

        // Held, then refunded once.
        let second = try await f.charge(community, amount: 3_000, reference: "booking-1")
        _ = try await f.confirm(second, by: payer)
        #expect(try await f.service.refundCharge(.with { $0.chargeID = second.id; $0.reason = "declined" }).status == "refunded")
        #expect(try await f.service.refundCharge(.with { $0.chargeID = second.id }).status == "refunded")
        #expect(try await f.ledgerTransactions(kind: "charge_refund", reference: second.id) == 1)
        #expect(await thrownError { _ = try await f.service.settleCharge(.with { $0.chargeID = second.id }) }?.reason == "charge_not_held")

        // Never paid: called off; a confirmation that comes later moves no money.
        let third = try await f.charge(community, amount: 1_000, reference: "question-2")
        #expect(try await f.service.refundCharge(.with { $0.chargeID = third.id }).status == "cancelled")
        #expect(try await f.confirm(third, by: payer).status == "cancelled")
        #expect(try await f.ledgerTransactions(kind: "charge_payment", reference: third.id) == 0)

        #expect(try await f.balance("charge_holding:\(community.id)") == 0)
        #expect(try await f.service.checkLedger().violations.isEmpty)
        let topics = try await f.database.database.withConnection { sql in
            try await sql.raw("SELECT topic FROM outbox_events WHERE topic LIKE 'membership.charge.%'").all()
                .map { try $0.decode(column: "topic", as: String.self) }
        }
        // One event per transition (ids made at one instant of the test's clock do not sort in time).
        #expect(topics.sorted() == ["membership.charge.cancelled", "membership.charge.held", "membership.charge.held", "membership.charge.refunded", "membership.charge.settled"])
    }

    static func refusals(_ f: MembershipFixture) async throws {
        let (community, _) = try await f.openCommunity()
        #expect(await thrownError { _ = try await f.charge(community, amount: 0, reference: "q") }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await f.charge(community, amount: 100, reference: "q", purpose: "lunch") }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await f.charge(community, amount: 100, reference: "q", payer: payee) }?.reason == "self_payment")
        #expect(await thrownError { _ = try await f.charge(community, amount: 100, reference: "q", key: "") }?.code == .invalidArgument)
        // Who reads a charge: its payer, its payee, the owners; nobody else.
        let charge = try await f.charge(community, amount: 100, reference: "q")
        for reader in [payer, payee, f.owner] {
            #expect(try await f.service.charge(.with { $0.chargeID = charge.id }, user: reader).id == charge.id)
        }
        #expect(await thrownError { _ = try await f.service.charge(.with { $0.chargeID = charge.id }, user: UserID("stranger-1")) }?.code == .notFound)
    }
}

extension MembershipFixture {
    func charge(
        _ community: MembershipCommunity, amount: Int64, reference: String, purpose: String = "question",
        payer: UserID = ChargeScenarios.payer, key: String = Identifier.make()
    ) async throws -> MembershipCharge {
        try await service.createCharge(.with {
            $0.communityID = community.id
            $0.payeeID = ChargeScenarios.payee.rawValue
            $0.purpose = purpose
            $0.reference = reference
            $0.description_p = "A paid question"
            $0.amountMinorUnits = amount
            $0.idempotencyKey = key
        }, user: payer)
    }

    func confirm(_ charge: MembershipCharge, by user: UserID) async throws -> MembershipCharge {
        try await service.confirmSandboxCharge(.with { $0.chargeID = charge.id; $0.idempotencyKey = Identifier.make() }, user: user)
    }

    func balance(_ account: String) async throws -> Int64 {
        try await database.database.withConnection { sql in
            try await Ledger.balance(sql, account: LedgerAccount(rawValue: account), currency: .cny).minorUnits
        }
    }

    func ledgerTransactions(kind: String, reference: String) async throws -> Int {
        try await database.database.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM ledger_transactions WHERE kind = \(bind: kind) AND reference = \(bind: reference)").first()!
                .decode(column: "n", as: Int.self)
        }
    }
}

@Suite("Charges on SQLite", .serialized)
struct ChargeSQLiteTests {
    @Test("transitions happen once and only from their state")
    func transitions() async throws { try await MembershipFixture.with(.sqlite) { try await ChargeScenarios.transitions($0) } }

    @Test("bad charges are refused, and only their parties read them")
    func refusals() async throws { try await MembershipFixture.with(.sqlite) { try await ChargeScenarios.refusals($0) } }
}

@Suite("Charges on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct ChargePostgresTests {
    @Test("transitions happen once and only from their state")
    func transitions() async throws { try await MembershipFixture.with(.postgres) { try await ChargeScenarios.transitions($0) } }

    @Test("bad charges are refused, and only their parties read them")
    func refusals() async throws { try await MembershipFixture.with(.postgres) { try await ChargeScenarios.refusals($0) } }
}
