import Crypto
import Foundation
import GuildCore

/// Verifies the `Stripe-Signature` header of a webhook call: `t=<unix seconds>,v1=<hex>[,v1=...]`,
/// where each `v1` is HMAC-SHA256, keyed with the endpoint's signing secret, of
/// `<t>.<raw body>`. The timestamp must be within `tolerance` of now, so a captured call cannot
/// be replayed later; replays within the tolerance are caught by the event id.
public enum StripeSignature {
    public static let defaultTolerance: TimeInterval = 300

    /// Throws `unauthenticated` (reason `invalid_signature` or `stale_signature`) unless the
    /// header carries a valid signature of `payload` made within the tolerance.
    public static func verify(payload: [UInt8], header: String, secret: String, now: Date, tolerance: TimeInterval = defaultTolerance) throws {
        var timestamp: Int64?
        var signatures: [[UInt8]] = []
        for item in header.split(separator: ",") {
            let pair = item.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard pair.count == 2 else { continue }
            switch pair[0] {
            case "t": timestamp = Int64(pair[1])
            case "v1": if let bytes = Self.bytes(hex: pair[1]) { signatures.append(bytes) }
            default: continue  // v0 and future schemes are not trusted
            }
        }
        guard let timestamp, !signatures.isEmpty else {
            throw GuildError(.unauthenticated, "The Stripe-Signature header is missing or malformed.", reason: "invalid_signature")
        }
        let expected = Array(sign(payload: payload, timestamp: timestamp, secret: secret))
        guard signatures.contains(where: { constantTimeEquals($0, expected) }) else {
            throw GuildError(.unauthenticated, "The webhook signature does not match.", reason: "invalid_signature")
        }
        guard abs(now.timeIntervalSince1970 - TimeInterval(timestamp)) <= tolerance else {
            throw GuildError(.unauthenticated, "The webhook signature is too old (or from the future).", reason: "stale_signature")
        }
    }

    /// The `v1` signature of `payload` at `timestamp`.
    public static func sign(payload: [UInt8], timestamp: Int64, secret: String) -> HashedAuthenticationCode<SHA256> {
        var message = Array("\(timestamp).".utf8)
        message.append(contentsOf: payload)
        return HMAC<SHA256>.authenticationCode(for: message, using: SymmetricKey(data: Array(secret.utf8)))
    }

    /// A header as Stripe would send it (for tests and local tools).
    public static func header(payload: [UInt8], timestamp: Int64, secret: String) -> String {
        "t=\(timestamp),v1=" + sign(payload: payload, timestamp: timestamp, secret: secret).hexString
    }

    private static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        for index in stride(from: 0, to: digits.count, by: 2) {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case 48...57: digit - 48
        case 97...102: digit - 87
        case 65...70: digit - 55
        default: nil
        }
    }

    private static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
