import GuildStorage

/// The schema of `guild-referral`. Instants are milliseconds since 1970 (UTC).
public enum ReferralMigrations {
    public static let all: [Migration] = [
        Migration(version: 1, name: "outbox, inbox, idempotency keys") { dialect in
            Outbox.createTables(dialect) + [Inbox.createTable, IdempotencyKeys.createTable(dialect)]
        },
        attribution,
        points,
        // A row per community whose settings an owner edits: the row those edits lock, so two
        // edits of the points rules or the ladder at once apply one after the other.
        Migration(version: 4, name: "community edit locks", statements: [
            "CREATE TABLE community_edits (community_id TEXT PRIMARY KEY, created_at_ms BIGINT NOT NULL)",
        ]),
        // Retry loops give up after a bound; what they gave up on waits for an operator.
        Migration(version: 5, name: "dead letters", statements: DeadLetterOffice.migrationStatements),
        // An event carries the request id and trace context of the request that wrote it;
        // periodic jobs take a lease so that one replica at a time runs each.
        Migration(version: 6, name: "event trace context, job leases", statements: Outbox.traceColumns + [JobLease.createTable]),
    ]
}
