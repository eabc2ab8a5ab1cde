import Foundation
import GuildCore
import SQLKit

/// The bound every retry loop of a service puts on one unit of its work (a redemption to
/// deliver, a question's money to move, a commission to post): failures are counted with an
/// exponential backoff between tries, and after ``maximumAttempts`` the unit is *dead*: no loop
/// takes it again until an operator, having seen it (`guild dead-letters list`), retries it
/// (`guild dead-letters retry`). A unit with no row has never failed. Rows are keyed by
/// (kind, id); the loops decide what a kind means and what giving up does.
public enum WorkAttempts {
    /// The table, created by one of the service's migrations.
    public static let createTable = """
        CREATE TABLE work_attempts (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            attempts INTEGER NOT NULL,
            next_attempt_at_ms BIGINT NOT NULL,
            last_error TEXT NOT NULL,
            dead_at_ms BIGINT,
            PRIMARY KEY (kind, id)
        )
        """

    /// Failures before a unit is dead: about six hours of tries with the backoff below.
    public static let maximumAttempts = 12
    /// The first retry waits this long; each later one twice as long, at most ``maximumBackoff``.
    public static let firstBackoff: TimeInterval = 30
    public static let maximumBackoff: TimeInterval = 3_600

    /// Seconds before the next try after `attempts` failures, with up to 20 % jitter.
    public static func backoff(afterAttempts attempts: Int) -> TimeInterval {
        min(maximumBackoff, firstBackoff * pow(2, Double(max(0, attempts - 1)))) * Double.random(in: 0.8...1.0)
    }

    /// Which units of `kind` have failed before: those a loop must leave alone now (dead, or
    /// their backoff not run out), and every one with failures (to clear after a success).
    public static func states(_ database: Database, kind: String, now: Date) async throws -> (resting: Set<String>, failing: Set<String>) {
        try await database.withConnection { sql in
            var resting: Set<String> = [], failing: Set<String> = []
            for row in try await sql.raw("SELECT id, next_attempt_at_ms, dead_at_ms FROM work_attempts WHERE kind = \(bind: kind)").all() {
                let id = try row.decode(column: "id", as: String.self)
                failing.insert(id)
                if try row.decode(column: "dead_at_ms", as: Int64?.self) != nil || row.decode(column: "next_attempt_at_ms", as: Int64.self) > now.millisecondsSince1970 {
                    resting.insert(id)
                }
            }
            return (resting, failing)
        }
    }

    /// Records a failed try. Returns the attempts so far and whether that was the last one the
    /// bound allows (the caller may then give up its own way; the unit is marked dead unless
    /// the caller clears it with ``succeeded(_:kind:id:)``).
    @discardableResult
    public static func failed(
        _ database: Database, kind: String, id: String, error: any Error, now: Date, maximum: Int = maximumAttempts
    ) async throws -> (attempts: Int, isLast: Bool) {
        let message = String(String(describing: error).prefix(500))
        return try await database.withConnection { sql in
            let attempts = try await sql.raw("""
                INSERT INTO work_attempts (kind, id, attempts, next_attempt_at_ms, last_error, dead_at_ms)
                VALUES (\(bind: kind), \(bind: id), 1, \(bind: now.addingTimeInterval(backoff(afterAttempts: 1)).millisecondsSince1970), \(bind: message), NULL)
                ON CONFLICT (kind, id) DO UPDATE SET attempts = work_attempts.attempts + 1, last_error = excluded.last_error
                RETURNING attempts
                """).first()?.decode(column: "attempts", as: Int.self) ?? 1
            let isLast = attempts >= maximum
            try await sql.raw("""
                UPDATE work_attempts SET next_attempt_at_ms = \(bind: now.addingTimeInterval(backoff(afterAttempts: attempts)).millisecondsSince1970),
                       dead_at_ms = \(bind: isLast ? now.millisecondsSince1970 : nil)
                WHERE kind = \(bind: kind) AND id = \(bind: id)
                """).run()
            return (attempts, isLast)
        }
    }

    /// The unit is done (or given up on for good): its failures are forgotten.
    public static func succeeded(_ database: Database, kind: String, id: String) async throws {
        try await database.withConnection { sql in
            try await sql.raw("DELETE FROM work_attempts WHERE kind = \(bind: kind) AND id = \(bind: id)").run()
        }
    }

    /// One dead unit.
    public struct Dead: Sendable, Equatable {
        public let kind: String
        public let id: String
        public let attempts: Int
        public let lastError: String
        public let deadAtMs: Int64
    }

    /// The dead units, oldest first.
    public static func dead(_ database: Database, limit: Int) async throws -> [Dead] {
        try await database.withConnection { sql in
            try await sql.raw("""
                SELECT * FROM work_attempts WHERE dead_at_ms IS NOT NULL ORDER BY dead_at_ms, kind, id LIMIT \(bind: limit)
                """).all().map { row in
                Dead(kind: try row.decode(column: "kind", as: String.self), id: try row.decode(column: "id", as: String.self),
                     attempts: try row.decode(column: "attempts", as: Int.self), lastError: try row.decode(column: "last_error", as: String.self),
                     deadAtMs: try row.decode(column: "dead_at_ms", as: Int64.self))
            }
        }
    }

    /// Makes dead units of `kind` (one, or every one when `id` is nil) due at once with a fresh
    /// allowance of attempts. Returns how many.
    @discardableResult
    public static func retry(_ database: Database, kind: String, id: String?) async throws -> Int {
        try await database.withConnection { sql in
            var query: SQLQueryString = "DELETE FROM work_attempts WHERE dead_at_ms IS NOT NULL AND kind = \(bind: kind)"
            if let id { query.appendLiteral(" AND id = "); query.appendInterpolation(bind: id) }
            query.appendLiteral(" RETURNING id")
            return try await sql.raw(query).all().count
        }
    }
}
