import Crypto
import Foundation
import GuildCore

/// What the session cookie holds, sealed (AES-256-GCM under the web session key), so the
/// gateway keeps no state: any gateway with the same key reads it. A visitor has a session too,
/// without tokens, for the CSRF secret of the sign-in and sign-up forms.
struct WebSession: Codable, Sendable, Equatable {
    /// The random secret the CSRF token of every form is derived from (new at each sign-in).
    var csrfSecret: String
    var accessToken: String?
    var refreshToken: String?
    /// When the access token expires (ms since 1970, auth's clock).
    var accessExpiresAtMs: Int64?
    var userID: String?
    var displayName: String?

    var isSignedIn: Bool { accessToken != nil && refreshToken != nil && userID != nil }

    static func visitor() -> WebSession { WebSession(csrfSecret: randomToken()) }

    /// 32 random bytes in base64url.
    static func randomToken() -> String {
        Data(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }).base64URLEncoded()
    }
}

/// Seals and opens session cookies, and derives CSRF tokens, with the web session key.
struct SessionSealer: Sendable {
    static let cookieName = "guild_session"
    /// The name sealed values are bound to, so no other sealed value passes for a session.
    static let purpose = "guild-web-session/v1"
    /// A session lives 30 days at most (the refresh token's own life is usually shorter).
    static let maxAge = 30 * 24 * 3600

    let key: SealingKey
    /// The CSRF MAC's own key, derived from the session key.
    private let macKey: SymmetricKey

    init(key: SealingKey) {
        self.key = key
        self.macKey = SymmetricKey(data: SHA256.hash(data: Data(("guild-web-csrf:" + key.base64).utf8)))
    }

    func seal(_ session: WebSession) throws -> String {
        let sealed = try key.seal(try JSONEncoder().encode(session), kid: Self.purpose)
        // The value goes in a cookie: base64url, without the prefix's colons.
        return Data(sealed.utf8).base64URLEncoded()
    }

    /// The session in a cookie value; nil when it is not one this key sealed.
    func open(_ cookie: String) -> WebSession? {
        guard cookie.utf8.count < 4096, let raw = Data(base64URLEncoded: cookie), let sealed = String(data: raw, encoding: .utf8),
              let plaintext = try? key.open(sealed, kid: Self.purpose)
        else { return nil }
        return try? JSONDecoder().decode(WebSession.self, from: plaintext)
    }

    /// The CSRF token for forms of `session`: an HMAC of its secret, so a token fits only the
    /// session it was made for.
    func csrfToken(for session: WebSession) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: Data(("csrf:" + session.csrfSecret).utf8), using: macKey)
        return Data(mac).base64URLEncoded()
    }

    /// Whether `token` is the CSRF token of `session` (compared in constant time).
    func isValid(csrf token: String?, for session: WebSession) -> Bool {
        guard let token, let given = Data(base64URLEncoded: token) else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(given, authenticating: Data(("csrf:" + session.csrfSecret).utf8), using: macKey)
    }
}

extension Data {
    func base64URLEncoded() -> String {
        base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    init?(base64URLEncoded text: String) {
        guard text.utf8.allSatisfy({ $0 == 45 || $0 == 95 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }) else { return nil }
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        self.init(base64Encoded: base64)
    }
}
