import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildService
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildReferral

/// Every retry loop has a bound and a final state: a redemption that only meets transient
/// errors fails with its points given back once (its coupon voided), one that cannot even be
/// given up is a dead letter an operator sees and retries, and an outbox delivery that keeps
/// failing is dead until retried.
enum RetryBoundScenarios {
    typealias Scenario = @Sendable (ReferralFixture) async throws -> Void

    static let all: [String: Scenario] = [
        "a redemption that only meets transient errors fails after the bound, its points given back once": givesUp,
        "a coupon issued while every answer was lost is withdrawn when the redemption gives up": voidsLostCoupon,
        "a redemption that cannot even be given up is a dead letter; retried, it completes": deadLetter,
        "an outbox delivery that keeps failing is dead after the bound, listed over the wire, and retried": outboxDeadLetter,
    ]

    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await ReferralFixture.with(kind) { fixture in
            try await all[name]!(fixture)
            try await fixture.expectLedgerBalanced()
        }
    }

    /// Runs the scheduler's redemption pass on `service` once per allowed attempt, each after
    /// the longest backoff.
    static func exhaust(_ service: ReferralService, _ f: ReferralFixture, passes: Int = WorkAttempts.maximumAttempts) async throws {
        for _ in 0..<passes {
            f.clock.advance(by: WorkAttempts.maximumBackoff + 1)
            _ = try await service.resumeRedemptions()
        }
    }

    static func givesUp(_ f: ReferralFixture) async throws {
        let member = UserID("member-0001")
        try await f.pay(member)
        try await f.earn(member, 100)
        let entry = try await f.reward("discount", cost: 80, title: "50.00 off", amount: 5_000, stock: 1)
        try await f.withSecondReferral(issueCoupon: { _ in throw GuildError(.unavailable, "Membership is down.") }) { second in
            let pending = try await f.redeem(member, entry, key: "redeem-1", with: second)
            #expect(pending.status == "pending" && pending.attempts == 1)
            // Backing off: the next pass right away leaves it alone.
            #expect(try await second.resumeRedemptions() == 0)
            #expect(try await f.referral.myRedemptions(.with { $0.communityID = f.community.id }, user: member).redemptions.first?.nextAttemptAtMs ?? 0
                    > f.now.millisecondsSince1970)
            try await exhaust(second, f, passes: WorkAttempts.maximumAttempts - 2)
            #expect(try await f.referral.myRedemptions(.with { $0.communityID = f.community.id }, user: member).redemptions.first?.status == "pending")
            try await exhaust(second, f, passes: 1)  // the last attempt the bound allows: it gives up
        }
        // The member sees what happened, and so does the owner.
        let mine = try #require(try await f.referral.myRedemptions(.with { $0.communityID = f.community.id }, user: member).redemptions.first)
        #expect(mine.status == "failed" && mine.failureReason == "delivery_gave_up" && mine.pointsReturned)
        #expect(mine.attempts == Int32(WorkAttempts.maximumAttempts))
        let owners = try await f.referral.redemptions(.with { $0.communityID = f.community.id; $0.status = "failed" }, user: f.owner)
        #expect(owners.redemptions.map(\.id) == [mine.id])
        await #expect(throws: GuildError.self) { _ = try await f.referral.redemptions(.with { $0.communityID = f.community.id }, user: member) }
        // The points came back once; the stock too.
        #expect(try await f.account(member).balance == 100)
        #expect(try await f.entries(member).map(\.1) == [100, -80, 80])
        #expect(try await f.referral.resumeRedemptions() == 0)
        #expect(try await f.entries(member).map(\.1) == [100, -80, 80])
        let stock = try await f.rows("SELECT redeemed FROM catalogue WHERE id = '\(entry.id)'")
        #expect(try stock.first?.decode(column: "redeemed", as: Int.self) == 0)
        // A coupon asked for with the key now is refused: the key is void.
        var late = MembershipIssueCouponRequest()
        late.communityID = f.community.id
        late.userID = member.rawValue
        late.kind = "amount"
        late.amountOffMinorUnits = 5_000
        late.validDays = 30
        late.idempotencyKey = "redeem:" + mine.id
        #expect(await thrownError { _ = try await f.membership.issueCoupon(late, caller: .referral) }?.reason == "idempotency_key_reused")
        #expect(try await f.issuedCoupons(to: member).isEmpty)
        #expect(try await f.referral.deadLetters.list(.init()).deadLetters.isEmpty)
    }

    static func voidsLostCoupon(_ f: ReferralFixture) async throws {
        let member = UserID("member-0001")
        try await f.pay(member)
        try await f.earn(member, 100)
        let entry = try await f.reward("discount", cost: 80, percent: 2_000)
        let membership = f.membership
        // Membership issues the coupon each time, but the answer never arrives.
        try await f.withSecondReferral(issueCoupon: { request in
            _ = try await membership.issueCoupon(request, caller: .referral)
            throw GuildError(.deadlineExceeded, "No answer in time.")
        }) { second in
            _ = try await f.redeem(member, entry, with: second)
            try await exhaust(second, f)
        }
        let mine = try #require(try await f.referral.myRedemptions(.with { $0.communityID = f.community.id }, user: member).redemptions.first)
        #expect(mine.status == "failed" && mine.pointsReturned)
        #expect(try await f.account(member).balance == 100)
        // The one coupon issued is withdrawn: it no longer takes anything off.
        let coupons = try await f.issuedCoupons(to: member)
        #expect(coupons.count == 1)
        var quote = MembershipQuoteRequest()
        quote.communityID = f.community.id
        quote.planID = f.plan.id
        quote.couponCode = try #require(coupons.first).code
        #expect(await thrownError { _ = try await f.membership.quote(quote, user: member) }?.reason == "coupon_expired")
    }

    static func deadLetter(_ f: ReferralFixture) async throws {
        let member = UserID("member-0001")
        try await f.pay(member)
        try await f.earn(member, 100)
        let entry = try await f.reward("discount", cost: 80, percent: 2_000)
        try await f.withSecondReferral(issueCoupon: { _ in throw GuildError(.unavailable, "Membership is down.") }) { second in
            _ = try await f.redeem(member, entry, with: second)
        }
        // Then membership cannot be reached at all, not even to void the coupon.
        try await f.withUnreachableMembership { unreachable in try await exhaust(unreachable, f) }
        // Neither delivered nor voided: still pending, its points still spent, a dead letter.
        let stuck = try #require(try await f.referral.myRedemptions(.with { $0.communityID = f.community.id }, user: member).redemptions.first)
        #expect(stuck.status == "pending" && !stuck.pointsReturned)
        let dead = try await f.referral.deadLetters.list(.init()).deadLetters
        #expect(dead.map(\.kind) == ["redemption"] && dead.map(\.id) == [stuck.id])
        #expect(dead.first?.description_p.contains(stuck.id) == true)
        // The scheduler leaves it alone, however long it waits...
        f.clock.advance(by: 86_400)
        #expect(try await f.referral.resumeRedemptions() == 0)
        // ...until an operator retries it: then it completes, with one coupon.
        #expect(try await f.referral.deadLetters.retry(.with { $0.kind = "redemption"; $0.id = stuck.id }).retried == 1)
        #expect(try await f.referral.resumeRedemptions() == 1)
        let done = try #require(try await f.referral.myRedemptions(.with { $0.communityID = f.community.id }, user: member).redemptions.first)
        #expect(done.status == "completed")
        #expect(try await f.issuedCoupons(to: member).map(\.code) == [done.couponCode])
        #expect(try await f.referral.deadLetters.list(.init()).deadLetters.isEmpty)
    }

    static func outboxDeadLetter(_ f: ReferralFixture) async throws {
        let logger = Logger(label: "dead-relay")
        let database = f.cluster.membershipDatabase.database
        var configuration = WireClient.Configuration()
        configuration.defaultTimeout = .seconds(2)
        configuration.connectTimeout = .milliseconds(500)
        let nowhere = try WireClient(service: .content, endpoints: [WireEndpoint(host: "127.0.0.1", port: 9)],
                                     tls: try f.cluster.certificates.tls(for: .membership), configuration: configuration, logger: logger)
        let relay = OutboxRelay(source: .membership, database: database, subscribers: [.init(name: .auth, client: nowhere)],
                                clock: f.clock, maximumAttempts: 3, logger: logger)
        try await f.pay(UserID("member-0001"))  // membership writes events to its outbox
        for _ in 0..<3 {
            #expect(try await relay.deliverDue() == 0)
            f.clock.advance(by: OutboxRelay.maximumBackoff + 1)
        }
        // The oldest event failed three times (each pass stops at its failure): dead, and not due
        // any more however long one waits, while the events behind it still are.
        f.clock.advance(by: 86_400)
        let due = try await Outbox.due(database, subscriber: "auth", topics: nil, now: f.now, limit: 100).map(\.id)
        // The operator sees it over the wire with the cli certificate (and nobody else does).
        let cli = try WireClient(service: .membership, endpoints: [WireEndpoint(host: "127.0.0.1", port: f.cluster.membershipServer.port)],
                                 tls: try f.cluster.certificates.tls(for: .cli), logger: logger)
        let gateway = try WireClient(service: .membership, endpoints: [WireEndpoint(host: "127.0.0.1", port: f.cluster.membershipServer.port)],
                                     tls: try f.cluster.certificates.tls(for: .gateway), logger: logger)
        let dead = try await cli.call(OpsAPI.listDeadLetters(.membership), OpsListDeadLettersRequest()).deadLetters
        #expect(dead.count == 1)
        let one = try #require(dead.first)
        #expect(one.kind == "outbox_delivery" && one.attempts == 3 && one.id.hasSuffix("/auth"))
        let event = String(one.id.dropLast("/auth".count))
        #expect(!due.contains(event) && !due.isEmpty)
        #expect(await thrownError { _ = try await gateway.call(OpsAPI.listDeadLetters(.membership), OpsListDeadLettersRequest()) }?.code == .permissionDenied)
        // Retried: due again at once, with a fresh allowance.
        #expect(try await cli.call(OpsAPI.retryDeadLetter(.membership), .with { $0.kind = one.kind; $0.id = one.id }).retried == 1)
        #expect(try await Outbox.due(database, subscriber: "auth", topics: nil, now: f.now, limit: 100).map(\.id).contains(event))
        #expect(try await Outbox.deliveryState(database, event: event, subscriber: "auth").attempts == 0)
        #expect(try await cli.call(OpsAPI.listDeadLetters(.membership), OpsListDeadLettersRequest()).deadLetters.isEmpty)
        await cli.close()
        await gateway.close()
        await nowhere.close()
    }
}

@Suite("Retry bounds on SQLite", .serialized)
struct RetryBoundsOnSQLite {
    @Test("scenario", arguments: RetryBoundScenarios.names)
    func scenario(_ name: String) async throws { try await RetryBoundScenarios.run(name, on: .sqlite) }
}

@Suite("Retry bounds on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct RetryBoundsOnPostgreSQL {
    @Test("scenario", arguments: RetryBoundScenarios.names)
    func scenario(_ name: String) async throws { try await RetryBoundScenarios.run(name, on: .postgres) }
}
