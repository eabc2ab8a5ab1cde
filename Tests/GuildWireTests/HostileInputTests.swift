import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import Logging
import NIOCore
import NIOEmbedded
import NIOPosix
import NIOSSL
import Testing

@testable import GuildWire

/// Random and mutated frames, thousands of them, must neither crash the server nor make it send
/// anything but well-formed frames, and it must go on serving correct calls.
@Suite("Hostile input")
struct HostileInputTests {
    static let seed = UInt64(ProcessInfo.processInfo.environment["GUILD_FUZZ_SEED"] ?? "") ?? 0x6775_696C_64

    static func helloBytes() throws -> [UInt8] {
        var hello = WireHello()
        hello.minVersion = 1
        hello.maxVersion = 1
        hello.maxFrameSize = 1 << 20
        return FrameMutator.bytes(of: try Frame(type: .hello, streamID: 0, message: hello))
    }

    static func seedFrames() throws -> [[UInt8]] {
        var request = WireRequest()
        request.method = "guild.Nope"
        request.timeoutMs = 100
        var ping = WirePing()
        ping.payload = 42
        return [
            try helloBytes(),
            FrameMutator.bytes(of: try Frame(type: .request, streamID: 1, message: request)),
            FrameMutator.bytes(of: try Frame(type: .ping, streamID: 0, message: ping)),
            FrameMutator.bytes(of: Frame(type: .cancel, streamID: 1)),
            FrameMutator.bytes(of: try Frame(type: .goAway, streamID: 0, message: WireGoAway())),
        ]
    }

    @Test("20,000 hostile chunks into the server pipeline: no crash, only well-formed frames out")
    func embeddedServer() throws {
        var mutator = FrameMutator(seed: Self.seed)
        let seeds = try Self.seedFrames()
        let serverFrames: Set<FrameType> = [.helloAck, .response, .error, .pong, .goAway]
        var chunks = 0
        var closedConnections = 0
        while chunks < 20_000 {
            let channel = EmbeddedChannel()
            try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
            try WireServer.configureServerPipeline(
                channel.pipeline.syncOperations, router: WireRouter(), serviceName: .auth, peer: .gateway,
                logger: Logger(label: "hostile", factory: { _ in SwiftLogNoOpLogHandler() }))
            if Bool.random(using: &mutator.generator) {
                _ = try? channel.writeInbound(ByteBuffer(bytes: try Self.helloBytes()))
            }
            for _ in 0..<Int.random(in: 1...12, using: &mutator.generator) where channel.isActive {
                let start = seeds[Int.random(in: 0..<seeds.count, using: &mutator.generator)]
                _ = try? channel.writeInbound(ByteBuffer(bytes: mutator.hostileChunk(from: start)))
                chunks += 1
            }
            while var written = try channel.readOutbound(as: ByteBuffer.self) {
                while written.readableBytes > 0 {
                    let frame = try #require(try FrameDecoder.decodeFrame(from: &written, maxFrameSize: 1 << 20), "the server wrote a partial frame")
                    #expect(serverFrames.contains(frame.type), "the server sent \(frame.type)")
                }
            }
            if !channel.isActive { closedConnections += 1 }
            _ = try? channel.finish(acceptAlreadyClosed: true)
        }
        #expect(closedConnections > 0)
    }

    @Test("thousands of hostile frames over real TLS connections; the live server still answers")
    func liveServer() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try TestCertificates(directory: directory.url)
        let echo = MethodDescriptor<WireHealthResponse, WireHealthResponse>("test.Echo", idempotent: true, allowedCallers: [.gateway])
        let quiet = Logger(label: "hostile", factory: { _ in SwiftLogNoOpLogHandler() })
        let server = try await WireServer.bind(
            host: "127.0.0.1", port: 0, serviceName: .auth,
            router: WireRouter([WireMethod(echo) { request, _ in request }]),
            tls: try certificates.tls(for: .auth), logger: quiet)
        let tls = try certificates.tls(for: .gateway).makeClientContext()
        let good = try WireClient(service: .auth, endpoints: [WireEndpoint(host: "127.0.0.1", port: server.port)], tls: try certificates.tls(for: .gateway),
                                configuration: MutualTLSTests.Fixture.patientClient, logger: quiet)

        var mutator = FrameMutator(seed: Self.seed ^ 0xFFFF)
        let seeds = try Self.seedFrames()
        var attacks: [[[UInt8]]] = []
        var frames = 0
        for _ in 0..<200 {
            var connection: [[UInt8]] = []
            if Int.random(in: 0..<10, using: &mutator.generator) < 7 { connection.append(try Self.helloBytes()) }
            for _ in 0..<Int.random(in: 1...30, using: &mutator.generator) {
                connection.append(mutator.hostileChunk(from: seeds[Int.random(in: 0..<seeds.count, using: &mutator.generator)]))
            }
            frames += connection.count
            attacks.append(connection)
        }
        #expect(frames > 2_000)

        // The attack, four connections at a time, while a well-behaved client keeps calling.
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for index in 0..<50 {
                    var message = WireHealthResponse()
                    message.service = "good-\(index)"
                    let answer = try await good.call(echo, message)
                    #expect(answer.service == "good-\(index)")
                }
            }
            for batch in stride(from: 0, to: attacks.count, by: 4) {
                try await withThrowingTaskGroup(of: Void.self) { attackers in
                    for connection in attacks[batch..<min(batch + 4, attacks.count)] {
                        attackers.addTask { await Self.attack(port: server.port, tls: tls, chunks: connection) }
                    }
                    try await attackers.waitForAll()
                }
            }
            try await group.waitForAll()
        }

        var message = WireHealthResponse()
        message.service = "after the attack"
        let fresh = try WireClient(service: .auth, endpoints: [WireEndpoint(host: "127.0.0.1", port: server.port)], tls: try certificates.tls(for: .gateway),
                                configuration: MutualTLSTests.Fixture.patientClient, logger: quiet)
        #expect(try await fresh.call(echo, message).service == "after the attack")
        await fresh.close()
        await good.close()
        await server.close()
    }

    /// Opens a TLS connection with a valid client certificate and writes the chunks as they are.
    static func attack(port: Int, tls: NIOSSLContext, chunks: [[UInt8]]) async {
        let bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton).channelInitializer { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
            }
        }
        guard let channel = try? await bootstrap.connect(host: "127.0.0.1", port: port).get() else { return }
        for chunk in chunks where channel.isActive {
            try? await channel.writeAndFlush(ByteBuffer(bytes: chunk))
        }
        try? await Task.sleep(for: .milliseconds(5))
        try? await channel.close()
    }
}
