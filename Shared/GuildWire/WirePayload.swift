import NIOCore
import SwiftProtobuf

/// A method's serialized message in a `ByteBuffer`, with room in front for what goes before it
/// on the wire: the frame's length and header, and the envelope's leading fields (the REQUEST's
/// method, metadata and timeout, or the RESPONSE's payload tag and length).
///
/// SwiftProtobuf serializes straight into it (it is ``SwiftProtobufContiguousBytes``), and the
/// envelope then writes its fields and the frame prefix into the room in front: a body leaves
/// as the same bytes the message was encoded into, with no copy (docs/performance.md). Read
/// the other way, a payload is a slice of the received frame, which SwiftProtobuf decodes in
/// place.
struct WirePayload: SwiftProtobufContiguousBytes, Sendable {
    /// Room kept in front of a serialized message: the frame prefix (12 bytes), a payload tag and
    /// length (at most 6), and a REQUEST's header fields of usual size (method, a few metadata
    /// entries, timeout). A larger header is written into a new buffer instead (a copy).
    static let headroom = 320

    var bytes: ByteBuffer

    /// A payload over `bytes` (a received slice, or bytes already laid out).
    init(bytes: ByteBuffer) {
        self.bytes = bytes
    }

    init(repeating byte: UInt8, count: Int) {
        bytes = Frame.bodyBuffer(capacity: count, room: Self.headroom)
        bytes.writeRepeatingByte(byte, count: count)
    }

    init<S: Sequence>(_ sequence: S) where S.Element == UInt8 {
        bytes = Frame.bodyBuffer(capacity: sequence.underestimatedCount, room: Self.headroom)
        bytes.writeBytes(sequence)
    }

    var count: Int { bytes.readableBytes }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeReadableBytes(body)
    }

    mutating func withUnsafeMutableBytes<R>(_ body: (UnsafeMutableRawBufferPointer) throws -> R) rethrows -> R {
        try bytes.withUnsafeMutableReadableBytes(body)
    }

    /// The buffer, moved out (a copy would share it, and the next write to either would copy
    /// the whole payload).
    consuming func take() -> ByteBuffer {
        bytes
    }

    /// Free bytes in front of the payload.
    var room: Int { bytes.readerIndex }

    /// Writes `count` bytes in front of the payload with `write` (which gets the index of the
    /// first); the caller checked that they fit in ``room``.
    mutating func prepend(_ count: Int, _ write: (inout ByteBuffer, Int) -> Void) {
        precondition(count <= room, "prepending more than the room in front")
        let start = bytes.readerIndex - count
        bytes.moveReaderIndex(to: start)
        write(&bytes, start)
    }
}

extension SwiftProtobuf.Message {
    /// The message decoded from a received payload, in place.
    init(payload: ByteBuffer) throws {
        try self.init(serializedBytes: WirePayload(bytes: payload))
    }
}
