import Foundation
import GuildCore
import NIOSSL

/// The TLS material of one process: the deployment CA it trusts and its own certificate and key.
/// Builds TLS 1.3-only contexts that require a certificate from the same CA on both sides.
public struct WireTLS: Sendable {
    public let trustRoots: [NIOSSLCertificate]
    public let certificateChain: [NIOSSLCertificate]
    public let privateKey: NIOSSLPrivateKey

    public init(trustRoots: [NIOSSLCertificate], certificateChain: [NIOSSLCertificate], privateKey: NIOSSLPrivateKey) {
        self.trustRoots = trustRoots
        self.certificateChain = certificateChain
        self.privateKey = privateKey
    }

    /// Loads `ca.pem`, `<service>.pem` and `<service>-key.pem` from a certificate directory as
    /// written by `guild certs`.
    public static func load(directory: String, service: ServiceName) throws -> WireTLS {
        let base = URL(fileURLWithPath: directory)
        let ca = base.appendingPathComponent(CertificateFiles.caCertificate).path
        let cert = base.appendingPathComponent(CertificateFiles.certificate(for: service)).path
        let key = base.appendingPathComponent(CertificateFiles.privateKey(for: service)).path
        for path in [ca, cert, key] where !FileManager.default.fileExists(atPath: path) {
            throw GuildError(.failedPrecondition, "Missing \(path); run `guild certs` first.")
        }
        return WireTLS(
            trustRoots: try NIOSSLCertificate.fromPEMFile(ca),
            certificateChain: try NIOSSLCertificate.fromPEMFile(cert),
            privateKey: try NIOSSLPrivateKey(file: key, format: .pem)
        )
    }

    /// A server context: TLS 1.3 only, and the client must present a certificate the CA signed.
    public func makeServerContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: certificateChain.map { .certificate($0) },
            privateKey: .privateKey(privateKey)
        )
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.trustRoots = .certificates(trustRoots)
        // Peers are identified by their SAN URI, not by host name; the chain is fully verified.
        configuration.certificateVerification = .noHostnameVerification
        return try NIOSSLContext(configuration: configuration)
    }

    /// A client context: TLS 1.3 only, presenting this process's certificate, trusting only the CA.
    public func makeClientContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.minimumTLSVersion = .tlsv13
        configuration.maximumTLSVersion = .tlsv13
        configuration.certificateChain = certificateChain.map { .certificate($0) }
        configuration.privateKey = .privateKey(privateKey)
        configuration.trustRoots = .certificates(trustRoots)
        // The server's identity is checked against the expected service's SAN URI after the handshake.
        configuration.certificateVerification = .noHostnameVerification
        return try NIOSSLContext(configuration: configuration)
    }
}

/// File names inside a certificate directory.
public enum CertificateFiles {
    public static let caCertificate = "ca.pem"
    public static let caPrivateKey = "ca-key.pem"
    public static func certificate(for service: ServiceName) -> String { "\(service.rawValue).pem" }
    public static func privateKey(for service: ServiceName) -> String { "\(service.rawValue)-key.pem" }
}
