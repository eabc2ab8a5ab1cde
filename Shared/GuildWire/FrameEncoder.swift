import NIOCore

/// Writes ``Frame``s as length-prefixed bytes.
///
/// A frame made by ``Frame/init(type:streamID:message:)`` keeps room for the length and header
/// in front of its body: the encoder writes them there and sends the body's own buffer, with no
/// copy. Other frames are copied behind a fresh header.
public final class FrameEncoder: ChannelOutboundHandler, RemovableChannelHandler {
    public typealias OutboundIn = Frame
    public typealias OutboundOut = ByteBuffer

    public init() {}

    public func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        let frame = unwrapOutboundIn(data)
        var body = frame.body
        let prefix = 4 + Frame.headerSize
        if body.readerIndex >= prefix {
            let start = body.readerIndex - prefix
            body.moveReaderIndex(to: start)
            Self.writePrefix(of: frame, into: &body, at: start)
            context.write(wrapOutboundOut(body), promise: promise)
        } else {
            var out = context.channel.allocator.buffer(capacity: prefix + body.readableBytes)
            Self.encode(frame, into: &out)
            context.write(wrapOutboundOut(out), promise: promise)
        }
    }

    /// Appends the wire form of `frame` to `out`.
    public static func encode(_ frame: Frame, into out: inout ByteBuffer) {
        out.reserveCapacity(minimumWritableBytes: 4 + Frame.headerSize + frame.body.readableBytes)
        let start = out.writerIndex
        out.moveWriterIndex(forwardBy: 4 + Frame.headerSize)
        writePrefix(of: frame, into: &out, at: start)
        var body = frame.body
        out.writeBuffer(&body)
    }

    /// The length field and header of `frame`, at `index`.
    private static func writePrefix(of frame: Frame, into buffer: inout ByteBuffer, at index: Int) {
        buffer.setInteger(UInt32(Frame.headerSize + frame.body.readableBytes), at: index)
        buffer.setInteger(frame.version, at: index + 4)
        buffer.setInteger(frame.type.rawValue, at: index + 5)
        buffer.setInteger(frame.flags.rawValue, at: index + 6)
        buffer.setInteger(frame.streamID, at: index + 8)
    }
}
