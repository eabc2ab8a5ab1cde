import Foundation
import GuildMessages
import NIOCore
import NIOEmbedded
import NIOFoundationCompat
import SwiftProtobuf
import Testing

@testable import GuildWire

/// REQUEST and RESPONSE bodies written without an intermediate message are the same bytes
/// SwiftProtobuf writes, and any valid layout reads back.
@Suite("Wire envelope")
struct WireEnvelopeTests {
    static func request(metadata: [String: String], payload: Data) -> WireRequest {
        var request = WireRequest()
        request.method = "auth.Login"
        request.timeoutMs = 2_500
        request.metadata = metadata
        request.payload = payload
        return request
    }

    static let payloads: [Data] = [Data(), Data([1, 2, 3]), Data(repeating: 0xA5, count: 300), Data(repeating: 7, count: 70_000)]

    /// How a payload arrives at the envelope: serialized with room in front (the usual case,
    /// written around in place), or without room (copied behind the header).
    enum Layout: CaseIterable, Sendable { case room, noRoom }

    static func payload(_ bytes: Data, _ layout: Layout) -> WirePayload {
        switch layout {
        case .room: WirePayload(bytes)
        case .noRoom: WirePayload(bytes: ByteBuffer(bytes: bytes))
        }
    }

    /// Metadata that fits in the room in front of a payload, and metadata that does not.
    static let metadata: [[String: String]] = [
        ["request-id": "r-1", "traceparent": "00-abc-def-01"],
        ["big": String(repeating: "m", count: WirePayload.headroom)],
    ]

    @Test("a REQUEST body is byte for byte SwiftProtobuf's, and reads back", arguments: payloads, Layout.allCases)
    func requestBytes(payload: Data, layout: Layout) throws {
        for metadata in Self.metadata {
            let full = Self.request(metadata: metadata, payload: payload)
            var header = full
            header.payload = Data()
            let frame = try WireEnvelope.requestFrame(streamID: 3, header: header, payload: Self.payload(payload, layout))
            let expected: [UInt8] = try full.serializedBytes()
            #expect(Array(frame.body.readableBytesView) == expected)
            let (decoded, decodedPayload) = try WireEnvelope.decodeRequest(frame.body)
            #expect(decoded == header)
            #expect(Data(buffer: decodedPayload) == payload)
            #expect(Self.encoded(frame) == Self.encodedByCopy(frame))
        }
    }

    @Test("a RESPONSE body is byte for byte SwiftProtobuf's, and reads back", arguments: payloads, Layout.allCases)
    func responseBytes(payload: Data, layout: Layout) throws {
        var response = WireResponse()
        response.payload = payload
        let frame = WireEnvelope.responseFrame(streamID: 3, payload: Self.payload(payload, layout))
        let expected: [UInt8] = try response.serializedBytes()
        #expect(Array(frame.body.readableBytesView) == expected)
        #expect(Data(buffer: try WireEnvelope.decodeResponse(frame.body)) == payload)
        #expect(Self.encoded(frame) == Self.encodedByCopy(frame))
    }

    @Test("a message serialized into a payload keeps room in front, and decodes in place")
    func payloadRoundTrip() throws {
        var message = WireStatus()
        message.message = "hello"
        message.code = 5
        let payload: WirePayload = try message.serializedBytes()
        #expect(payload.room == WirePayload.headroom)
        #expect(try WireStatus(payload: payload.bytes) == message)
    }

    /// What the encoder sends for `frame` (the prefix written in place).
    static func encoded(_ frame: Frame) -> [UInt8] {
        let channel = EmbeddedChannel(handler: FrameEncoder())
        try? channel.writeOutbound(frame)
        return (try? channel.readOutbound(as: ByteBuffer.self)).flatMap { $0.map { Array($0.readableBytesView) } } ?? []
    }

    /// The same frame written behind a fresh header.
    static func encodedByCopy(_ frame: Frame) -> [UInt8] {
        var out = ByteBuffer()
        FrameEncoder.encode(frame, into: &out)
        return Array(out.readableBytesView)
    }

    @Test("other valid layouts (payload first, repeated, followed by fields) decode as protobuf says")
    func otherLayouts() throws {
        // The payload before the other fields: concatenated messages merge.
        var payloadOnly = WireRequest()
        payloadOnly.payload = Data([9, 9])
        let header = Self.request(metadata: ["a": "b"], payload: Data())
        var body = ByteBuffer(bytes: try payloadOnly.serializedBytes() as [UInt8])
        body.writeBytes(try header.serializedBytes() as [UInt8])
        let (decoded, payload) = try WireEnvelope.decodeRequest(body)
        #expect(decoded.method == "auth.Login" && decoded.metadata == ["a": "b"])
        #expect(Data(buffer: payload) == Data([9, 9]))

        // A payload given twice: the last one wins.
        var twice = ByteBuffer(bytes: try payloadOnly.serializedBytes() as [UInt8])
        var second = WireRequest()
        second.payload = Data([4])
        twice.writeBytes(try second.serializedBytes() as [UInt8])
        #expect(Data(buffer: try WireEnvelope.decodeRequest(twice).payload) == Data([4]))

        // A response with metadata after the payload.
        var response = WireResponse()
        response.payload = Data([1, 2])
        response.metadata = ["k": "v"]
        #expect(Data(buffer: try WireEnvelope.decodeResponse(ByteBuffer(bytes: try response.serializedBytes() as [UInt8]))) == Data([1, 2]))
    }

    @Test("malformed bodies are malformed_body errors", arguments: [[0x22, 0x05, 0x01], [0xFF], [0x0A, 0x80]] as [[UInt8]])
    func malformed(bytes: [UInt8]) {
        let body = ByteBuffer(bytes: bytes)
        #expect(throws: WireProtocolError.self) { try WireEnvelope.decodeRequest(body) }
        #expect(throws: WireProtocolError.self) { try WireEnvelope.decodeResponse(body) }
    }
}
