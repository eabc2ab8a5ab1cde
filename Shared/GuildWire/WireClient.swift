import GuildCore
import GuildMessages
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SwiftProtobuf

/// A client of one service over one or more endpoints (replicas).
///
/// Connections are opened on first use and reopened after they fail; calls go round-robin over
/// the endpoints that are up. A call that cannot reach any endpoint fails with `unavailable`
/// within its deadline, never later.
public actor WireClient {
    /// Timeouts of a client.
    public struct Configuration: Sendable {
        /// Timeout of a call that names none.
        public var defaultTimeout: Duration = .seconds(10)
        /// The longest a connection attempt may take (further bounded by the call's deadline).
        public var connectTimeout: Duration = .seconds(2)
        /// Largest frame accepted from the server.
        public var maxFrameSize = Frame.defaultMaxFrameSize
        /// After a failed connection attempt, the endpoint is not tried again for this long.
        public var reconnectBackoff: Duration = .milliseconds(250)
        /// A connection with no traffic for this long is pinged; unanswered for as long again, closed.
        public var keepaliveInterval: Duration = .seconds(20)

        public init() {}
    }

    public nonisolated let service: ServiceName
    public nonisolated let endpoints: [WireEndpoint]
    private let sslContext: NIOSSLContext
    private let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private var connections: [WireEndpoint: WireConnection] = [:]
    private var connecting: [WireEndpoint: Task<WireConnection, any Error>] = [:]
    private var failedUntil: [WireEndpoint: ContinuousClock.Instant] = [:]
    private var nextIndex = 0

    public init(
        service: ServiceName,
        endpoints: [WireEndpoint],
        tls: WireTLS,
        configuration: Configuration = Configuration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) throws {
        precondition(!endpoints.isEmpty, "a client needs at least one endpoint")
        self.service = service
        self.endpoints = endpoints
        self.sslContext = try tls.makeClientContext()
        self.configuration = configuration
        self.group = group
        self.logger = logger
    }

    /// Calls `method` with `request`. The deadline is `timeout` from now, or the default.
    public nonisolated func call<Request, Response>(
        _ method: MethodDescriptor<Request, Response>,
        _ request: Request,
        metadata: [String: String] = [:],
        timeout: Duration? = nil
    ) async throws -> Response {
        var deadline = ContinuousClock.now + (timeout ?? configuration.defaultTimeout)
        // Inside a handler, never wait past the deadline of the request being served.
        if let inherited = RequestDeadline.current { deadline = min(deadline, inherited) }
        let payload: [UInt8] = try request.serializedBytes()
        let connection = try await connection(deadline: deadline)
        let remaining = deadline - ContinuousClock.now
        guard remaining > .zero else {
            throw GuildError(.deadlineExceeded, "\(method.name) did not answer within its deadline.")
        }
        let bytes = try await connection.call(method: method.name, payload: payload, metadata: metadata, timeout: remaining)
        do {
            return try Response(serializedBytes: bytes)
        } catch {
            throw GuildError(.internal, "\(service) answered \(method.name) with a malformed \(Response.protoMessageName).")
        }
    }

    /// An open connection to some endpoint, opening one if needed.
    func connection(deadline: ContinuousClock.Instant) async throws -> WireConnection {
        var lastError: (any Error)?
        for _ in 0..<endpoints.count {
            let endpoint = endpoints[nextIndex % endpoints.count]
            nextIndex &+= 1
            if let open = connections[endpoint], open.acceptsCalls { return open }
            connections[endpoint] = nil
            if let until = failedUntil[endpoint], until > .now, endpoints.count > 1 { continue }
            do {
                return try await connect(endpoint, deadline: deadline)
            } catch {
                lastError = error
            }
        }
        if let guildError = lastError as? GuildError { throw guildError }
        throw GuildError(.unavailable, "\(service) is unavailable.", retryAfterSeconds: 1, reason: "unreachable")
    }

    private func connect(_ endpoint: WireEndpoint, deadline: ContinuousClock.Instant) async throws -> WireConnection {
        let task: Task<WireConnection, any Error>
        if let existing = connecting[endpoint] {
            task = existing
        } else {
            let timeout = min(configuration.connectTimeout, max(.milliseconds(1), deadline - .now))
            let (service, sslContext, maxFrameSize, group, logger) = (self.service, self.sslContext, configuration.maxFrameSize, self.group, self.logger)
            let keepalive = configuration.keepaliveInterval
            task = Task {
                try await WireConnection.connect(
                    to: endpoint, service: service, sslContext: sslContext, maxFrameSize: maxFrameSize,
                    keepaliveInterval: keepalive, timeout: timeout, group: group, logger: logger)
            }
            connecting[endpoint] = task
        }
        do {
            let connection = try await task.value
            connecting[endpoint] = nil
            connections[endpoint] = connection
            failedUntil[endpoint] = nil
            return connection
        } catch {
            connecting[endpoint] = nil
            failedUntil[endpoint] = .now + configuration.reconnectBackoff
            logger.warning("cannot reach service", metadata: ["service": "\(service)", "endpoint": "\(endpoint)", "error": "\(error)"])
            throw error
        }
    }

    /// Closes every connection.
    public func close() async {
        for connection in connections.values { await connection.close() }
        connections.removeAll()
    }
}
