import Crypto
import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import Testing

@testable import GuildAuth

/// Auth rules, each run against SQLite and (when configured) PostgreSQL, on a cluster whose
/// clock the test moves.
enum AuthScenarios {
    typealias Scenario = @Sendable (TestCluster, ManualWallClock) async throws -> Void

    static let all: [String: Scenario] = [
        "registration names every invalid field": registrationValidation,
        "an email registers once, whatever its case": duplicateEmail,
        "login accepts the right password and refuses others alike": login,
        "failed logins lock the account, even for the right password, until the lockout ends": accountThrottle,
        "failed logins from one address lock that address out of every account": addressThrottle,
        "refresh rotates; a reused refresh token revokes its whole family": refreshRotationAndReuse,
        "an expired refresh token is refused": refreshExpiry,
        "logout revokes the session and is idempotent": logout,
        "changing the password checks the old one and signs out every session": changePassword,
        "access tokens verify with the published keys, across a key rotation": tokensAndRotation,
        "the wire methods work over mutual TLS and answer typed errors": overTheWire,
        "the sweep removes long-expired tokens and stale throttle counters only": sweep,
        "signing keys are sealed: a copy of the database without the key-encryption key yields no usable key": sealedKeys,
        "keys an earlier version stored in the clear are sealed on start; a retired key loses its private half": legacyKeys,
        "rotation over the wire: the old key verifies until its tokens expire, then is retired and swept": rotationOverTheWire,
        "replicas starting together on an empty database make one signing key": replicasMakeOneKey,
    ]

    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        let clock = ManualWallClock(Date())
        try await TestCluster.withCluster(database: kind, clock: clock) { cluster in
            try await all[name]!(cluster, clock)
        }
    }

    static func registerRequest(_ email: String, password: String = "correct horse battery", name: String = "Ada") -> AuthRegisterRequest {
        var request = AuthRegisterRequest()
        request.email = email
        request.password = password
        request.displayName = name
        return request
    }

    static func loginRequest(_ email: String, _ password: String) -> AuthLoginRequest {
        var request = AuthLoginRequest()
        request.email = email
        request.password = password
        return request
    }

    static func refreshRequest(_ token: String) -> AuthRefreshRequest {
        var request = AuthRefreshRequest()
        request.refreshToken = token
        return request
    }

    // MARK: Scenarios

    static func registrationValidation(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let error = await thrownError { _ = try await cluster.auth.register(registerRequest("not-an-email", password: "short", name: "  ")) }
        #expect(error?.code == .invalidArgument)
        #expect(Set(error?.fieldViolations.map(\.field) ?? []) == ["email", "password", "displayName"])
        let missing = await thrownError { _ = try await cluster.auth.register(AuthRegisterRequest()) }
        #expect(missing?.fieldViolations.count == 3)
        let session = try await cluster.auth.register(registerRequest("  Ada@Example.COM ", name: " Ada Lovelace "))
        #expect(session.user.email == "ada@example.com")
        #expect(session.user.displayName == "Ada Lovelace")
        #expect(session.user.roles == ["admin", "user"])
        let second = try await cluster.auth.register(registerRequest("bob@example.com", name: "Bob"))
        #expect(second.user.roles == ["user"])
    }

    static func duplicateEmail(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        _ = try await cluster.auth.register(registerRequest("ada@example.com"))
        let error = await thrownError { _ = try await cluster.auth.register(registerRequest("ADA@example.com")) }
        #expect(error?.code == .alreadyExists)
        #expect(error?.fieldViolations.first?.field == "email")
        // Racing registrations of one email: exactly one wins, the others are told why.
        let auth = cluster.auth
        let outcomes = await withTaskGroup(of: GuildError?.self) { group in
            // Three fit the hashing pool's bound even on one core (1 running + 2 queued).
            for _ in 0..<3 {
                group.addTask { await thrownError { _ = try await auth.register(registerRequest("race@example.com")) } }
            }
            var all: [GuildError?] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.filter { $0 == nil }.count == 1)
        #expect(outcomes.compactMap { $0 }.allSatisfy { $0.reason == "email_taken" })
    }

    static func login(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let registered = try await cluster.auth.register(registerRequest("ada@example.com"))
        let session = try await cluster.auth.login(loginRequest("Ada@example.com", "correct horse battery"), clientAddress: "10.0.0.1")
        #expect(session.user.id == registered.user.id)
        #expect(!session.tokens.accessToken.isEmpty && !session.tokens.refreshToken.isEmpty)
        let wrong = await thrownError { _ = try await cluster.auth.login(loginRequest("ada@example.com", "wrong password"), clientAddress: nil) }
        let unknown = await thrownError { _ = try await cluster.auth.login(loginRequest("nobody@example.com", "wrong password"), clientAddress: nil) }
        #expect(wrong?.code == .unauthenticated)
        #expect(wrong == unknown)
        let empty = await thrownError { _ = try await cluster.auth.login(loginRequest("", ""), clientAddress: nil) }
        #expect(Set(empty?.fieldViolations.map(\.field) ?? []) == ["email", "password"])
    }

    static func accountThrottle(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        _ = try await cluster.auth.register(registerRequest("ada@example.com"))
        let limit = cluster.auth.configuration.maxFailuresPerAccount
        for attempt in 1...limit {
            let error = await thrownError { _ = try await cluster.auth.login(loginRequest("ada@example.com", "guess \(attempt)"), clientAddress: "10.0.0.\(attempt)") }
            #expect(error?.code == .unauthenticated)
        }
        let locked = await thrownError { _ = try await cluster.auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: "10.9.9.9") }
        #expect(locked?.code == .resourceExhausted)
        #expect(locked?.reason == "too_many_attempts")
        #expect((locked?.retryAfterSeconds ?? 0) > 0)
        clock.advance(by: cluster.auth.configuration.lockout.timeInterval + 1)
        let session = try await cluster.auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: "10.9.9.9")
        #expect(session.user.email == "ada@example.com")
    }

    static func addressThrottle(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        _ = try await cluster.auth.register(registerRequest("ada@example.com"))
        let limit = cluster.auth.configuration.maxFailuresPerAddress
        for attempt in 1...limit {
            // A different account each time, so only the address counter reaches its limit.
            _ = await thrownError { _ = try await cluster.auth.login(loginRequest("user\(attempt)@example.com", "guess"), clientAddress: "192.0.2.7") }
        }
        let locked = await thrownError { _ = try await cluster.auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: "192.0.2.7") }
        #expect(locked?.reason == "too_many_attempts")
        let elsewhere = try await cluster.auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: "192.0.2.8")
        #expect(elsewhere.user.email == "ada@example.com")
    }

    static func refreshRotationAndReuse(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let first = try await cluster.auth.register(registerRequest("ada@example.com"))
        let second = try await cluster.auth.refresh(refreshRequest(first.tokens.refreshToken))
        #expect(second.tokens.refreshToken != first.tokens.refreshToken)
        let third = try await cluster.auth.refresh(refreshRequest(second.tokens.refreshToken))
        // A second sign-in is another family and must survive the reuse below.
        let otherSession = try await cluster.auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: nil)

        let reuse = await thrownError { _ = try await cluster.auth.refresh(refreshRequest(first.tokens.refreshToken)) }
        #expect(reuse?.code == .unauthenticated)
        #expect(reuse?.reason == "refresh_token_reused")
        let revoked = await thrownError { _ = try await cluster.auth.refresh(refreshRequest(third.tokens.refreshToken)) }
        #expect(revoked?.code == .unauthenticated)
        _ = try await cluster.auth.refresh(refreshRequest(otherSession.tokens.refreshToken))
        let garbage = await thrownError { _ = try await cluster.auth.refresh(refreshRequest("not-a-token")) }
        #expect(garbage?.reason == "invalid_refresh_token")
    }

    static func refreshExpiry(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let session = try await cluster.auth.register(registerRequest("ada@example.com"))
        clock.advance(by: cluster.auth.configuration.refreshTokenLifetime.timeInterval + 1)
        let error = await thrownError { _ = try await cluster.auth.refresh(refreshRequest(session.tokens.refreshToken)) }
        #expect(error?.code == .unauthenticated)
    }

    static func logout(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let session = try await cluster.auth.register(registerRequest("ada@example.com"))
        var request = AuthLogoutRequest()
        request.refreshToken = session.tokens.refreshToken
        _ = try await cluster.auth.logout(request)
        _ = try await cluster.auth.logout(request)
        let error = await thrownError { _ = try await cluster.auth.refresh(refreshRequest(session.tokens.refreshToken)) }
        #expect(error?.code == .unauthenticated)
    }

    static func changePassword(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let session = try await cluster.auth.register(registerRequest("ada@example.com"))
        let user = UserID(session.user.id)
        var request = AuthChangePasswordRequest()
        request.currentPassword = "not my password"
        request.newPassword = "a brand new secret"
        let wrong = await thrownError { _ = try await cluster.auth.changePassword(request, user: user, clientAddress: nil) }
        #expect(wrong?.fieldViolations.first?.field == "currentPassword")
        request.currentPassword = "correct horse battery"
        request.newPassword = "short"
        let weak = await thrownError { _ = try await cluster.auth.changePassword(request, user: user, clientAddress: nil) }
        #expect(weak?.fieldViolations.first?.field == "newPassword")
        request.newPassword = "a brand new secret"
        let changed = try await cluster.auth.changePassword(request, user: user, clientAddress: nil)
        #expect(changed.user.id == session.user.id)
        let oldSession = await thrownError { _ = try await cluster.auth.refresh(refreshRequest(session.tokens.refreshToken)) }
        #expect(oldSession?.code == .unauthenticated)
        _ = try await cluster.auth.refresh(refreshRequest(changed.tokens.refreshToken))
        let oldPassword = await thrownError { _ = try await cluster.auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: nil) }
        #expect(oldPassword?.code == .unauthenticated)
        _ = try await cluster.auth.login(loginRequest("ada@example.com", "a brand new secret"), clientAddress: nil)
    }

    static func tokensAndRotation(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let auth = cluster.auth
        let verifier = AccessTokenVerifier(minimumRefreshInterval: .zero, logger: Logger(label: "test")) {
            try await auth.publicKeys().keys
        }
        let before = try await auth.register(registerRequest("ada@example.com"))
        let claims = try await verifier.verify(before.tokens.accessToken)
        #expect(claims.userID.rawValue == before.user.id)
        #expect(claims.roles == ["admin", "user"])

        try await auth.rotateSigningKey()
        let after = try await auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: nil)
        #expect(AccessTokenVerifier.keyID(of: after.tokens.accessToken) != AccessTokenVerifier.keyID(of: before.tokens.accessToken))
        // The new key is fetched on sight of its kid; the retired one still verifies its tokens.
        _ = try await verifier.verify(after.tokens.accessToken)
        _ = try await verifier.verify(before.tokens.accessToken)
        #expect(try await auth.publicKeys().keys.count == 2)

        // Once every token the old key signed has expired, it is no longer published.
        clock.advance(by: auth.configuration.accessTokenLifetime.timeInterval + 1)
        #expect(try await auth.publicKeys().keys.count == 1)

        let forged = await thrownError { _ = try await verifier.verify(before.tokens.accessToken.dropLast(4) + "AAAA") }
        #expect(forged?.code == .unauthenticated)
        let garbage = await thrownError { _ = try await verifier.verify("garbage") }
        #expect(garbage?.code == .unauthenticated)
    }

    static func sweep(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let session = try await cluster.auth.register(registerRequest("ada@example.com"))
        _ = await thrownError { _ = try await cluster.auth.login(loginRequest("ada@example.com", "wrong guess"), clientAddress: "10.1.1.1") }
        #expect(try await cluster.auth.sweep() == (0, 0, 0))
        // A day after the refresh token expired, and long after the failed login's window.
        clock.advance(by: cluster.auth.configuration.refreshTokenLifetime.timeInterval + 24 * 3600 + 1)
        let fresh = try await cluster.auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: nil)
        let removed = try await cluster.auth.sweep()
        #expect(removed.refreshTokens == 1)
        #expect(removed.throttleEntries == 1)  // the address counter; the account's was cleared by the login
        _ = try await cluster.auth.refresh(refreshRequest(fresh.tokens.refreshToken))
        #expect(await thrownError { _ = try await cluster.auth.refresh(refreshRequest(session.tokens.refreshToken)) }?.code == .unauthenticated)
    }

    static func overTheWire(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let client = try WireClient(
            service: .auth, endpoints: [WireEndpoint(host: "127.0.0.1", port: cluster.authServer.port)],
            tls: try cluster.certificates.tls(for: .gateway), logger: Logger(label: "test"))
        let session = try await client.call(AuthAPI.register, registerRequest("ada@example.com"))
        var getUser = AuthGetUserRequest()
        getUser.userID = session.user.id
        #expect(try await client.call(AuthAPI.getUser, getUser).email == "ada@example.com")
        getUser.userID = "01900000-0000-7000-8000-000000000000"
        #expect(await thrownError { _ = try await client.call(AuthAPI.getUser, getUser) }?.code == .notFound)
        let invalid = await thrownError { _ = try await client.call(AuthAPI.register, registerRequest("bad")) }
        #expect(invalid?.code == .invalidArgument)
        #expect(invalid?.fieldViolations.map(\.field) == ["email"])
        // ChangePassword needs the calling user in the metadata.
        var change = AuthChangePasswordRequest()
        change.currentPassword = "correct horse battery"
        change.newPassword = "another good secret"
        #expect(await thrownError { _ = try await client.call(AuthAPI.changePassword, change) }?.code == .unauthenticated)
        _ = try await client.call(AuthAPI.changePassword, change, metadata: [MetadataKey.userID: session.user.id])
        #expect(try await client.call(AuthAPI.getPublicKeys, AuthGetPublicKeysRequest()).keys.first?.publicKey.count == 32)
        await client.close()
    }
}

extension AuthScenarios {
    /// The stored signing keys, as a copy of the database would hold them.
    static func storedKeys(_ cluster: TestCluster) async throws -> [(kid: String, privateKey: String, retired: Bool)] {
        try await cluster.database.database.withConnection { sql in
            try await sql.raw("SELECT kid, private_key, retired_at_ms FROM signing_keys ORDER BY created_at_ms").all().map {
                (try $0.decode(column: "kid", as: String.self), try $0.decode(column: "private_key", as: String.self),
                 try $0.decode(column: "retired_at_ms", as: Int64?.self) != nil)
            }
        }
    }

    static func sealedKeys(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let session = try await cluster.auth.register(registerRequest("ada@example.com"))
        let stored = try #require(try await storedKeys(cluster).first)
        // Nothing in the row is a key: not the raw bytes, not base64 of them.
        #expect(stored.privateKey.hasPrefix("sealed:v1:"))
        #expect(Data(base64Encoded: stored.privateKey).flatMap { try? Curve25519.Signing.PrivateKey(rawRepresentation: $0) } == nil)
        // The same database started with another key-encryption key signs nothing.
        let copy = try AuthService(database: cluster.database.database, configuration: TestCluster.fastAuthConfiguration,
                                   keyEncryptionKey: SealingKey.generate(), clock: clock, logger: Logger(label: "copy"))
        #expect(await thrownError { try await copy.prepare() }?.reason == "wrong_key_encryption_key")
        #expect(await thrownError { _ = try await copy.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: nil) }?.reason
                == "wrong_key_encryption_key")
        await copy.shutdown()
        // The service with the right key still signs, with the same key.
        let again = try await cluster.auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: nil)
        #expect(AccessTokenVerifier.keyID(of: again.tokens.accessToken) == AccessTokenVerifier.keyID(of: session.tokens.accessToken))
    }

    static func replicasMakeOneKey(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        try await cluster.database.database.withConnection { sql in try await sql.raw("DELETE FROM signing_keys").run() }
        let keyEncryptionKey = SealingKey.generate()
        let replicas = try (0..<6).map { index in
            try AuthService(database: cluster.database.database, configuration: TestCluster.fastAuthConfiguration,
                            keyEncryptionKey: keyEncryptionKey, clock: clock, logger: Logger(label: "auth-\(index)"))
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for replica in replicas { group.addTask { try await replica.prepare() } }
            try await group.waitForAll()
        }
        for replica in replicas { await replica.shutdown() }
        #expect(try await storedKeys(cluster).count == 1)
    }

    static func legacyKeys(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        // Two keys as an earlier version stored them: a retired one and the active one, in the clear.
        let retired = Curve25519.Signing.PrivateKey(), active = Curve25519.Signing.PrivateKey()
        let now = clock.now().millisecondsSince1970
        try await cluster.database.database.withConnection { sql in
            try await sql.raw("DELETE FROM signing_keys").run()
            for (kid, key, retiredAt) in [("legacy-old", retired, Optional(now - 1_000)), ("legacy-new", active, nil)] {
                try await sql.raw("""
                    INSERT INTO signing_keys (kid, algorithm, private_key, public_key, created_at_ms, retired_at_ms)
                    VALUES (\(bind: kid), 'EdDSA', \(bind: key.rawRepresentation.base64EncodedString()),
                            \(bind: key.publicKey.rawRepresentation.base64EncodedString()), \(bind: now - 2_000), \(bind: retiredAt))
                    """).run()
            }
        }
        try await cluster.auth.prepare()
        let stored = try await storedKeys(cluster)
        #expect(stored.map(\.kid) == ["legacy-old", "legacy-new"])
        #expect(stored[0].privateKey == "")
        #expect(stored[1].privateKey.hasPrefix("sealed:v1:"))
        // The active key still signs: the tokens carry its kid.
        let session = try await cluster.auth.register(registerRequest("ada@example.com"))
        #expect(AccessTokenVerifier.keyID(of: session.tokens.accessToken) == "legacy-new")
    }

    static func rotationOverTheWire(_ cluster: TestCluster, _ clock: ManualWallClock) async throws {
        let before = try await cluster.auth.register(registerRequest("ada@example.com"))
        let oldKid = try #require(AccessTokenVerifier.keyID(of: before.tokens.accessToken))
        let cli = try WireClient(service: .auth, endpoints: [WireEndpoint(host: "127.0.0.1", port: cluster.authServer.port)],
                                 tls: try cluster.certificates.tls(for: .cli), logger: Logger(label: "cli"))
        let gateway = try WireClient(service: .auth, endpoints: [WireEndpoint(host: "127.0.0.1", port: cluster.authServer.port)],
                                     tls: try cluster.certificates.tls(for: .gateway), logger: Logger(label: "gateway"))
        // Only the operator's certificate rotates.
        #expect(await thrownError { _ = try await gateway.call(AuthAPI.rotateSigningKey, AuthRotateSigningKeyRequest()) }?.code == .permissionDenied)
        let rotated = try await cli.call(AuthAPI.rotateSigningKey, AuthRotateSigningKeyRequest())
        await cli.close()
        await gateway.close()
        #expect(rotated.retiredKid == oldKid && rotated.kid != oldKid)
        #expect(Set(rotated.keys.map(\.kid)) == [oldKid, rotated.kid])
        let retiredRow = try #require(try await storedKeys(cluster).first { $0.kid == oldKid })
        #expect(retiredRow.retired && retiredRow.privateKey == "")
        let verifier = AccessTokenVerifier(minimumRefreshInterval: .zero, clock: clock, logger: Logger(label: "test")) { try await cluster.auth.publicKeys().keys }
        _ = try await verifier.verify(before.tokens.accessToken)
        let after = try await cluster.auth.login(loginRequest("ada@example.com", "correct horse battery"), clientAddress: nil)
        #expect(AccessTokenVerifier.keyID(of: after.tokens.accessToken) == rotated.kid)
        // Once its tokens have expired, it is no longer published, and the sweep deletes it.
        clock.advance(by: cluster.auth.configuration.accessTokenLifetime.timeInterval + 1)
        #expect(try await cluster.auth.publicKeys().keys.map(\.kid) == [rotated.kid])
        #expect(try await cluster.auth.sweep().signingKeys == 1)
        #expect(try await storedKeys(cluster).map(\.kid) == [rotated.kid])
    }
}

@Suite("Auth on SQLite")
struct AuthSQLiteTests {
    @Test("scenario", arguments: AuthScenarios.names)
    func scenario(_ name: String) async throws {
        try await AuthScenarios.run(name, on: .sqlite)
    }
}

@Suite("Auth on PostgreSQL", .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct AuthPostgresTests {
    @Test("scenario", arguments: AuthScenarios.names)
    func scenario(_ name: String) async throws {
        try await AuthScenarios.run(name, on: .postgres)
    }
}
