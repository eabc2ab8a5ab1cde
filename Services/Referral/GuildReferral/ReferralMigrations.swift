import GuildStorage

/// The schema of `guild-referral`. Instants are milliseconds since 1970 (UTC).
enum ReferralMigrations {
    static let all: [Migration] = [
        Migration(version: 1, name: "outbox, inbox, idempotency keys") { dialect in
            Outbox.createTables(dialect) + [Inbox.createTable, IdempotencyKeys.createTable(dialect)]
        },
        attribution,
        points,
    ]
}
