import Foundation
import GuildCore

/// The tunable rules of the auth service. Defaults are production values.
public struct AuthConfiguration: Sendable {
    /// How long an access token is valid.
    public var accessTokenLifetime: Duration = .seconds(15 * 60)
    /// How long a refresh token is valid (each refresh issues a new one).
    public var refreshTokenLifetime: Duration = .seconds(30 * 24 * 3600)
    /// A signing key older than this is replaced on start (the old one stays published until its
    /// tokens have expired).
    public var signingKeyRotation: Duration = .seconds(30 * 24 * 3600)
    /// scrypt parameters for new hashes.
    public var passwordHashing: PasswordHasher.Parameters = .owasp
    /// Hashes that run at once, and how many more may wait.
    public var hashingConcurrency: Int = System.coreCount
    public var hashingQueueDepth: Int = System.coreCount * 2
    /// Failed logins allowed per account within ``throttleWindow`` before it is locked for ``lockout``.
    public var maxFailuresPerAccount: Int = 5
    /// Failed logins allowed per client address within ``throttleWindow``.
    public var maxFailuresPerAddress: Int = 20
    public var throttleWindow: Duration = .seconds(15 * 60)
    public var lockout: Duration = .seconds(15 * 60)

    public init() {}
}

/// The number of CPU cores, for sizing pools.
public enum System {
    public static var coreCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
}
