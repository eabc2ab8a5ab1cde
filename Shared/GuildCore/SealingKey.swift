import Crypto
import Foundation

/// A 256-bit key that seals secrets at rest with AES-256-GCM, each bound to a name (associated
/// data) so a sealed value cannot be moved to another row. Auth's key-encryption key seals its
/// signing keys with one, so that a copy of the database without the key yields no usable
/// signing key; it is given to `guild-auth` by flag, environment or file, and `guild certs` (run
/// by `guild up`) writes one beside the certificates, mode 0600, when there is none.
public struct SealingKey: Sendable {
    let key: SymmetricKey

    /// The key-encryption key's file in the certificate directory.
    public static let signingKeysFileName = "signing-keys.kek"
    /// The gateway's web session key's file in the certificate directory: it seals the web
    /// front end's session cookies, so every gateway given the same one reads the others'.
    public static let webSessionFileName = "web-session.key"
    /// Sealed values start with this, so a legacy plaintext value is told apart.
    public static let sealedPrefix = "sealed:v1:"

    /// A key from its base64 text (32 bytes).
    public init(base64 text: String) throws {
        guard let bytes = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), bytes.count == 32 else {
            throw GuildError(.invalidArgument, "A sealing key is 32 bytes in base64 (44 characters).")
        }
        key = SymmetricKey(data: bytes)
    }

    /// The key in a file (its base64 text).
    public init(contentsOf url: URL) throws {
        let text: String
        do {
            text = try String(contentsOf: url, encoding: .utf8)
        } catch {
            throw GuildError(.failedPrecondition, "The key file \(url.path) cannot be read: \(error.localizedDescription).")
        }
        try self.init(base64: text)
    }

    private init(key: SymmetricKey) { self.key = key }

    /// A new random key.
    public static func generate() -> SealingKey { SealingKey(key: SymmetricKey(size: .bits256)) }

    /// The key as base64 text.
    public var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

    /// Writes a new key to `url` (mode 0600) unless a file is there already. Returns whether
    /// it wrote one.
    @discardableResult
    public static func ensureFile(at url: URL) throws -> Bool {
        guard !FileManager.default.fileExists(atPath: url.path) else { return false }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: url.path, contents: Data((generate().base64 + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw GuildError(.internal, "Could not write a key to \(url.path).")
        }
        return true
    }

    /// `plaintext` sealed under the name `kid`.
    public func seal(_ plaintext: Data, kid: String) throws -> String {
        let box = try AES.GCM.seal(plaintext, using: key, authenticating: Data(kid.utf8))
        guard let combined = box.combined else { throw GuildError(.internal, "Sealing a signing key failed.") }
        return Self.sealedPrefix + combined.base64EncodedString()
    }

    /// The plaintext of a value ``seal(_:kid:)`` made for `kid`; `failedPrecondition`
    /// (`wrong_sealing_key`) when this key did not seal it.
    public func open(_ sealed: String, kid: String) throws -> Data {
        guard sealed.hasPrefix(Self.sealedPrefix), let combined = Data(base64Encoded: String(sealed.dropFirst(Self.sealedPrefix.count))) else {
            throw GuildError(.internal, "The value is not sealed.")
        }
        do {
            return try AES.GCM.open(try AES.GCM.SealedBox(combined: combined), using: key, authenticating: Data(kid.utf8))
        } catch {
            throw GuildError(.failedPrecondition, "This value was sealed with another key.", reason: "wrong_sealing_key")
        }
    }

    public static func isSealed(_ value: String) -> Bool { value.hasPrefix(sealedPrefix) }
}
