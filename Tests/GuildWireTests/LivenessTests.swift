import GuildCore
import GuildMessages
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import GuildWire

/// Keepalive pings and idle timeouts, with a clock the test moves.
@Suite("Liveness")
struct LivenessTests {
    static func helloFrame() throws -> Frame {
        var hello = WireHello()
        hello.minVersion = 1
        hello.maxVersion = 1
        return try Frame(type: .hello, streamID: 0, message: hello)
    }

    static func encoded(_ frame: Frame) -> ByteBuffer {
        var buffer = ByteBuffer()
        FrameEncoder.encode(frame, into: &buffer)
        return buffer
    }

    static func writtenFrames(_ channel: EmbeddedChannel) throws -> [Frame] {
        var frames: [Frame] = []
        while var bytes = try channel.readOutbound(as: ByteBuffer.self) {
            while let frame = try FrameDecoder.decodeFrame(from: &bytes, maxFrameSize: 1 << 20) { frames.append(frame) }
        }
        return frames
    }

    @Test("the server closes a connection on which nothing arrives for the idle timeout, with GOAWAY")
    func serverIdleTimeout() throws {
        let channel = EmbeddedChannel()
        var configuration = WireServer.Configuration()
        configuration.idleTimeout = .seconds(5)
        try WireServer.configureServerPipeline(channel.pipeline.syncOperations, router: WireRouter(), serviceName: .auth, peer: .gateway, configuration: configuration, logger: Logger(label: "test"))
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        try channel.writeInbound(Self.encoded(try Self.helloFrame()))
        // Traffic every 3 s keeps it open.
        for _ in 0..<4 {
            channel.embeddedEventLoop.advanceTime(by: .seconds(3))
            try channel.writeInbound(Self.encoded(Frame(type: .ping, streamID: 0)))
        }
        #expect(channel.isActive)
        _ = try Self.writtenFrames(channel)
        channel.embeddedEventLoop.advanceTime(by: .seconds(6))
        let frames = try Self.writtenFrames(channel)
        #expect(frames.last?.type == .goAway)
        #expect(try frames.last?.decodeBody(as: WireGoAway.self).reason == "idle timeout")
        #expect(!channel.isActive)
    }

    @Test("the client pings an idle connection and gives it up when the ping goes unanswered")
    func clientKeepalive() throws {
        let channel = EmbeddedChannel()
        let handshake = channel.eventLoop.makePromise(of: WireHelloAck.self)
        let status = ConnectionStatus()
        try channel.pipeline.syncOperations.addHandler(ClientConnectionHandler(
            expectedPeer: .auth, maxFrameSize: 1 << 20, handshakePromise: handshake, status: status,
            keepaliveInterval: .seconds(2), logger: Logger(label: "test")))
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        #expect(try channel.readOutbound(as: Frame.self)?.type == .hello)
        var ack = WireHelloAck()
        ack.version = 1
        ack.maxFrameSize = 1 << 20
        try channel.writeInbound(try Frame(type: .helloAck, streamID: 0, message: ack))

        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        let ping = try #require(try channel.readOutbound(as: Frame.self))
        #expect(ping.type == .ping)
        try channel.writeInbound(Frame(type: .pong, streamID: 0, body: ping.body))
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(try channel.readOutbound(as: Frame.self)?.type == .ping)
        #expect(channel.isActive)

        // No answer this time: after another interval the connection is given up.
        channel.embeddedEventLoop.advanceTime(by: .seconds(2))
        #expect(!channel.isActive)
        #expect(status.isGoingAway)
    }
}
