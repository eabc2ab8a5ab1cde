// Fuzz target for the wire protocol's server side: the frame decoder, the handshake and the
// connection state machine, fed arbitrary bytes on an embedded channel.
//
// Built by scripts/fuzz.sh with libFuzzer (`swift build --sanitize=fuzzer --sanitize=address
// -Xswiftc -DFUZZING`), which brings its own `main`. Without FUZZING it is a replay tool: `guild-wire-fuzz FILE...` runs each file
// through the same harness, so a crash libFuzzer found can be reproduced in a normal build.
import Foundation
import GuildCore
import GuildWire
import Logging
import NIOCore
import NIOEmbedded

enum WireFuzzHarness {
    /// Feeds `bytes` to a fresh server connection (peer already authenticated as the gateway),
    /// in two reads split where the first byte says, and checks every byte written back is a
    /// whole frame. Crashes (traps) on any violation, which is what the fuzzer looks for.
    static func run(_ bytes: [UInt8]) {
        let channel = EmbeddedChannel()
        do {
            try channel.connect(to: .init(ipAddress: "127.0.0.1", port: 1)).wait()
            try WireServer.configureServerPipeline(
                channel.pipeline.syncOperations, router: WireRouter(), serviceName: .auth, peer: .gateway,
                logger: Logger(label: "fuzz", factory: { _ in SwiftLogNoOpLogHandler() }))
        } catch {
            fatalError("harness setup failed: \(error)")
        }
        let split = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        _ = try? channel.writeInbound(ByteBuffer(bytes: bytes[..<split]))
        _ = try? channel.writeInbound(ByteBuffer(bytes: bytes[split...]))
        while var written = try? channel.readOutbound(as: ByteBuffer.self) {
            while written.readableBytes > 0 {
                guard let frame = try? FrameDecoder.decodeFrame(from: &written, maxFrameSize: 1 << 20) else {
                    fatalError("the server wrote bytes that are not a whole frame")
                }
                precondition([FrameType.helloAck, .response, .error, .pong, .goAway].contains(frame.type), "the server sent \(frame.type)")
            }
        }
        _ = try? channel.finish(acceptAlreadyClosed: true)
    }
}

#if FUZZING
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    WireFuzzHarness.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
#else
/// Replays inputs (files) through the harness, to reproduce what the fuzzer found.
@main
enum WireFuzzReplay {
    static func main() {
        let paths = CommandLine.arguments.dropFirst()
        if paths.isEmpty {
            FileHandle.standardError.write(Data("usage: guild-wire-fuzz FILE... (replays inputs; build with scripts/fuzz.sh to fuzz)\n".utf8))
            exit(2)
        }
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else {
                FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
                exit(1)
            }
            WireFuzzHarness.run(Array(data))
            print("ok: \(path) (\(data.count) bytes)")
        }
    }
}
#endif
