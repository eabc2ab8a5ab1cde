import GuildCore
import GuildMessages
import NIOCore
import Logging
import NIOEmbedded
import Testing

@testable import GuildWire

/// The server's connection state machine and handler, without sockets: handshake, stream rules,
/// authorization, ping.
@Suite("Server connection")
struct ServerConnectionTests {
    static let adminOnly = MethodDescriptor<WireHealthRequest, WireHealthResponse>("test.AdminOnly", idempotent: true, allowedCallers: [.cli])

    func makeChannel(caller: ServiceName = .gateway, handshakeTimeout: Duration = .seconds(10)) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        var configuration = WireServer.Configuration()
        configuration.handshakeTimeout = handshakeTimeout
        let router = WireRouter([WireMethod(Self.adminOnly) { _, _ in WireHealthResponse() }])
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        try WireServer.configureServerPipeline(
            channel.pipeline.syncOperations, router: router, serviceName: .auth,
            peer: caller, configuration: configuration, logger: .init(label: "test"))
        return channel
    }

    func send(_ frame: Frame, to channel: EmbeddedChannel) throws {
        var bytes = ByteBuffer()
        FrameEncoder.encode(frame, into: &bytes)
        try channel.writeInbound(bytes)
    }

    func readFrame(_ channel: EmbeddedChannel) throws -> Frame? {
        guard var bytes = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
        return try FrameDecoder.decodeFrame(from: &bytes, maxFrameSize: 1 << 20)
    }

    func hello(min: UInt32 = 1, max: UInt32 = 1) throws -> Frame {
        var hello = WireHello()
        hello.minVersion = min
        hello.maxVersion = max
        hello.maxFrameSize = 1 << 20
        return try Frame(type: .hello, streamID: 0, message: hello)
    }

    func request(_ method: String, stream: UInt32) throws -> Frame {
        var request = WireRequest()
        request.method = method
        request.timeoutMs = 1000
        return try Frame(type: .request, streamID: stream, message: request)
    }

    @Test("HELLO is answered with HELLO_ACK naming version 1 and the limits")
    func handshake() throws {
        let channel = try makeChannel()
        try send(try hello(min: 1, max: 5), to: channel)
        let ack = try #require(try readFrame(channel))
        #expect(ack.type == .helloAck)
        let body = try ack.decodeBody(as: WireHelloAck.self)
        #expect(body.version == 1)
        #expect(body.maxFrameSize == UInt32(Frame.defaultMaxFrameSize))
        #expect(body.maxConcurrentCalls == 100)
    }

    @Test("no common version: ERROR unsupported_version and close")
    func noCommonVersion() throws {
        let channel = try makeChannel()
        _ = try? send(try hello(min: 2, max: 3), to: channel)
        let error = try #require(try readFrame(channel))
        #expect(error.type == .error && error.streamID == 0)
        #expect(try error.decodeBody(as: WireStatus.self).reason == "unsupported_version")
        #expect(!channel.isActive)
    }

    @Test("a REQUEST before HELLO is a protocol violation")
    func requestBeforeHello() throws {
        let channel = try makeChannel()
        _ = try? send(try request("test.AdminOnly", stream: 1), to: channel)
        let error = try #require(try readFrame(channel))
        #expect(try error.decodeBody(as: WireStatus.self).reason == "handshake_required")
        #expect(!channel.isActive)
    }

    @Test("a peer that never says HELLO is dropped after the handshake timeout")
    func handshakeTimeout() throws {
        let channel = try makeChannel(handshakeTimeout: .seconds(2))
        channel.embeddedEventLoop.advanceTime(by: .seconds(1))
        #expect(channel.isActive)
        _ = try? { channel.embeddedEventLoop.advanceTime(by: .seconds(2)); try channel.throwIfErrorCaught() }()
        let error = try #require(try readFrame(channel))
        #expect(try error.decodeBody(as: WireStatus.self).reason == "handshake_timeout")
        #expect(!channel.isActive)
    }

    @Test("a caller not allowed for a method gets permission_denied on that stream; the connection stays open")
    func permissionDenied() throws {
        let channel = try makeChannel(caller: .gateway)
        try send(try hello(), to: channel)
        _ = try readFrame(channel)
        try send(try request("test.AdminOnly", stream: 1), to: channel)
        let error = try #require(try readFrame(channel))
        #expect(error.type == .error && error.streamID == 1)
        #expect(try error.decodeBody(as: WireStatus.self).code == GuildError.Code.permissionDenied.rawValue)
        #expect(channel.isActive)
    }

    @Test("an unknown method is unimplemented")
    func unknownMethod() throws {
        let channel = try makeChannel()
        try send(try hello(), to: channel)
        _ = try readFrame(channel)
        try send(try request("test.Nope", stream: 1), to: channel)
        let error = try #require(try readFrame(channel))
        #expect(try error.decodeBody(as: WireStatus.self).code == GuildError.Code.unimplemented.rawValue)
    }

    @Test("stream ids must be non-zero and increase", arguments: [UInt32(0), 3])
    func streamIDRules(_ second: UInt32) throws {
        let channel = try makeChannel()
        try send(try hello(), to: channel)
        _ = try readFrame(channel)
        try send(try request("test.Nope", stream: 5), to: channel)
        _ = try readFrame(channel)
        _ = try? send(try request("test.Nope", stream: second), to: channel)
        let error = try #require(try readFrame(channel))
        #expect(error.streamID == 0)
        #expect(try error.decodeBody(as: WireStatus.self).reason == "invalid_stream_id")
        #expect(!channel.isActive)
    }

    @Test("PING is answered with PONG carrying the same payload")
    func ping() throws {
        let channel = try makeChannel()
        try send(try hello(), to: channel)
        _ = try readFrame(channel)
        var ping = WirePing()
        ping.payload = 0x0102_0304_0506_0708
        try send(try Frame(type: .ping, streamID: 0, message: ping), to: channel)
        let pong = try #require(try readFrame(channel))
        #expect(pong.type == .pong)
        #expect(try pong.decodeBody(as: WirePing.self).payload == 0x0102_0304_0506_0708)
    }

    @Test("state machine: the concurrency limit refuses the extra call; draining refuses new ones and closes when idle")
    func stateMachineLimits() {
        var state = ServerConnectionState(maxConcurrentCalls: 2)
        #expect(state.receivedHello(minVersion: 1, maxVersion: 1) == .acceptHello(version: 1))
        #expect(state.receivedFrame(type: .request, streamID: 1) == .startCall(streamID: 1))
        #expect(state.receivedFrame(type: .request, streamID: 3) == .startCall(streamID: 3))
        #expect(state.receivedFrame(type: .request, streamID: 5) == .refuseCall(streamID: 5))
        #expect(state.receivedFrame(type: .cancel, streamID: 1) == .cancelCall(streamID: 1))
        #expect(state.receivedFrame(type: .cancel, streamID: 99) == .ignore)
        #expect(state.callFinished(streamID: 1) == false)
        #expect(state.beginDraining() == false)
        #expect(state.receivedFrame(type: .request, streamID: 7) == .refuseDraining(streamID: 7))
        #expect(state.callFinished(streamID: 3) == true)
        #expect(state.state == .closed)
    }

    @Test("state machine: a second HELLO and server-only frames from a client are violations")
    func stateMachineViolations() {
        var state = ServerConnectionState(maxConcurrentCalls: 2)
        _ = state.receivedHello(minVersion: 1, maxVersion: 1)
        guard case .fail(let error) = state.receivedHello(minVersion: 1, maxVersion: 1) else {
            Issue.record("second HELLO accepted")
            return
        }
        #expect(error.reason == .unexpectedFrame)
        var other = ServerConnectionState(maxConcurrentCalls: 2)
        _ = other.receivedHello(minVersion: 1, maxVersion: 1)
        guard case .fail(let response) = other.receivedFrame(type: .response, streamID: 1) else {
            Issue.record("RESPONSE from a client accepted")
            return
        }
        #expect(response.reason == .unexpectedFrame)
    }
}

/// Deadlines of calls sharing one connection, on a virtual clock.
@Suite("Server deadlines")
struct ServerDeadlineTests {
    static let stall = MethodDescriptor<WireHealthRequest, WireHealthResponse>("test.Stall", idempotent: true, allowedCallers: [.gateway])

    @Test("each call's deadline is enforced on its own, earliest first, whatever order the calls came in")
    func deadlinesInAnyOrder() throws {
        let channel = EmbeddedChannel()
        let router = WireRouter([WireMethod(Self.stall) { _, _ in
            try await Task.sleep(for: .seconds(600))
            return WireHealthResponse()
        }])
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        try WireServer.configureServerPipeline(
            channel.pipeline.syncOperations, router: router, serviceName: .auth, peer: .gateway, logger: .init(label: "test"))
        let helper = ServerConnectionTests()
        try helper.send(try helper.hello(), to: channel)
        #expect(try helper.readFrame(channel)?.type == .helloAck)

        for (stream, timeout) in [(1, 5_000), (3, 100), (5, 2_000)] as [(UInt32, UInt64)] {
            var request = WireRequest()
            request.method = Self.stall.name
            request.timeoutMs = timeout
            try helper.send(try Frame(type: .request, streamID: stream, message: request), to: channel)
        }
        func expired() throws -> [UInt32] {
            var streams: [UInt32] = []
            while let frame = try helper.readFrame(channel) {
                #expect(frame.type == .error)
                #expect(try frame.decodeBody(as: WireStatus.self).code == GuildError.Code.deadlineExceeded.rawValue)
                streams.append(frame.streamID)
            }
            return streams
        }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(99))
        #expect(try expired() == [])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(2))
        #expect(try expired() == [3])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1_900))
        #expect(try expired() == [5])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(3_000))
        #expect(try expired() == [1])
    }
}
