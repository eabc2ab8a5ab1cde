import GuildCore
import GuildMessages
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import SwiftProtobuf

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
public actor WireClient {
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

        public init() {}
    }

    private struct Endpoint {
        let address: WireEndpoint
        var connection: WireConnection?
        var connecting: Task<WireConnection, any Error>?
        var outstanding = 0
        var health = EndpointHealth()
    }

    public nonisolated let service: ServiceName
    public nonisolated let endpoints: [WireEndpoint]
    private let sslContext: NIOSSLContext
    private let configuration: Configuration
    private let group: any EventLoopGroup
    private let logger: Logger
    private var pool: [Endpoint]
    private var budget: RetryBudget
    private var rotation = 0

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
        self.pool = endpoints.map { Endpoint(address: $0) }
        self.budget = RetryBudget(ratio: configuration.retryRatio, reserve: configuration.retryReserve)
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
        let bytes = try await send(method: method.name, isIdempotent: method.isIdempotent, payload: payload, metadata: metadata, deadline: deadline)
        do {
            return try Response(serializedBytes: bytes)
        } catch {
            throw GuildError(.internal, "\(service) answered \(method.name) with a malformed \(Response.protoMessageName).")
        }
    }

    private func send(method: String, isIdempotent: Bool, payload: [UInt8], metadata: [String: String], deadline: ContinuousClock.Instant) async throws -> [UInt8] {
        budget.deposit()
        var tried: Set<Int> = []
        var attempt = 0
        var lastError: GuildError?
        while true {
            attempt += 1
            guard ContinuousClock.now < deadline else {
                throw lastError ?? GuildError(.deadlineExceeded, "\(method) did not answer within its deadline.")
            }
            let index: Int
            do {
                index = try pick(avoiding: tried)
            } catch {
                throw lastError ?? error  // the first failure says more than "nothing left to try"
            }
            tried.insert(index)
            pool[index].outstanding += 1
            do {
                let connection = try await connection(at: index, deadline: deadline)
                let remaining = deadline - ContinuousClock.now
                guard remaining > .zero else { throw GuildError(.deadlineExceeded, "\(method) did not answer within its deadline.") }
                let bytes = try await connection.call(method: method, payload: payload, metadata: metadata, timeout: remaining)
                pool[index].outstanding -= 1
                pool[index].health.recordSuccess()
                return bytes
            } catch let error as GuildError {
                pool[index].outstanding -= 1
                if Self.countsAgainstEndpoint(error) { recordFailure(at: index) } else if error.code != .cancelled { pool[index].health.recordSuccess() }
                guard attempt < configuration.maxAttempts, Self.isRetryable(error, idempotent: isIdempotent),
                      !Task.isCancelled, budget.withdraw()
                else { throw error }
                lastError = error
                logger.debug("retrying call", metadata: ["method": "\(method)", "endpoint": "\(pool[index].address)", "error": "\(error.code)"])
            } catch {
                pool[index].outstanding -= 1
                throw error
            }
        }
    }

    /// The endpoint for the next attempt: available, preferring ones not tried yet for this call,
    /// then the fewest calls outstanding, then round robin.
    private func pick(avoiding tried: Set<Int>) throws -> Int {
        let now = ContinuousClock.now
        let candidates = pool.indices.filter { pool[$0].health.isAvailable(now: now) }
        let fresh = candidates.filter { !tried.contains($0) }
        let choices = fresh.isEmpty ? candidates : fresh
        guard !choices.isEmpty else {
            throw GuildError(.unavailable, "\(service) is unavailable: no endpoint is reachable now.", retryAfterSeconds: 1, reason: "unreachable")
        }
        rotation &+= 1
        let start = rotation % choices.count
        let ordered = Array(choices[start...] + choices[..<start])
        let best = ordered.min { pool[$0].outstanding < pool[$1].outstanding }!
        _ = pool[best].health.admit(now: now)
        return best
    }

    /// An open connection to endpoint `index`, opening one if needed (one attempt shared by callers).
    private func connection(at index: Int, deadline: ContinuousClock.Instant) async throws -> WireConnection {
        if let open = pool[index].connection, open.acceptsCalls { return open }
        pool[index].connection = nil
        let task: Task<WireConnection, any Error>
        if let existing = pool[index].connecting {
            task = existing
        } else {
            let timeout = min(configuration.connectTimeout, max(.milliseconds(1), deadline - .now))
            let (endpoint, service, sslContext, maxFrameSize, group, logger) = (pool[index].address, self.service, self.sslContext, configuration.maxFrameSize, self.group, self.logger)
            let (keepalive, threshold, inflateLimit) = (configuration.keepaliveInterval, configuration.compressionThreshold, configuration.maxDecompressedSize)
            task = Task {
                try await WireConnection.connect(
                    to: endpoint, service: service, sslContext: sslContext, maxFrameSize: maxFrameSize,
                    keepaliveInterval: keepalive, compressionThreshold: threshold, maxDecompressedSize: inflateLimit,
                    timeout: timeout, group: group, logger: logger)
            }
            pool[index].connecting = task
        }
        do {
            let connection = try await task.value
            pool[index].connecting = nil
            pool[index].connection = connection
            return connection
        } catch {
            pool[index].connecting = nil
            logger.warning("cannot reach service", metadata: ["service": "\(service)", "endpoint": "\(pool[index].address)", "error": "\(error)"])
            throw error as? GuildError ?? GuildError(.unavailable, "\(service) is unreachable.", retryAfterSeconds: 1, reason: "unreachable")
        }
    }

    private func recordFailure(at index: Int) {
        let ejected = pool.filter { $0.health.isEjected }.count
        let mayEject = ejected + 1 <= pool.count / 2
        pool[index].health.recordFailure(now: .now, policy: configuration.health, jitter: Double.random(in: 0...1), mayEject: mayEject)
        if pool[index].health.isEjected {
            logger.warning("endpoint ejected after repeated failures", metadata: ["service": "\(service)", "endpoint": "\(pool[index].address)"])
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
    public var outstandingCalls: [Int] { pool.map(\.outstanding) }

    /// The health of each endpoint, in the order given.
    public var health: [EndpointHealth] { pool.map(\.health) }

    /// Closes every connection.
    public func close() async {
        for index in pool.indices {
            await pool[index].connection?.close()
            pool[index].connection = nil
        }
    }
}
