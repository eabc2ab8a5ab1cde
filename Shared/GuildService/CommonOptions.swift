import ArgumentParser
import Foundation
import GuildCore
import Logging

/// Options every Guild process takes. Each has an environment variable, read when the flag is
/// not given; the flag wins.
public struct CommonOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("data-dir"), help: "Data directory (env GUILD_DATA_DIR).")
    public var dataDirectory: String = ConfigEnvironment().string("GUILD_DATA_DIR", default: ".guild")

    @Option(name: .customLong("certs-dir"), help: "Certificate directory (env GUILD_CERTS_DIR; default <data-dir>/certs).")
    public var certificatesDirectory: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env GUILD_LOG_LEVEL).")
    public var logLevel: String = ConfigEnvironment().string("GUILD_LOG_LEVEL", default: "info")

    public init() {}

    /// The certificate directory in effect.
    public var resolvedCertificatesDirectory: String {
        certificatesDirectory ?? ConfigEnvironment().string("GUILD_CERTS_DIR") ?? (dataDirectory as NSString).appendingPathComponent("certs")
    }

    /// Sets up swift-log to write to standard error at the chosen level.
    public func bootstrapLogging() {
        let level = Logger.Level(rawValue: logLevel.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
