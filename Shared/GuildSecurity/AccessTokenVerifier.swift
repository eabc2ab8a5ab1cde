import CoreMetrics
import Foundation
import GuildCore
import GuildMessages
import GuildWire
import JWTKit
import Logging

/// Verifies access tokens locally with `guild-auth`'s public keys, fetched over the wire.
///
/// Keys are fetched on first use and again when a token names a key id not yet known (a key
/// rotated in), at most once per ``minimumRefreshInterval``, so forged key ids cannot make it hammer
/// auth. A retired key stays usable until its tokens have expired, as auth publishes it until then.
public actor AccessTokenVerifier {
    public typealias KeySource = @Sendable () async throws -> [AuthPublicKey]

    private let source: KeySource
    private let clock: any WallClock
    private let logger: Logger
    private var keys = JWTKeyCollection()
    private var knownKeyIDs: Set<String> = []
    private var lastFetch: ContinuousClock.Instant?
    private var fetching: Task<Void, any Error>?
    private let keyMetrics: CacheMetrics
    /// The shortest time between two key fetches.
    public let minimumRefreshInterval: Duration

    /// - Parameter clock: the time tokens' expiry is checked against (the process's clock, which
    ///   is simulated only in development; see `SimulatedWallClock`).
    public init(
        minimumRefreshInterval: Duration = .seconds(10), clock: any WallClock = SystemWallClock(), logger: Logger,
        metrics factory: any MetricsFactory = MetricsSystem.factory, source: @escaping KeySource
    ) {
        self.source = source
        self.keyMetrics = CacheMetrics(cache: "token_keys", factory: factory)
        self.clock = clock
        self.logger = logger
        self.minimumRefreshInterval = minimumRefreshInterval
    }

    /// A verifier that asks auth for the keys through `client`.
    public init(authClient: WireClient, clock: any WallClock = SystemWallClock(), logger: Logger, metrics factory: any MetricsFactory = MetricsSystem.factory) {
        self.init(clock: clock, logger: logger, metrics: factory) {
            try await authClient.call(AuthAPI.getPublicKeys, AuthGetPublicKeysRequest(), timeout: .seconds(3)).keys
        }
    }

    /// The claims of a valid token.
    /// - Throws: `unauthenticated` for a malformed, forged or expired token; `unavailable` when the
    ///   keys are needed and auth cannot be reached.
    public func verify(_ token: String) async throws -> AccessTokenClaims {
        guard let kid = Self.keyID(of: token) else {
            throw GuildError(.unauthenticated, "The access token is malformed.", reason: "invalid_token")
        }
        if knownKeyIDs.contains(kid) {
            keyMetrics.hit()
        } else {
            keyMetrics.miss()
            try await refresh(force: lastFetch == nil)
        }
        guard knownKeyIDs.contains(kid) else {
            throw GuildError(.unauthenticated, "The access token was signed by an unknown key.", reason: "invalid_token")
        }
        do {
            return try await AccessTokenClaims.$verificationTime.withValue(clock.now()) {
                try await keys.verify(token, as: AccessTokenClaims.self)
            }
        } catch let error as JWTError where error.errorType == .claimVerificationFailure {
            throw GuildError(.unauthenticated, "The access token has expired or is not for Guild.", reason: "token_expired")
        } catch {
            throw GuildError(.unauthenticated, "The access token is invalid.", reason: "invalid_token")
        }
    }

    /// Fetches the key set unless it was fetched within the minimum interval (or `force`).
    public func refresh(force: Bool = false) async throws {
        if let running = fetching {
            try await running.value
            return
        }
        if !force, let last = lastFetch, ContinuousClock.now - last < minimumRefreshInterval { return }
        let task = Task { try await self.load() }
        fetching = task
        defer { fetching = nil }
        try await task.value
    }

    private func load() async throws {
        let published = try await source()
        let collection = JWTKeyCollection()
        var ids: Set<String> = []
        for key in published where key.algorithm == "EdDSA" && key.publicKey.count == 32 {
            let publicKey = try EdDSA.PublicKey(x: Base64URL.encode(key.publicKey), curve: .ed25519)
            await collection.add(eddsa: publicKey, kid: JWKIdentifier(string: key.kid))
            ids.insert(key.kid)
        }
        keys = collection
        knownKeyIDs = ids
        lastFetch = .now
        logger.debug("loaded token signing keys", metadata: ["kids": "\(ids.sorted())"])
    }

    /// The `kid` of a JWT's header, without verifying anything.
    public static func keyID(of token: String) -> String? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Base64URL.decode(String(parts[0])),
              let object = try? JSONSerialization.jsonObject(with: header) as? [String: Any],
              let kid = object["kid"] as? String, !kid.isEmpty
        else { return nil }
        return kid
    }
}

/// Base64url without padding (RFC 4648 §5), as JOSE uses it.
public enum Base64URL {
    public static func encode(_ data: some Sequence<UInt8>) -> String {
        Data(data).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    public static func decode(_ text: String) -> Data? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64)
    }
}
