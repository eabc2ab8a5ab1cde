import ArgumentParser
import Foundation
import GuildCore
import GuildWire
import Logging

/// Options every Guild process takes. Each has an environment variable, read when the flag is
/// not given, and a key in the configuration file, read when neither is; the flag wins
/// (``ConfigEnvironment``).
public struct CommonOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("config"), help: ArgumentHelp(
        "A JSON file of settings, read after the flags and the environment (env GUILD_CONFIG).",
        discussion: "Keys are the settings' environment variables without GUILD_, in lower case with dashes, under their process: {\"data-dir\": \"/var/lib/guild\", \"gateway\": {\"listen\": \"0.0.0.0:8080\"}}. `guild config` shows what is in effect.",
        valueName: "file"))
    public var configFile: String?

    @Option(name: .customLong("data-dir"), help: "Data directory (env GUILD_DATA_DIR).")
    public var dataDirectory: String = ConfigEnvironment().string("GUILD_DATA_DIR", default: ".guild")

    @Option(name: .customLong("certs-dir"), help: "Certificate directory (env GUILD_CERTS_DIR; default <data-dir>/certs).")
    public var certificatesDirectory: String?

    @Option(name: .customLong("log-level"), help: "trace, debug, info, notice, warning, error or critical (env GUILD_LOG_LEVEL).")
    public var logLevel: String = ConfigEnvironment().string("GUILD_LOG_LEVEL", default: "info")

    @Option(name: .customLong("log-format"), help: "text (one line per entry, for people) or json (one JSON object per line, for log shippers) (env GUILD_LOG_FORMAT).")
    public var logFormat: LogFormat = LogFormat(rawValue: ConfigEnvironment().string("GUILD_LOG_FORMAT", default: "text")) ?? .text

    @Option(
        name: .customLong("simulated-clock"),
        help: ArgumentHelp(
            "Development and demos only: read \"now\" as the real time plus the offset in this file (env GUILD_SIMULATED_CLOCK; default: the real time).",
            discussion: "The file holds an offset in milliseconds (negative: the past); `guild up` passes <data-dir>/simulated-clock and `guild demo` moves it. Never set it in production: whoever can write the file moves the clock.",
            valueName: "path"))
    public var simulatedClock: String? = ConfigEnvironment().string("GUILD_SIMULATED_CLOCK")

    public init() {}

    /// A configuration file that cannot be used stops the process before it starts.
    public func validate() throws {
        if let problem = ConfigEnvironment.process.problems.first {
            let more = ConfigEnvironment.process.problems.count - 1
            throw ValidationError(problem + (more > 0 ? " (and \(more) more: `guild config` lists them)" : ""))
        }
    }

    /// The clock the service reads "now" from: the real time, or (``simulatedClock`` set) the
    /// real time moved by the offset in that file. Make it once per process.
    public func makeClock() -> any WallClock {
        guard let simulatedClock else { return SystemWallClock() }
        return SimulatedWallClock(path: simulatedClock)
    }

    /// How often a scheduler runs: `fallback`, or one second under a simulated clock so that
    /// subscriptions, commissions and queued work react at once when the clock jumps ahead.
    public func schedulerInterval(default fallback: Duration) -> Duration {
        simulatedClock == nil ? fallback : min(fallback, .seconds(1))
    }

    /// The certificate directory in effect.
    public var resolvedCertificatesDirectory: String {
        certificatesDirectory ?? ConfigEnvironment().string("GUILD_CERTS_DIR") ?? (dataDirectory as NSString).appendingPathComponent("certs")
    }

    /// Sets up swift-log to write to standard error at the chosen level, as text or JSON lines.
    public func bootstrapLogging() {
        let level = Logger.Level(rawValue: logLevel.lowercased()) ?? .info
        switch logFormat {
        case .text:
            LoggingSystem.bootstrap({ label, provider in
                var handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
                handler.logLevel = level
                return handler
            }, metadataProvider: ProcessTracing.loggingMetadataProvider)
        case .json:
            LoggingSystem.bootstrap({ label, provider in JSONLogHandler(label: label, level: level, metadataProvider: provider) },
                                    metadataProvider: ProcessTracing.loggingMetadataProvider)
        }
    }
}

/// How a process writes its log.
public enum LogFormat: String, ExpressibleByArgument, Sendable, CaseIterable {
    case text
    case json
}
