import Crypto
import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import JWTKit
import SQLKit

/// The Ed25519 keys that sign access tokens, kept in the auth database with their private half
/// sealed by the ``SealingKey`` (a copy of the database alone signs nothing).
///
/// One key is active (signs new tokens). Rotation retires it and makes a new one; a retired key's
/// private half is erased at once (it never signs again), its public half still published, so
/// tokens it signed keep verifying, until the longest access token it could have signed has
/// expired; the sweep then deletes it.
struct SigningKeys: Sendable {
    struct Key: Sendable {
        let kid: String
        let privateKey: Curve25519.Signing.PrivateKey
        let createdAt: Date
        let retiredAt: Date?
    }

    let database: Database
    let clock: any WallClock
    let accessTokenLifetime: Duration
    let keyEncryptionKey: SealingKey

    /// The active key, creating the first one when there is none, and rotating it when it is
    /// older than `rotation`. The usual case is a plain read; only creating or rotating a key
    /// takes a write transaction, which holds the keys' lock and checks again, so that
    /// concurrent callers, replicas starting together on an empty database among them, make one key.
    func activeKey(rotation: Duration?) async throws -> Key {
        let now = clock.now()
        @Sendable func usable(_ key: Key?) -> Key? {
            guard let key else { return nil }
            guard let rotation else { return key }
            return now.timeIntervalSince(key.createdAt) < rotation.timeInterval ? key : nil
        }
        if let key = usable(try await database.withConnection({ sql in try await self.currentKey(sql: sql) })) {
            return key
        }
        return try await database.transaction { sql in
            try await self.lock(sql)
            if let key = usable(try await self.currentKey(sql: sql)) { return key }
            return try await self.rotate(sql: sql, now: now).key
        }
    }

    private func currentKey(sql: any SQLDatabase) async throws -> Key? {
        try await sql.raw("SELECT kid, private_key, created_at_ms, retired_at_ms FROM signing_keys WHERE retired_at_ms IS NULL ORDER BY created_at_ms DESC LIMIT 1")
            .first()
            .map(key(from:))
    }

    /// Retires the active key and makes a new one. Returns the new key and the retired one's id.
    @discardableResult
    func rotate() async throws -> (key: Key, retired: String?) {
        let now = clock.now()
        return try await database.transaction { sql in
            try await self.lock(sql)
            return try await self.rotate(sql: sql, now: now)
        }
    }

    /// Serializes the transactions that make keys across replicas. PostgreSQL's default isolation
    /// would let two of them both find no active key and both make one; SQLite's write
    /// transactions are serialized already (and one process owns the file).
    private func lock(_ sql: any SQLDatabase) async throws {
        if database.dialect == .postgres {
            try await sql.raw("SELECT pg_advisory_xact_lock(7100433)").run()
        }
    }

    private func rotate(sql: any SQLDatabase, now: Date) async throws -> (key: Key, retired: String?) {
        let nowMs = Int64(now.timeIntervalSince1970 * 1000)
        // A retired key never signs again: its private half goes at once.
        let retired = try await sql.raw("""
            UPDATE signing_keys SET retired_at_ms = \(bind: nowMs), private_key = '' WHERE retired_at_ms IS NULL RETURNING kid
            """).all().first.map { try $0.decode(column: "kid", as: String.self) }
        let privateKey = Curve25519.Signing.PrivateKey()
        let kid = Identifier.make(at: now)
        try await sql.raw("""
            INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at_ms, retired_at_ms)
            VALUES (\(bind: kid), 'EdDSA', \(bind: try keyEncryptionKey.seal(privateKey.rawRepresentation, kid: kid)),
                    \(bind: privateKey.publicKey.rawRepresentation.base64EncodedString()), \(bind: nowMs), NULL)
            """).run()
        return (Key(kid: kid, privateKey: privateKey, createdAt: now, retiredAt: nil), retired)
    }

    /// Seals any private key an earlier version stored in the clear (the active one), and
    /// erases those of retired keys. Returns how many rows changed.
    @discardableResult
    func sealLegacyKeys() async throws -> Int {
        try await database.transaction { sql in
            var changed = 0
            for row in try await sql.raw("SELECT kid, private_key, retired_at_ms FROM signing_keys WHERE private_key <> ''").all() {
                let kid = try row.decode(column: "kid", as: String.self)
                let stored = try row.decode(column: "private_key", as: String.self)
                guard !SealingKey.isSealed(stored) else { continue }
                if try row.decode(column: "retired_at_ms", as: Int64?.self) != nil {
                    try await sql.raw("UPDATE signing_keys SET private_key = '' WHERE kid = \(bind: kid)").run()
                } else {
                    guard let bytes = Data(base64Encoded: stored) else { throw GuildError(.internal, "A stored signing key is corrupt.") }
                    try await sql.raw("UPDATE signing_keys SET private_key = \(bind: try self.keyEncryptionKey.seal(bytes, kid: kid)) WHERE kid = \(bind: kid)").run()
                }
                changed += 1
            }
            return changed
        }
    }

    /// Deletes keys retired so long ago that no token they signed can still be valid (they are
    /// no longer published). Returns how many.
    @discardableResult
    func deleteExpiredKeys() async throws -> Int {
        let cutoff = clock.now().millisecondsSince1970 - accessTokenLifetime.wholeMilliseconds
        return try await database.withConnection { sql in
            try await sql.raw("DELETE FROM signing_keys WHERE retired_at_ms IS NOT NULL AND retired_at_ms <= \(bind: cutoff) RETURNING kid").all().count
        }
    }

    /// Every key a verifier needs now: the active one and retired ones whose tokens may still be valid.
    func publishedKeys() async throws -> [AuthPublicKey] {
        let now = clock.now()
        let lifetimeMs = accessTokenLifetime.wholeMilliseconds
        let oldestUseful = Int64(now.timeIntervalSince1970 * 1000) - lifetimeMs
        let rows = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT kid, public_key, created_at_ms, retired_at_ms FROM signing_keys
                WHERE retired_at_ms IS NULL OR retired_at_ms > \(bind: oldestUseful)
                ORDER BY created_at_ms
                """).all()
        }
        return try rows.map { row in
            var key = AuthPublicKey()
            key.kid = try row.decode(column: "kid", as: String.self)
            key.algorithm = "EdDSA"
            key.publicKey = Data(base64Encoded: try row.decode(column: "public_key", as: String.self)) ?? Data()
            key.createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
            if let retired = try row.decode(column: "retired_at_ms", as: Int64?.self) {
                key.retiredAtMs = retired
                key.validUntilMs = retired + lifetimeMs
            }
            return key
        }
    }

    private func key(from row: any SQLRow) throws -> Key {
        let kid = try row.decode(column: "kid", as: String.self)
        let bytes: Data
        do {
            bytes = try keyEncryptionKey.open(try row.decode(column: "private_key", as: String.self), kid: kid)
        } catch let error as GuildError where error.reason == "wrong_sealing_key" {
            throw GuildError(.failedPrecondition,
                             "The signing keys in this database were sealed with another key-encryption key; give guild-auth the one it was started with.",
                             reason: "wrong_key_encryption_key")
        }
        let retired = try row.decode(column: "retired_at_ms", as: Int64?.self)
        return Key(
            kid: kid,
            privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: bytes),
            createdAt: Date(timeIntervalSince1970: Double(try row.decode(column: "created_at_ms", as: Int64.self)) / 1000),
            retiredAt: retired.map { Date(timeIntervalSince1970: Double($0) / 1000) }
        )
    }
}
