import Foundation
import GuildCore
import SQLKit

/// Makes an operation that moves money safe to repeat: the first request with a key runs and
/// its result is stored with a fingerprint of the request; a repeat with the same key and the
/// same request gets the stored result without running again; the same key with a different
/// request is refused (`failedPrecondition`, reason `idempotency_key_reused`).
///
/// The key is claimed in the same transaction as the operation's writes, so a crash leaves
/// either both or neither. Two concurrent requests with one key: the second waits on the
/// key's row (PostgreSQL) or on the write lock (SQLite), then sees the first's result.
public enum IdempotencyKeys {
    /// The table every service that takes idempotency keys creates in one of its migrations.
    public static func createTable(_ dialect: SQLDialectKind) -> String {
        """
        CREATE TABLE idempotency_keys (
            scope TEXT NOT NULL,
            idempotency_key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            result \(dialect.bytesType),
            created_at_ms BIGINT NOT NULL,
            PRIMARY KEY (scope, idempotency_key)
        )
        """
    }

    /// Checks a client-supplied key: 1 to 255 printable ASCII characters.
    public static func validate(_ key: String, field: String = "idempotencyKey") throws {
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (33...126).contains($0) }) else {
            throw GuildError.invalid([.init(field: field, description: "An idempotency key of 1 to 255 printable ASCII characters is required (send the same key to repeat a request safely).")])
        }
    }

    /// Runs `body` in a transaction once per (`scope`, `key`).
    /// - Parameters:
    ///   - scope: whose keys these are (for example the user and the operation), so that two
    ///     users' keys never collide.
    ///   - fingerprint: identifies the request's content (a hash of it); a repeat must match.
    ///   - encode, decode: how the result is stored.
    public static func run<Result: Sendable>(
        _ database: Database,
        scope: String,
        key: String,
        fingerprint: String,
        now: Date,
        encode: @escaping @Sendable (Result) throws -> [UInt8],
        decode: @escaping @Sendable ([UInt8]) throws -> Result,
        body: @escaping @Sendable (any SQLDatabase) async throws -> Result
    ) async throws -> Result {
        try validate(key)
        if let stored = try await database.withConnection({ sql in try await storedResult(sql, scope: scope, key: key) }) {
            return try replay(stored, fingerprint: fingerprint, decode: decode)
        }
        let outcome: Outcome<Result> = try await database.transaction { sql in
            // A concurrent request with the same key: this insert waits for it (PostgreSQL) or
            // runs after it (SQLite), then claims nothing, and its stored result is replayed.
            guard try await sql.raw("""
                INSERT INTO idempotency_keys (scope, idempotency_key, fingerprint, created_at_ms)
                VALUES (\(bind: scope), \(bind: key), \(bind: fingerprint), \(bind: now.millisecondsSince1970))
                ON CONFLICT (scope, idempotency_key) DO NOTHING RETURNING scope
                """).first() != nil
            else {
                guard let stored = try await storedResult(sql, scope: scope, key: key) else {
                    throw GuildError(.aborted, "A request with this idempotency key is still in progress; retry shortly.", retryAfterSeconds: 1, reason: "idempotency_key_in_progress")
                }
                return .replayed(stored)
            }
            let result = try await body(sql)
            try await sql.raw("""
                UPDATE idempotency_keys SET result = \(bind: Data(try encode(result)))
                WHERE scope = \(bind: scope) AND idempotency_key = \(bind: key)
                """).run()
            return .ran(result)
        }
        switch outcome {
        case .ran(let result): return result
        case .replayed(let stored): return try replay(stored, fingerprint: fingerprint, decode: decode)
        }
    }

    private enum Outcome<Result: Sendable>: Sendable {
        case ran(Result)
        case replayed(Stored)
    }

    private struct Stored: Sendable {
        let fingerprint: String
        let result: [UInt8]?
    }

    private static func storedResult(_ sql: any SQLDatabase, scope: String, key: String) async throws -> Stored? {
        guard let row = try await sql.raw("""
            SELECT fingerprint, result FROM idempotency_keys WHERE scope = \(bind: scope) AND idempotency_key = \(bind: key)
            """).first() else { return nil }
        return Stored(
            fingerprint: try row.decode(column: "fingerprint", as: String.self),
            result: try row.decode(column: "result", as: Data?.self).map { Array($0) })
    }

    private static func replay<Result>(_ stored: Stored, fingerprint: String, decode: ([UInt8]) throws -> Result) throws -> Result {
        guard stored.fingerprint == fingerprint else {
            throw GuildError(.failedPrecondition, "This idempotency key was used for a different request; use a new key for a new request.", reason: "idempotency_key_reused")
        }
        guard let result = stored.result else {
            throw GuildError(.aborted, "A request with this idempotency key is still in progress; retry shortly.", retryAfterSeconds: 1, reason: "idempotency_key_in_progress")
        }
        return try decode(result)
    }
}
