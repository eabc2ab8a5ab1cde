import GuildStorage

/// The schema of `guild-auth`. Append new migrations; never edit a released one.
public enum AuthMigrations {
    public static let all: [Migration] = [
        Migration(version: 1, name: "users, refresh tokens, signing keys, login throttle", statements: [
            """
            CREATE TABLE users (
                id TEXT PRIMARY KEY,
                email TEXT NOT NULL UNIQUE,
                display_name TEXT NOT NULL,
                password_hash TEXT NOT NULL,
                roles TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE refresh_tokens (
                id TEXT PRIMARY KEY,
                family_id TEXT NOT NULL,
                user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                token_hash TEXT NOT NULL UNIQUE,
                created_at_ms BIGINT NOT NULL,
                expires_at_ms BIGINT NOT NULL,
                used_at_ms BIGINT,
                revoked_at_ms BIGINT,
                revoked_reason TEXT
            )
            """,
            "CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id)",
            "CREATE INDEX refresh_tokens_user ON refresh_tokens (user_id)",
            """
            CREATE TABLE signing_keys (
                kid TEXT PRIMARY KEY,
                algorithm TEXT NOT NULL,
                private_key TEXT NOT NULL,
                public_key TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                retired_at_ms BIGINT
            )
            """,
            """
            CREATE TABLE login_throttle (
                throttle_key TEXT PRIMARY KEY,
                failures BIGINT NOT NULL,
                window_started_at_ms BIGINT NOT NULL,
                locked_until_ms BIGINT NOT NULL
            )
            """,
        ]),
    ]
}
