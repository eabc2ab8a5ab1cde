import CoreMetrics
import Foundation
import GuildCore
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import PostgresKit
import PostgresNIO
import SQLKit
import SQLiteKit
import SQLiteNIO
import ServiceLifecycle
import Synchronization

/// The SQL dialect a ``Database`` speaks, for the few statements that differ.
public enum SQLDialectKind: Sendable, Equatable {
    case sqlite
    case postgres

    /// The column type for raw bytes.
    public var bytesType: String { self == .sqlite ? "BLOB" : "BYTEA" }
}

/// A service's database: one SQL code path (SQLKit) over SQLite or PostgreSQL.
///
/// SQLite: one connection to a file in WAL mode with foreign keys on and a busy timeout; access is
/// serialized (SQLite has one writer at a time anyway) so a transaction never interleaves with
/// another caller's statements. PostgreSQL: a pool of connections (PostgresNIO's client), which
/// must be run as a service (``run()``).
public final class Database: Service, Sendable {
    public let dialect: SQLDialectKind
    private let backend: Backend
    private let logger: Logger
    private let isClosed = Atomic<Bool>(false)
    private let metrics: PoolMetrics

    /// The pool's use, through swift-metrics: connections held now, the pool's size, and how
    /// long callers waited for a connection (on SQLite: for the one connection's lock).
    private struct PoolMetrics: Sendable {
        let inUse: Meter
        let wait: CoreMetrics.Timer

        init(size: Int, factory: any MetricsFactory) {
            inUse = Meter(label: "guild_db_connections_in_use", dimensions: [], factory: factory)
            wait = CoreMetrics.Timer(label: "guild_db_connection_wait_seconds", dimensions: [], preferredDisplayUnit: .seconds, factory: factory)
            Gauge(label: "guild_db_connections_max", dimensions: [], factory: factory).record(size)
        }
    }

    private enum Backend: Sendable {
        case sqlite(SQLiteConnection, AsyncLock)
        case postgres(PostgresClient)
    }

    private init(dialect: SQLDialectKind, backend: Backend, poolSize: Int, logger: Logger, metrics factory: any MetricsFactory) {
        self.dialect = dialect
        self.backend = backend
        self.logger = logger
        self.metrics = PoolMetrics(size: poolSize, factory: factory)
    }

    /// Opens the database. For PostgreSQL the pool connects lazily once ``run()`` runs.
    public static func open(_ configuration: DatabaseConfiguration, logger: Logger, metrics: any MetricsFactory = MetricsSystem.factory) async throws -> Database {
        switch configuration {
        case .sqlite(let path):
            let url = URL(fileURLWithPath: path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            let connection = try await SQLiteConnection.open(storage: .file(path: url.path), logger: logger)
            let sql = connection.sql()
            do {
                try await sql.raw("PRAGMA journal_mode = WAL").run()
                try await sql.raw("PRAGMA foreign_keys = ON").run()
                try await sql.raw("PRAGMA busy_timeout = 5000").run()
                try await sql.raw("PRAGMA synchronous = NORMAL").run()
            } catch {
                try? await connection.close()
                throw error
            }
            return Database(dialect: .sqlite, backend: .sqlite(connection, AsyncLock()), poolSize: 1, logger: logger, metrics: metrics)
        case .postgres(let settings):
            var config = PostgresClient.Configuration(
                host: settings.host,
                port: settings.port,
                username: settings.username,
                password: settings.password,
                database: settings.database,
                tls: settings.requireTLS ? .require(.makeClientConfiguration()) : .disable
            )
            config.options.maximumConnections = 16
            let client = PostgresClient(configuration: config, backgroundLogger: logger)
            return Database(dialect: .postgres, backend: .postgres(client), poolSize: config.options.maximumConnections, logger: logger, metrics: metrics)
        }
    }

    /// Runs the connection pool (PostgreSQL) until the task is cancelled. SQLite needs nothing in
    /// the background; it returns on graceful shutdown or cancellation.
    public func run() async throws {
        switch backend {
        case .postgres(let client):
            await client.run()
        case .sqlite:
            try? await gracefulShutdown()
        }
    }

    /// Closes the SQLite file (once; later calls do nothing). Call it after everything that uses
    /// the database has stopped. A PostgreSQL pool closes when the task running ``run()`` ends.
    public func close() async {
        guard !isClosed.exchange(true, ordering: .acquiringAndReleasing) else { return }
        if case .sqlite(let connection, _) = backend { try? await connection.close() }
    }

    /// Runs `body` with a database handle to itself (no other caller's statements in between on SQLite).
    public func withConnection<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let asked = ContinuousClock.now
        let metrics = metrics
        @Sendable func holding(_ sql: any SQLDatabase) async throws -> T {
            metrics.wait.recordNanoseconds((ContinuousClock.now - asked).wholeNanoseconds)
            metrics.inUse.increment()
            defer { metrics.inUse.decrement() }
            return try await body(sql)
        }
        do {
            switch backend {
            case .sqlite(let connection, let lock):
                return try await lock.withLock { try await holding(TracedSQLDatabase(base: connection.sql(), system: "sqlite")) }
            case .postgres(let client):
                return try await client.withConnection { connection in try await holding(TracedSQLDatabase(base: connection.sql(), system: "postgresql")) }
            }
        } catch let error as GuildError {
            throw error
        } catch let error as CancellationError {
            throw error
        } catch {
            throw Self.translate(error, logger: logger)
        }
    }

    /// SQLite only: writes a consistent, compacted copy of the database to a new file at `path`
    /// (`VACUUM INTO`: one read transaction's snapshot), while others go on reading and writing.
    public func copy(to path: String) async throws {
        guard dialect == .sqlite else {
            throw GuildError(.failedPrecondition, "Only a SQLite database is copied this way; back PostgreSQL up with pg_dump.")
        }
        try await withConnection { sql in try await sql.raw("VACUUM INTO \(bind: path)").run() }
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    /// On SQLite the transaction starts IMMEDIATE (takes the write lock at once), so two writers
    /// never deadlock upgrading read locks.
    public func transaction<T: Sendable>(_ body: @Sendable (any SQLDatabase) async throws -> T) async throws -> T {
        let begin = dialect == .sqlite ? "BEGIN IMMEDIATE" : "BEGIN"
        return try await withConnection { sql in
            try await sql.raw(SQLQueryString(begin)).run()
            do {
                let result = try await body(sql)
                try await sql.raw("COMMIT").run()
                return result
            } catch {
                try? await sql.raw("ROLLBACK").run()
                throw error
            }
        }
    }

    /// Whether `error` is a unique or primary-key violation, straight from either driver (inside
    /// a transaction's body) or already translated: lets a writer turn "exists already" into
    /// its own answer ("that slot is taken").
    public static func isUniqueViolation(_ error: any Error) -> Bool {
        if let sqlite = error as? SQLiteError {
            return sqlite.reason == .constraintUniqueFailed || sqlite.reason == .constraintPrimaryKeyFailed
        }
        if let psql = error as? PSQLError { return psql.serverInfo?[.sqlState] == "23505" }
        if let guild = error as? GuildError { return guild.code == .alreadyExists && guild.reason == "unique_violation" }
        return false
    }

    /// Maps driver errors to Guild errors: unique violations become `alreadyExists`; the rest
    /// `unavailable` (connection problems) or `internal`.
    static func translate(_ error: any Error, logger: Logger) -> any Error {
        if !(error is GuildError), isUniqueViolation(error) {
            return GuildError(.alreadyExists, "The record exists already.", reason: "unique_violation")
        }
        if let sqlite = error as? SQLiteError {
            if sqlite.reason == .busy || sqlite.reason == .locked {
                return GuildError(.unavailable, "The database is busy; try again.", retryAfterSeconds: 1)
            }
        }
        if let psql = error as? PSQLError {
            // A deadlock or a serialization failure: PostgreSQL rolled one side back; asking again succeeds.
            if let state = psql.serverInfo?[.sqlState], state == "40P01" || state == "40001" {
                return GuildError(.aborted, "The request met a concurrent change; try again.", retryAfterSeconds: 1, reason: "concurrent_change")
            }
            if psql.code == .connectionError || psql.code == .clientClosedConnection || psql.code == .serverClosedConnection {
                return GuildError(.unavailable, "The database is unreachable.", retryAfterSeconds: 1)
            }
        }
        guard error is SQLiteError || error is PSQLError else {
            return error  // the caller's own error, thrown through a transaction: keep it
        }
        logger.error("database error", metadata: ["error": "\(String(reflecting: error))"])
        return GuildError(.internal, "Database error.")
    }
}

/// A mutual-exclusion lock for async code, granting access in arrival order.
final class AsyncLock: Sendable {
    private let state = Mutex(State())

    private struct State {
        var isLocked = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    func withLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLock { state -> Bool in
                if state.isLocked {
                    state.waiters.append(continuation)
                    return false
                }
                state.isLocked = true
                return true
            }
            if acquired { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.isLocked = false
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}
