import Foundation
import GuildMessages

/// JSON bodies of the HTTP API, as the OpenAPI document describes them.
enum API {
    struct RegisterBody: Decodable {
        var email: String?
        var password: String?
        var displayName: String?
        /// The visitor id of a referral link's cookie, when the front end sends it in the body.
        var visitorId: String?
    }

    struct LoginBody: Decodable {
        var email: String?
        var password: String?
    }

    struct RefreshTokenBody: Decodable {
        var refreshToken: String?
    }

    struct ChangePasswordBody: Decodable {
        var currentPassword: String?
        var newPassword: String?
    }

    struct User: Encodable {
        var id: String
        var email: String
        var displayName: String
        var roles: [String]
        var createdAt: String

        init(_ user: AuthUser) {
            id = user.id
            email = user.email
            displayName = user.displayName
            roles = user.roles
            createdAt = timestamp(milliseconds: user.createdAtMs)
        }
    }

    struct Tokens: Encodable {
        var tokenType = "Bearer"
        var accessToken: String
        var expiresIn: Int64
        var accessTokenExpiresAt: String
        var refreshToken: String
        var refreshTokenExpiresAt: String
    }

    struct Session: Encodable {
        var user: User
        var tokens: Tokens

        /// `now` is the gateway's clock (a simulated one in demos), on which auth's instants are written.
        init(_ session: AuthSession, now: Date) {
            user = User(session.user)
            tokens = Tokens(
                accessToken: session.tokens.accessToken,
                expiresIn: max(0, (session.tokens.accessExpiresAtMs - Int64(now.timeIntervalSince1970 * 1000)) / 1000),
                accessTokenExpiresAt: timestamp(milliseconds: session.tokens.accessExpiresAtMs),
                refreshToken: session.tokens.refreshToken,
                refreshTokenExpiresAt: timestamp(milliseconds: session.tokens.refreshExpiresAtMs)
            )
        }
    }

    struct Health: Encodable {
        var status: String
        var services: [String: String]?
    }
}

/// RFC 3339 UTC timestamp with milliseconds (`2026-11-25T08:30:00.000Z`).
///
/// The milliseconds are written from the integer, not from a `Double` of seconds, which cannot
/// hold most of them exactly (the formatter would then print .122 for .123).
func timestamp(milliseconds: Int64) -> String {
    let (seconds, remainder) = milliseconds.quotientAndRemainder(dividingBy: 1000)
    let (wholeSeconds, millis) = remainder < 0 ? (seconds - 1, remainder + 1000) : (seconds, remainder)
    let text = Date(timeIntervalSince1970: Double(wholeSeconds)).formatted(rfc3339)  // ends in "Z"
    let digits = String(millis)
    return text.dropLast() + "." + String(repeating: "0", count: 3 - digits.count) + digits + "Z"
}

/// One format style for every timestamp, rather than a formatter made per field.
private let rfc3339 = Date.ISO8601FormatStyle()
