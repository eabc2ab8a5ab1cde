import Foundation
import GuildCore
import GuildMessages
import Logging
import NIOCore
import NIOSSL
import NIOTLS
import Synchronization

/// One call on its way to the server.
///
/// A class, so that its payload can be taken out by the connection handler as the only owner of
/// the buffer: the REQUEST's header and the frame prefix are then written into the room in front
/// of the payload without a copy. Made by the caller, who sets the continuation, and handed to
/// the event loop, after which only the loop touches it (but for the cancelled flag).
final class OutboundCall: @unchecked Sendable {
    let callID: UInt64
    /// The method, metadata and timeout (set when written).
    let request: WireRequest
    /// The method's request message, serialized; nil once taken.
    private var payload: WirePayload?
    let timeout: Duration
    /// Resumed once with the RESPONSE's payload (a slice of the frame) or the call's error; nil
    /// once handed to the connection's table of pending calls.
    private var continuation: UnsafeContinuation<ByteBuffer, any Error>?
    private let cancelled = Atomic<Bool>(false)

    init(callID: UInt64, request: WireRequest, payload: consuming WirePayload, timeout: Duration) {
        self.callID = callID
        self.request = request
        self.payload = payload
        self.timeout = timeout
    }

    /// Set by the caller before the call is handed to the event loop.
    func setContinuation(_ continuation: UnsafeContinuation<ByteBuffer, any Error>) {
        self.continuation = continuation
    }

    /// The payload, once: the caller gets the only reference to its buffer.
    func takePayload() -> WirePayload {
        defer { payload = nil }
        return payload ?? WirePayload(bytes: ByteBuffer())
    }

    /// The continuation, once.
    func takeContinuation() -> UnsafeContinuation<ByteBuffer, any Error>? {
        defer { continuation = nil }
        return continuation
    }

    /// The caller gave up (its task was cancelled), maybe before the call was written.
    func markCancelled() { cancelled.store(true, ordering: .releasing) }

    var isCancelled: Bool { cancelled.load(ordering: .acquiring) }
}

/// The client side of one connection: sends HELLO, checks the server's identity, assigns stream
/// ids, matches RESPONSE and ERROR frames to callers by stream id, enforces each call's deadline
/// (failing it and sending CANCEL), and fails every pending call when the connection ends.
final class ClientConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = Frame
    typealias OutboundOut = Frame

    /// A call written and not yet answered. Its continuation is resumed exactly once: each path
    /// that resumes it removes it from ``pending`` first.
    private struct Pending {
        let streamID: UInt32
        let continuation: UnsafeContinuation<ByteBuffer, any Error>
        let method: String
        let deadline: NIODeadline

        func fail(_ error: any Error) { continuation.resume(throwing: error) }
    }

    /// Fires at the earliest deadline of the pending calls.
    private struct DeadlineCallback: NIOScheduledCallbackHandler, Sendable {
        let handler: NIOLoopBound<ClientConnectionHandler>
        let context: NIOLoopBound<ChannelHandlerContext>

        func handleScheduledCallback(eventLoop: some EventLoop) {
            handler.value.deadlinesDue(context: context.value)
        }
    }

    private var deadlineTimer = DeadlineTimer()

    private let expectedPeer: ServiceName
    private let status: ConnectionStatus
    /// The largest frame the server accepts (from HELLO_ACK), never more than our own limit.
    private var peerMaxFrameSize: Int
    private let logger: Logger
    private let maxFrameSize: Int
    private let handshakePromise: EventLoopPromise<WireHelloAck>
    private var isOpen = false
    /// A PING is out and nothing has arrived since.
    private var awaitingPong = false
    private let keepaliveInterval: Duration
    /// Offer the `zlib` feature and compress request bodies above this size; nil: never.
    private let compressionThreshold: Int?
    private let maxDecompressedSize: Int
    /// Both sides agreed to the `zlib` feature.
    private var isCompressing = false
    private var keepaliveTimer: RepeatedTask?
    private var lastReadAt = NIODeadline.uptimeNanoseconds(0)
    private var nextStreamID: UInt32 = 1
    /// Requests written by many callers at once are flushed together.
    private let flush = CoalescedFlush()
    private var pendingByStream: [UInt32: UInt64] = [:]
    private var pending: [UInt64: Pending] = [:]
    private var context: ChannelHandlerContext?

    init(
        expectedPeer: ServiceName, maxFrameSize: Int, handshakePromise: EventLoopPromise<WireHelloAck>, status: ConnectionStatus,
        keepaliveInterval: Duration = .seconds(20), compressionThreshold: Int? = FrameCompression.defaultThreshold,
        maxDecompressedSize: Int = FrameCompression.defaultMaxDecompressedSize, logger: Logger
    ) {
        self.keepaliveInterval = keepaliveInterval
        self.compressionThreshold = compressionThreshold
        self.maxDecompressedSize = maxDecompressedSize
        self.expectedPeer = expectedPeer
        self.status = status
        self.peerMaxFrameSize = maxFrameSize
        self.logger = logger
        self.maxFrameSize = maxFrameSize
        self.handshakePromise = handshakePromise
    }

    /// True while new calls may be sent on this connection.
    var acceptsCalls: Bool { isOpen && !status.isGoingAway }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        lastReadAt = context.eventLoop.now
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let contextBound = NIOLoopBound(context, eventLoop: context.eventLoop)
        let interval = TimeAmount(keepaliveInterval)
        keepaliveTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            loopBound.value.keepaliveTick(context: contextBound.value)
        }
        var hello = WireHello()
        hello.minVersion = UInt32(Frame.currentVersion)
        hello.maxVersion = UInt32(Frame.currentVersion)
        hello.maxFrameSize = UInt32(maxFrameSize)
        if compressionThreshold != nil { hello.features = [FrameCompression.feature] }
        if let frame = try? Frame(type: .hello, streamID: 0, message: hello) {
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        }
        context.fireChannelActive()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            do {
                guard let certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                    throw WireProtocolError(.peerIdentityMismatch, "the server presented no certificate")
                }
                let name = try ServiceIdentity.serviceName(of: certificate)
                guard name == expectedPeer else {
                    throw WireProtocolError(.peerIdentityMismatch, "expected to reach \(expectedPeer), the certificate says \(name)")
                }
            } catch {
                handshakePromise.fail(error)
                context.close(promise: nil)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// Writes a call (on the event loop), or fails it when it cannot be sent. The caller waits
    /// on the call's continuation, which this handler resumes with the outcome.
    func send(_ call: OutboundCall) {
        guard let continuation = call.takeContinuation() else { return }
        guard let context, acceptsCalls else {
            continuation.resume(throwing: GuildError(.unavailable, "The connection to \(expectedPeer) is closing.", retryAfterSeconds: 1, reason: "connection_closing"))
            return
        }
        guard !call.isCancelled else {
            continuation.resume(throwing: GuildError(.cancelled, "The call was cancelled."))
            return
        }
        let streamID = nextStreamID
        nextStreamID &+= 1
        if nextStreamID == 0 {
            // Stream ids are spent: this is the connection's last call; new calls go to a new one.
            status.markGoingAway()
        }
        var request = call.request
        request.timeoutMs = UInt64(max(1, call.timeout.wholeMilliseconds))
        var frame: Frame
        do {
            frame = try WireEnvelope.requestFrame(streamID: streamID, header: request, payload: call.takePayload())
            if isCompressing, let threshold = compressionThreshold {
                frame = FrameCompression.compressIfWorthwhile(frame, threshold: threshold)
            }
        } catch {
            continuation.resume(throwing: GuildError(.internal, "The request could not be encoded."))
            return
        }
        guard frame.body.readableBytes + Frame.headerSize <= peerMaxFrameSize else {
            continuation.resume(throwing: GuildError(.invalidArgument, "The request is larger than the server's maximum frame size (\(peerMaxFrameSize) bytes)."))
            return
        }
        let deadline = context.eventLoop.now + TimeAmount(call.timeout)
        pending[call.callID] = Pending(streamID: streamID, continuation: continuation, method: call.request.method, deadline: deadline)
        armDeadlineTimer(at: deadline, context: context)
        pendingByStream[streamID] = call.callID
        context.write(wrapOutboundOut(frame), promise: nil)
        flush.request(context: context)
    }

    /// The caller gave up on a call (its task was cancelled): fails it and tells the server.
    func cancel(callID: UInt64) {
        guard let context else { return }
        cancel(callID: callID, error: GuildError(.cancelled, "The call was cancelled."), context: context)
    }

    private func armDeadlineTimer(at deadline: NIODeadline, context: ChannelHandlerContext) {
        deadlineTimer.arm(at: deadline, on: context.eventLoop, handler: DeadlineCallback(
            handler: NIOLoopBound(self, eventLoop: context.eventLoop), context: NIOLoopBound(context, eventLoop: context.eventLoop)))
    }

    /// Fails every call whose deadline has passed and tells the server (a CANCEL each), then
    /// watches the earliest deadline left.
    private func deadlinesDue(context: ChannelHandlerContext) {
        deadlineTimer.fired()
        let now = context.eventLoop.now
        var earliest: NIODeadline?
        for (callID, call) in pending {
            if call.deadline <= now {
                cancel(callID: callID, error: GuildError(.deadlineExceeded, "\(call.method) did not answer within its deadline."), context: context)
            } else {
                earliest = min(earliest ?? call.deadline, call.deadline)
            }
        }
        if let earliest { armDeadlineTimer(at: earliest, context: context) }
    }

    private func cancel(callID: UInt64, error: GuildError, context: ChannelHandlerContext) {
        guard let call = pending.removeValue(forKey: callID) else { return }
        pendingByStream[call.streamID] = nil
        call.fail(error)
        if context.channel.isActive {
            context.writeAndFlush(wrapOutboundOut(Frame(type: .cancel, streamID: call.streamID)), promise: nil)
        }
    }

    /// Nothing arrived for a keepalive interval: ping, or, when the last ping went unanswered
    /// for a whole interval, give the connection up.
    private func keepaliveTick(context: ChannelHandlerContext) {
        guard isOpen, context.eventLoop.now - lastReadAt >= TimeAmount(keepaliveInterval) else { return }
        if awaitingPong {
            let error = GuildError(.unavailable, "\(expectedPeer) stopped answering (no PONG).", retryAfterSeconds: 1, reason: "keepalive_timeout")
            status.markGoingAway()
            failAll(error)
            context.close(promise: nil)
            return
        }
        awaitingPong = true
        var ping = WirePing()
        ping.payload = UInt64.random(in: 0...UInt64.max)
        if let frame = try? Frame(type: .ping, streamID: 0, message: ping) {
            context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var frame = unwrapInboundIn(data)
        awaitingPong = false  // any frame shows the server is alive
        lastReadAt = context.eventLoop.now
        do {
            if frame.flags.contains(.compressed) {
                guard isCompressing, frame.type == .response else {
                    throw WireProtocolError(.unknownFlags, "the compressed flag on \(frame.type) without the zlib feature agreed")
                }
                do {
                    frame.body = try FrameCompression.decompress(frame.body, limit: maxDecompressedSize)
                } catch let error as GuildError {
                    // A bomb or garbage: this call fails, the connection goes on.
                    takePending(streamID: frame.streamID)?.fail(error)
                    return
                }
            }
            switch frame.type {
            case .helloAck:
                guard !isOpen else { throw WireProtocolError(.unexpectedFrame, "a second HELLO_ACK") }
                let ack: WireHelloAck = try frame.decodeBody()
                guard ack.version == UInt32(Frame.currentVersion) else {
                    throw WireProtocolError(.unsupportedVersion, "the server chose version \(ack.version)")
                }
                isOpen = true
                if ack.maxFrameSize >= UInt32(Frame.headerSize) {
                    peerMaxFrameSize = min(maxFrameSize, Int(ack.maxFrameSize))
                }
                isCompressing = compressionThreshold != nil && ack.features.contains(FrameCompression.feature)
                handshakePromise.succeed(ack)
            case .response:
                guard let call = takePending(streamID: frame.streamID) else { return }
                do {
                    call.continuation.resume(returning: try WireEnvelope.decodeResponse(frame.body))
                } catch {
                    call.fail(GuildError(.protocolViolation, "\(expectedPeer) sent a malformed RESPONSE.", reason: "malformed_body"))
                    throw error
                }
            case .error where frame.streamID == 0:
                let status: WireStatus = try frame.decodeBody()
                let error = GuildError(status)
                handshakePromise.fail(error)
                failAll(error)
                context.close(promise: nil)
            case .error:
                guard let call = takePending(streamID: frame.streamID) else { return }
                do {
                    let status: WireStatus = try frame.decodeBody()
                    call.fail(GuildError(status))
                } catch {
                    call.fail(GuildError(.protocolViolation, "\(expectedPeer) sent a malformed ERROR.", reason: "malformed_body"))
                    throw error
                }
            case .ping:
                context.writeAndFlush(wrapOutboundOut(Frame(type: .pong, streamID: 0, body: frame.body)), promise: nil)
            case .pong:
                break
            case .goAway:
                status.markGoingAway()
                if pending.isEmpty { context.close(promise: nil) }
            default:
                throw WireProtocolError(.unexpectedFrame, "a server does not send \(frame.type)")
            }
        } catch {
            let guildError = (error as? WireProtocolError)?.guildError ?? GuildError(.internal, "\(error)")
            handshakePromise.fail(guildError)
            failAll(guildError)
            if let violation = error as? WireProtocolError {
                WireErrorHandler.closeConnection(context: context, violation: violation, logger: logger)
            } else {
                context.close(promise: nil)
            }
        }
    }

    private func takePending(streamID: UInt32) -> Pending? {
        guard let callID = pendingByStream.removeValue(forKey: streamID), let call = pending.removeValue(forKey: callID) else {
            return nil  // cancelled or timed out already
        }
        return call
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let guildError = (error as? WireProtocolError)?.guildError
            ?? (error as? GuildError)
            ?? GuildError(.unavailable, "The connection to \(expectedPeer) failed: \(error)", retryAfterSeconds: 1)
        handshakePromise.fail(guildError)
        failAll(guildError)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        status.markGoingAway()
        keepaliveTimer?.cancel()
        let error = GuildError(.unavailable, "The connection to \(expectedPeer) closed.", retryAfterSeconds: 1, reason: "connection_closed")
        // Closed before the handshake completed: no call was sent on it, so any may be retried
        // (after the handshake this does nothing: the promise has succeeded).
        handshakePromise.fail(GuildError(
            .unavailable, "The connection to \(expectedPeer) closed before its handshake completed.", retryAfterSeconds: 1, reason: "handshake_failed"))
        failAll(error)
        isOpen = false
        context.fireChannelInactive()
    }

    private func failAll(_ error: GuildError) {
        deadlineTimer.cancel()
        let calls = pending.values
        pending.removeAll()
        pendingByStream.removeAll()
        for call in calls {
            call.fail(error)
        }
    }
}

/// What callers off the event loop may know about a connection: whether it still takes new calls.
final class ConnectionStatus: Sendable {
    private let goingAway = Atomic<Bool>(false)

    /// True once the server sent GOAWAY, the stream ids ran out, or the connection closed.
    var isGoingAway: Bool { goingAway.load(ordering: .acquiring) }

    func markGoingAway() { goingAway.store(true, ordering: .releasing) }
}
