import Foundation
import Synchronization
import GuildCore
import Logging
import OTel
import ServiceLifecycle
import Tracing

/// Tracing for one Guild process: swift-distributed-tracing bootstrapped with swift-otel's
/// tracer, always, so that the W3C trace context travels through every hop (the gateway, each
/// wire call, each outbox event) and every log line names its trace and span.
///
/// - With an OTLP endpoint (`--otlp-endpoint`), spans are sampled (a new trace always; a
///   continued one as its parent says) and exported over OTLP/HTTP in batches.
/// - Without one, nothing is recorded and nothing is sent: spans only carry context on.
///
/// The standard `OTEL_*` environment variables refine either (a sampler ratio, headers).
public enum ProcessTracing {
    private static let bootstrapped = Mutex<Bool>(false)

    /// Bootstraps tracing once per process and returns the service that exports spans (run it
    /// in the process's service group); later calls return nil.
    public static func bootstrap(service: String, otlpEndpoint: String?) throws -> (any Service)? {
        var configuration = OTel.Configuration.default
        configuration.serviceName = service
        configuration.logs.enabled = false
        configuration.metrics.enabled = false
        configuration.traces.enabled = true
        if let otlpEndpoint {
            configuration.traces.exporter = .otlp
            configuration.traces.otlpExporter.endpoint = try tracesURL(otlpEndpoint)
            configuration.traces.sampler = .parentBasedAlwaysOn
        } else {
            configuration.traces.exporter = .none
            configuration.traces.sampler = .parentBasedAlwaysOff
        }
        return try bootstrapped.withLock { done -> (any Service)? in
            guard !done else { return nil }
            let backend = try OTel.makeTracingBackend(configuration: configuration)
            InstrumentationSystem.bootstrap(backend.factory)
            done = true
            return backend.service
        }
    }

    /// The OTLP/HTTP traces URL: `endpoint` as given when it names a path, else its
    /// `/v1/traces` (so `http://collector:4318` works as in every OTel SDK).
    static func tracesURL(_ endpoint: String) throws -> String {
        guard let url = URL(string: endpoint), let scheme = url.scheme, ["http", "https"].contains(scheme), url.host != nil else {
            throw GuildError(.invalidArgument, "--otlp-endpoint must be an http or https URL, such as http://collector:4318; got '\(endpoint)'.")
        }
        return url.path.isEmpty || url.path == "/" ? endpoint.trimmingSuffix("/") + "/v1/traces" : endpoint
    }

    /// Log metadata of the work being served: its request id, and its trace and span ids.
    public static let loggingMetadataProvider: Logger.MetadataProvider = {
        let trace = OTel.makeLoggingMetadataProvider(configuration: {
            var keys = OTel.Configuration.LoggingMetadataProviderConfiguration.default
            (keys.traceIDKey, keys.spanIDKey, keys.traceFlagsKey) = ("trace-id", "span-id", "trace-flags")
            return keys
        }())
        return Logger.MetadataProvider {
            var metadata = trace.get()
            if let id = ServiceContext.current?.requestID { metadata["request-id"] = .string(id) }
            return metadata
        }
    }()
}

extension String {
    fileprivate func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
