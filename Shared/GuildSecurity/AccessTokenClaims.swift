import Foundation
import GuildCore
import JWTKit

/// The claims of a Guild access token: a short-lived EdDSA-signed JWT issued by `guild-auth`
/// and verified by anyone holding its public keys.
public struct AccessTokenClaims: JWTPayload, Equatable {
    /// The issuer every Guild access token names.
    public static let issuer = "guild-auth"
    /// The audience every Guild access token names.
    public static let audience = "guild"

    public var sub: SubjectClaim
    public var iss: IssuerClaim
    public var aud: AudienceClaim
    public var iat: IssuedAtClaim
    public var exp: ExpirationClaim
    /// The user's deployment-wide roles (`user`, `admin`).
    public var roles: [String]
    /// The refresh-token family (sign-in session) the token was issued for.
    public var sid: String

    public init(user: UserID, roles: [String], session: String, issuedAt: Date, expiresAt: Date) {
        self.sub = SubjectClaim(value: user.rawValue)
        self.iss = IssuerClaim(value: Self.issuer)
        self.aud = AudienceClaim(value: [Self.audience])
        self.iat = IssuedAtClaim(value: issuedAt)
        self.exp = ExpirationClaim(value: expiresAt)
        self.roles = roles
        self.sid = session
    }

    public var userID: UserID { UserID(sub.value) }

    /// The instant `exp` is checked against, when not the real time: ``AccessTokenVerifier``
    /// sets it from its clock, so that under a simulated clock (`guild demo`) a token auth issued
    /// at the simulated time is valid at the same simulated time.
    @TaskLocal public static var verificationTime: Date?

    public func verify(using algorithm: some JWTAlgorithm) async throws {
        try exp.verifyNotExpired(currentDate: Self.verificationTime ?? Date())
        guard iss.value == Self.issuer else { throw JWTError.claimVerificationFailure(failedClaim: iss, reason: "unexpected issuer") }
        try aud.verifyIntendedAudience(includes: Self.audience)
    }
}
