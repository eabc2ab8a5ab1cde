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
        if force, FileManager.default.fileExists(atPath: directory.path) {
            try FileManager.default.removeItem(at: directory)
        }
        let written = try CertificateStore.ensure(directory: directory, dnsNames: dnsNames)
        if written.isEmpty {
            print("certificates in \(directory.path) are complete; nothing to do")
        } else {
            print("wrote certificates for \(written.map(\.rawValue).joined(separator: ", ")) to \(directory.path)")
        }
    }
}
