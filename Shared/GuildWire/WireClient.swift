import CoreMetrics
import Foundation
import GuildCore
import GuildMessages
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SwiftProtobuf
import Tracing
import Synchronization

/// A client of one service over one or more endpoints (replicas).
///
/// - Each call goes to the endpoint with the fewest calls outstanding (ties: round robin).
/// - Connections open on first use and reopen after failures, with jittered exponential backoff
///   per endpoint; an endpoint that keeps failing is ejected from rotation and later probed back
///   in with one call (``EndpointHealth``). At most half the endpoints are ever ejected.
/// - A failed call is retried on another endpoint when that is safe: always when the request
///   was never processed (the endpoint was unreachable, refused it while draining or overloaded),
///   and for any `unavailable` outcome when the method is idempotent; all retries draw on a
///   ``RetryBudget``, so a struggling service sees no retry storm.
/// - A call never waits past its deadline, nor past the deadline of the request being served
///   (``RequestDeadline``); with nothing reachable it fails with `unavailable` at once.
public final class WireClient: Sendable {
    /// Timeouts and policies of a client.
    public struct Configuration: Sendable {
        /// Timeout of a call that names none.
        public var defaultTimeout: Duration = .seconds(10)
        /// The longest a connection attempt may take (further bounded by the call's deadline).
        public var connectTimeout: Duration = .seconds(2)
        /// Largest frame accepted from the server.
        public var maxFrameSize = Frame.defaultMaxFrameSize
        /// Backoff and ejection of failing endpoints.
        public var health = EndpointHealth.Policy()
        /// A connection with no traffic for this long is pinged; unanswered for as long again, closed.
        public var keepaliveInterval: Duration = .seconds(20)
        /// Offer zlib compression and compress request bodies above this size; nil: never.
        public var compressionThreshold: Int? = FrameCompression.defaultThreshold
        /// The most bytes a compressed response may inflate to.
        public var maxDecompressedSize = FrameCompression.defaultMaxDecompressedSize
        /// Attempts per call, the first included.
        public var maxAttempts = 3
        /// Share of calls that may be retried, and the reserve a quiet client starts with.
        public var retryRatio = 0.2
        public var retryReserve = 10.0
        /// Where call metrics go; nil means swift-metrics' global factory.
        public var metricsFactory: (any MetricsFactory)?

        public init() {}
    }

    private struct Endpoint {
        var connection: WireConnection?
        var connecting: Task<WireConnection, any Error>?
        var outstanding = 0
        var health = EndpointHealth()
    }

    /// Everything that changes, behind one lock held only for bookkeeping (never across an await):
    /// a call takes it to pick an endpoint and again to record the outcome.
    private struct Pool {
        var endpoints: [Endpoint]
        var budget: RetryBudget
        var rotation = 0
    }

    public let service: ServiceName
    public let endpoints: [WireEndpoint]
    private let sslContext: NIOSSLContext
    private let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private let pool: Mutex<Pool>
    private let metrics: WireClientMetrics

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
        self.metrics = WireClientMetrics(service: service, factory: configuration.metricsFactory ?? MetricsSystem.factory)
        self.pool = Mutex(Pool(
            endpoints: Array(repeating: Endpoint(), count: endpoints.count),
            budget: RetryBudget(ratio: configuration.retryRatio, reserve: configuration.retryReserve)))
    }

    /// Calls `method` with `request`. The deadline is `timeout` from now, or the default.
    public func call<Request, Response>(
        _ method: MethodDescriptor<Request, Response>,
        _ request: Request,
        metadata: [String: String] = [:],
        timeout: Duration? = nil
    ) async throws -> Response {
        var deadline = ContinuousClock.now + (timeout ?? configuration.defaultTimeout)
        // Inside a handler, never wait past the deadline of the request being served.
        if let inherited = RequestDeadline.current { deadline = min(deadline, inherited) }
        let started = ContinuousClock.now
        let bytes: ByteBuffer = try await withSpan(method.name, ofKind: .client) { span in
            // The request id and the trace context of the work being served go with the call.
            var metadata = metadata
            if metadata[MetadataKey.requestID] == nil, let id = span.context.requestID { metadata[MetadataKey.requestID] = id }
            InstrumentationSystem.instrument.inject(span.context, into: &metadata, using: MetadataCarrier())
            do {
                let bytes = try await send(method: method.name, isIdempotent: method.isIdempotent, metadata: metadata, deadline: deadline) {
                    try request.serializedBytes()
                }
                metrics.record(method: method.name, code: nil, duration: ContinuousClock.now - started)
                return bytes
            } catch {
                let code = (error as? GuildError)?.code ?? .internal
                metrics.record(method: method.name, code: code, duration: ContinuousClock.now - started)
                span.attributes["guild.wire.code"] = code.name
                span.setStatus(SpanStatus(code: .error))
                throw error
            }
        }
        do {
            return try Response(payload: bytes)
        } catch {
            throw GuildError(.internal, "\(service) answered \(method.name) with a malformed \(Response.protoMessageName).")
        }
    }

    /// Sends a call, retrying as the policy allows. `encode` serializes the request for each
    /// attempt: each gets a buffer of its own, which the connection writes the frame around in
    /// place (retries are rare; a copy per call is not).
    private func send(
        method: String, isIdempotent: Bool, metadata: [String: String], deadline: ContinuousClock.Instant,
        encode: () throws -> WirePayload
    ) async throws -> ByteBuffer {
        pool.withLock { $0.budget.deposit() }
        var tried: [Int] = []  // endpoints that failed this call; empty (no allocation) on the usual path
        var attempt = 0
        var lastError: GuildError?
        while true {
            attempt += 1
            guard ContinuousClock.now < deadline else {
                throw lastError ?? GuildError(.deadlineExceeded, "\(method) did not answer within its deadline.")
            }
            let index: Int
            let open: WireConnection?
            do {
                (index, open) = try pool.withLock { pool in
                    let index = try Self.pick(&pool, avoiding: tried, service: service)
                    pool.endpoints[index].outstanding += 1
                    let connection = pool.endpoints[index].connection
                    return (index, connection?.acceptsCalls == true ? connection : nil)
                }
            } catch {
                throw lastError ?? error  // the first failure says more than "nothing left to try"
            }
            do {
                let connection = if let open { open } else { try await connect(index, deadline: deadline) }
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { throw GuildError(.deadlineExceeded, "\(method) did not answer within its deadline.") }
                let bytes = try await connection.call(method: method, payload: try encode(), metadata: metadata, timeout: remaining)
                pool.withLock { pool in
                    pool.endpoints[index].outstanding -= 1
                    pool.endpoints[index].health.recordSuccess()
                }
                return bytes
            } catch let error as GuildError {
                tried.append(index)
                let retry = pool.withLock { pool in
                    pool.endpoints[index].outstanding -= 1
                    if Self.countsAgainstEndpoint(error) {
                        recordFailure(&pool, at: index)
                    } else if error.code != .cancelled {
                        pool.endpoints[index].health.recordSuccess()
                    }
                    return attempt < configuration.maxAttempts && Self.isRetryable(error, idempotent: isIdempotent)
                        && !Task.isCancelled && pool.budget.withdraw()
                }
                guard retry else { throw error }
                metrics.retried(method: method)
                lastError = error
                logger.debug("retrying call", metadata: ["method": "\(method)", "endpoint": "\(endpoints[index])", "error": "\(error.code)"])
            } catch {
                pool.withLock { $0.endpoints[index].outstanding -= 1 }
                throw error
            }
        }
    }

    /// The endpoint for the next attempt: available, preferring ones not tried yet for this call,
    /// then the fewest calls outstanding, then round robin.
    private static func pick(_ pool: inout Pool, avoiding tried: [Int], service: ServiceName) throws -> Int {
        let now = ContinuousClock.now
        let count = pool.endpoints.count
        pool.rotation &+= 1
        let start = pool.rotation % count
        var best: (index: Int, fresh: Bool, outstanding: Int)?
        for offset in 0..<count {
            let index = (start + offset) % count
            let endpoint = pool.endpoints[index]
            guard endpoint.health.isAvailable(now: now) else { continue }
            let fresh = !tried.contains(index)
            if let current = best, (current.fresh && !fresh) || (current.fresh == fresh && current.outstanding <= endpoint.outstanding) {
                continue
            }
            best = (index, fresh, endpoint.outstanding)
        }
        guard let best else {
            throw GuildError(.unavailable, "\(service) is unavailable: no endpoint is reachable now.", retryAfterSeconds: 1, reason: "unreachable")
        }
        _ = pool.endpoints[best.index].health.admit(now: now)
        return best.index
    }

    /// Opens a connection to endpoint `index`, or joins the attempt under way (one attempt is
    /// shared by every caller).
    private func connect(_ index: Int, deadline: ContinuousClock.Instant) async throws -> WireConnection {
        let attempt: Task<WireConnection, any Error> = pool.withLock { pool in
            if let existing = pool.endpoints[index].connecting { return existing }
            pool.endpoints[index].connection = nil
            let timeout = min(configuration.connectTimeout, max(.milliseconds(1), deadline - .now))
            let (endpoint, service, sslContext, maxFrameSize, group, logger) = (endpoints[index], self.service, self.sslContext, configuration.maxFrameSize, self.group, self.logger)
            let (keepalive, threshold, inflateLimit) = (configuration.keepaliveInterval, configuration.compressionThreshold, configuration.maxDecompressedSize)
            let task = Task {
                try await WireConnection.connect(
                    to: endpoint, service: service, sslContext: sslContext, maxFrameSize: maxFrameSize,
                    keepaliveInterval: keepalive, compressionThreshold: threshold, maxDecompressedSize: inflateLimit,
                    timeout: timeout, group: group, logger: logger)
            }
            pool.endpoints[index].connecting = task
            return task
        }
        do {
            let connection = try await attempt.value
            pool.withLock { pool in
                if pool.endpoints[index].connecting == attempt {
                    pool.endpoints[index].connecting = nil
                    pool.endpoints[index].connection = connection
                }
            }
            return connection
        } catch {
            pool.withLock { pool in
                if pool.endpoints[index].connecting == attempt { pool.endpoints[index].connecting = nil }
            }
            logger.warning("cannot reach service", metadata: ["service": "\(service)", "endpoint": "\(endpoints[index])", "error": "\(error)"])
            throw error as? GuildError ?? GuildError(.unavailable, "\(service) is unreachable.", retryAfterSeconds: 1, reason: "unreachable")
        }
    }

    private func recordFailure(_ pool: inout Pool, at index: Int) {
        let ejected = pool.endpoints.filter { $0.health.isEjected }.count
        let mayEject = ejected + 1 <= pool.endpoints.count / 2
        pool.endpoints[index].health.recordFailure(now: .now, policy: configuration.health, jitter: Double.random(in: 0...1), mayEject: mayEject)
        if pool.endpoints[index].health.isEjected {
            logger.warning("endpoint ejected after repeated failures", metadata: ["service": "\(service)", "endpoint": "\(endpoints[index])"])
        }
    }

    /// Reasons that mean the endpoint itself failed (rather than answering with an error).
    static let endpointFailureReasons: Set<String> = [
        "unreachable", "handshake_failed", "handshake_timeout", "connection_closed", "connection_closing",
        "keepalive_timeout", "draining",
    ]

    /// Failures that say something about the endpoint (rather than about the request): the
    /// connection failed or the server is going away. An error the server answered with does not
    /// count: the endpoint is alive.
    static func countsAgainstEndpoint(_ error: GuildError) -> Bool {
        error.code == .protocolViolation || error.reason.map(endpointFailureReasons.contains) ?? false
    }

    /// Reasons that mean the server never processed the request, so any method may be retried.
    static let notProcessedReasons: Set<String> = [
        "unreachable", "handshake_failed", "handshake_timeout", "connection_closing", "draining", "server_overloaded",
    ]

    static func isRetryable(_ error: GuildError, idempotent: Bool) -> Bool {
        if let reason = error.reason, notProcessedReasons.contains(reason) { return true }
        return idempotent && error.code == .unavailable
    }

    /// Calls outstanding per endpoint, in the order given.
    public var outstandingCalls: [Int] { pool.withLock { $0.endpoints.map(\.outstanding) } }

    /// The health of each endpoint, in the order given.
    public var health: [EndpointHealth] { pool.withLock { $0.endpoints.map(\.health) } }

    /// Closes every connection.
    public func close() async {
        let open = pool.withLock { pool in
            defer { for index in pool.endpoints.indices { pool.endpoints[index].connection = nil } }
            return pool.endpoints.compactMap(\.connection)
        }
        for connection in open { await connection.close() }
    }
}
