import GuildCore

/// A violation of the wire protocol by the peer. It ends the connection: the receiver sends an
/// ERROR frame on stream 0 describing it and closes.
public struct WireProtocolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong, as a stable reason string carried in the ERROR frame.
    public struct Reason: RawRepresentable, Hashable, Sendable {
        public let rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }

        public static let frameTooLarge = Reason(rawValue: "frame_too_large")
        public static let frameTooShort = Reason(rawValue: "frame_too_short")
        public static let truncatedFrame = Reason(rawValue: "truncated_frame")
        public static let unsupportedVersion = Reason(rawValue: "unsupported_version")
        public static let unknownFrameType = Reason(rawValue: "unknown_frame_type")
        public static let unknownFlags = Reason(rawValue: "unknown_flags")
        public static let malformedBody = Reason(rawValue: "malformed_body")
        public static let handshakeRequired = Reason(rawValue: "handshake_required")
        public static let unexpectedFrame = Reason(rawValue: "unexpected_frame")
        public static let invalidStreamID = Reason(rawValue: "invalid_stream_id")
        public static let handshakeTimeout = Reason(rawValue: "handshake_timeout")
        public static let peerIdentityMismatch = Reason(rawValue: "peer_identity_mismatch")
    }

    public var reason: Reason
    public var message: String

    public init(_ reason: Reason, _ message: String) {
        self.reason = reason
        self.message = message
    }

    public var description: String { "\(reason.rawValue): \(message)" }

    /// The same failure in Guild's error model.
    public var guildError: GuildError {
        GuildError(.protocolViolation, message, reason: reason.rawValue)
    }
}
