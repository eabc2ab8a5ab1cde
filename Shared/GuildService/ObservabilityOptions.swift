import ArgumentParser
import GuildCore
import GuildWire
import ServiceLifecycle

/// Options of the long-running processes (the services and the gateway): where their metrics
/// are served and where their trace spans go.
public struct ObservabilityOptions: ParsableArguments, Sendable {
    @Option(
        name: .customLong("metrics-listen"),
        help: ArgumentHelp(
            "Serve Prometheus metrics at http://host:port/metrics (env GUILD_METRICS_LISTEN; default: no metrics port).",
            discussion: "Bind it where only the scraper reaches: loopback, or the deployment's private network. The gateway also serves /metrics on its own port, to loopback and private addresses.",
            valueName: "host:port"))
    public var metricsListen: String? = ConfigEnvironment().string("GUILD_METRICS_LISTEN")

    @Option(
        name: .customLong("otlp-endpoint"),
        help: ArgumentHelp(
            "Export trace spans over OTLP/HTTP to this collector, such as http://collector:4318 (env GUILD_OTLP_ENDPOINT; default: record and send nothing).",
            discussion: "Without it the W3C trace context still travels through every hop and every log line names its trace. The OTEL_* variables refine the exporter (OTEL_TRACES_SAMPLER, OTEL_EXPORTER_OTLP_HEADERS).",
            valueName: "url"))
    public var otlpEndpoint: String? = ConfigEnvironment().string("GUILD_OTLP_ENDPOINT")

    public init() {}

    /// Bootstraps tracing (``ProcessTracing``) for the process `name`; returns the exporter's
    /// service to run beside the others (nil when already bootstrapped).
    public func bootstrapTracing(name: String) throws -> (any Service)? {
        do {
            return try ProcessTracing.bootstrap(service: name, otlpEndpoint: otlpEndpoint.flatMap { $0.isEmpty ? nil : $0 })
        } catch let error as GuildError {
            throw ValidationError(error.message)
        }
    }

    /// The metrics endpoint asked for, checked.
    public func metricsEndpoint() throws -> WireEndpoint? {
        guard let metricsListen, !metricsListen.isEmpty else { return nil }
        guard let endpoint = WireEndpoint(metricsListen) else {
            throw ValidationError("--metrics-listen must be host:port, got '\(metricsListen)'")
        }
        return endpoint
    }
}
