import Foundation
import GuildMessages
import NIOCore
import SwiftProtobuf
import Testing

@testable import GuildWire

/// The hex test vectors in docs/protocol.md, checked in both directions: the bytes decode to the
/// frame described, and encoding that frame gives the bytes.
@Suite("Protocol test vectors")
struct ProtocolVectorTests {
    static let documentURL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("docs/protocol.md")

    /// Every `vector: <name>` block of the document, as bytes.
    static func vectors() throws -> [String: [UInt8]] {
        let text = try String(contentsOf: documentURL, encoding: .utf8)
        var vectors: [String: [UInt8]] = [:]
        var current: String?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("vector: ") {
                current = String(line.dropFirst("vector: ".count))
                vectors[current!] = []
            } else if line.hasPrefix("```") {
                current = nil
            } else if let name = current {
                vectors[name]! += line.split(separator: " ").map { UInt8($0, radix: 16)! }
            }
        }
        return vectors
    }

    static func expectedFrames() throws -> [String: Frame] {
        var hello = WireHello()
        hello.minVersion = 1
        hello.maxVersion = 1
        hello.maxFrameSize = 1_048_576
        var ack = WireHelloAck()
        ack.version = 1
        ack.maxFrameSize = 1_048_576
        ack.maxConcurrentCalls = 100
        var request = WireRequest()
        request.method = "guild.Health"
        request.timeoutMs = 5000
        request.metadata = ["request-id": "r1"]
        var health = WireHealthResponse()
        health.service = "auth"
        health.status = "serving"
        var response = WireResponse()
        response.payload = try health.serializedData()
        var ping = WirePing()
        ping.payload = 0x0102_0304_0506_0708
        var status = WireStatus()
        status.code = 32
        status.message = "frame too large"
        status.reason = "frame_too_large"
        var goAway = WireGoAway()
        goAway.lastStreamID = 7
        goAway.reason = "server shutting down"
        return [
            "hello": try Frame(type: .hello, streamID: 0, message: hello),
            "hello_ack": try Frame(type: .helloAck, streamID: 0, message: ack),
            "request_health": try Frame(type: .request, streamID: 1, message: request),
            "response_health": try Frame(type: .response, streamID: 1, message: response),
            "ping": try Frame(type: .ping, streamID: 0, message: ping),
            "pong": try Frame(type: .pong, streamID: 0, message: ping),
            "cancel_stream_3": Frame(type: .cancel, streamID: 3),
            "error_frame_too_large": try Frame(type: .error, streamID: 0, message: status),
            "goaway": try Frame(type: .goAway, streamID: 0, message: goAway),
        ]
    }

    @Test("the document has a vector for every frame type")
    func everyFrameTypeHasAVector() throws {
        let vectors = try Self.vectors()
        #expect(Set(vectors.keys) == Set(try Self.expectedFrames().keys))
        var types = Set<FrameType>()
        for bytes in vectors.values {
            var buffer = ByteBuffer(bytes: bytes)
            if let frame = try FrameDecoder.decodeFrame(from: &buffer, maxFrameSize: 1 << 20) { types.insert(frame.type) }
        }
        #expect(types == FrameType.known)
    }

    @Test("each vector decodes to its frame and the frame encodes to the vector", arguments: ["hello", "hello_ack", "request_health", "response_health", "ping", "pong", "cancel_stream_3", "error_frame_too_large", "goaway"])
    func vector(_ name: String) throws {
        let bytes = try #require(try Self.vectors()[name])
        let expected = try #require(try Self.expectedFrames()[name])
        var buffer = ByteBuffer(bytes: bytes)
        let decoded = try #require(try FrameDecoder.decodeFrame(from: &buffer, maxFrameSize: 1 << 20))
        #expect(buffer.readableBytes == 0)
        #expect(decoded.type == expected.type && decoded.streamID == expected.streamID && decoded.flags == expected.flags)
        // Protobuf encoding of maps need not be byte-stable in general; compare decoded messages
        // for bodies, and bytes for the frame built from the decoded body.
        #expect(try Self.equalBodies(decoded, expected))
        var encoded = ByteBuffer()
        FrameEncoder.encode(decoded, into: &encoded)
        #expect(Array(encoded.readableBytesView) == bytes)
        var fromExpected = ByteBuffer()
        FrameEncoder.encode(expected, into: &fromExpected)
        #expect(Array(fromExpected.readableBytesView) == bytes)
    }

    static func equalBodies(_ lhs: Frame, _ rhs: Frame) throws -> Bool {
        switch lhs.type {
        case .hello: try lhs.decodeBody(as: WireHello.self) == rhs.decodeBody(as: WireHello.self)
        case .helloAck: try lhs.decodeBody(as: WireHelloAck.self) == rhs.decodeBody(as: WireHelloAck.self)
        case .request: try lhs.decodeBody(as: WireRequest.self) == rhs.decodeBody(as: WireRequest.self)
        case .response: try lhs.decodeBody(as: WireResponse.self) == rhs.decodeBody(as: WireResponse.self)
        case .ping, .pong: try lhs.decodeBody(as: WirePing.self) == rhs.decodeBody(as: WirePing.self)
        case .error: try lhs.decodeBody(as: WireStatus.self) == rhs.decodeBody(as: WireStatus.self)
        case .goAway: try lhs.decodeBody(as: WireGoAway.self) == rhs.decodeBody(as: WireGoAway.self)
        default: lhs.body == rhs.body
        }
    }
}
