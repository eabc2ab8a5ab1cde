import ArgumentParser
import Foundation
import GuildCore
import GuildStorage
import GuildWire
import Logging
import ServiceLifecycle
import UnixSignals

/// Runs a Guild service process: opens its database, lets the service prepare (migrations),
/// binds the wire server with the process's certificate, and serves until SIGTERM or SIGINT,
/// then drains and closes in reverse order. Every service's `main` is a call to this.
public enum ServiceRunner {
    /// What a service hands the runner once its database is open.
    public struct Parts: Sendable {
        public var router: WireRouter
        /// Extra long-running work (schedulers, outbox relays).
        public var services: [any Service]
        /// Called after everything stopped.
        public var onShutdown: @Sendable () async -> Void

        public init(router: WireRouter, services: [any Service] = [], onShutdown: @escaping @Sendable () async -> Void = {}) {
            self.router = router
            self.services = services
            self.onShutdown = onShutdown
        }
    }

    public static func run(
        service: ServiceName,
        listen: String,
        databaseURL: String,
        options: CommonOptions,
        observability: ObservabilityOptions,
        wireConfiguration: WireServer.Configuration = WireServer.Configuration(),
        makeParts: @Sendable (Database, Logger) async throws -> Parts
    ) async throws {
        options.bootstrapLogging()
        let registry = ProcessMetrics.bootstrap()
        let logger = Logger(label: "guild-\(service.rawValue)")
        guard let endpoint = WireEndpoint(listen) else {
            throw ValidationError("--listen must be host:port, got '\(listen)'")
        }
        let metricsEndpoint = try observability.metricsEndpoint()
        let tracing = try observability.bootstrapTracing(name: "guild-\(service.rawValue)")
        let tls = try WireTLS.load(directory: options.resolvedCertificatesDirectory, service: service)
        let configuration = try DatabaseConfiguration(url: databaseURL)
        try SQLiteReplicaLock.acquire(configuration, service: service)
        logger.info("opening database", metadata: ["database": "\(configuration)"])
        let database = try await Database.open(configuration, logger: logger)
        // PostgreSQL's pool only works while running; start it before migrations.
        let databaseTask = Task { try await database.run() }
        let parts: Parts
        let server: WireServer
        do {
            parts = try await makeParts(database, logger)
            server = try await WireServer.bind(
                host: endpoint.host, port: endpoint.port, serviceName: service, router: parts.router,
                tls: tls, configuration: wireConfiguration, logger: logger)
        } catch {
            databaseTask.cancel()
            await database.close()
            throw error
        }
        let group = ServiceGroup(
            configuration: .init(
                // Shut down in reverse: the span exporter last, so the last spans go out.
                services: (tracing.map { [.init(service: $0)] } ?? [])
                    + parts.services.map { .init(service: $0) } + [.init(service: server)]
                    + (metricsEndpoint.map { [.init(service: MetricsServer(registry: registry, endpoint: $0, logger: logger))] } ?? []),
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        do {
            try await group.run()
        } catch {
            logger.error("service stopped with an error", metadata: ["error": "\(error)"])
            databaseTask.cancel()
            await parts.onShutdown()
            await database.close()
            throw error
        }
        await parts.onShutdown()
        databaseTask.cancel()
        await database.close()
        logger.info("stopped")
    }

    /// A service's database URL: `given` (its `--database-url`), else its setting
    /// (``databaseURLSetting(_:)``, from the environment or the config file), else
    /// ``defaultDatabaseURL(service:options:)``.
    public static func databaseURL(service: ServiceName, given: String?, options: CommonOptions) -> String {
        given ?? ConfigEnvironment().string(databaseURLSetting(service)) ?? defaultDatabaseURL(service: service, options: options)
    }

    /// The setting that names a service's database: `GUILD_<SERVICE>_DATABASE_URL`.
    public static func databaseURLSetting(_ service: ServiceName) -> String {
        "GUILD_\(service.rawValue.uppercased())_DATABASE_URL"
    }

    /// The default SQLite URL of a service: `<data-dir>/<service>/<service>.sqlite`.
    public static func defaultDatabaseURL(service: ServiceName, options: CommonOptions) -> String {
        let path = ((options.dataDirectory as NSString).appendingPathComponent(service.rawValue) as NSString)
            .appendingPathComponent("\(service.rawValue).sqlite")
        return "sqlite:" + path
    }
}
