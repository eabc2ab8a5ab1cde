import Foundation
import GuildCore
import GuildStorage
import Logging
import SQLKit

/// A throwaway database for a test: a new SQLite file in a temporary directory, or a new
/// database created on the PostgreSQL server named by `GUILD_TEST_POSTGRES_URL` and dropped
/// afterwards.
public enum TestDatabaseKind: String, Sendable, CaseIterable, CustomStringConvertible {
    case sqlite
    case postgres

    /// The PostgreSQL server tests may use (`GUILD_TEST_POSTGRES_URL`), if any.
    public static var postgresURL: String? { ProcessInfo.processInfo.environment["GUILD_TEST_POSTGRES_URL"].flatMap { $0.isEmpty ? nil : $0 } }

    /// True when PostgreSQL tests can run.
    public static var isPostgresConfigured: Bool { postgresURL != nil }

    /// The stores tests can run on here: SQLite, and PostgreSQL when it is configured. For
    /// parameterized tests (`@Test(arguments: TestDatabaseKind.available)`).
    public static var available: [TestDatabaseKind] { isPostgresConfigured ? [.sqlite, .postgres] : [.sqlite] }

    /// Why PostgreSQL tests are skipped.
    public static let postgresSkipReason = "PostgreSQL tests skipped: set GUILD_TEST_POSTGRES_URL (CI does) to run them"

    public var description: String { rawValue }
}

/// A running throwaway database; call ``drop()`` when done.
public final class TestDatabase: Sendable {
    public let kind: TestDatabaseKind
    public let database: Database
    public let url: String
    private let runner: Task<Void, any Error>
    private let cleanup: @Sendable () async -> Void

    private init(kind: TestDatabaseKind, database: Database, url: String, cleanup: @escaping @Sendable () async -> Void) {
        self.kind = kind
        self.database = database
        self.url = url
        self.runner = Task { try await database.run() }
        self.cleanup = cleanup
    }

    /// Creates a fresh, empty database of `kind` (SQLite under `directory`).
    public static func create(_ kind: TestDatabaseKind, directory: URL, logger: Logger = Logger(label: "test-db")) async throws -> TestDatabase {
        switch kind {
        case .sqlite:
            let path = directory.appendingPathComponent("test-\(Identifier.make()).sqlite").path
            let url = "sqlite:" + path
            let database = try await Database.open(try DatabaseConfiguration(url: url), logger: logger)
            return TestDatabase(kind: kind, database: database, url: url) {}
        case .postgres:
            guard let serverURL = TestDatabaseKind.postgresURL else {
                throw GuildError(.failedPrecondition, TestDatabaseKind.postgresSkipReason)
            }
            let name = "guild_test_" + Identifier.make().replacingOccurrences(of: "-", with: "")
            let admin = try await Database.open(try DatabaseConfiguration(url: serverURL), logger: logger)
            let adminRunner = Task { try await admin.run() }
            try await admin.withConnection { sql in try await sql.raw("CREATE DATABASE \(unsafeRaw: name)").run() }
            var components = URLComponents(string: serverURL)!
            components.path = "/" + name
            let url = components.string!
            let database = try await Database.open(try DatabaseConfiguration(url: url), logger: logger)
            return TestDatabase(kind: kind, database: database, url: url) {
                try? await admin.withConnection { sql in try await sql.raw("DROP DATABASE IF EXISTS \(unsafeRaw: name) WITH (FORCE)").run() }
                adminRunner.cancel()
            }
        }
    }

    /// Closes and deletes the database.
    public func drop() async {
        runner.cancel()
        await database.close()
        _ = await runner.result
        await cleanup()
    }
}

/// A temporary directory removed by ``remove()``.
public struct TemporaryDirectory: Sendable {
    public let url: URL

    public init(prefix: String = "guild-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(Identifier.make())")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    public func remove() {
        try? FileManager.default.removeItem(at: url)
    }
}
