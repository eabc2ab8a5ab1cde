import GuildCore
import GuildMessages
import NIOCore
import Logging
import NIOEmbedded
import Testing

@testable import GuildWire

/// The frame codec and connection error handling, on an embedded channel (no sockets).
@Suite("Frame codec")
struct FrameCodecTests {
    static let maxFrameSize = 1024

    func makeChannel() throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(FrameDecoder(maxFrameSize: Self.maxFrameSize)))
        try channel.pipeline.syncOperations.addHandler(FrameEncoder())
        try channel.pipeline.syncOperations.addHandler(WireErrorHandler(logger: .init(label: "test")))
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    @Test("a frame survives encode and decode, delivered one byte at a time")
    func roundTrip() throws {
        let channel = try makeChannel()
        let frame = Frame(type: .request, streamID: 0xDEAD_BEEF, body: ByteBuffer(bytes: [1, 2, 3, 4, 5]))
        var bytes = ByteBuffer()
        FrameEncoder.encode(frame, into: &bytes)
        #expect(Array(bytes.readableBytesView) == [0, 0, 0, 13, 1, 0x03, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF, 1, 2, 3, 4, 5])
        for byte in bytes.readableBytesView {
            try channel.writeInbound(ByteBuffer(bytes: [byte]))
        }
        #expect(try channel.readInbound(as: Frame.self) == frame)
        #expect(try channel.readInbound(as: Frame.self) == nil)
        #expect(channel.isActive)
    }

    @Test("two frames in one read both arrive, in order")
    func twoFramesInOneRead() throws {
        let channel = try makeChannel()
        var bytes = ByteBuffer()
        FrameEncoder.encode(Frame(type: .ping, streamID: 0, body: ByteBuffer(bytes: [9])), into: &bytes)
        FrameEncoder.encode(Frame(type: .cancel, streamID: 7), into: &bytes)
        try channel.writeInbound(bytes)
        #expect(try channel.readInbound(as: Frame.self)?.type == .ping)
        #expect(try channel.readInbound(as: Frame.self)?.streamID == 7)
    }

    @Test("a frame made with its prefix is sent as made, or rewritten when changed since")
    func prefixedFrames() throws {
        let channel = try makeChannel()
        var ping = WirePing()
        ping.payload = 0x0102
        let made = try Frame(type: .ping, streamID: 0, message: ping)
        // Changed after it was made: the encoder must not send the prefix written then.
        var changed = made
        changed.streamID = 9
        changed.type = .pong
        // Sent again after the changed copy: rewriting that one's prefix did not touch this one's.
        for frame in [made, changed, made] {
            try channel.writeOutbound(frame)
            var expected = ByteBuffer()
            FrameEncoder.encode(frame, into: &expected)
            #expect(try channel.readOutbound(as: ByteBuffer.self) == expected)
        }
    }

    struct BadFrame: Sendable, CustomTestStringConvertible {
        let name: String
        let bytes: [UInt8]
        let reason: WireProtocolError.Reason
        var testDescription: String { name }
    }

    static let badFrames: [BadFrame] = [
        // Only the length field arrives: refused before any body is buffered.
        BadFrame(name: "length over the maximum", bytes: [0, 0, 0x04, 0x01], reason: .frameTooLarge),
        BadFrame(name: "length of 4 GiB", bytes: [0xFF, 0xFF, 0xFF, 0xFF], reason: .frameTooLarge),
        BadFrame(name: "length shorter than the header", bytes: [0, 0, 0, 7, 1, 3, 0, 0, 0, 0, 0], reason: .frameTooShort),
        BadFrame(name: "unknown frame type", bytes: [0, 0, 0, 8, 1, 0x7F, 0, 0, 0, 0, 0, 1], reason: .unknownFrameType),
        BadFrame(name: "wrong version", bytes: [0, 0, 0, 8, 2, 0x03, 0, 0, 0, 0, 0, 1], reason: .unsupportedVersion),
        BadFrame(name: "version zero", bytes: [0, 0, 0, 8, 0, 0x03, 0, 0, 0, 0, 0, 1], reason: .unsupportedVersion),
        BadFrame(name: "unknown flags", bytes: [0, 0, 0, 8, 1, 0x03, 0x80, 0x00, 0, 0, 0, 1], reason: .unknownFlags),
    ]

    @Test("a bad frame gets an ERROR frame on stream 0 and a closed connection", arguments: badFrames)
    func badFrameClosesConnection(_ bad: BadFrame) throws {
        let channel = try makeChannel()
        #expect(throws: WireProtocolError.self) {
            try channel.writeInbound(ByteBuffer(bytes: bad.bytes))
        }
        let status = try Self.readConnectionError(channel)
        #expect(status.code == GuildError.Code.protocolViolation.rawValue)
        #expect(status.reason == bad.reason.rawValue)
        #expect(!status.message.isEmpty)
        #expect(!channel.isActive)
        // Whatever arrives afterwards is ignored, not decoded and not crashing.
        _ = try? channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 8, 1, 3, 0, 0, 0, 0, 0, 1]))
        #expect(try channel.readInbound(as: Frame.self) == nil)
    }

    @Test("a connection that ends inside a frame is a truncated-frame error, not a crash")
    func truncatedFrame() throws {
        let channel = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [0, 0, 0, 20, 1, 3, 0, 0, 0, 0, 0, 1, 42]))
        #expect(try channel.readInbound(as: Frame.self) == nil)
        #expect(throws: WireProtocolError(.truncatedFrame, "the connection ended inside a frame (13 bytes pending)")) {
            try channel.pipeline.fireChannelInactive()
            try channel.throwIfErrorCaught()
        }
    }

    /// Reads the ERROR frame the channel wrote on stream 0.
    static func readConnectionError(_ channel: EmbeddedChannel) throws -> WireStatus {
        var written = try #require(try channel.readOutbound(as: ByteBuffer.self))
        let frame = try #require(try FrameDecoder.decodeFrame(from: &written, maxFrameSize: maxFrameSize))
        #expect(frame.type == .error)
        #expect(frame.streamID == 0)
        return try frame.decodeBody(as: WireStatus.self)
    }
}
