import CoreMetrics
import Foundation
import GuildCore
import GuildWire
import Hummingbird
import Logging
import NIOCore
import Prometheus
import ServiceLifecycle
import Synchronization

/// The metrics of one Guild process: swift-metrics bootstrapped with swift-prometheus, so every
/// library that records through swift-metrics (the wire server and client, the database, the
/// jobs, the outbox relay, the caches) lands in one registry that `/metrics` prints.
///
/// The names follow Prometheus's conventions (`guild_` prefix, `_total` for counters, base
/// units in the name: `_seconds`); docs/operations.md lists them all with example alerts.
public enum ProcessMetrics {
    private static let bootstrapped = Mutex<PrometheusCollectorRegistry?>(nil)

    /// The process's registry, bootstrapping swift-metrics with it on the first call (later calls
    /// return the same registry: swift-metrics can be bootstrapped once per process).
    public static func bootstrap() -> PrometheusCollectorRegistry {
        bootstrapped.withLock { registry in
            if let registry { return registry }
            let made = PrometheusCollectorRegistry()
            MetricsSystem.bootstrap(makeFactory(registry: made))
            registry = made
            return made
        }
    }

    /// A swift-metrics factory over `registry`, with latency buckets from 0.5 ms to 10 s (the
    /// library's default starts at 5 ms, above most wire calls and queries).
    public static func makeFactory(registry: PrometheusCollectorRegistry) -> PrometheusMetricsFactory {
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10), .milliseconds(25),
            .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
            .seconds(5), .seconds(10),
        ]
        return factory
    }
}

/// Serves `GET /metrics` (Prometheus text format 0.0.4) on a port of its own: a service's
/// `--metrics-listen`. Nothing else is served there; bind it to an address only the scraper
/// reaches (loopback, or the private network of a deployment).
public struct MetricsServer: Service {
    let registry: PrometheusCollectorRegistry
    let endpoint: WireEndpoint
    let logger: Logger
    let onRunning: @Sendable (Int) async -> Void

    /// - Parameter onRunning: told the bound port once the server listens (tests bind port 0).
    public init(registry: PrometheusCollectorRegistry, endpoint: WireEndpoint, logger: Logger, onRunning: @escaping @Sendable (Int) async -> Void = { _ in }) {
        self.registry = registry
        self.endpoint = endpoint
        self.logger = logger
        self.onRunning = onRunning
    }

    public func run() async throws {
        let (onRunning, logger, endpoint) = (onRunning, logger, endpoint)
        try await Self.application(registry: registry, endpoint: endpoint, logger: logger) { channel in
            let port = channel.localAddress?.port ?? 0
            logger.info("metrics listening", metadata: ["address": "\(endpoint.host):\(port)"])
            await onRunning(port)
        }.run()
    }

    /// The HTTP application serving `registry` at `/metrics` on `endpoint`.
    public static func application(
        registry: PrometheusCollectorRegistry, endpoint: WireEndpoint, logger: Logger,
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.get("/metrics") { _, _ in exposition(registry) }
        return Application(
            router: router,
            configuration: .init(address: .hostname(endpoint.host, port: endpoint.port), serverName: "guild-metrics"),
            onServerRunning: onServerRunning,
            logger: logger)
    }

    /// The registry's exposition as an HTTP response.
    public static func exposition(_ registry: PrometheusCollectorRegistry) -> Response {
        var buffer = ByteBuffer()
        buffer.writeBytes(registry.emitToBuffer())
        return Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: buffer))
    }
}
