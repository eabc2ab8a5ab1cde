import ArgumentParser
import Foundation
import GuildCore
import GuildMessages
import GuildService
import GuildWire

/// `guild keys`: the keys that sign access tokens.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the keys that sign access tokens.",
        subcommands: [Rotate.self]
    )

    /// `guild keys rotate`: auth signs with a new key from now on.
    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Start signing access tokens with a new key; the old one keeps verifying its tokens until they expire.",
            discussion: "Speaks the wire protocol to guild-auth with the cli certificate from the certificate directory."
        )

        @OptionGroup var common: CommonOptions

        @Option(name: .customLong("auth"), help: "Auth service endpoints, comma-separated host:port (env GUILD_AUTH_ENDPOINTS).")
        var authEndpoints: String = ConfigEnvironment().string("GUILD_AUTH_ENDPOINTS", default: "127.0.0.1:7101")

        func run() async throws {
            guard let endpoints = WireEndpoint.list(authEndpoints) else { throw ValidationError("--auth must be host:port[,host:port...]") }
            let client = try common.cliClient(.auth, endpoints: endpoints, label: "guild-keys")
            let rotated: AuthRotateSigningKeyResponse
            do {
                rotated = try await client.callOnce(AuthAPI.rotateSigningKey, AuthRotateSigningKeyRequest(), timeout: .seconds(30))
            } catch {
                print("guild keys rotate: auth did not rotate: \(error)")
                throw ExitCode(2)
            }
            print("signing with key \(rotated.kid)" + (rotated.retiredKid.isEmpty ? "" : "; \(rotated.retiredKid) retired, verifying its tokens until they expire"))
            for key in rotated.keys {
                let until = key.validUntilMs == 0 ? "active" : "verifies until \(Date(millisecondsSince1970: key.validUntilMs).formatted(.iso8601))"
                print("  \(key.kid)  \(until)")
            }
        }
    }
}
