import Crypto
import CryptoExtras
import Foundation
import GuildCore

/// Hashes passwords with scrypt into a self-describing string,
/// `$scrypt$ln=17,r=8,p=1$<salt>$<hash>` (salt and hash in unpadded base64), so parameters can
/// rise later: a hash made with weaker parameters still verifies and reports ``needsRehash(_:)``.
public struct PasswordHasher: Sendable {
    /// scrypt cost parameters.
    public struct Parameters: Sendable, Equatable {
        /// log2 of N (CPU/memory cost).
        public var logN: Int
        /// Block size r.
        public var r: Int
        /// Parallelism p.
        public var p: Int

        /// OWASP's recommendation: N=2^17, r=8, p=1 (128 MiB, about 0.4 s here).
        public static let owasp = Parameters(logN: 17, r: 8, p: 1)

        public init(logN: Int, r: Int, p: Int) {
            self.logN = logN
            self.r = r
            self.p = p
        }

        /// Memory one hash needs, in bytes (128·N·r·p).
        public var memoryBytes: Int { 128 * (1 << logN) * r * p }
    }

    public static let saltLength = 16
    public static let keyLength = 32

    public let parameters: Parameters

    public init(parameters: Parameters = .owasp) {
        precondition((1...24).contains(parameters.logN) && parameters.r > 0 && parameters.p > 0, "invalid scrypt parameters")
        self.parameters = parameters
    }

    /// The encoded hash of `password` with a fresh random salt. CPU- and memory-heavy: run it off
    /// the event loops (see ``PasswordHashingPool``).
    public func hash(_ password: String) throws -> String {
        let salt = Bytes.random(Self.saltLength)
        let key = try Self.derive(password, salt: salt, parameters: parameters)
        return Self.encode(parameters: parameters, salt: salt, key: key)
    }

    /// True when `password` matches `encoded`. A malformed `encoded` is a mismatch.
    public func verify(_ password: String, against encoded: String) throws -> Bool {
        guard let decoded = Self.decode(encoded) else { return false }
        let key = try Self.derive(password, salt: decoded.salt, parameters: decoded.parameters)
        return Self.constantTimeEquals(key, decoded.key)
    }

    /// True when `encoded` was made with parameters weaker than this hasher's.
    public func needsRehash(_ encoded: String) -> Bool {
        guard let decoded = Self.decode(encoded) else { return true }
        return decoded.parameters.memoryBytes < parameters.memoryBytes || decoded.parameters.logN < parameters.logN
    }

    static func derive(_ password: String, salt: [UInt8], parameters: Parameters) throws -> [UInt8] {
        // BoringSSL's scrypt needs a non-empty input buffer; callers never pass an empty password,
        // but a single NUL keeps an empty one from crashing.
        let bytes = password.isEmpty ? [0] : Array(password.utf8)
        let key = try KDF.Scrypt.deriveKey(
            from: bytes, salt: salt, outputByteCount: keyLength,
            rounds: 1 << parameters.logN, blockSize: parameters.r, parallelism: parameters.p)
        return key.withUnsafeBytes { Array($0) }
    }

    static func encode(parameters: Parameters, salt: [UInt8], key: [UInt8]) -> String {
        "$scrypt$ln=\(parameters.logN),r=\(parameters.r),p=\(parameters.p)$\(unpadded(salt))$\(unpadded(key))"
    }

    static func decode(_ encoded: String) -> (parameters: Parameters, salt: [UInt8], key: [UInt8])? {
        let parts = encoded.split(separator: "$", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0].isEmpty, parts[1] == "scrypt" else { return nil }
        var values: [String: Int] = [:]
        for pair in parts[2].split(separator: ",") {
            let kv = pair.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, let value = Int(kv[1]) else { return nil }
            values[String(kv[0])] = value
        }
        guard let logN = values["ln"], let r = values["r"], let p = values["p"],
              (1...24).contains(logN), (1...64).contains(r), (1...16).contains(p),
              let salt = padded(String(parts[3])), let key = padded(String(parts[4])), !salt.isEmpty, key.count == keyLength
        else { return nil }
        return (Parameters(logN: logN, r: r, p: p), salt, key)
    }

    private static func unpadded(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString().replacingOccurrences(of: "=", with: "")
    }

    private static func padded(_ text: String) -> [UInt8]? {
        var base64 = text
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map(Array.init)
    }

    static func constantTimeEquals(_ lhs: [UInt8], _ rhs: [UInt8]) -> Bool {
        guard lhs.count == rhs.count else { return false }
        var difference: UInt8 = 0
        for index in lhs.indices { difference |= lhs[index] ^ rhs[index] }
        return difference == 0
    }
}
