import NIOCore

/// Writes ``Frame``s as length-prefixed bytes.
public struct FrameEncoder: MessageToByteEncoder {
    public typealias OutboundIn = Frame

    public init() {}

    public func encode(data frame: Frame, out: inout ByteBuffer) throws {
        Self.encode(frame, into: &out)
    }

    /// Appends the wire form of `frame` to `out`.
    public static func encode(_ frame: Frame, into out: inout ByteBuffer) {
        out.reserveCapacity(minimumWritableBytes: 4 + Frame.headerSize + frame.body.readableBytes)
        out.writeInteger(UInt32(Frame.headerSize + frame.body.readableBytes))
        out.writeInteger(frame.version)
        out.writeInteger(frame.type.rawValue)
        out.writeInteger(frame.flags.rawValue)
        out.writeInteger(frame.streamID)
        var body = frame.body
        out.writeBuffer(&body)
    }
}
