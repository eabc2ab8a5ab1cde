import CoreMetrics
import GuildCore
import GuildMessages
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle

/// A Guild wire server: mutual TLS 1.3, the frame codec, the handshake, and the router's methods.
///
/// ``bind(host:port:router:tls:configuration:logger:)`` listens at once (port 0 picks a free port,
/// see ``port``); ``run()`` serves until graceful shutdown, then drains connections: a GOAWAY,
/// no new calls, in-flight calls finish within ``Configuration/drainGracePeriod``.
public final class WireServer: Service, Sendable {
    /// Limits and timeouts of a server.
    public struct Configuration: Sendable {
        /// Largest frame accepted (value of the length field).
        public var maxFrameSize = Frame.defaultMaxFrameSize
        /// Calls that may run at once on one connection; more are refused with `resourceExhausted`.
        public var maxConcurrentCallsPerConnection = 100
        /// Calls that may run at once on the whole server; more are refused with `resourceExhausted`.
        public var maxConcurrentCalls = 1_000
        /// Most metadata entries a request may carry.
        public var maxMetadataEntries = 32
        /// Most bytes of metadata (keys and values together) a request may carry.
        public var maxMetadataBytes = 8 * 1024
        /// Bodies above this many bytes are sent compressed when the client offers the `zlib`
        /// feature; nil turns compression off (the feature is then refused).
        public var compressionThreshold: Int? = FrameCompression.defaultThreshold
        /// The most bytes a compressed REQUEST body may inflate to.
        public var maxDecompressedSize = FrameCompression.defaultMaxDecompressedSize
        /// Where per-method metrics go; nil means swift-metrics' global factory.
        public var metricsFactory: (any MetricsFactory)?
        /// A peer that has not completed the HELLO by then is disconnected.
        public var handshakeTimeout: Duration = .seconds(10)
        /// Timeout of a call that names none.
        public var defaultCallTimeout: Duration = .seconds(30)
        /// The longest timeout a call may ask for.
        public var maxCallTimeout: Duration = .seconds(300)
        /// How long shutdown waits for calls in flight.
        public var drainGracePeriod: Duration = .seconds(10)
        /// A connection on which nothing arrives for this long is closed (clients ping every
        /// 20 s by default, so only silent or vanished peers reach it).
        public var idleTimeout: Duration = .seconds(60)
        /// Run each call's handler as a task on its connection's event loop (no thread hop per
        /// call). Turn off for handlers that compute for long without awaiting: they would hold
        /// up every connection on that loop.
        public var runsHandlersOnEventLoop = true

        public init() {}
    }

    /// Sent down a connection's pipeline to start draining it.
    struct DrainEvent: Sendable {}

    /// The service this server is (for messages and the built-in health method).
    public let serviceName: ServiceName
    /// The bound address.
    public let localAddress: SocketAddress
    private let channel: any Channel
    private let connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>
    private let load: WireServerLoad
    private let configuration: Configuration
    private let logger: Logger

    /// The bound port.
    public var port: Int { localAddress.port ?? 0 }

    /// Calls running now, across every connection.
    public var callsInFlight: Int { load.current }

    private init(serviceName: ServiceName, channel: any Channel, connections: NIOLockedValueBox<[ObjectIdentifier: any Channel]>, load: WireServerLoad, configuration: Configuration, logger: Logger) {
        self.load = load
        self.serviceName = serviceName
        self.channel = channel
        self.localAddress = channel.localAddress!
        self.connections = connections
        self.configuration = configuration
        self.logger = logger
    }

    /// Starts listening. The router gets the built-in `guild.Health` method added.
    public static func bind(
        host: String,
        port: Int,
        serviceName: ServiceName,
        router: WireRouter,
        tls: WireTLS,
        configuration: Configuration = Configuration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> WireServer {
        var router = router
        router.register(WireMethod(SystemAPI.health) { _, _ in
            var response = WireHealthResponse()
            response.service = serviceName.rawValue
            response.status = "serving"
            return response
        })
        let sslContext = try tls.makeServerContext()
        let connections = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let frozenRouter = router
        let load = WireServerLoad(limit: configuration.maxConcurrentCalls)
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                let id = ObjectIdentifier(channel)
                connections.withLockedValue { $0[id] = channel }
                channel.closeFuture.whenComplete { _ in connections.withLockedValue { _ = $0.removeValue(forKey: id) } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: sslContext))
                    try addServerHandlers(
                        to: channel.pipeline.syncOperations, router: frozenRouter, serviceName: serviceName,
                        identity: .tls, configuration: configuration, load: load, logger: logger)
                }
            }
            .bind(host: host, port: port)
            .get()
        logger.info("wire server listening", metadata: ["service": "\(serviceName)", "address": "\(channel.localAddress!)"])
        return WireServer(serviceName: serviceName, channel: channel, connections: connections, load: load, configuration: configuration, logger: logger)
    }

    /// Adds the protocol handlers (everything above TLS) to a server connection's pipeline, for
    /// a peer whose identity is already known (`peer`) rather than read from TLS: tests of the
    /// protocol on an embedded channel, and the fuzz target.
    public static func configureServerPipeline(
        _ pipeline: ChannelPipeline.SynchronousOperations,
        router: WireRouter,
        serviceName: ServiceName,
        peer: ServiceName,
        configuration: Configuration = Configuration(),
        logger: Logger
    ) throws {
        try addServerHandlers(
            to: pipeline, router: router, serviceName: serviceName, identity: .fixed(peer), configuration: configuration,
            load: WireServerLoad(limit: configuration.maxConcurrentCalls), logger: logger)
    }

    /// Adds the protocol handlers (everything above TLS) to a server connection's pipeline.
    static func addServerHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations,
        router: WireRouter,
        serviceName: ServiceName,
        identity: ServerConnectionHandler.PeerIdentity,
        configuration: Configuration,
        load: WireServerLoad,
        logger: Logger
    ) throws {
        try pipeline.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: configuration.maxFrameSize)))
        try pipeline.addHandler(FrameEncoder())
        try pipeline.addHandler(WireErrorHandler(logger: logger))
        try pipeline.addHandler(ServerConnectionHandler(
            router: router, configuration: configuration, serviceName: serviceName, identity: identity,
            load: load, metrics: WireServerMetrics(service: serviceName, factory: configuration.metricsFactory, methodCount: router.count), logger: logger))
    }

    /// Serves until graceful shutdown, then drains.
    public func run() async throws {
        try await withGracefulShutdownHandler {
            try await channel.closeFuture.get()
        } onGracefulShutdown: {
            self.shutdown()
        }
        await drainConnections()
    }

    /// Stops accepting connections. Existing connections drain when ``run()`` returns.
    public func shutdown() {
        channel.close(promise: nil)
    }

    /// Stops listening and drains every connection (used by ``run()``; call it directly when not
    /// running in a service group).
    public func close() async {
        shutdown()
        try? await channel.closeFuture.get()
        await drainConnections()
    }

    private func drainConnections() async {
        let open = connections.withLockedValue { Array($0.values) }
        guard !open.isEmpty else { return }
        logger.info("draining connections", metadata: ["count": "\(open.count)"])
        for connection in open {
            connection.pipeline.triggerUserOutboundEvent(DrainEvent(), promise: nil)
        }
        let deadline = ContinuousClock.now + configuration.drainGracePeriod
        while ContinuousClock.now < deadline, !connections.withLockedValue({ $0.isEmpty }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        for connection in connections.withLockedValue({ Array($0.values) }) {
            try? await connection.close()
        }
    }
}
