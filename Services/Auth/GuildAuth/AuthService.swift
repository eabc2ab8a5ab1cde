import Crypto
import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import JWTKit
import Logging
import SQLKit
import Synchronization

/// The logic of `guild-auth`: accounts, passwords, sessions and token signing. It knows nothing
/// of sockets; ``AuthWireMethods`` binds it to the wire server.
public final class AuthService: Sendable {
    public let configuration: AuthConfiguration
    let database: Database
    let clock: any WallClock
    let hasher: PasswordHasher
    let hashingPool: PasswordHashingPool
    let signingKeys: SigningKeys
    let throttle: LoginThrottle
    let logger: Logger
    /// A hash of a random password with the current parameters: logins for unknown emails verify
    /// against it, so they take as long as real ones and do not reveal which emails exist.
    private let decoyHash: String
    /// The key collection that signs with the active key, kept until the key changes.
    private let signer = Mutex<(kid: String, keys: JWTKeyCollection)?>(nil)

    /// - Parameter keyEncryptionKey: seals the signing keys in the database; the same key must be
    ///   given on every start (a database sealed with another one is refused).
    public init(
        database: Database, configuration: AuthConfiguration = AuthConfiguration(), keyEncryptionKey: SealingKey,
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) throws {
        self.database = database
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
        self.hasher = PasswordHasher(parameters: configuration.passwordHashing)
        self.hashingPool = PasswordHashingPool(concurrency: configuration.hashingConcurrency, queueDepth: configuration.hashingQueueDepth)
        self.signingKeys = SigningKeys(database: database, clock: clock, accessTokenLifetime: configuration.accessTokenLifetime, keyEncryptionKey: keyEncryptionKey)
        self.throttle = LoginThrottle(database: database, clock: clock, configuration: configuration)
        self.decoyHash = try PasswordHasher(parameters: configuration.passwordHashing).hash(UUID().uuidString)
    }

    /// Runs migrations, seals any signing key an earlier version kept in the clear, and makes
    /// sure a current signing key exists (rotating an old one). Throws `failedPrecondition`
    /// (`wrong_key_encryption_key`) when the keys were sealed with another key-encryption key.
    public func prepare() async throws {
        try await Migrator.migrate(database, migrations: AuthMigrations.all, logger: logger)
        if try await signingKeys.sealLegacyKeys() > 0 { logger.notice("signing keys stored in the clear are now sealed") }
        _ = try await signingKeys.activeKey(rotation: configuration.signingKeyRotation)
    }

    /// Stops the hashing threads.
    public func shutdown() async {
        await hashingPool.shutdown()
    }

    // MARK: Register and log in

    /// Creates an account and signs it in. Every invalid field is named in one error.
    public func register(_ request: AuthRegisterRequest) async throws -> AuthSession {
        let emailResult = Validation.email(request.email)
        let nameResult = Validation.displayName(request.displayName)
        let violations = [
            emailResult.violation, Validation.password(request.password), nameResult.violation,
        ].compactMap { $0 }
        guard violations.isEmpty, case .success(let email) = emailResult, case .success(let displayName) = nameResult else {
            throw GuildError.invalid(violations)
        }

        let exists = try await database.withConnection { sql in
            try await sql.raw("SELECT id FROM users WHERE email = \(bind: email)").first() != nil
        }
        if exists { throw Self.emailTaken }

        let hasher = self.hasher
        let password = request.password
        let passwordHash = try await hashingPool.run { try hasher.hash(password) }
        let now = clock.now()
        let user = UserID.make(at: now)
        let key = try await signingKeys.activeKey(rotation: nil)
        let issued: (StoredUser, IssuedRefreshToken)
        do {
            issued = try await createAccount(user: user, email: email, displayName: displayName, passwordHash: passwordHash, now: now)
        } catch let error as GuildError where error.code == .alreadyExists {
            throw Self.emailTaken  // registered by a concurrent request since the check above
        }
        logger.info("registered user", metadata: ["user": "\(user)"])
        return try await session(user: issued.0, refresh: issued.1, key: key, now: now)
    }

    private func createAccount(user: UserID, email: String, displayName: String, passwordHash: String, now: Date) async throws -> (StoredUser, IssuedRefreshToken) {
        let nowMs = now.millisecondsSince1970
        return try await database.transaction { sql in
            // The first account of a deployment administers it.
            let isFirst = try await sql.raw("SELECT id FROM users LIMIT 1").first() == nil
            let roles = isFirst ? ["admin", "user"] : ["user"]
            try await sql.raw("""
                INSERT INTO users (id, email, display_name, password_hash, roles, created_at_ms, updated_at_ms)
                VALUES (\(bind: user.rawValue), \(bind: email), \(bind: displayName), \(bind: passwordHash),
                        \(bind: roles.joined(separator: ",")), \(bind: nowMs), \(bind: nowMs))
                """).run()
            let stored = StoredUser(id: user, email: email, displayName: displayName, passwordHash: passwordHash, roles: roles, createdAtMs: nowMs)
            return (stored, try await self.issueRefreshToken(sql: sql, user: user, family: Identifier.make(at: now), now: now))
        }
    }

    /// Signs in with email and password. Failures are counted per account and per client address;
    /// past the limits the answer is `resourceExhausted` ("too many attempts") with a retry-after,
    /// checked before any hashing.
    public func login(_ request: AuthLoginRequest, clientAddress: String?) async throws -> AuthSession {
        let emailResult = Validation.email(request.email)
        var violations = [emailResult.violation].compactMap { $0 }
        if request.password.isEmpty { violations.append(.init(field: "password", description: "Password is required.")) }
        if request.password.utf8.count > 4 * Validation.maximumPasswordLength {
            violations.append(.init(field: "password", description: "Password is too long."))
        }
        guard violations.isEmpty, case .success(let email) = emailResult else { throw GuildError.invalid(violations) }

        let keys = LoginThrottle.keys(email: email, clientAddress: clientAddress)
        try await throttle.check(keys)

        let user = try await findUser(email: email)
        let hasher = self.hasher
        let password = request.password
        let storedHash = user?.passwordHash ?? decoyHash
        let matches = try await hashingPool.run { try hasher.verify(password, against: storedHash) }
        guard let user, matches else {
            try await throttle.recordFailure(keys)
            throw GuildError(.unauthenticated, "The email or password is wrong.", reason: "invalid_credentials")
        }
        try await throttle.recordSuccess(keys)

        if hasher.needsRehash(user.passwordHash) {
            let upgraded = try await hashingPool.run { try hasher.hash(password) }
            let nowMs = clock.now().millisecondsSince1970
            try await database.withConnection { sql in
                try await sql.raw("UPDATE users SET password_hash = \(bind: upgraded), updated_at_ms = \(bind: nowMs) WHERE id = \(bind: user.id.rawValue)").run()
            }
        }
        let now = clock.now()
        let key = try await signingKeys.activeKey(rotation: nil)
        let refresh = try await database.transaction { sql in
            try await self.issueRefreshToken(sql: sql, user: user.id, family: Identifier.make(at: now), now: now)
        }
        return try await session(user: user, refresh: refresh, key: key, now: now)
    }

    // MARK: Refresh, log out

    /// Exchanges a refresh token for a new pair. The presented token is used up; presenting it
    /// again later is reuse (a sign of theft) and revokes its whole family, including the token
    /// that replaced it.
    public func refresh(_ request: AuthRefreshRequest) async throws -> AuthSession {
        guard !request.refreshToken.isEmpty else {
            throw GuildError.invalid([.init(field: "refreshToken", description: "Refresh token is required.")])
        }
        let hash = Self.tokenHash(request.refreshToken)
        let now = clock.now()
        let nowMs = now.millisecondsSince1970
        let key = try await signingKeys.activeKey(rotation: nil)
        enum Outcome: Sendable {
            case issued(StoredUser, IssuedRefreshToken)
            case reused
            case invalid(String)
        }
        let outcome: Outcome = try await database.transaction { sql in
            guard let row = try await sql.raw("""
                SELECT id, family_id, user_id, expires_at_ms, used_at_ms, revoked_at_ms FROM refresh_tokens WHERE token_hash = \(bind: hash)
                """).first() else { return .invalid("The refresh token is not valid.") }
            let id = try row.decode(column: "id", as: String.self)
            let family = try row.decode(column: "family_id", as: String.self)
            let userID = UserID(try row.decode(column: "user_id", as: String.self))
            if try row.decode(column: "revoked_at_ms", as: Int64?.self) != nil {
                return .invalid("The refresh token has been revoked.")
            }
            let markedUsed = try await sql.raw("""
                UPDATE refresh_tokens SET used_at_ms = \(bind: nowMs) WHERE id = \(bind: id) AND used_at_ms IS NULL RETURNING id
                """).first() != nil
            guard markedUsed else {
                try await sql.raw("""
                    UPDATE refresh_tokens SET revoked_at_ms = \(bind: nowMs), revoked_reason = 'reuse_detected'
                    WHERE family_id = \(bind: family) AND revoked_at_ms IS NULL
                    """).run()
                return .reused
            }
            if try row.decode(column: "expires_at_ms", as: Int64.self) <= nowMs {
                return .invalid("The refresh token has expired.")
            }
            guard let user = try await Self.user(sql: sql, id: userID) else { return .invalid("The account no longer exists.") }
            return .issued(user, try await self.issueRefreshToken(sql: sql, user: userID, family: family, now: now))
        }
        switch outcome {
        case .issued(let user, let refresh):
            return try await session(user: user, refresh: refresh, key: key, now: now)
        case .reused:
            logger.warning("refresh token reuse detected; session revoked")
            throw GuildError(.unauthenticated, "This refresh token was already used; the session has been revoked for safety. Sign in again.", reason: "refresh_token_reused")
        case .invalid(let message):
            throw GuildError(.unauthenticated, message, reason: "invalid_refresh_token")
        }
    }

    /// Ends the session the refresh token belongs to (its whole family). Unknown tokens are
    /// accepted silently, so logging out twice is fine.
    public func logout(_ request: AuthLogoutRequest) async throws -> AuthLogoutResponse {
        guard !request.refreshToken.isEmpty else {
            throw GuildError.invalid([.init(field: "refreshToken", description: "Refresh token is required.")])
        }
        let hash = Self.tokenHash(request.refreshToken)
        let nowMs = clock.now().millisecondsSince1970
        try await database.transaction { sql in
            guard let row = try await sql.raw("SELECT family_id FROM refresh_tokens WHERE token_hash = \(bind: hash)").first() else { return }
            let family = try row.decode(column: "family_id", as: String.self)
            try await sql.raw("""
                UPDATE refresh_tokens SET revoked_at_ms = \(bind: nowMs), revoked_reason = 'logout'
                WHERE family_id = \(bind: family) AND revoked_at_ms IS NULL
                """).run()
        }
        return AuthLogoutResponse()
    }

    /// Ends every session of `user`: all their refresh tokens are revoked, so no device gets a
    /// new access token (one already issued runs out within its lifetime).
    public func logoutEverywhere(user: UserID) async throws -> AuthLogoutResponse {
        let nowMs = clock.now().millisecondsSince1970
        try await database.withConnection { sql in
            try await sql.raw("""
                UPDATE refresh_tokens SET revoked_at_ms = \(bind: nowMs), revoked_reason = 'logout_everywhere'
                WHERE user_id = \(bind: user.rawValue) AND revoked_at_ms IS NULL
                """).run()
        }
        logger.info("signed out everywhere", metadata: ["user": "\(user)"])
        return AuthLogoutResponse()
    }

    /// Changes the display name of `user`.
    public func updateProfile(_ request: AuthUpdateProfileRequest, user userID: UserID) async throws -> AuthUser {
        let name: String
        switch Validation.displayName(request.displayName, field: "displayName") {
        case .success(let valid): name = valid
        case .failure(let violation): throw GuildError.invalid([violation])
        }
        let nowMs = clock.now().millisecondsSince1970
        try await database.withConnection { sql in
            try await sql.raw("UPDATE users SET display_name = \(bind: name), updated_at_ms = \(bind: nowMs) WHERE id = \(bind: userID.rawValue)").run()
        }
        return try await user(userID)
    }

    // MARK: Account

    /// Changes the password of `user` after checking the current one; every existing session is
    /// revoked and a new one returned.
    public func changePassword(_ request: AuthChangePasswordRequest, user userID: UserID, clientAddress: String?) async throws -> AuthSession {
        var violations: [GuildError.FieldViolation] = []
        if request.currentPassword.isEmpty { violations.append(.init(field: "currentPassword", description: "Current password is required.")) }
        if let violation = Validation.password(request.newPassword, field: "newPassword") { violations.append(violation) }
        if !request.currentPassword.isEmpty, request.currentPassword == request.newPassword {
            violations.append(.init(field: "newPassword", description: "New password must differ from the current one."))
        }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        guard let user = try await database.withConnection({ sql in try await Self.user(sql: sql, id: userID) }) else {
            throw GuildError(.notFound, "The account no longer exists.")
        }
        let keys = LoginThrottle.keys(email: user.email, clientAddress: clientAddress)
        try await throttle.check(keys)
        let hasher = self.hasher
        let (current, new, stored) = (request.currentPassword, request.newPassword, user.passwordHash)
        guard try await hashingPool.run({ try hasher.verify(current, against: stored) }) else {
            try await throttle.recordFailure(keys)
            throw GuildError(.invalidArgument, "The current password is wrong.",
                             fieldViolations: [.init(field: "currentPassword", description: "The current password is wrong.")])
        }
        try await throttle.recordSuccess(keys)
        let newHash = try await hashingPool.run { try hasher.hash(new) }
        let now = clock.now()
        let nowMs = now.millisecondsSince1970
        let key = try await signingKeys.activeKey(rotation: nil)
        let refresh = try await database.transaction { sql in
            try await sql.raw("UPDATE users SET password_hash = \(bind: newHash), updated_at_ms = \(bind: nowMs) WHERE id = \(bind: userID.rawValue)").run()
            try await sql.raw("""
                UPDATE refresh_tokens SET revoked_at_ms = \(bind: nowMs), revoked_reason = 'password_changed'
                WHERE user_id = \(bind: userID.rawValue) AND revoked_at_ms IS NULL
                """).run()
            return try await self.issueRefreshToken(sql: sql, user: userID, family: Identifier.make(at: now), now: now)
        }
        logger.info("password changed; sessions revoked", metadata: ["user": "\(userID)"])
        return try await session(user: user, refresh: refresh, key: key, now: now)
    }

    /// The account of `id`.
    public func user(_ id: UserID) async throws -> AuthUser {
        guard let user = try await database.withConnection({ sql in try await Self.user(sql: sql, id: id) }) else {
            throw GuildError(.notFound, "No such user.")
        }
        return user.message
    }

    /// The public keys verifiers need now.
    public func publicKeys() async throws -> AuthGetPublicKeysResponse {
        var response = AuthGetPublicKeysResponse()
        response.keys = try await signingKeys.publishedKeys()
        return response
    }

    /// Retires the signing key and starts signing with a new one (`guild keys rotate`). The
    /// retired key keeps verifying the tokens it signed until they expire.
    @discardableResult
    public func rotateSigningKey() async throws -> AuthRotateSigningKeyResponse {
        let (key, retired) = try await signingKeys.rotate()
        signer.withLock { $0 = nil }
        logger.notice("signing key rotated", metadata: ["kid": "\(key.kid)", "retired": "\(retired ?? "")"])
        var response = AuthRotateSigningKeyResponse()
        response.kid = key.kid
        response.retiredKid = retired ?? ""
        response.keys = try await signingKeys.publishedKeys()
        return response
    }

    // MARK: Housekeeping

    /// Deletes what can no longer matter: refresh tokens expired more than a day ago (kept that
    /// long so a late reuse is still recognised as such) and throttle counters whose window and
    /// lockout have both ended, and signing keys retired so long ago that no token they signed
    /// is still valid. Returns how many rows went.
    @discardableResult
    public func sweep() async throws -> (refreshTokens: Int, throttleEntries: Int, signingKeys: Int) {
        let nowMs = clock.now().millisecondsSince1970
        let tokenCutoff = nowMs - 24 * 3600 * 1000
        let windowMs = configuration.throttleWindow.wholeMilliseconds
        let keys = try await signingKeys.deleteExpiredKeys()
        return try await database.transaction { sql in
            let tokens = try await sql.raw("DELETE FROM refresh_tokens WHERE expires_at_ms < \(bind: tokenCutoff) RETURNING id").all().count
            let throttle = try await sql.raw("""
                DELETE FROM login_throttle
                WHERE locked_until_ms < \(bind: nowMs) AND window_started_at_ms < \(bind: nowMs - windowMs)
                RETURNING throttle_key
                """).all().count
            return (tokens, throttle, keys)
        }
    }

    // MARK: Helpers

    static let emailTaken = GuildError(
        .alreadyExists, "An account with this email exists already.",
        fieldViolations: [.init(field: "email", description: "An account with this email exists already.")],
        reason: "email_taken")

    struct StoredUser: Sendable {
        let id: UserID
        let email: String
        let displayName: String
        let passwordHash: String
        let roles: [String]
        let createdAtMs: Int64

        var message: AuthUser {
            var user = AuthUser()
            user.id = id.rawValue
            user.email = email
            user.displayName = displayName
            user.roles = roles
            user.createdAtMs = createdAtMs
            return user
        }
    }

    struct IssuedRefreshToken: Sendable {
        let token: String
        let family: String
        let expiresAt: Date
    }

    private func findUser(email: String) async throws -> StoredUser? {
        try await database.withConnection { sql in
            guard let row = try await sql.raw("SELECT * FROM users WHERE email = \(bind: email)").first() else { return nil }
            return try Self.storedUser(row)
        }
    }

    static func user(sql: any SQLDatabase, id: UserID) async throws -> StoredUser? {
        guard let row = try await sql.raw("SELECT * FROM users WHERE id = \(bind: id.rawValue)").first() else { return nil }
        return try storedUser(row)
    }

    private static func storedUser(_ row: any SQLRow) throws -> StoredUser {
        StoredUser(
            id: UserID(try row.decode(column: "id", as: String.self)),
            email: try row.decode(column: "email", as: String.self),
            displayName: try row.decode(column: "display_name", as: String.self),
            passwordHash: try row.decode(column: "password_hash", as: String.self),
            roles: try row.decode(column: "roles", as: String.self).split(separator: ",").map(String.init),
            createdAtMs: try row.decode(column: "created_at_ms", as: Int64.self)
        )
    }

    private func issueRefreshToken(sql: any SQLDatabase, user: UserID, family: String, now: Date) async throws -> IssuedRefreshToken {
        let token = Base64URL.encode(Bytes.random(32))
        let expiresAt = now.addingTimeInterval(configuration.refreshTokenLifetime.timeInterval)
        try await sql.raw("""
            INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at_ms, expires_at_ms)
            VALUES (\(bind: Identifier.make(at: now)), \(bind: family), \(bind: user.rawValue), \(bind: Self.tokenHash(token)),
                    \(bind: now.millisecondsSince1970), \(bind: expiresAt.millisecondsSince1970))
            """).run()
        return IssuedRefreshToken(token: token, family: family, expiresAt: expiresAt)
    }

    private func session(user: StoredUser, refresh: IssuedRefreshToken, key: SigningKeys.Key, now: Date) async throws -> AuthSession {
        let expiresAt = now.addingTimeInterval(configuration.accessTokenLifetime.timeInterval)
        let claims = AccessTokenClaims(user: user.id, roles: user.roles, session: refresh.family, issuedAt: now, expiresAt: expiresAt)
        let accessToken = try await signingCollection(for: key).sign(claims, kid: JWKIdentifier(string: key.kid))
        var session = AuthSession()
        session.user = user.message
        session.tokens.accessToken = accessToken
        session.tokens.accessExpiresAtMs = expiresAt.millisecondsSince1970
        session.tokens.refreshToken = refresh.token
        session.tokens.refreshExpiresAtMs = refresh.expiresAt.millisecondsSince1970
        return session
    }

    /// A key collection holding `key`, built once per key rather than per token.
    private func signingCollection(for key: SigningKeys.Key) async -> JWTKeyCollection {
        if let cached = signer.withLock({ $0 }), cached.kid == key.kid { return cached.keys }
        let keys = JWTKeyCollection()
        await keys.add(eddsa: EdDSA.PrivateKey(backing: key.privateKey), kid: JWKIdentifier(string: key.kid))
        signer.withLock { $0 = (key.kid, keys) }
        return keys
    }

    /// Refresh tokens are stored as their SHA-256, so a database leak reveals none.
    static func tokenHash(_ token: String) -> String {
        SHA256.hash(data: Array(token.utf8)).hexString
    }
}
