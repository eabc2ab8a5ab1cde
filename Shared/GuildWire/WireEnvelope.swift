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
/// the last field written, the fields before it and the frame prefix are written into the room
/// in front of the method's serialized message (a ``WirePayload``), so the message's bytes are
/// never copied; and it is read as a slice of the frame, which the method's message is decoded
/// from in place. A body laid out any other (valid) way is decoded by SwiftProtobuf.
enum WireEnvelope {
    /// Tag of `Request.payload`: field 4, length-delimited.
    static let requestPayloadTag: UInt64 = 4 << 3 | 2
    /// Tag of `Response.payload`: field 1, length-delimited.
    static let responsePayloadTag: UInt64 = 1 << 3 | 2

    /// A REQUEST frame: `header` (its `payload` unused) followed by `payload`.
    static func requestFrame(streamID: UInt32, header: WireRequest, payload: consuming WirePayload) throws -> Frame {
        frame(.request, streamID: streamID, leading: try header.serializedBytes(), tag: requestPayloadTag, payload: consume payload)
    }

    /// A RESPONSE frame carrying `payload`.
    static func responseFrame(streamID: UInt32, payload: consuming WirePayload) -> Frame {
        frame(.response, streamID: streamID, leading: [], tag: responsePayloadTag, payload: consume payload)
    }

    /// A frame whose body is `leading` (the fields before the payload) and then `payload` as
    /// field `tag`. They and the frame prefix go into the room in front of the payload when they
    /// fit (no copy); otherwise the body is written into a new buffer.
    private static func frame(_ type: FrameType, streamID: UInt32, leading: [UInt8], tag: UInt64, payload: consuming WirePayload) -> Frame {
        let fieldPrefix = payload.count == 0 ? 0 : varintSize(tag) + varintSize(UInt64(payload.count))
        if leading.count + fieldPrefix + FrameEncoder.prefixSize <= payload.room {
            writeFieldPrefix(tag: tag, into: &payload)
            if !leading.isEmpty {
                payload.prepend(leading.count) { buffer, index in buffer.setBytes(leading, at: index) }
            }
            return Frame(type: type, streamID: streamID, prefixedBody: payload.take())
        }
        var body = Frame.bodyBuffer(capacity: leading.count + fieldPrefix + payload.count)
        body.writeBytes(leading)
        appendField(tag: tag, payload.bytes, to: &body)
        return Frame(type: type, streamID: streamID, prefixedBody: body)
    }

    /// The header fields and the payload (a slice of `body`) of a REQUEST body.
    /// - Throws: ``WireProtocolError`` (`malformed_body`) when the body is not a `Request`.
    static func decodeRequest(_ body: ByteBuffer) throws -> (header: WireRequest, payload: ByteBuffer) {
        do {
            if let split = trailingField(tag: requestPayloadTag, in: body) {
                return (try WireRequest(payload: split.before), split.field)
            }
            let request = try WireRequest(payload: body)
            return (request, ByteBuffer(data: request.payload))
        } catch {
            throw WireProtocolError(.malformedBody, "the REQUEST frame body is not a valid \(WireRequest.protoMessageName)")
        }
    }

    /// The payload (a slice of `body`) of a RESPONSE body.
    /// - Throws: ``WireProtocolError`` (`malformed_body`) when the body is not a `Response`.
    static func decodeResponse(_ body: ByteBuffer) throws -> ByteBuffer {
        if let split = trailingField(tag: responsePayloadTag, in: body), split.before.readableBytes == 0 {
            return split.field
        }
        do {
            return ByteBuffer(data: try WireResponse(payload: body).payload)
        } catch {
            throw WireProtocolError(.malformedBody, "the RESPONSE frame body is not a valid \(WireResponse.protoMessageName)")
        }
    }

    /// Writes a length-delimited field's tag and length in front of `payload` (nothing for an
    /// empty payload: proto3 leaves an empty field out).
    private static func writeFieldPrefix(tag: UInt64, into payload: inout WirePayload) {
        let length = UInt64(payload.count)
        guard length > 0 else { return }
        payload.prepend(varintSize(tag) + varintSize(length)) { buffer, index in
            let end = writeVarint(tag, to: &buffer, at: index)
            _ = writeVarint(length, to: &buffer, at: end)
        }
    }

    private static func appendField(tag: UInt64, _ bytes: ByteBuffer, to body: inout ByteBuffer) {
        guard bytes.readableBytes > 0 else { return }  // proto3 leaves an empty field out
        writeVarint(tag, to: &body)
        writeVarint(UInt64(bytes.readableBytes), to: &body)
        var bytes = bytes
        body.writeBuffer(&bytes)
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
        let end = writeVarint(value, to: &buffer, at: buffer.writerIndex)
        buffer.moveWriterIndex(to: end)
    }

    /// Sets `value` as a varint at `index`; returns the index after it.
    private static func writeVarint(_ value: UInt64, to buffer: inout ByteBuffer, at index: Int) -> Int {
        var value = value
        var index = index
        while value >= 0x80 {
            buffer.setInteger(UInt8(truncatingIfNeeded: value) | 0x80, at: index)
            value >>= 7
            index += 1
        }
        buffer.setInteger(UInt8(value), at: index)
        return index + 1
    }

    private static func varintSize(_ value: UInt64) -> Int {
        (64 - value.leadingZeroBitCount + 6) / 7 + (value == 0 ? 1 : 0)
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
