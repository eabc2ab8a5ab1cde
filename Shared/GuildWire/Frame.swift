import NIOCore

/// One frame of the Guild wire protocol.
///
/// On the wire: a 4-byte big-endian length (of everything after it), then an 8-byte header
/// (version, type, flags, stream id) and the body. See docs/protocol.md.
public struct Frame: Sendable, Equatable {
    /// The size of the fixed header that follows the length field.
    public static let headerSize = 8
    /// The framing version this implementation writes and accepts.
    public static let currentVersion: UInt8 = 1
    /// The default largest value of the length field a peer accepts (1 MiB).
    public static let defaultMaxFrameSize = 1 << 20

    public var version: UInt8
    public var type: FrameType
    public var flags: FrameFlags
    /// The call this frame belongs to; 0 for frames about the whole connection.
    public var streamID: UInt32
    public var body: ByteBuffer

    public init(
        type: FrameType,
        streamID: UInt32,
        flags: FrameFlags = [],
        body: ByteBuffer = ByteBuffer(),
        version: UInt8 = Frame.currentVersion
    ) {
        self.version = version
        self.type = type
        self.flags = flags
        self.streamID = streamID
        self.body = body
    }
}

/// The kind of a frame. An extensible set: a receiver rejects numbers it does not know.
public struct FrameType: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let hello = FrameType(rawValue: 0x01)
    public static let helloAck = FrameType(rawValue: 0x02)
    public static let request = FrameType(rawValue: 0x03)
    public static let response = FrameType(rawValue: 0x04)
    public static let error = FrameType(rawValue: 0x05)
    public static let cancel = FrameType(rawValue: 0x06)
    public static let ping = FrameType(rawValue: 0x07)
    public static let pong = FrameType(rawValue: 0x08)
    public static let goAway = FrameType(rawValue: 0x09)

    /// Every type version 1 defines.
    public static let known: Set<FrameType> = [.hello, .helloAck, .request, .response, .error, .cancel, .ping, .pong, .goAway]

    /// Version 1 numbers its types 0x01 to 0x09 (`known`), so this is a range check.
    public var isKnown: Bool { (FrameType.hello.rawValue...FrameType.goAway.rawValue).contains(rawValue) }

    public var description: String {
        switch self {
        case .hello: "HELLO"
        case .helloAck: "HELLO_ACK"
        case .request: "REQUEST"
        case .response: "RESPONSE"
        case .error: "ERROR"
        case .cancel: "CANCEL"
        case .ping: "PING"
        case .pong: "PONG"
        case .goAway: "GOAWAY"
        default: "type 0x" + String(rawValue, radix: 16)
        }
    }
}

/// Frame flags. A receiver rejects a frame with unknown flags set.
public struct FrameFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    /// The body of a REQUEST or RESPONSE is zlib-compressed (only once both sides agreed to the
    /// `zlib` feature in the handshake).
    public static let compressed = FrameFlags(rawValue: 0x0001)

    /// Flags this implementation understands.
    public static let known: FrameFlags = [.compressed]
}
