import GuildCore
import SwiftProtobuf

/// Describes one wire method: its name, its request and response messages, whether a retry is
/// safe, and which services may call it. Clients and servers refer to the same descriptor, so
/// the two ends cannot disagree.
public struct MethodDescriptor<Request: SwiftProtobuf.Message, Response: SwiftProtobuf.Message>: Sendable {
    /// The method name on the wire (`auth.Login`).
    public let name: String
    /// True when calling it twice has the effect of calling it once, so a client may retry it.
    public let isIdempotent: Bool
    /// The services whose certificates may call this method.
    public let allowedCallers: Set<ServiceName>

    public init(_ name: String, idempotent: Bool, allowedCallers: Set<ServiceName>) {
        self.name = name
        self.isIdempotent = idempotent
        self.allowedCallers = allowedCallers
    }
}

/// Metadata keys that Guild puts in requests. Keys are lowercase ASCII.
public enum MetadataKey {
    /// The request id, shared by every hop of one user request.
    public static let requestID = "request-id"
    /// W3C trace context.
    public static let traceparent = "traceparent"
    /// The authenticated user on whose behalf the call is made (set by the gateway after it
    /// verified the access token).
    public static let userID = "guild-user-id"
    /// The client's network address as the gateway saw it, for throttling.
    public static let clientAddress = "client-address"
}
