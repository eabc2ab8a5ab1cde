import Foundation
import GuildCore
import GuildMessages
import Logging
import NIOCore
import Tracing
import NIOSSL
import NIOTLS

/// Serves calls on one connection: the handshake, then each REQUEST as its own task, answered by
/// a RESPONSE or an ERROR on the same stream id. State lives in a ``ServerConnectionState``.
final class ServerConnectionHandler: ChannelDuplexHandler {
    typealias InboundIn = Frame
    typealias OutboundIn = Frame
    typealias OutboundOut = Frame

    /// How the handler learns who the peer is.
    enum PeerIdentity {
        /// From the URI SAN of the TLS peer certificate, once the TLS handshake is done.
        case tls
        /// Fixed (tests on an embedded channel, without TLS).
        case fixed(ServiceName)
    }

    private let router: WireRouter
    private let configuration: WireServer.Configuration
    private let serviceName: ServiceName
    private var logger: Logger
    private var state: ServerConnectionState
    private var identity: ServiceName?
    private let identitySource: PeerIdentity
    /// Calls that have started and not yet been answered, by stream id.
    private var calls: [UInt32: RunningCall] = [:]
    private var context: ChannelHandlerContext?
    private var handshakeTimer: Scheduled<Void>?
    private var idleTimer: RepeatedTask?
    private var lastReadAt = NIODeadline.uptimeNanoseconds(0)
    /// The largest frame the client accepts (from its HELLO).
    private var peerMaxFrameSize = Frame.defaultMaxFrameSize
    /// Both sides agreed to the `zlib` feature.
    private var isCompressing = false

    private let load: WireServerLoad
    private let metrics: WireServerMetrics
    /// Where handlers run: this connection's event loop, unless configured otherwise.
    private var executor: EventLoopTaskExecutor?
    /// Answers of calls finishing in one turn of the event loop are flushed together.
    private let flush = CoalescedFlush()
    /// Between a read and its read-complete: answers made meanwhile are flushed at the
    /// read-complete (with no job for the loop), the others by ``flush``.
    private var isReading = false
    private var flushesAtReadComplete = false

    /// One call between its REQUEST and its answer.
    private struct RunningCall {
        /// When it started, for the latency metric.
        let startedAt: ContinuousClock.Instant
        /// The metrics of the method it runs (those of unknown methods until it is known).
        var metrics: WireServerMetrics.Method
        /// The handler's task, once started.
        var task: Task<Void, Never>?
        /// When the caller stops waiting (set once the handler runs).
        var deadline: NIODeadline?
    }

    /// Fires at the earliest deadline of the running calls.
    private var deadlineTimer = DeadlineTimer()

    init(router: WireRouter, configuration: WireServer.Configuration, serviceName: ServiceName, identity: PeerIdentity, load: WireServerLoad, metrics: WireServerMetrics, logger: Logger) {
        self.load = load
        self.metrics = metrics
        self.router = router
        self.configuration = configuration
        self.serviceName = serviceName
        self.identitySource = identity
        self.logger = logger
        self.state = ServerConnectionState(maxConcurrentCalls: configuration.maxConcurrentCallsPerConnection)
        if case .fixed(let name) = identity { self.identity = name }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if configuration.runsHandlersOnEventLoop {
            executor = EventLoopTaskExecutor(eventLoop: context.eventLoop)
        }
        if context.channel.isActive {
            startHandshakeTimer(context: context)
            startIdleTimer(context: context)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        startHandshakeTimer(context: context)
        startIdleTimer(context: context)
        context.fireChannelActive()
    }

    private func startHandshakeTimer(context: ChannelHandlerContext) {
        guard handshakeTimer == nil else { return }
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        handshakeTimer = context.eventLoop.scheduleTask(in: TimeAmount(configuration.handshakeTimeout)) {
            loopBound.value.handshakeTimedOut()
        }
    }

    private func handshakeTimedOut() {
        guard case .awaitingHello = state.state, let context else { return }
        fail(WireProtocolError(.handshakeTimeout, "no HELLO within \(configuration.handshakeTimeout)"), context: context)
    }

    /// Ends the connection for a protocol violation this handler detected.
    private func fail(_ error: any Error, context: ChannelHandlerContext) {
        state.closed()
        cancelAllCalls()
        let violation = error as? WireProtocolError
            ?? WireProtocolError(.peerIdentityMismatch, "the peer could not be identified")
        WireErrorHandler.closeConnection(context: context, violation: violation, logger: logger)
    }

    /// Checks, a few times per idle timeout, whether anything arrived lately.
    private func startIdleTimer(context: ChannelHandlerContext) {
        guard idleTimer == nil else { return }
        lastReadAt = context.eventLoop.now
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let period = TimeAmount.nanoseconds(TimeAmount(configuration.idleTimeout).nanoseconds / 4)
        idleTimer = context.eventLoop.scheduleRepeatedTask(initialDelay: period, delay: period) { _ in
            loopBound.value.checkIdle()
        }
    }

    private func checkIdle() {
        guard let context, context.eventLoop.now - lastReadAt >= TimeAmount(configuration.idleTimeout) else { return }
        closeIdle(context: context)
    }

    /// Nothing arrived for the idle timeout: the peer is gone or silent. Says GOAWAY, then closes.
    private func closeIdle(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        logger.info("closing idle connection", metadata: ["timeout": "\(configuration.idleTimeout)"])
        cancelAllCalls()
        let goAway = goAwayFrame(reason: "idle timeout")
        state.closed()
        context.writeAndFlush(wrapOutboundOut(goAway)).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    /// A GOAWAY naming the last stream this connection took.
    private func goAwayFrame(reason: String) -> Frame {
        var goAway = WireGoAway()
        goAway.lastStreamID = state.highestStreamID
        goAway.reason = reason
        // Serializing a GoAway cannot fail: it holds an integer and a string.
        return (try? Frame(type: .goAway, streamID: 0, message: goAway)) ?? Frame(type: .goAway, streamID: 0)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent, case .tls = identitySource {
            do {
                guard let certificate = try context.pipeline.syncOperations.nioSSL_peerCertificate() else {
                    throw WireProtocolError(.peerIdentityMismatch, "the peer presented no certificate")
                }
                identity = try ServiceIdentity.serviceName(of: certificate)
                logger[metadataKey: "peer"] = "\(identity!)"
            } catch {
                fail(error, context: context)
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let frame = unwrapInboundIn(data)
        isReading = true
        lastReadAt = context.eventLoop.now
        if case .closed = state.state { return }
        let action: ServerConnectionState.Action
        if frame.type == .hello {
            do {
                let hello: WireHello = try frame.decodeBody()
                if hello.maxFrameSize >= UInt32(Frame.headerSize) {
                    peerMaxFrameSize = min(Int(hello.maxFrameSize), configuration.maxFrameSize)
                }
                isCompressing = configuration.compressionThreshold != nil && hello.features.contains(FrameCompression.feature)
                action = state.receivedHello(minVersion: hello.minVersion, maxVersion: hello.maxVersion)
            } catch {
                fail(error, context: context)
                return
            }
        } else {
            if frame.flags.contains(.compressed), !(isCompressing && frame.type == .request) {
                fail(WireProtocolError(.unknownFlags, "the compressed flag on \(frame.type) without the zlib feature agreed"), context: context)
                return
            }
            action = state.receivedFrame(type: frame.type, streamID: frame.streamID)
        }
        perform(action, frame: frame, context: context)
    }

    private func perform(_ action: ServerConnectionState.Action, frame: Frame, context: ChannelHandlerContext) {
        switch action {
        case .acceptHello(let version):
            handshakeTimer?.cancel()
            var ack = WireHelloAck()
            ack.version = UInt32(version)
            ack.maxFrameSize = UInt32(configuration.maxFrameSize)
            ack.maxConcurrentCalls = UInt32(configuration.maxConcurrentCallsPerConnection)
            if isCompressing { ack.features = [FrameCompression.feature] }
            send(try? Frame(type: .helloAck, streamID: 0, message: ack), context: context)
        case .startCall(let streamID):
            startCall(frame: frame, streamID: streamID, context: context)
        case .refuseCall(let streamID):
            send(.error(GuildError(.resourceExhausted, "Too many calls in flight on this connection (limit \(configuration.maxConcurrentCallsPerConnection)).", retryAfterSeconds: 1), streamID: streamID), context: context)
        case .refuseDraining(let streamID):
            send(.error(GuildError(.unavailable, "The server is shutting down; use another connection.", retryAfterSeconds: 1, reason: "draining"), streamID: streamID), context: context)
        case .cancelCall(let streamID):
            calls[streamID]?.task?.cancel()
        case .pong:
            send(Frame(type: .pong, streamID: 0, body: frame.body), context: context)
        case .ignore:
            break
        case .fail(let error):
            fail(error, context: context)
        }
    }

    private func startCall(frame: Frame, streamID: UInt32, context: ChannelHandlerContext) {
        var call = RunningCall(startedAt: .now, metrics: metrics.unknown)
        var frame = frame
        if frame.flags.contains(.compressed) {
            do {
                frame.body = try FrameCompression.decompress(frame.body, limit: configuration.maxDecompressedSize)
            } catch let error as GuildError {
                refuse(streamID: streamID, call, error)
                return
            } catch {
                refuse(streamID: streamID, call, GuildError(.invalidArgument, "The compressed body is invalid."))
                return
            }
        }
        let request: WireRequest
        let payload: ByteBuffer
        do {
            (request, payload) = try WireEnvelope.decodeRequest(frame.body)
        } catch {
            refuse(streamID: streamID, call, GuildError(.invalidArgument, "The REQUEST body is not a valid request."))
            return
        }
        if let problem = metadataProblem(request.metadata) {
            refuse(streamID: streamID, call, GuildError(.invalidArgument, problem, reason: "metadata_too_large"))
            return
        }
        guard let caller = identity else {
            refuse(streamID: streamID, call, GuildError(.unauthenticated, "The peer's identity is unknown."))
            return
        }
        guard let method = router.method(named: request.method) else {
            refuse(streamID: streamID, call, GuildError(.unimplemented, "\(serviceName) has no method \(request.method.prefix(128))."))
            return
        }
        call.metrics = metrics.method(method)
        guard method.allowedCallers.contains(caller) else {
            refuse(streamID: streamID, call, GuildError(.permissionDenied, "\(caller) may not call \(request.method.prefix(128))."))
            return
        }
        guard load.tryAcquire() else {
            refuse(streamID: streamID, call, GuildError(
                .resourceExhausted, "\(serviceName) is at its limit of \(load.limit) calls in flight; try again shortly.",
                retryAfterSeconds: 1, reason: "server_overloaded"))
            return
        }
        var timeout = configuration.defaultCallTimeout
        if request.timeoutMs > 0 {
            timeout = min(.milliseconds(Int64(clamping: request.timeoutMs)), configuration.maxCallTimeout)
        }
        let deadline = call.startedAt + timeout
        let callContext = CallContext(caller: caller, method: request.method, metadata: request.metadata, deadline: deadline, logger: logger)
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        let eventLoop = context.eventLoop
        // The deadline is watched on the loop: when it passes first, the caller is answered at
        // once and the handler's task cancelled.
        let loopDeadline = eventLoop.now + TimeAmount(timeout)
        call.deadline = loopDeadline
        calls[streamID] = call
        deadlineTimer.arm(at: loopDeadline, on: eventLoop, handler: DeadlineCallback(handler: loopBound))
        let (startedAt, logsCalls) = (call.startedAt, logger.logLevel <= .debug)
        let body: @Sendable () async -> Void = {
            // The answer's buffer is moved, never copied, on its way to the frame: with a single
            // owner, the frame's prefix is written into the room in front of it in place.
            // The call runs in the request's context: its id and the caller's trace context,
            // under a server span, so what it calls and logs carries both on.
            let serviceContext = RequestTraceMetadata.context(metadata: callContext.metadata)
            let result: Result<WirePayload, GuildError> = await withSpan(callContext.method, context: serviceContext, ofKind: .server) { span in
                let result: Result<WirePayload, GuildError>
                do {
                    let bytes = try await RequestDeadline.$current.withValue(deadline) {
                        try await method.invoke(payload, callContext)
                    }
                    result = .success(consume bytes)
                } catch let error as GuildError {
                    result = .failure(error)
                } catch is CancellationError {
                    result = .failure(GuildError(.cancelled, "The call was cancelled."))
                } catch {
                    callContext.logger.error("method failed", metadata: ["error": "\(String(reflecting: error))"])
                    result = .failure(GuildError(.internal, "Internal error."))
                }
                let code: GuildError.Code? = if case .failure(let error) = result { error.code } else { nil }
                if let code {
                    span.attributes["guild.wire.code"] = code.name
                    if code == .internal || code == .unavailable || code == .deadlineExceeded { span.setStatus(SpanStatus(code: .error)) }
                }
                if logsCalls {
                    callContext.logger.debug("call served", metadata: ["code": "\(code?.name ?? "ok")", "us": "\((ContinuousClock.now - startedAt).wholeNanoseconds / 1000)"])
                }
                return result
            }
            if eventLoop.inEventLoop {
                loopBound.value.callReturned(streamID: streamID, with: consume result)
            } else {
                eventLoop.execute { loopBound.value.callReturned(streamID: streamID, with: result) }
            }
        }
        // On the loop, the handler starts at once, inside this read, and runs until it first
        // waits: a handler that does not wait answers in this turn of the loop, with no job
        // enqueued. Otherwise it is a task on the global executor.
        let task = if let executor { Task.immediate(executorPreference: executor, operation: body) } else { Task(operation: body) }
        // A handler that finished has already removed its call; then this does nothing.
        calls[streamID]?.task = task
    }

    /// Answers a call that never reached its handler.
    private func refuse(streamID: UInt32, _ call: RunningCall, _ error: GuildError) {
        answer(streamID: streamID, call, with: .failure(error), batched: false)
    }

    /// The handler's task ended (answered, failed, or gave up after cancellation).
    private func callReturned(streamID: UInt32, with result: consuming Result<WirePayload, GuildError>) {
        load.release()
        finish(streamID: streamID, with: consume result, batched: true)
    }

    /// Fires at the earliest deadline.
    private struct DeadlineCallback: NIOScheduledCallbackHandler, Sendable {
        let handler: NIOLoopBound<ServerConnectionHandler>

        func handleScheduledCallback(eventLoop: some EventLoop) {
            handler.value.deadlinesDue()
        }
    }

    /// Answers every call whose deadline has passed with `deadline_exceeded` and cancels its
    /// handler, then watches the earliest deadline left.
    private func deadlinesDue() {
        deadlineTimer.fired()
        guard let context else { return }
        let now = context.eventLoop.now
        var earliest: NIODeadline?
        for (streamID, call) in calls {
            guard let deadline = call.deadline else { continue }
            if deadline <= now {
                call.task?.cancel()
                finish(streamID: streamID, with: .failure(GuildError(.deadlineExceeded, "The deadline passed before the call completed.")))
            } else {
                earliest = min(earliest ?? deadline, deadline)
            }
        }
        if let earliest {
            deadlineTimer.arm(at: earliest, on: context.eventLoop, handler: DeadlineCallback(handler: NIOLoopBound(self, eventLoop: context.eventLoop)))
        }
    }

    private func cancelAllCalls() {
        deadlineTimer.cancel()
        for call in calls.values { call.task?.cancel() }
        calls.removeAll()
    }

    /// Why request metadata is refused, if it is: too many entries, too many bytes.
    private func metadataProblem(_ metadata: [String: String]) -> String? {
        if metadata.count > configuration.maxMetadataEntries {
            return "The request carries \(metadata.count) metadata entries; the limit is \(configuration.maxMetadataEntries)."
        }
        let bytes = metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
        if bytes > configuration.maxMetadataBytes {
            return "The request carries \(bytes) bytes of metadata; the limit is \(configuration.maxMetadataBytes)."
        }
        return nil
    }

    /// Answers a call, once: a call already answered (at its deadline) or given up is ignored.
    /// A `batched` answer (from a handler's task) is flushed together with others finishing in
    /// the same turn of the event loop; the rest are flushed at once.
    private func finish(streamID: UInt32, with result: consuming Result<WirePayload, GuildError>, batched: Bool = false) {
        guard let call = calls.removeValue(forKey: streamID) else { return }
        answer(streamID: streamID, call, with: consume result, batched: batched)
    }

    private func answer(streamID: UInt32, _ call: RunningCall, with result: consuming Result<WirePayload, GuildError>, batched: Bool) {
        let code: GuildError.Code? = if case .failure(let error) = result { error.code } else { nil }
        call.metrics.record(code: code, duration: .now - call.startedAt)
        let shouldClose = state.callFinished(streamID: streamID)
        guard let context else { return }
        switch consume result {
        case .success(let bytes):
            var frame = WireEnvelope.responseFrame(streamID: streamID, payload: consume bytes)
            if isCompressing, let threshold = configuration.compressionThreshold {
                frame = FrameCompression.compressIfWorthwhile(frame, threshold: threshold)
            }
            if frame.body.readableBytes + Frame.headerSize > peerMaxFrameSize {
                answer(.error(GuildError(.resourceExhausted, "The response is larger than the client's maximum frame size (\(peerMaxFrameSize) bytes).", reason: "response_too_large"), streamID: streamID), batched: batched, context: context)
            } else {
                answer(frame, batched: batched, context: context)
            }
        case .failure(let error):
            // A cancelled call was given up by the client, which expects no answer.
            if error.code != .cancelled {
                answer(.error(error, streamID: streamID), batched: batched, context: context)
            }
        }
        if shouldClose {
            context.flush()
            context.close(promise: nil)
        }
    }

    private func answer(_ frame: Frame?, batched: Bool, context: ChannelHandlerContext) {
        if batched { sendSoon(frame, context: context) } else { send(frame, context: context) }
    }

    private func send(_ frame: Frame?, context: ChannelHandlerContext) {
        guard let frame else { return }
        context.writeAndFlush(wrapOutboundOut(frame), promise: nil)
    }

    /// Writes an answer, to be flushed with the others of this turn of the event loop: at the
    /// read-complete when made inside a read, otherwise once the loop has run what is queued.
    private func sendSoon(_ frame: Frame?, context: ChannelHandlerContext) {
        guard let frame else { return }
        context.write(wrapOutboundOut(frame), promise: nil)
        if isReading {
            flushesAtReadComplete = true
        } else {
            flush.request(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        isReading = false
        if flushesAtReadComplete {
            flushesAtReadComplete = false
            context.flush()
        }
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        handshakeTimer?.cancel()
        idleTimer?.cancel()
        cancelAllCalls()
        state.closed()
        context.fireChannelInactive()
    }

    /// Starts a graceful drain: a GOAWAY frame, no new calls, close when the last call ends.
    func drain(context: ChannelHandlerContext) {
        send(goAwayFrame(reason: "server shutting down"), context: context)
        if state.beginDraining() { context.close(promise: nil) }
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        if event is WireServer.DrainEvent {
            drain(context: context)
            promise?.succeed()
        } else {
            context.triggerUserOutboundEvent(event, promise: promise)
        }
    }
}
