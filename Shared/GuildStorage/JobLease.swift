import Foundation
import GuildCore
import SQLKit

/// A lease on a periodic job in a service's database: with several replicas of a service over
/// one PostgreSQL database, one replica at a time holds it and runs the job; the others stand
/// by. The holder renews it every few seconds, whatever the job's interval; when the holder
/// dies (or stops renewing), the lease expires and the next replica to ask takes it over, and
/// runs the job when its interval since the last run (by anyone) is over. Each unit of work the job does is then
/// done by one replica, and the units are written to be applied once anyway (their status
/// changes are conditional), so even two holders (one paused past its lease) do nothing twice.
///
/// Leases are kept in real time (not a service's simulated clock, which demos move by days).
public struct JobLease: Sendable {
    /// The table, created by one of each service's migrations.
    public static let createTable = """
        CREATE TABLE job_leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            expires_at_ms BIGINT NOT NULL,
            last_run_at_ms BIGINT NOT NULL DEFAULT 0
        )
        """

    /// This process, as a lease holder: host, process id and a random part.
    public static let processHolder: String = {
        let host = ProcessInfo.processInfo.hostName
        return "\(host.prefix(64))/\(ProcessInfo.processInfo.processIdentifier)/\(Identifier.make().suffix(8))"
    }()

    public let database: Database
    public let name: String
    public let holder: String
    public let duration: Duration

    /// - Parameter duration: how long the lease holds without renewal: how long a dead
    ///   holder's job waits before another replica takes it. Several renewal periods.
    public init(database: Database, name: String, holder: String = JobLease.processHolder, duration: Duration) {
        self.database = database
        self.name = name
        self.holder = holder
        self.duration = duration
    }

    /// Takes or renews the lease: when the job last ran (by any holder, in milliseconds since
    /// 1970; 0 never), or nil when another holder's lease is still running. One statement (an
    /// upsert with a condition), so two replicas asking at once get one answer.
    public func acquire(now: Date = Date()) async throws -> Int64? {
        let nowMs = now.millisecondsSince1970
        let expires = nowMs + duration.wholeMilliseconds
        return try await database.withConnection { sql in
            try await sql.raw("""
                INSERT INTO job_leases (name, holder, expires_at_ms, last_run_at_ms) VALUES (\(bind: name), \(bind: holder), \(bind: expires), 0)
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at_ms = excluded.expires_at_ms
                WHERE job_leases.holder = excluded.holder OR job_leases.expires_at_ms < \(bind: nowMs)
                RETURNING last_run_at_ms
                """).first()?.decode(column: "last_run_at_ms", as: Int64.self)
        }
    }

    /// Records that the holder ran the job at `now`, so that a holder taking over waits for the
    /// job's interval from then rather than running it again at once.
    public func recordRun(now: Date = Date()) async throws {
        try await database.withConnection { sql in
            try await sql.raw("""
                UPDATE job_leases SET last_run_at_ms = \(bind: now.millisecondsSince1970) WHERE name = \(bind: name) AND holder = \(bind: holder)
                """).run()
        }
    }

    /// Gives the lease up (on graceful shutdown), so another replica takes over at once.
    public func release() async throws {
        try await database.withConnection { sql in
            // Expired, not deleted: the time of the last run stays for the next holder.
            try await sql.raw("UPDATE job_leases SET expires_at_ms = 0 WHERE name = \(bind: name) AND holder = \(bind: holder)").run()
        }
    }

    /// Who holds the lease now, and until when (nil: nobody).
    public func current() async throws -> (holder: String, expiresAtMs: Int64)? {
        try await database.withConnection { sql in
            guard let row = try await sql.raw("SELECT holder, expires_at_ms FROM job_leases WHERE name = \(bind: name)").first() else { return nil }
            return (try row.decode(column: "holder", as: String.self), try row.decode(column: "expires_at_ms", as: Int64.self))
        }
    }
}
