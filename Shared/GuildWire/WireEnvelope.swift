import Foundation
import GuildMessages
import NIOCore
import NIOFoundationCompat
import SwiftProtobuf

/// The bodies of REQUEST and RESPONSE frames, written and read without copying the payload
/// through an intermediate message.
///
/// On the wire they are the protobuf messages `Request` and `Response` of docs/protocol.md,
/// byte for byte as SwiftProtobuf writes them: fields in number order, and the payload (field 4
/// of `Request`, field 1 of `Response`, both `bytes`) omitted when empty. Because the payload is
/// the last field written, it can be appended straight from the method's serialized message, and
/// read as a slice of the frame. A body laid out any other (valid) way is decoded by SwiftProtobuf.
enum WireEnvelope {
    /// Tag of `Request.payload`: field 4, length-delimited.
    static let requestPayloadTag: UInt64 = 4 << 3 | 2
    /// Tag of `Response.payload`: field 1, length-delimited.
    static let responsePayloadTag: UInt64 = 1 << 3 | 2

    /// A REQUEST frame: `header` (its `payload` unused) followed by `payload`.
    static func requestFrame(streamID: UInt32, header: WireRequest, payload: Data) throws -> Frame {
        let headerBytes: [UInt8] = try header.serializedBytes()
        var body = Frame.bodyBuffer(capacity: headerBytes.count + 11 + payload.count)
        body.writeBytes(headerBytes)
        appendField(tag: requestPayloadTag, payload, to: &body)
        return Frame(type: .request, streamID: streamID, prefixedBody: body)
    }

    /// A RESPONSE frame carrying `payload`.
    static func responseFrame(streamID: UInt32, payload: Data) -> Frame {
        var body = Frame.bodyBuffer(capacity: 11 + payload.count)
        appendField(tag: responsePayloadTag, payload, to: &body)
        return Frame(type: .response, streamID: streamID, prefixedBody: body)
    }

    /// The header fields and the payload of a REQUEST body.
    /// - Throws: ``WireProtocolError`` (`malformed_body`) when the body is not a `Request`.
    static func decodeRequest(_ body: ByteBuffer) throws -> (header: WireRequest, payload: Data) {
        do {
            if let split = trailingField(tag: requestPayloadTag, in: body) {
                let header = try WireRequest(serializedBytes: Data(buffer: split.before, byteTransferStrategy: .copy))
                return (header, Data(buffer: split.field, byteTransferStrategy: .automatic))
            }
            let request = try WireRequest(serializedBytes: Data(buffer: body, byteTransferStrategy: .automatic))
            return (request, request.payload)
        } catch {
            throw WireProtocolError(.malformedBody, "the REQUEST frame body is not a valid \(WireRequest.protoMessageName)")
        }
    }

    /// The payload of a RESPONSE body.
    /// - Throws: ``WireProtocolError`` (`malformed_body`) when the body is not a `Response`.
    static func decodeResponse(_ body: ByteBuffer) throws -> Data {
        if let split = trailingField(tag: responsePayloadTag, in: body), split.before.readableBytes == 0 {
            return Data(buffer: split.field, byteTransferStrategy: .automatic)
        }
        do {
            return try WireResponse(serializedBytes: Data(buffer: body, byteTransferStrategy: .automatic)).payload
        } catch {
            throw WireProtocolError(.malformedBody, "the RESPONSE frame body is not a valid \(WireResponse.protoMessageName)")
        }
    }

    private static func appendField(tag: UInt64, _ bytes: Data, to body: inout ByteBuffer) {
        guard !bytes.isEmpty else { return }  // proto3 leaves an empty field out
        writeVarint(tag, to: &body)
        writeVarint(UInt64(bytes.count), to: &body)
        body.writeBytes(bytes)
    }

    /// Finds the top-level field `tag` when it occurs once, as the last field: the bytes before
    /// it and its contents. Nil when it does not, or when the body is not well-formed protobuf
    /// (SwiftProtobuf then decides).
    private static func trailingField(tag: UInt64, in body: ByteBuffer) -> (before: ByteBuffer, field: ByteBuffer)? {
        var index = body.readerIndex
        let end = body.writerIndex
        while index < end {
            let fieldStart = index
            guard let key = readVarint(body, at: &index) else { return nil }
            switch key & 7 {
            case 0:
                guard readVarint(body, at: &index) != nil else { return nil }
            case 1:
                index += 8
            case 5:
                index += 4
            case 2:
                guard let length = readVarint(body, at: &index), length <= UInt64(end - index) else { return nil }
                if key == tag {
                    guard index + Int(length) == end else { return nil }
                    let before = body.getSlice(at: body.readerIndex, length: fieldStart - body.readerIndex)!
                    return (before, body.getSlice(at: index, length: Int(length))!)
                }
                index += Int(length)
            default:
                return nil
            }
        }
        return nil
    }

    private static func writeVarint(_ value: UInt64, to buffer: inout ByteBuffer) {
        var value = value
        while value >= 0x80 {
            buffer.writeInteger(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        buffer.writeInteger(UInt8(value))
    }

    private static func readVarint(_ buffer: ByteBuffer, at index: inout Int) -> UInt64? {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while shift < 64, index < buffer.writerIndex, let byte = buffer.getInteger(at: index, as: UInt8.self) {
            index += 1
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
        }
        return nil
    }
}
