import Crypto
import Foundation
import GuildCore
import SwiftASN1
import X509

/// The deployment's own certificate authority, and the per-process certificates it issues.
///
/// Every process gets an ECDSA P-256 key and a certificate whose subject alternative names carry
/// its service identity (`spiffe://guild/<name>`), the DNS names it may be reached by, and the
/// loopback addresses. Private keys are written with mode 0600.
public struct DeploymentCA: Sendable {
    public let certificate: Certificate
    let privateKey: P256.Signing.PrivateKey

    /// How long issued certificates are valid.
    public static let leafValidity: TimeInterval = 825 * 24 * 3600
    /// How long the CA is valid.
    public static let caValidity: TimeInterval = 10 * 365 * 24 * 3600

    /// A new CA with a fresh key.
    public static func create(name: String = "Guild deployment CA", now: Date = Date()) throws -> DeploymentCA {
        let key = P256.Signing.PrivateKey()
        let subject = try DistinguishedName {
            OrganizationName("Guild")
            CommonName(name)
        }
        let publicKey = Certificate.PublicKey(key.publicKey)
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(caValidity),
            issuer: subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: 0))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                SubjectKeyIdentifier(hash: publicKey)
            },
            issuerPrivateKey: Certificate.PrivateKey(key)
        )
        return DeploymentCA(certificate: certificate, privateKey: key)
    }

    /// Loads a CA written by ``write(to:)``.
    public static func load(directory: URL) throws -> DeploymentCA {
        let certificatePEM = try String(contentsOf: directory.appendingPathComponent(CertificateFiles.caCertificate), encoding: .utf8)
        let keyPEM = try String(contentsOf: directory.appendingPathComponent(CertificateFiles.caPrivateKey), encoding: .utf8)
        return DeploymentCA(
            certificate: try Certificate(pemEncoded: certificatePEM),
            privateKey: try P256.Signing.PrivateKey(pemRepresentation: keyPEM)
        )
    }

    /// A certificate and key for `service`, usable as both TLS server and client.
    public func issue(
        for service: ServiceName,
        dnsNames: [String] = [],
        now: Date = Date()
    ) throws -> (certificate: Certificate, privateKey: P256.Signing.PrivateKey) {
        let key = P256.Signing.PrivateKey()
        let publicKey = Certificate.PublicKey(key.publicKey)
        let subject = try DistinguishedName {
            OrganizationName("Guild")
            CommonName("guild-\(service.rawValue)")
        }
        var names: [GeneralName] = [.uniformResourceIdentifier(service.uri)]
        let hostNames = ["localhost", "guild-\(service.rawValue)", service.rawValue] + dnsNames
        var seen = Set<String>()
        for host in hostNames where seen.insert(host).inserted {
            names.append(.dnsName(host))
        }
        names.append(.ipAddress(ASN1OctetString(contentBytes: [127, 0, 0, 1])))
        names.append(.ipAddress(ASN1OctetString(contentBytes: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])))
        let authorityKeyID = try certificate.extensions.subjectKeyIdentifier?.keyIdentifier
        let certificate = try Certificate(
            version: .v3,
            serialNumber: Certificate.SerialNumber(),
            publicKey: publicKey,
            notValidBefore: now.addingTimeInterval(-300),
            notValidAfter: now.addingTimeInterval(Self.leafValidity),
            issuer: self.certificate.subject,
            subject: subject,
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                Critical(KeyUsage(digitalSignature: true))
                try ExtendedKeyUsage([.serverAuth, .clientAuth])
                SubjectKeyIdentifier(hash: publicKey)
                AuthorityKeyIdentifier(keyIdentifier: authorityKeyID)
                SubjectAlternativeNames(names)
            },
            issuerPrivateKey: Certificate.PrivateKey(privateKey)
        )
        return (certificate, key)
    }

    /// Writes the CA certificate and key into `directory` (created with mode 0700 if missing).
    public func write(to directory: URL) throws {
        try CertificateStore.prepare(directory)
        try CertificateStore.writePublic(try certificate.serializeAsPEM().pemString, to: directory.appendingPathComponent(CertificateFiles.caCertificate))
        try CertificateStore.writeSecret(privateKey.pemRepresentation, to: directory.appendingPathComponent(CertificateFiles.caPrivateKey))
    }

    /// Issues and writes the certificate and key of `service`.
    public func writeCertificate(for service: ServiceName, dnsNames: [String] = [], to directory: URL) throws {
        let issued = try issue(for: service, dnsNames: dnsNames)
        try CertificateStore.prepare(directory)
        try CertificateStore.writePublic(try issued.certificate.serializeAsPEM().pemString, to: directory.appendingPathComponent(CertificateFiles.certificate(for: service)))
        try CertificateStore.writeSecret(issued.privateKey.pemRepresentation, to: directory.appendingPathComponent(CertificateFiles.privateKey(for: service)))
    }
}

/// Writes certificate files with the right permissions.
public enum CertificateStore {
    /// Creates the directory (mode 0700) when missing.
    public static func prepare(_ directory: URL) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    static func writePublic(_ text: String, to url: URL) throws {
        try Data(text.utf8).write(to: url, options: .atomic)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: url.path)
    }

    /// Writes a private key so that no other user can ever read it: the file is created with mode
    /// 0600 before any byte is written.
    static func writeSecret(_ text: String, to url: URL) throws {
        let path = url.path
        let temporary = path + ".tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard descriptor >= 0 else {
            throw GuildError(.internal, "Cannot create \(temporary): \(String(cString: strerror(errno)))")
        }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        fsync(descriptor)
        close(descriptor)
        guard written == bytes.count else {
            unlink(temporary)
            throw GuildError(.internal, "Cannot write \(path)")
        }
        guard rename(temporary, path) == 0 else {
            unlink(temporary)
            throw GuildError(.internal, "Cannot move the key into \(path): \(String(cString: strerror(errno)))")
        }
    }

    /// Creates a CA and a certificate per service in `directory` unless the CA exists already;
    /// existing certificates are kept, missing ones are issued by the existing CA.
    /// - Returns: the services whose certificates were written now.
    @discardableResult
    public static func ensure(directory: URL, services: [ServiceName] = ServiceName.all, dnsNames: [String] = []) throws -> [ServiceName] {
        let caFile = directory.appendingPathComponent(CertificateFiles.caCertificate)
        let ca: DeploymentCA
        if FileManager.default.fileExists(atPath: caFile.path) {
            ca = try DeploymentCA.load(directory: directory)
        } else {
            ca = try DeploymentCA.create()
            try ca.write(to: directory)
        }
        var written: [ServiceName] = []
        for service in services {
            let file = directory.appendingPathComponent(CertificateFiles.certificate(for: service))
            if !FileManager.default.fileExists(atPath: file.path) {
                try ca.writeCertificate(for: service, dnsNames: dnsNames, to: directory)
                written.append(service)
            }
        }
        return written
    }
}
