import Foundation
import GuildCore
import GuildMessages
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import Synchronization

/// One open client connection to a service, after TLS and the HELLO handshake. Many calls run on
/// it at once. Cancelling the calling task cancels the call (a CANCEL frame tells the server).
public final class WireConnection: Sendable {
    public let service: ServiceName
    public let endpoint: WireEndpoint
    let channel: any Channel
    /// The connection's handler, which calls are handed to on the event loop (straight, not
    /// through the pipeline: no boxing, no future per write).
    private let handler: NIOLoopBound<ClientConnectionHandler>
    private let callIDs = Atomic<UInt64>(0)

    private let status: ConnectionStatus

    private init(service: ServiceName, endpoint: WireEndpoint, channel: any Channel, handler: NIOLoopBound<ClientConnectionHandler>, status: ConnectionStatus) {
        self.status = status
        self.handler = handler
        self.service = service
        self.endpoint = endpoint
        self.channel = channel
    }

    /// Connects, completes TLS (checking the server is `service`) and the handshake, within `timeout`.
    /// When nothing arrives for `keepaliveInterval` the connection sends a PING; when the next
    /// interval passes with nothing either, it closes and fails its calls with `unavailable`.
    public static func connect(
        to endpoint: WireEndpoint,
        service: ServiceName,
        sslContext: NIOSSLContext,
        maxFrameSize: Int = Frame.defaultMaxFrameSize,
        keepaliveInterval: Duration = .seconds(20),
        compressionThreshold: Int? = FrameCompression.defaultThreshold,
        maxDecompressedSize: Int = FrameCompression.defaultMaxDecompressedSize,
        timeout: Duration,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        logger: Logger
    ) async throws -> WireConnection {
        let eventLoop = group.next()
        let handshake = eventLoop.makePromise(of: WireHelloAck.self)
        let status = ConnectionStatus()
        let deadline = ContinuousClock.now + timeout
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: eventLoop)
                .connectTimeout(TimeAmount(timeout))
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                        try sync.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: maxFrameSize)))
                        try sync.addHandler(FrameEncoder())
                        try sync.addHandler(WireErrorHandler(logger: logger))
                        try sync.addHandler(ClientConnectionHandler(expectedPeer: service, maxFrameSize: maxFrameSize, handshakePromise: handshake, status: status, keepaliveInterval: keepaliveInterval,
                            compressionThreshold: compressionThreshold, maxDecompressedSize: maxDecompressedSize, logger: logger))
                    }
                }
                .connect(host: endpoint.host, port: endpoint.port)
                .get()
        } catch {
            handshake.fail(error)
            throw GuildError(.unavailable, "\(service) at \(endpoint) is unreachable (\(error)).", retryAfterSeconds: 1, reason: "unreachable")
        }
        let timer = eventLoop.scheduleTask(in: TimeAmount(max(.zero, deadline - ContinuousClock.now))) {
            handshake.fail(GuildError(.unavailable, "\(service) at \(endpoint) did not complete the handshake in time.", retryAfterSeconds: 1, reason: "handshake_timeout"))
        }
        let handler: NIOLoopBound<ClientConnectionHandler>
        do {
            _ = try await handshake.futureResult.get()
            timer.cancel()
            handler = try await eventLoop.submit {
                NIOLoopBound(try channel.pipeline.syncOperations.handler(type: ClientConnectionHandler.self), eventLoop: eventLoop)
            }.get()
        } catch {
            timer.cancel()
            channel.close(promise: nil)
            if let guildError = error as? GuildError, guildError.code == .unavailable { throw guildError }
            throw GuildError(.unavailable, "\(service) at \(endpoint) refused the connection (\(error)).", retryAfterSeconds: 1, reason: "handshake_failed")
        }
        return WireConnection(service: service, endpoint: endpoint, channel: channel, handler: handler, status: status)
    }

    /// True while the connection is up.
    public var isActive: Bool { channel.isActive }

    /// True while new calls may be sent: up, and the server has not said GOAWAY.
    public var acceptsCalls: Bool { channel.isActive && !status.isGoingAway }

    /// Sends one call and waits for its outcome, at most `timeout`.
    /// - Returns: The RESPONSE's payload, a slice of the frame.
    /// - Throws: ``GuildError`` from the server, `deadlineExceeded`, `cancelled`, or `unavailable`.
    func call(method: String, payload: consuming WirePayload, metadata: [String: String], timeout: Duration) async throws -> ByteBuffer {
        var request = WireRequest()
        request.method = method
        request.metadata = metadata
        let call = OutboundCall(callID: callIDs.add(1, ordering: .relaxed).newValue, request: request, payload: payload, timeout: timeout)
        let (eventLoop, handler) = (channel.eventLoop, self.handler)
        return try await withTaskCancellationHandler {
            try await withUnsafeThrowingContinuation { continuation in
                call.setContinuation(continuation)
                // One trip to the event loop: the handler writes the call (its flush is shared
                // with the calls written in the same turn) and later resumes the continuation.
                eventLoop.executeOrRun { handler.value.send(call) }
            }
        } onCancel: {
            call.markCancelled()
            eventLoop.executeOrRun { handler.value.cancel(callID: call.callID) }
        }
    }

    /// Closes the connection.
    public func close() async {
        try? await channel.close()
    }
}

/// A host and port of one service replica.
public struct WireEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port` (IPv6 in brackets: `[::1]:7101`).
    public init?(_ text: String) {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let colon = trimmed.lastIndex(of: ":"), let port = Int(trimmed[trimmed.index(after: colon)...]), (1...65535).contains(port) else {
            return nil
        }
        var host = String(trimmed[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        self.host = host
        self.port = port
    }

    /// Parses a comma-separated list of endpoints.
    public static func list(_ text: String) -> [WireEndpoint]? {
        let parts = text.split(separator: ",").map(String.init)
        let endpoints = parts.compactMap(WireEndpoint.init)
        return endpoints.count == parts.count && !endpoints.isEmpty ? endpoints : nil
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

extension EventLoop {
    /// Runs `work` now when called on this loop, or on the loop soon otherwise.
    func executeOrRun(_ work: @escaping @Sendable () -> Void) {
        if inEventLoop { work() } else { execute(work) }
    }
}
