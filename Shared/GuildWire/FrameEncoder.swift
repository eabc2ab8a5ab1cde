import NIOCore

/// Writes ``Frame``s as length-prefixed bytes.
///
/// A frame made by ``Frame/init(type:streamID:message:)`` (or the REQUEST and RESPONSE frames of
/// ``WireEnvelope``) carries its length and header already written in the room in front of its
/// body: the encoder checks them and sends the body's own buffer, with no copy. Other frames are
/// copied behind a fresh header.
public final class FrameEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = Frame
    public typealias OutboundOut = ByteBuffer

    /// The length field and the header.
    static let prefixSize = 4 + Frame.headerSize

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        var body = frame.body
        if body.readerIndex >= Self.prefixSize {
            body.moveReaderIndex(to: body.readerIndex - Self.prefixSize)
            if !Self.hasPrefix(of: frame, in: body) {
                // Changed since it was made: rewriting the prefix copies the shared buffer.
                Self.writePrefix(frame.version, frame.type, frame.flags, frame.streamID, bodyLength: frame.body.readableBytes, into: &body, at: body.readerIndex)
            }
            context.write(wrapOutboundOut(body), promise: promise)
        } else {
            var out = context.channel.allocator.buffer(capacity: Self.prefixSize + body.readableBytes)
            Self.encode(frame, into: &out)
            context.write(wrapOutboundOut(out), promise: promise)
        }
    }

    /// Appends the wire form of `frame` to `out`.
    public static func encode(_ frame: Frame, into out: inout ByteBuffer) {
        out.reserveCapacity(minimumWritableBytes: prefixSize + frame.body.readableBytes)
        let start = out.writerIndex
        out.moveWriterIndex(forwardBy: prefixSize)
        writePrefix(frame.version, frame.type, frame.flags, frame.streamID, bodyLength: frame.body.readableBytes, into: &out, at: start)
        var body = frame.body
        out.writeBuffer(&body)
    }

    /// Writes the length field and header of a frame into `buffer` at `index`.
    static func writePrefix(
        _ version: UInt8, _ type: FrameType, _ flags: FrameFlags, _ streamID: UInt32, bodyLength: Int,
        into buffer: inout ByteBuffer, at index: Int
    ) {
        buffer.setInteger(UInt32(Frame.headerSize + bodyLength), at: index)
        buffer.setInteger(version, at: index + 4)
        buffer.setInteger(type.rawValue, at: index + 5)
        buffer.setInteger(flags.rawValue, at: index + 6)
        buffer.setInteger(streamID, at: index + 8)
    }

    /// Whether `bytes` (prefix and body) start with `frame`'s length field and header.
    private static func hasPrefix(of frame: Frame, in bytes: ByteBuffer) -> Bool {
        let index = bytes.readerIndex
        return bytes.getInteger(at: index, as: UInt32.self) == UInt32(bytes.readableBytes - 4)
            && bytes.getInteger(at: index + 4, as: UInt8.self) == frame.version
            && bytes.getInteger(at: index + 5, as: UInt8.self) == frame.type.rawValue
            && bytes.getInteger(at: index + 6, as: UInt16.self) == frame.flags.rawValue
            && bytes.getInteger(at: index + 8, as: UInt32.self) == frame.streamID
    }
}
