import Foundation
import GuildCore
import GuildStorage
import SQLKit

/// Counts failed sign-ins per account and per client address in the database (so every replica
/// sees the same counts). Past a limit within the window the key is locked for the lockout time,
/// and sign-ins for it are refused before any password is hashed.
struct LoginThrottle: Sendable {
    struct Key: Sendable, Hashable {
        let value: String
        let limit: Int
    }

    let database: Database
    let clock: any WallClock
    let configuration: AuthConfiguration

    static func keys(email: String, clientAddress: String?) -> [String] {
        var keys = ["account:" + email]
        if let address = clientAddress, !address.isEmpty { keys.append("address:" + address) }
        return keys
    }

    private func limit(for key: String) -> Int {
        key.hasPrefix("account:") ? configuration.maxFailuresPerAccount : configuration.maxFailuresPerAddress
    }

    /// Throws `resourceExhausted` (reason `too_many_attempts`) while any key is locked.
    func check(_ keys: [String]) async throws {
        let nowMs = clock.now().millisecondsSince1970
        let lockedUntil = try await database.withConnection { sql in
            var latest: Int64 = 0
            for key in keys {
                if let row = try await sql.raw("SELECT locked_until_ms FROM login_throttle WHERE throttle_key = \(bind: key)").first() {
                    latest = max(latest, try row.decode(column: "locked_until_ms", as: Int64.self))
                }
            }
            return latest
        }
        if lockedUntil > nowMs {
            let seconds = UInt32(clamping: (lockedUntil - nowMs + 999) / 1000)
            throw GuildError(.resourceExhausted, "Too many failed sign-in attempts. Try again in \(seconds) seconds.",
                             retryAfterSeconds: seconds, reason: "too_many_attempts")
        }
    }

    /// Counts one failure against every key, locking those that reach their limit.
    func recordFailure(_ keys: [String]) async throws {
        let nowMs = clock.now().millisecondsSince1970
        let windowMs = configuration.throttleWindow.wholeMilliseconds
        let lockoutMs = configuration.lockout.wholeMilliseconds
        try await database.transaction { sql in
            for key in keys {
                let limit = self.limit(for: key)
                var failures: Int64 = 1
                var windowStart = nowMs
                if let row = try await sql.raw("SELECT failures, window_started_at_ms FROM login_throttle WHERE throttle_key = \(bind: key)").first() {
                    let started = try row.decode(column: "window_started_at_ms", as: Int64.self)
                    if nowMs - started < windowMs {
                        failures = try row.decode(column: "failures", as: Int64.self) + 1
                        windowStart = started
                    }
                }
                let lockedUntil = failures >= Int64(limit) ? nowMs + lockoutMs : 0
                // A lock starts a fresh window: after it ends, the count starts again from zero.
                if lockedUntil > 0 { failures = 0; windowStart = nowMs }
                try await sql.raw("""
                    INSERT INTO login_throttle (throttle_key, failures, window_started_at_ms, locked_until_ms)
                    VALUES (\(bind: key), \(bind: failures), \(bind: windowStart), \(bind: lockedUntil))
                    ON CONFLICT (throttle_key) DO UPDATE SET failures = excluded.failures,
                        window_started_at_ms = excluded.window_started_at_ms, locked_until_ms = excluded.locked_until_ms
                    """).run()
            }
        }
    }

    /// A successful sign-in clears the account's count (not the address's: one good password from
    /// an address does not excuse its guesses at other accounts).
    func recordSuccess(_ keys: [String]) async throws {
        guard let account = keys.first(where: { $0.hasPrefix("account:") }) else { return }
        try await database.withConnection { sql in
            try await sql.raw("DELETE FROM login_throttle WHERE throttle_key = \(bind: account)").run()
        }
    }
}
