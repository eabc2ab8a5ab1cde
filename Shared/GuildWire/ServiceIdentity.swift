import GuildCore
import NIOSSL
import SwiftASN1
import X509

/// Reads a Guild service identity out of a certificate: the `spiffe://guild/<name>` URI in its
/// subject alternative names. The TLS layer has already checked that the deployment CA signed it.
public enum ServiceIdentity {
    /// The service a certificate belongs to.
    /// - Throws: ``WireProtocolError`` (`peer_identity_mismatch`) when it names none, or more than one.
    public static func serviceName(of certificate: NIOSSLCertificate) throws -> ServiceName {
        let parsed: Certificate
        do {
            parsed = try Certificate(derEncoded: try certificate.toDERBytes())
        } catch {
            throw WireProtocolError(.peerIdentityMismatch, "the peer certificate cannot be parsed")
        }
        return try serviceName(of: parsed)
    }

    /// The service a parsed certificate belongs to.
    public static func serviceName(of certificate: Certificate) throws -> ServiceName {
        let names = (try? certificate.extensions.subjectAlternativeNames) ?? nil
        var services: [ServiceName] = []
        for name in names ?? SubjectAlternativeNames([]) {
            if case .uniformResourceIdentifier(let uri) = name, let service = ServiceName(uri: uri) {
                services.append(service)
            }
        }
        guard services.count == 1 else {
            throw WireProtocolError(.peerIdentityMismatch, services.isEmpty
                ? "the peer certificate names no Guild service"
                : "the peer certificate names several Guild services")
        }
        return services[0]
    }
}
