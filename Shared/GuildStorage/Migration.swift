import Foundation
import GuildCore
import Logging
import SQLKit

/// One versioned step of a service's schema. Versions start at 1 and never change meaning once
/// released; a later change is a new migration.
public struct Migration: Sendable {
    public let version: Int
    public let name: String
    /// Applies the step inside a transaction.
    public let apply: @Sendable (any SQLDatabase, SQLDialectKind) async throws -> Void

    public init(version: Int, name: String, apply: @escaping @Sendable (any SQLDatabase, SQLDialectKind) async throws -> Void) {
        self.version = version
        self.name = name
        self.apply = apply
    }

    /// A step made of plain SQL statements that both SQLite and PostgreSQL accept.
    public init(version: Int, name: String, statements: [String]) {
        self.init(version: version, name: name) { _ in statements }
    }

    /// A step whose statements depend on the dialect (for example ``SQLDialectKind/bytesType``).
    public init(version: Int, name: String, statements: @escaping @Sendable (SQLDialectKind) -> [String]) {
        self.init(version: version, name: name) { sql, dialect in
            for statement in statements(dialect) {
                try await sql.raw(SQLQueryString(statement)).run()
            }
        }
    }
}

/// Applies migrations in order, each in its own transaction, recording them in
/// `guild_migrations`. Safe to run from several replicas at once on PostgreSQL (an advisory lock
/// serializes them); a database newer than the code is refused.
public enum Migrator {
    /// Applies every migration not yet applied. Returns the versions applied now.
    @discardableResult
    public static func migrate(_ database: Database, migrations: [Migration], logger: Logger) async throws -> [Int] {
        let sorted = migrations.sorted { $0.version < $1.version }
        for (index, migration) in sorted.enumerated() where migration.version != index + 1 {
            throw GuildError(.internal, "Migration versions must be 1, 2, 3, ...; found \(migration.version) at position \(index + 1).")
        }
        try await database.withConnection { sql in
            try await sql.raw("""
                CREATE TABLE IF NOT EXISTS guild_migrations (
                    version BIGINT PRIMARY KEY,
                    name TEXT NOT NULL,
                    applied_at_ms BIGINT NOT NULL
                )
                """).run()
        }
        var applied: [Int] = []
        for migration in sorted {
            let didApply = try await database.transaction { sql in
                if database.dialect == .postgres {
                    try await sql.raw("SELECT pg_advisory_xact_lock(7100432)").run()
                }
                let rows = try await sql.raw("SELECT version FROM guild_migrations WHERE version = \(bind: migration.version)").all()
                guard rows.isEmpty else { return false }
                try await migration.apply(sql, database.dialect)
                let now = Int64(Date().timeIntervalSince1970 * 1000)
                try await sql.raw("INSERT INTO guild_migrations (version, name, applied_at_ms) VALUES (\(bind: migration.version), \(bind: migration.name), \(bind: now))").run()
                return true
            }
            if didApply {
                logger.info("applied migration", metadata: ["version": "\(migration.version)", "name": "\(migration.name)"])
                applied.append(migration.version)
            }
        }
        let newest = try await database.withConnection { sql in
            try await sql.raw("SELECT MAX(version) AS v FROM guild_migrations").first()?.decode(column: "v", as: Int?.self)
        }
        try refuseNewer(newest, known: sorted.count)
        return applied
    }

    /// The migrations of `migrations` not yet applied to `database` (all of them for a new one),
    /// without applying anything; throws when the database is newer than `migrations`.
    public static func pending(_ database: Database, migrations: [Migration]) async throws -> [Migration] {
        let exists = try await database.withConnection { sql in
            let query: SQLQueryString = database.dialect == .sqlite
                ? "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'guild_migrations'"
                : "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = 'guild_migrations'"
            return try await sql.raw(query).first()?.decode(column: "n", as: Int.self) ?? 0 > 0
        }
        let applied = Set(exists ? try await appliedVersions(database) : [])
        try refuseNewer(applied.max(), known: migrations.count)
        return migrations.filter { !applied.contains($0.version) }.sorted { $0.version < $1.version }
    }

    /// A database at a schema version this build does not know is refused.
    private static func refuseNewer(_ newest: Int?, known: Int) throws {
        if let newest, newest > known {
            throw GuildError(.failedPrecondition, "The database is at schema version \(newest), newer than this build knows (\(known)). Run a newer build.")
        }
    }

    /// The versions recorded as applied.
    public static func appliedVersions(_ database: Database) async throws -> [Int] {
        try await database.withConnection { sql in
            try await sql.raw("SELECT version FROM guild_migrations ORDER BY version").all().map { try $0.decode(column: "version", as: Int.self) }
        }
    }
}
