import Foundation
import GuildCore
import GuildTesting
import Testing
import SwiftASN1
import X509

@testable import GuildWire

@Suite("Deployment certificates")
struct CertificateTests {
    @Test("guild certs writes a CA and a certificate per service; private keys are mode 0600")
    func filesAndModes() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certs = directory.url.appendingPathComponent("certs")
        let written = try CertificateStore.ensure(directory: certs)
        #expect(written == ServiceName.all)
        for service in ServiceName.all {
            let key = certs.appendingPathComponent(CertificateFiles.privateKey(for: service)).path
            let mode = try #require(try FileManager.default.attributesOfItem(atPath: key)[.posixPermissions] as? Int)
            #expect(mode == 0o600, "\(key) has mode \(String(mode, radix: 8))")
            let pem = try String(contentsOf: certs.appendingPathComponent(CertificateFiles.certificate(for: service)), encoding: .utf8)
            let certificate = try Certificate(pemEncoded: pem)
            #expect(try ServiceIdentity.serviceName(of: certificate) == service)
        }
        let caKey = try FileManager.default.attributesOfItem(atPath: certs.appendingPathComponent(CertificateFiles.caPrivateKey).path)
        #expect(caKey[.posixPermissions] as? Int == 0o600)
        // A second run keeps everything; a missing certificate is issued by the same CA.
        #expect(try CertificateStore.ensure(directory: certs).isEmpty)
        try FileManager.default.removeItem(at: certs.appendingPathComponent(CertificateFiles.certificate(for: .content)))
        #expect(try CertificateStore.ensure(directory: certs) == [.content])
        _ = try WireTLS.load(directory: certs.path, service: .content).makeServerContext()
    }

    @Test("a certificate must name exactly one Guild service")
    func identityRules() throws {
        #expect(ServiceName(uri: "spiffe://guild/auth") == .auth)
        #expect(ServiceName(uri: "spiffe://other/auth") == nil)
        #expect(ServiceName(uri: "spiffe://guild/") == nil)
        #expect(ServiceName(uri: "spiffe://guild/a/b") == nil)
    }
}
