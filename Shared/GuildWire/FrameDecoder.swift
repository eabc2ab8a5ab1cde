import NIOCore

/// Splits a byte stream into ``Frame``s.
///
/// The length field is checked as soon as its 4 bytes arrive, before any of the body is
/// buffered: a length above `maxFrameSize` or below the header size fails at once with a
/// ``WireProtocolError``. So do a version other than the ones accepted, an unknown frame type and
/// unknown flags. Bytes left over when the stream ends are a truncated frame.
public struct FrameDecoder: ByteToMessageDecoder {
    public typealias InboundOut = Frame

    /// The largest accepted value of the length field.
    public let maxFrameSize: Int

    public init(maxFrameSize: Int = Frame.defaultMaxFrameSize) {
        precondition(maxFrameSize >= Frame.headerSize, "maxFrameSize must hold at least a header")
        self.maxFrameSize = maxFrameSize
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let frame = try Self.decodeFrame(from: &buffer, maxFrameSize: maxFrameSize) else {
            return .needMoreData
        }
        context.fireChannelRead(Self.wrapInboundOut(frame))
        return .continue
    }

    public mutating func decodeLast(
        context: ChannelHandlerContext,
        buffer: inout ByteBuffer,
        seenEOF: Bool
    ) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        if buffer.readableBytes > 0 {
            let pending = buffer.readableBytes
            buffer.moveReaderIndex(forwardBy: pending)
            throw WireProtocolError(.truncatedFrame, "the connection ended inside a frame (\(pending) bytes pending)")
        }
        return .needMoreData
    }

    /// Reads one whole frame from the front of `buffer`, or returns nil (consuming nothing) when
    /// more bytes are needed. Throws when the bytes already there cannot start a valid frame.
    public static func decodeFrame(from buffer: inout ByteBuffer, maxFrameSize: Int) throws -> Frame? {
        guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return nil }
        guard length >= Frame.headerSize else {
            throw WireProtocolError(.frameTooShort, "frame length \(length) is shorter than the \(Frame.headerSize)-byte header")
        }
        guard length <= maxFrameSize else {
            throw WireProtocolError(.frameTooLarge, "frame length \(length) exceeds the maximum of \(maxFrameSize) bytes")
        }
        // Validate the header as soon as it is here, before waiting for the body.
        if buffer.readableBytes >= 4 + Frame.headerSize {
            let start = buffer.readerIndex + 4
            let version = buffer.getInteger(at: start, as: UInt8.self)!
            let type = FrameType(rawValue: buffer.getInteger(at: start + 1, as: UInt8.self)!)
            let flags = FrameFlags(rawValue: buffer.getInteger(at: start + 2, as: UInt16.self)!)
            guard version == Frame.currentVersion else {
                throw WireProtocolError(.unsupportedVersion, "frame version \(version) is not supported (this peer speaks \(Frame.currentVersion))")
            }
            guard type.isKnown else {
                throw WireProtocolError(.unknownFrameType, "unknown frame type 0x\(String(type.rawValue, radix: 16))")
            }
            guard FrameFlags.known.isSuperset(of: flags) else {
                throw WireProtocolError(.unknownFlags, "unknown flags 0x\(String(flags.rawValue, radix: 16)) on \(type)")
            }
        }
        guard buffer.readableBytes >= 4 + Int(length) else { return nil }
        buffer.moveReaderIndex(forwardBy: 4)
        let version = buffer.readInteger(as: UInt8.self)!
        let type = FrameType(rawValue: buffer.readInteger(as: UInt8.self)!)
        let flags = FrameFlags(rawValue: buffer.readInteger(as: UInt16.self)!)
        let streamID = buffer.readInteger(as: UInt32.self)!
        let body = buffer.readSlice(length: Int(length) - Frame.headerSize)!
        return Frame(type: type, streamID: streamID, flags: flags, body: body, version: version)
    }
}
