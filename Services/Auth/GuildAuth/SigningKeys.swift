import Crypto
import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import JWTKit
import SQLKit

/// The Ed25519 keys that sign access tokens, kept in the auth database.
///
/// One key is active (signs new tokens). Rotation retires it and makes a new one; a retired key is
/// still published, so tokens it signed keep verifying, until the longest access token it could
/// have signed has expired.
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

    /// The active key, creating the first one when there is none, and rotating it when it is
    /// older than `rotation`. The usual case is a plain read; only creating or rotating a key
    /// takes a write transaction (which checks again, so concurrent callers make one key).
    func activeKey(rotation: Duration?) async throws -> Key {
        let now = clock.now()
        @Sendable func usable(_ key: Key?) -> Key? {
            guard let key else { return nil }
            guard let rotation else { return key }
            return now.timeIntervalSince(key.createdAt) < rotation.timeInterval ? key : nil
        }
        if let key = usable(try await database.withConnection({ sql in try await Self.currentKey(sql: sql) })) {
            return key
        }
        return try await database.transaction { sql in
            if let key = usable(try await Self.currentKey(sql: sql)) { return key }
            return try await Self.rotate(sql: sql, now: now)
        }
    }

    private static func currentKey(sql: any SQLDatabase) async throws -> Key? {
        try await sql.raw("SELECT kid, private_key, created_at_ms, retired_at_ms FROM signing_keys WHERE retired_at_ms IS NULL ORDER BY created_at_ms DESC LIMIT 1")
            .first()
            .map(key(from:))
    }

    /// Retires the active key and makes a new one.
    @discardableResult
    func rotate() async throws -> Key {
        let now = clock.now()
        return try await database.transaction { sql in try await Self.rotate(sql: sql, now: now) }
    }

    private static func rotate(sql: any SQLDatabase, now: Date) async throws -> Key {
        let nowMs = Int64(now.timeIntervalSince1970 * 1000)
        try await sql.raw("UPDATE signing_keys SET retired_at_ms = \(bind: nowMs) WHERE retired_at_ms IS NULL").run()
        let privateKey = Curve25519.Signing.PrivateKey()
        let kid = Identifier.make(at: now)
        try await sql.raw("""
            INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at_ms, retired_at_ms)
            VALUES (\(bind: kid), 'EdDSA', \(bind: privateKey.rawRepresentation.base64EncodedString()),
                    \(bind: privateKey.publicKey.rawRepresentation.base64EncodedString()), \(bind: nowMs), NULL)
            """).run()
        return Key(kid: kid, privateKey: privateKey, createdAt: now, retiredAt: nil)
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

    private static func key(from row: any SQLRow) throws -> Key {
        let raw = try row.decode(column: "private_key", as: String.self)
        guard let bytes = Data(base64Encoded: raw) else { throw GuildError(.internal, "A stored signing key is corrupt.") }
        let retired = try row.decode(column: "retired_at_ms", as: Int64?.self)
        return Key(
            kid: try row.decode(column: "kid", as: String.self),
            privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: bytes),
            createdAt: Date(timeIntervalSince1970: Double(try row.decode(column: "created_at_ms", as: Int64.self)) / 1000),
            retiredAt: retired.map { Date(timeIntervalSince1970: Double($0) / 1000) }
        )
    }
}
