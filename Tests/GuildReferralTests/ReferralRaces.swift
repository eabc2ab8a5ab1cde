import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildReferral

/// Every referral limit raced: eight calls at once against the cluster (on PostgreSQL each on
/// its own connection), with the exact outcome asserted. Decisions, "Concurrency", says which
/// mechanism makes each one hold.
enum ReferralRaces {
    typealias Scenario = @Sendable (ReferralFixture) async throws -> Void

    static let all: [String: Scenario] = [
        "points balance: 8 redemptions of a 10-point reward from 15 points; 1 completes, 7 are told there are not enough": balance,
        "daily cap: 8 comments at once worth 5 points each under a cap of 25; 25 points": dailyCap,
        "stock: 8 members redeem a reward with 3 in stock; 3 complete, 5 are told it is out of stock": stock,
        "redemption key: 8 redemptions with one key make one redemption and one coupon": redemptionKey,
        "commission: one payment told 8 times at once under 8 ids earns one commission": commissionOnce,
        "clawback: one refund told 8 times at once under 8 ids claws back once": clawbackOnce,
        "attribution: 8 sign-ups of one newcomer at once make one attribution": firstTouch,
        "inbox: one event delivered 8 times at once is applied once": inboxOnce,
        "owner edits: 8 saves of the points rules and 8 of the ladder at once all apply, one after the other": ownerEdits,
    ]

    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await ReferralFixture.with(kind) { fixture in
            try await all[name]!(fixture)
            try await fixture.expectLedgerBalanced()
        }
    }

    static let racers = 8

    static func balance(_ f: ReferralFixture) async throws {
        let member = UserID("member-0001")
        try await f.pay(member)
        try await f.earn(member, 15)
        let entry = try await f.reward("discount", cost: 10, percent: 2000)
        let attempts = await Race.run(racers) { _ in try await f.redeem(member, entry) }
        #expect(attempts.successes().map(\.status) == ["completed"])
        #expect(attempts.refusals() == Array(repeating: "failed_precondition/not_enough_points", count: 7))
        #expect(try await f.account(member).balance == 5)
        #expect(try await f.issuedCoupons(to: member).count == 1)
    }

    static func dailyCap(_ f: ReferralFixture) async throws {
        let member = UserID("member-0001")
        try await f.pay(member)
        let before = try await f.account(member).earned
        let at = f.now
        let deeds = await Race.run(racers) { index in try await f.commented(member, id: "comment-race-\(index)", at: at) }
        #expect(deeds.failures().isEmpty)
        #expect(try await f.account(member).earned - before == 25)
        #expect(try await f.entries(member).filter { $0.0 == "comment" }.map(\.1).reduce(0, +) == 25)
    }

    static func stock(_ f: ReferralFixture) async throws {
        let members = (1...racers).map { UserID(String(format: "member-%04d", $0)) }
        for member in members {
            try await f.pay(member)
            try await f.earn(member, 10)
        }
        let entry = try await f.reward("discount", cost: 10, percent: 2000, stock: 3)
        let attempts = await Race.run(racers) { index in try await f.redeem(members[index], entry) }
        #expect(attempts.successes().map(\.status) == Array(repeating: "completed", count: 3))
        #expect(attempts.refusals() == Array(repeating: "failed_precondition/out_of_stock", count: 5))
        var balances: [Int64] = []
        for member in members { balances.append(try await f.account(member).balance) }
        // The winners spent their 10 points; the others kept theirs.
        #expect(balances.sorted() == [0, 0, 0, 10, 10, 10, 10, 10])
        let stored = try await f.rows("SELECT redeemed FROM catalogue WHERE id = '\(entry.id)'")
        #expect(try stored.first?.decode(column: "redeemed", as: Int.self) == 3)
    }

    static func redemptionKey(_ f: ReferralFixture) async throws {
        let member = UserID("member-0001")
        try await f.pay(member)
        try await f.earn(member, 50)
        let entry = try await f.reward("discount", cost: 10, percent: 2000)
        let attempts = await Race.run(racers) { _ in try await f.redeem(member, entry, key: "one-key") }
        // Each answer is the one redemption, or (while the first still runs) a retryable "in progress".
        #expect(Set(attempts.successes().map(\.id)).count == 1)
        #expect(attempts.refusals().allSatisfy { $0 == "aborted/idempotency_key_in_progress" })
        #expect(try await f.redemptionCount() == 1)
        #expect(try await f.account(member).balance == 40)
        #expect(try await f.issuedCoupons(to: member).count == 1)
    }

    /// A referrer, a newcomer they referred, and the newcomer's paid order.
    static func referredPayment(_ f: ReferralFixture) async throws -> (UserID, MembershipOrder) {
        let referrer = UserID("member-0001"), newcomer = UserID("member-0002")
        try await f.pay(referrer)
        try await f.refer(newcomer, code: try await f.link(referrer).code)
        return (newcomer, try await f.pay(newcomer))
    }

    static func commissionOnce(_ f: ReferralFixture) async throws {
        let (newcomer, _) = try await referredPayment(f)
        let payment = try #require(try await f.membershipEvents("membership.payment.succeeded").last)
        let copies = (0..<racers).map { index -> EventsEvent in
            var copy = payment
            if index > 0 { copy.id = Identifier.make(at: f.now) }
            return copy
        }
        let deliveries = await Race.run(racers) { index in try await f.redeliver(copies[index]) }
        #expect(deliveries.failures().isEmpty)
        let commissions = try await f.commissions(of: newcomer)
        #expect(commissions.count == 1)
        #expect(try await f.movements(of: try #require(commissions.first).id) == ["accrue 1990 posted"])
    }

    static func clawbackOnce(_ f: ReferralFixture) async throws {
        let (newcomer, order) = try await referredPayment(f)
        try await f.refund(order, amount: 9_950)
        let refund = try #require(try await f.membershipEvents("membership.payment.refunded").last)
        let copies = (0..<racers).map { index -> EventsEvent in
            var copy = refund
            if index > 0 { copy.id = Identifier.make(at: f.now) }
            return copy
        }
        let deliveries = await Race.run(racers) { index in try await f.redeliver(copies[index]) }
        #expect(deliveries.failures().isEmpty)
        let commission = try #require(try await f.commissions(of: newcomer).first)
        #expect(commission.clawedBackMinorUnits == 995)
        #expect(try await f.movements(of: commission.id) == ["accrue 1990 posted", "claw_back 995 from pending posted"])
        #expect(try await f.rows("SELECT refund_id FROM clawbacks").count == 1)
    }

    static func firstTouch(_ f: ReferralFixture) async throws {
        let referrer = UserID("member-0001"), newcomer = UserID("member-0002")
        try await f.pay(referrer)
        try await f.visit("visitor-race0001", code: try await f.link(referrer).code)
        let signups = await Race.run(racers) { _ in try await f.signup(newcomer, visitor: "visitor-race0001") }
        #expect(signups.failures().isEmpty)
        #expect(Set(signups.successes().compactMap { $0?.id }).count == 1)
        #expect(try await f.rows("SELECT id FROM attributions WHERE user_id = '\(newcomer.rawValue)'").count == 1)
    }

    static func inboxOnce(_ f: ReferralFixture) async throws {
        let member = UserID("member-0001")
        try await f.pay(member)
        let before = try await f.account(member).earned
        let at = f.now
        let deliveries = await Race.run(racers) { _ in try await f.reviewAccepted(member, id: "event-once", at: at, reward: 7) }
        #expect(deliveries.failures().isEmpty)
        #expect(try await f.account(member).earned - before == 7)
    }

    static func ownerEdits(_ f: ReferralFixture) async throws {
        let rules = await Race.run(racers) { index in try await f.rules([("comment", Int64(index + 1), 50, true)]) }
        #expect(rules.failures().isEmpty)
        let saved = try await f.referral.pointsRules(.with { $0.communityID = f.community.id })
        #expect((1...Int64(racers)).contains(try #require(saved.rules.first { $0.kind == "comment" }).points))
        let ladders = await Race.run(racers) { index in
            try await f.referral.updateLevels(.with {
                $0.communityID = f.community.id
                $0.levels = [.with { $0.rank = 1; $0.name = "Newcomer"; $0.threshold = 0 }, .with { $0.rank = 2; $0.name = "Regular \(index)"; $0.threshold = 100 }]
            }, user: f.owner)
        }
        #expect(ladders.failures().isEmpty)
        let ladder = try await f.referral.levels(.with { $0.communityID = f.community.id })
        #expect(ladder.levels.count == 2)
    }
}

@Suite("Referral races on SQLite", .serialized)
struct ReferralRacesOnSQLite {
    @Test("race", arguments: ReferralRaces.names)
    func race(_ name: String) async throws { try await ReferralRaces.run(name, on: .sqlite) }
}

@Suite("Referral races on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct ReferralRacesOnPostgreSQL {
    @Test("race", arguments: ReferralRaces.names)
    func race(_ name: String) async throws { try await ReferralRaces.run(name, on: .postgres) }
}
