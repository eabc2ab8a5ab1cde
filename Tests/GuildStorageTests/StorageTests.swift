import Foundation
import GuildCore
import GuildStorage
import GuildTesting
import Logging
import SQLKit
import Testing

/// Storage scenarios, each run against SQLite and (when configured) PostgreSQL.
enum StorageScenarios {
    static let migrations = [
        Migration(version: 1, name: "notes", statements: [
            "CREATE TABLE notes (id TEXT PRIMARY KEY, body TEXT NOT NULL, created_at_ms BIGINT NOT NULL)",
        ]),
        Migration(version: 2, name: "authors", statements: [
            "CREATE TABLE authors (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE)",
            "CREATE TABLE notes_by (note_id TEXT NOT NULL REFERENCES notes(id), author_id TEXT NOT NULL REFERENCES authors(id))",
        ]),
    ]

    static let all: [String: @Sendable (TestDatabase) async throws -> Void] = [
        "migrations apply once, in order, and are recorded": migrationsApplyOnce,
        "a database newer than the code is refused": newerSchemaRefused,
        "a transaction that throws leaves nothing behind": rollback,
        "a unique violation is already_exists": uniqueViolation,
        "foreign keys are enforced": foreignKeys,
        "concurrent transactions do not interleave": concurrentTransactions,
        "pruning the outbox keeps what a subscriber still waits for": outboxPruning,
    ]

    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let database = try await TestDatabase.create(kind, directory: directory.url)
        do {
            try await all[name]!(database)
        } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }

    static let logger = Logger(label: "storage-test")

    static func outboxPruning(_ test: TestDatabase) async throws {
        let db = test.database
        try await db.withConnection { sql in
            for statement in Outbox.createTables(db.dialect) + [Outbox.deadLetterColumn] + Outbox.traceColumns { try await sql.raw(SQLQueryString(statement)).run() }
        }
        let old = Date(timeIntervalSince1970: 1_767_225_600), recent = old.addingTimeInterval(10 * 86_400)
        func append(_ topic: String, at date: Date) async throws -> String {
            try await db.transaction { sql in try await Outbox.append(sql, topic: topic, payload: [1], at: date) }
        }
        func deliver(_ event: String, to subscriber: String, dead: Bool = false) async throws {
            try await Outbox.record(db, event: event, subscriber: subscriber, delivered: !dead, error: dead ? "gone" : "", retryAt: recent, dead: dead, now: recent)
        }
        // content wants every topic, referral only payments.
        let subscribers: [(name: String, topics: Set<String>?)] = [("content", nil), ("referral", ["payment.succeeded"])]
        let both = try await append("payment.succeeded", at: old)
        try await deliver(both, to: "content"); try await deliver(both, to: "referral")
        let contentOnly = try await append("community.created", at: old)
        try await deliver(contentOnly, to: "content")
        let waitingForReferral = try await append("payment.succeeded", at: old)
        try await deliver(waitingForReferral, to: "content")
        let deadForContent = try await append("community.created", at: old)
        try await deliver(deadForContent, to: "content", dead: true)
        let young = try await append("community.created", at: recent)
        try await deliver(young, to: "content")
        #expect(try await Outbox.prune(db, subscribers: subscribers, before: recent.addingTimeInterval(-86_400), limit: 1) == 1)
        #expect(try await Outbox.prune(db, subscribers: subscribers, before: recent.addingTimeInterval(-86_400), limit: 100) == 1)
        #expect(try await Outbox.prune(db, subscribers: subscribers, before: recent.addingTimeInterval(-86_400), limit: 100) == 0)
        let kept = try await db.withConnection { sql in
            try await sql.raw("SELECT id FROM outbox_events ORDER BY seq").all().map { try $0.decode(column: "id", as: String.self) }
        }
        #expect(kept == [waitingForReferral, deadForContent, young])
        let deliveries = try await db.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM outbox_deliveries WHERE event_id IN (\(binds: [both, contentOnly]))").first()!.decode(column: "n", as: Int.self)
        }
        #expect(deliveries == 0)
    }

    static func migrationsApplyOnce(_ test: TestDatabase) async throws {
        let db = test.database
        #expect(try await Migrator.migrate(db, migrations: [migrations[0]], logger: logger) == [1])
        #expect(try await Migrator.migrate(db, migrations: migrations, logger: logger) == [2])
        #expect(try await Migrator.migrate(db, migrations: migrations, logger: logger) == [])
        #expect(try await Migrator.appliedVersions(db) == [1, 2])
        try await db.withConnection { sql in
            try await sql.raw("INSERT INTO authors (id, name) VALUES ('a1', 'Ada')").run()
        }
    }

    static func newerSchemaRefused(_ test: TestDatabase) async throws {
        let db = test.database
        try await Migrator.migrate(db, migrations: migrations, logger: logger)
        let error = await thrownError { try await Migrator.migrate(db, migrations: [migrations[0]], logger: logger) }
        #expect(error?.code == .failedPrecondition)
    }

    static func rollback(_ test: TestDatabase) async throws {
        let db = test.database
        try await Migrator.migrate(db, migrations: migrations, logger: logger)
        struct Boom: Error {}
        await #expect(throws: Boom.self) {
            try await db.transaction { sql in
                try await sql.raw("INSERT INTO notes (id, body, created_at_ms) VALUES ('n1', 'x', 1)").run()
                throw Boom()
            }
        }
        let count = try await db.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS c FROM notes").first()!.decode(column: "c", as: Int.self)
        }
        #expect(count == 0)
    }

    static func uniqueViolation(_ test: TestDatabase) async throws {
        let db = test.database
        try await Migrator.migrate(db, migrations: migrations, logger: logger)
        try await db.withConnection { sql in try await sql.raw("INSERT INTO authors (id, name) VALUES ('a1', 'Ada')").run() }
        let error = await thrownError {
            try await db.withConnection { sql in try await sql.raw("INSERT INTO authors (id, name) VALUES ('a2', 'Ada')").run() }
        }
        #expect(error?.code == .alreadyExists)
    }

    static func foreignKeys(_ test: TestDatabase) async throws {
        let db = test.database
        try await Migrator.migrate(db, migrations: migrations, logger: logger)
        let error = await thrownError {
            try await db.withConnection { sql in try await sql.raw("INSERT INTO notes_by (note_id, author_id) VALUES ('nope', 'nope')").run() }
        }
        #expect(error != nil)
    }

    static func concurrentTransactions(_ test: TestDatabase) async throws {
        let db = test.database
        try await Migrator.migrate(db, migrations: migrations, logger: logger)
        try await db.withConnection { sql in
            try await sql.raw("CREATE TABLE counter (id INTEGER PRIMARY KEY, value BIGINT NOT NULL)").run()
            try await sql.raw("INSERT INTO counter (id, value) VALUES (1, 0)").run()
        }
        // Read-modify-write in transactions: lost updates would show as a total below 40.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<40 {
                group.addTask {
                    try await db.transaction { sql in
                        let lock = db.dialect == .postgres ? " FOR UPDATE" : ""
                        let value = try await sql.raw("SELECT value FROM counter WHERE id = 1\(unsafeRaw: lock)").first()!.decode(column: "value", as: Int.self)
                        try await sql.raw("UPDATE counter SET value = \(bind: value + 1) WHERE id = 1").run()
                    }
                }
            }
            try await group.waitForAll()
        }
        let total = try await db.withConnection { sql in
            try await sql.raw("SELECT value FROM counter WHERE id = 1").first()!.decode(column: "value", as: Int.self)
        }
        #expect(total == 40)
    }
}

@Suite("Storage on SQLite")
struct StorageSQLiteTests {
    @Test("scenario", arguments: StorageScenarios.names)
    func scenario(_ name: String) async throws {
        try await StorageScenarios.run(name, on: .sqlite)
    }

    @Test("the SQLite file is in WAL mode with foreign keys on and a busy timeout")
    func pragmas() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let test = try await TestDatabase.create(.sqlite, directory: directory.url)
        let (journal, foreignKeys, timeout) = try await test.database.withConnection { sql in
            (
                try await sql.raw("PRAGMA journal_mode").first()!.decode(column: "journal_mode", as: String.self),
                try await sql.raw("PRAGMA foreign_keys").first()!.decode(column: "foreign_keys", as: Int.self),
                try await sql.raw("PRAGMA busy_timeout").first()!.decode(column: "timeout", as: Int.self)
            )
        }
        await test.drop()
        #expect(journal == "wal")
        #expect(foreignKeys == 1)
        #expect(timeout == 5000)
    }
}

@Suite("Storage on PostgreSQL", .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct StoragePostgresTests {
    @Test("scenario", arguments: StorageScenarios.names)
    func scenario(_ name: String) async throws {
        try await StorageScenarios.run(name, on: .postgres)
    }
}

@Suite("Database URLs")
struct DatabaseConfigurationTests {
    @Test func sqliteURLs() throws {
        #expect(try DatabaseConfiguration(url: "sqlite:///var/lib/guild/auth.sqlite") == .sqlite(path: "/var/lib/guild/auth.sqlite"))
        #expect(try DatabaseConfiguration(url: "sqlite:data/auth.sqlite") == .sqlite(path: "data/auth.sqlite"))
    }

    @Test func postgresURL() throws {
        let configuration = try DatabaseConfiguration(url: "postgres://guild:s%40cret@db.internal:5433/auth?sslmode=require")
        guard case .postgres(let settings) = configuration else {
            Issue.record("not postgres")
            return
        }
        #expect(settings.host == "db.internal" && settings.port == 5433 && settings.database == "auth")
        #expect(settings.username == "guild" && settings.password == "s@cret" && settings.requireTLS)
        #expect(!configuration.description.contains("cret"))
    }

    @Test(arguments: ["mysql://x", "", "sqlite:", "postgres://"])
    func rejected(_ url: String) {
        #expect(throws: GuildError.self) { try DatabaseConfiguration(url: url) }
    }
}
