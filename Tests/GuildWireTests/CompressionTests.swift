import CompressNIO
import GuildCore
import GuildMessages
import GuildTesting
import Logging
import NIOCore
import NIOEmbedded
import Testing

@testable import GuildWire

/// zlib compression of bodies: negotiated in the handshake, bounded on inflate.
@Suite("Compression")
struct CompressionTests {
    static func makeChannel(maxDecompressedSize: Int = FrameCompression.defaultMaxDecompressedSize) throws -> EmbeddedChannel {
        let channel = EmbeddedChannel()
        var configuration = WireServer.Configuration()
        configuration.maxDecompressedSize = maxDecompressedSize
        try WireServer.configureServerPipeline(channel.pipeline.syncOperations, router: WireRouter(), serviceName: .auth, peer: .gateway, configuration: configuration, logger: Logger(label: "test"))
        try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
        return channel
    }

    static func send(_ frame: Frame, to channel: EmbeddedChannel) throws {
        var bytes = ByteBuffer()
        FrameEncoder.encode(frame, into: &bytes)
        try channel.writeInbound(bytes)
    }

    static func read(_ channel: EmbeddedChannel) throws -> Frame? {
        guard var bytes = try channel.readOutbound(as: ByteBuffer.self) else { return nil }
        return try FrameDecoder.decodeFrame(from: &bytes, maxFrameSize: 1 << 20)
    }

    static func hello(features: [String]) throws -> Frame {
        var hello = WireHello()
        hello.minVersion = 1
        hello.maxVersion = 1
        hello.maxFrameSize = 1 << 20
        hello.features = features
        return try Frame(type: .hello, streamID: 0, message: hello)
    }

    static func compressed(_ frame: Frame) throws -> Frame {
        var body = frame.body
        var result = frame
        result.body = try body.compress(with: .zlib)
        result.flags = .compressed
        return result
    }

    @Test("the server accepts the zlib feature and inflates a compressed REQUEST")
    func negotiatedAndInflated() throws {
        let channel = try Self.makeChannel()
        try Self.send(try Self.hello(features: ["zlib", "something-else"]), to: channel)
        let ack = try #require(try Self.read(channel)).decodeBody(as: WireHelloAck.self)
        #expect(ack.features == ["zlib"])
        var request = WireRequest()
        request.method = "test.Nope"
        request.payload = .init(repeating: 7, count: 10_000)
        try Self.send(try Self.compressed(try Frame(type: .request, streamID: 1, message: request)), to: channel)
        let status = try #require(try Self.read(channel)).decodeBody(as: WireStatus.self)
        // The server read the method name out of the compressed body.
        #expect(status.code == GuildError.Code.unimplemented.rawValue)
        #expect(status.message.contains("test.Nope"))
    }

    @Test("a decompression bomb fails its call with decompressed_too_large; the connection stays up")
    func bomb() throws {
        let channel = try Self.makeChannel(maxDecompressedSize: 64 * 1024)
        try Self.send(try Self.hello(features: ["zlib"]), to: channel)
        _ = try Self.read(channel)
        var request = WireRequest()
        request.method = "test.Nope"
        request.payload = .init(repeating: 0, count: 8 << 20)  // 8 MiB of zeros, a few KiB compressed
        let bomb = try Self.compressed(try Frame(type: .request, streamID: 1, message: request))
        #expect(bomb.body.readableBytes < 64 * 1024)
        try Self.send(bomb, to: channel)
        let error = try #require(try Self.read(channel))
        #expect(error.type == .error && error.streamID == 1)
        let status = try error.decodeBody(as: WireStatus.self)
        #expect(status.reason == "decompressed_too_large")
        #expect(status.code == GuildError.Code.resourceExhausted.rawValue)
        #expect(channel.isActive)
    }

    @Test("a compressed frame without the feature agreed is a protocol violation")
    func notNegotiated() throws {
        let channel = try Self.makeChannel()
        try Self.send(try Self.hello(features: []), to: channel)
        let ack = try #require(try Self.read(channel)).decodeBody(as: WireHelloAck.self)
        #expect(ack.features.isEmpty)
        var request = WireRequest()
        request.method = "test.Nope"
        _ = try? Self.send(try Self.compressed(try Frame(type: .request, streamID: 1, message: request)), to: channel)
        let error = try #require(try Self.read(channel))
        #expect(error.streamID == 0)
        #expect(try error.decodeBody(as: WireStatus.self).reason == "unknown_flags")
        #expect(!channel.isActive)
    }

    @Test("large bodies round-trip compressed in both directions over TLS; without the feature they go plain", arguments: [true, false])
    func liveRoundTrip(compression: Bool) async throws {
        var configuration = WireServer.Configuration()
        if !compression { configuration.compressionThreshold = nil }
        try await MutualTLSTests.withServer(configuration: configuration) { fixture in
            let client = try fixture.client()
            var message = WireHealthResponse()
            message.service = String(repeating: "guild wire compression ", count: 20_000)  // ~460 KiB
            let answer = try await client.call(MutualTLSTests.echo, message)
            #expect(answer.service == message.service + " from gateway")
            await client.close()
        }
    }
}
