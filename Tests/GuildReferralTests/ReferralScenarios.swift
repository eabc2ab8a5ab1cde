import Foundation
import GuildCore
import GuildTesting
import Testing

@testable import GuildReferral

/// The rules of referral (attribution, commissions, fraud checks, points, levels, redemption,
/// leaderboards, funnel figures), each a scenario run on SQLite and on PostgreSQL. Each part's
/// scenarios live in their own file (`ReferralScenarios+<Part>.swift`).
enum ReferralScenarios {
    typealias Scenario = @Sendable (ReferralFixture) async throws -> Void

    static let all: [String: Scenario] = [clusterScenarios, attributionScenarios, pointsScenarios]
        .reduce(into: [:]) { all, part in all.merge(part) { first, _ in first } }
    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await ReferralFixture.with(kind) { fixture in try await all[name]!(fixture) }
    }

    static let clusterScenarios: [String: Scenario] = [
        "a member pays and the ledger holds": { fixture in
            try await fixture.pay(UserID("member-0001"))
            try await fixture.expectLedgerBalanced()
        },
    ]
}

@Suite("Referral on SQLite", .serialized)
struct ReferralSQLiteTests {
    @Test("scenario", arguments: ReferralScenarios.names)
    func scenario(_ name: String) async throws {
        try await ReferralScenarios.run(name, on: .sqlite)
    }
}

@Suite("Referral on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct ReferralPostgresTests {
    @Test("scenario", arguments: ReferralScenarios.names)
    func scenario(_ name: String) async throws {
        try await ReferralScenarios.run(name, on: .postgres)
    }
}
