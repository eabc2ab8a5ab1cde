import Foundation
import GuildCore
import GuildTesting
import Testing

@testable import GuildContent

/// The rules of the interaction features (paid questions, bookings, challenges, lotteries,
/// events, review tasks), each a scenario run on SQLite and on PostgreSQL. Each feature's
/// scenarios live in their own file (`InteractionScenarios+<Feature>.swift`).
enum InteractionScenarios {
    typealias Scenario = @Sendable (ContentFixture) async throws -> Void

    static let all: [String: Scenario] = [questionScenarios, bookingScenarios, challengeScenarios, lotteryScenarios, eventScenarios, reviewScenarios]
        .reduce(into: [:]) { all, part in all.merge(part) { first, _ in first } }
    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await ContentFixture.with(kind) { fixture in try await all[name]!(fixture) }
    }
}

@Suite("Interaction on SQLite", .serialized)
struct InteractionSQLiteTests {
    @Test("scenario", arguments: InteractionScenarios.names)
    func scenario(_ name: String) async throws {
        try await InteractionScenarios.run(name, on: .sqlite)
    }
}

@Suite("Interaction on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct InteractionPostgresTests {
    @Test("scenario", arguments: InteractionScenarios.names)
    func scenario(_ name: String) async throws {
        try await InteractionScenarios.run(name, on: .postgres)
    }
}
