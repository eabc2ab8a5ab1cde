import Foundation
import GuildCore
import GuildMessages
import NIOCore
import NIOFoundationCompat
import SwiftProtobuf

extension Frame {
    /// A frame whose body is the serialized `message`. The body's buffer keeps room in front for
    /// the length and header, so that ``FrameEncoder`` sends it without copying.
    public init(type: FrameType, streamID: UInt32, message: some SwiftProtobuf.Message) throws {
        let bytes: [UInt8] = try message.serializedBytes()
        var body = Frame.bodyBuffer(capacity: bytes.count)
        body.writeBytes(bytes)
        self.init(type: type, streamID: streamID, prefixedBody: body)
    }

    /// A frame over a body made by ``bodyBuffer(capacity:)``, its length and header written into
    /// the room in front now, while the buffer has one owner. Written later, by the encoder, they
    /// would copy the whole body: the frame it is handed still shares the buffer.
    init(type: FrameType, streamID: UInt32, prefixedBody body: consuming ByteBuffer) {
        FrameEncoder.writePrefix(
            Frame.currentVersion, type, [], streamID, bodyLength: body.readableBytes,
            into: &body, at: body.readerIndex - FrameEncoder.prefixSize)
        self.init(type: type, streamID: streamID, body: body)
    }

    /// An empty body buffer with `room` in front (at least the length and header), so that
    /// ``FrameEncoder`` sends the body without copying it behind a new header.
    static func bodyBuffer(capacity: Int, room: Int = FrameEncoder.prefixSize) -> ByteBuffer {
        var body = ByteBufferAllocator().buffer(capacity: room + capacity)
        body.moveWriterIndex(forwardBy: room)
        body.moveReaderIndex(forwardBy: room)
        return body
    }

    /// An ERROR frame carrying `error`.
    public static func error(_ error: GuildError, streamID: UInt32) -> Frame {
        // Serializing a Status cannot fail: it holds only strings and integers.
        (try? Frame(type: .error, streamID: streamID, message: WireStatus(error))) ?? Frame(type: .error, streamID: streamID)
    }

    /// Decodes the body as `M`, throwing a protocol error for a malformed body.
    public func decodeBody<M: SwiftProtobuf.Message>(as type: M.Type = M.self) throws -> M {
        do {
            return try M(serializedBytes: Data(buffer: body, byteTransferStrategy: .automatic))
        } catch {
            throw WireProtocolError(.malformedBody, "the \(self.type) frame body is not a valid \(M.protoMessageName)")
        }
    }
}

extension WireStatus {
    /// The wire form of a Guild error.
    public init(_ error: GuildError) {
        self.init()
        self.code = error.code.rawValue
        self.message = error.message
        self.fieldViolations = error.fieldViolations.map { violation in
            var wire = WireFieldViolation()
            wire.field = violation.field
            wire.description_p = violation.description
            return wire
        }
        self.retryAfterSeconds = error.retryAfterSeconds ?? 0
        self.reason = error.reason ?? ""
    }
}

extension GuildError {
    /// The Guild error an ERROR frame carries.
    public init(_ status: WireStatus) {
        self.init(
            GuildError.Code(rawValue: status.code),
            status.message,
            fieldViolations: status.fieldViolations.map { GuildError.FieldViolation(field: $0.field, description: $0.description_p) },
            retryAfterSeconds: status.retryAfterSeconds == 0 ? nil : status.retryAfterSeconds,
            reason: status.reason.isEmpty ? nil : status.reason
        )
    }
}
