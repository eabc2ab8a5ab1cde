import ArgumentParser
import Foundation
import GuildCore
import GuildService
import GuildWire

/// `guild certs`: creates the deployment CA and a certificate per process.
struct CertsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "certs",
        abstract: "Create the deployment CA and one certificate per process (keys written with mode 0600).",
        discussion: "Existing files are kept; missing certificates are issued by the existing CA. --force starts over with a new CA."
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("dns-name"), help: "Extra DNS name to put in every certificate (repeatable), e.g. a container host name.")
    var dnsNames: [String] = []

    @Flag(help: "Delete existing certificates and create a new CA.")
    var force = false

    func run() throws {
        let directory = URL(fileURLWithPath: common.resolvedCertificatesDirectory)
        let keyFile = directory.appendingPathComponent(SealingKey.signingKeysFileName)
        // Starting over replaces the CA, never the key that seals auth's signing keys: without
        // it the auth database's keys could not be opened again.
        let keptKey = force ? try? Data(contentsOf: keyFile) : nil
        // Nor the web session key: signed-in browsers stay signed in.
        let sessionKeyFile = directory.appendingPathComponent(SealingKey.webSessionFileName)
        let keptSessionKey = force ? try? Data(contentsOf: sessionKeyFile) : nil
        if force, FileManager.default.fileExists(atPath: directory.path) {
            try FileManager.default.removeItem(at: directory)
        }
        let written = try CertificateStore.ensure(directory: directory, dnsNames: dnsNames)
        if let keptKey {
            FileManager.default.createFile(atPath: keyFile.path, contents: keptKey, attributes: [.posixPermissions: 0o600])
        }
        if let keptSessionKey {
            FileManager.default.createFile(atPath: sessionKeyFile.path, contents: keptSessionKey, attributes: [.posixPermissions: 0o600])
        }
        let wroteKey = try Self.ensureKeyEncryptionKey(in: directory)
        let wroteSessionKey = try SealingKey.ensureFile(at: sessionKeyFile)
        if written.isEmpty, !wroteKey, !wroteSessionKey {
            print("certificates in \(directory.path) are complete; nothing to do")
        } else {
            if !written.isEmpty { print("wrote certificates for \(written.map(\.rawValue).joined(separator: ", ")) to \(directory.path)") }
            if wroteKey { print("wrote the key that seals auth's signing keys to \(keyFile.path) (mode 0600; keep it with the database's backups, apart from them)") }
            if wroteSessionKey { print("wrote the key that seals the web front end's session cookies to \(sessionKeyFile.path) (mode 0600; give every gateway the same one)") }
        }
    }

    /// Writes auth's key-encryption key beside the certificates when there is none. Returns
    /// whether it wrote one.
    static func ensureKeyEncryptionKey(in directory: URL) throws -> Bool {
        try SealingKey.ensureFile(at: directory.appendingPathComponent(SealingKey.signingKeysFileName))
    }
}
