import Foundation
import GuildCore
import GuildWire

/// Certificates for tests: a deployment CA and a certificate per service, written under a
/// directory, loadable as ``WireTLS`` for any service.
public struct TestCertificates: Sendable {
    public let directory: URL

    /// Creates a CA and certificates for every service under `directory`.
    public init(directory: URL) throws {
        self.directory = directory
        try CertificateStore.ensure(directory: directory)
    }

    /// The TLS material of `service`.
    public func tls(for service: ServiceName) throws -> WireTLS {
        try WireTLS.load(directory: directory.path, service: service)
    }
}
