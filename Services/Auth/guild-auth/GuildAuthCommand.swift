import ArgumentParser
import Foundation
import GuildAuth
import GuildCore
import GuildService
import Logging

/// `guild-auth`: users, credentials, sessions and token signing keys, over the wire protocol.
@main
struct GuildAuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guild-auth",
        abstract: "Guild's auth service: accounts, passwords, sessions and token signing keys."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var observability: ObservabilityOptions

    @Option(help: "Wire address to listen on (env GUILD_AUTH_LISTEN).")
    var listen: String = ConfigEnvironment().string("GUILD_AUTH_LISTEN", default: "127.0.0.1:7101")

    @Option(name: .customLong("database-url"), help: "sqlite:<path> or postgres://user:pass@host:port/db (env GUILD_AUTH_DATABASE_URL or the config file, which keep a password out of `ps`; default sqlite under the data directory).")
    var databaseURL: String?

    @Option(name: .customLong("scrypt-log-n"), help: "log2 of scrypt's N for new password hashes, 17 to 22 (env GUILD_AUTH_SCRYPT_LOG_N; 17 is OWASP's minimum).")
    var scryptLogN: Int = ConfigEnvironment().int("GUILD_AUTH_SCRYPT_LOG_N", default: 17)

    @Option(name: .customLong("access-token-ttl"), help: "Access token lifetime in seconds (env GUILD_AUTH_ACCESS_TOKEN_TTL).")
    var accessTokenTTL: Int = ConfigEnvironment().int("GUILD_AUTH_ACCESS_TOKEN_TTL", default: 900)

    @Option(name: .customLong("key-encryption-key-file"), help: "File holding the key that seals the signing keys, 32 bytes in base64 (env GUILD_AUTH_KEY_ENCRYPTION_KEY_FILE; default <certs-dir>/\(SealingKey.signingKeysFileName), which guild certs writes).")
    var keyEncryptionKeyFile: String? = ConfigEnvironment().string("GUILD_AUTH_KEY_ENCRYPTION_KEY_FILE")

    /// The key itself, from the environment only (a flag would show it in the process list).
    var keyEncryptionKeyText: String? { ConfigEnvironment().string("GUILD_AUTH_KEY_ENCRYPTION_KEY") }

    @Option(name: .customLong("refresh-token-ttl"), help: "Refresh token lifetime in seconds (env GUILD_AUTH_REFRESH_TOKEN_TTL).")
    var refreshTokenTTL: Int = ConfigEnvironment().int("GUILD_AUTH_REFRESH_TOKEN_TTL", default: 30 * 24 * 3600)

    func validate() throws {
        guard (17...22).contains(scryptLogN) else {
            throw ValidationError("--scrypt-log-n must be between 17 (OWASP's minimum: N=2^17, 128 MiB per hash) and 22")
        }
        guard accessTokenTTL >= 30, refreshTokenTTL > accessTokenTTL else { throw ValidationError("token lifetimes are too short") }
    }

    func run() async throws {
        var configuration = AuthConfiguration()
        configuration.passwordHashing.logN = scryptLogN
        configuration.accessTokenLifetime = .seconds(accessTokenTTL)
        configuration.refreshTokenLifetime = .seconds(refreshTokenTTL)
        let url = ServiceRunner.databaseURL(service: .auth, given: databaseURL, options: common)
        let settings = configuration
        let kek: SealingKey
        if let text = keyEncryptionKeyText {
            kek = try SealingKey(base64: text)
        } else {
            let path = keyEncryptionKeyFile ?? (common.resolvedCertificatesDirectory as NSString).appendingPathComponent(SealingKey.signingKeysFileName)
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("guild-auth needs the key that seals its signing keys: \(path) does not exist. `guild certs` writes one (and `guild up` runs it); or give --key-encryption-key-file or GUILD_AUTH_KEY_ENCRYPTION_KEY.")
            }
            kek = try SealingKey(contentsOf: URL(fileURLWithPath: path))
        }
        let clock = common.makeClock()
        try await ServiceRunner.run(service: .auth, listen: listen, databaseURL: url, options: common, observability: observability) { database, logger in
            let service = try AuthService(database: database, configuration: settings, keyEncryptionKey: kek, clock: clock, logger: logger)
            try await service.prepare()
            let sweeper = PeriodicJob(name: "auth-sweep", every: .seconds(3600), logger: logger) {
                let removed = try await service.sweep()
                logger.debug("swept", metadata: ["refresh-tokens": "\(removed.refreshTokens)", "throttle": "\(removed.throttleEntries)"])
            }
            return ServiceRunner.Parts(router: service.wireRouter, services: [sweeper], onShutdown: { await service.shutdown() })
        }
    }
}
