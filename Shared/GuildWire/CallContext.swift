import GuildCore
import GuildMessages
import Logging

/// What a method handler knows about the call it serves.
public struct CallContext: Sendable {
    /// The calling service, from its certificate.
    public let caller: ServiceName
    /// The method name.
    public let method: String
    /// The request metadata (request id, trace context, calling user).
    public let metadata: [String: String]
    /// When the caller stops waiting. Handlers that call other services pass on what remains.
    public let deadline: ContinuousClock.Instant
    /// The server's logger, without this call's metadata.
    private let serverLogger: Logger

    public init(caller: ServiceName, method: String, metadata: [String: String], deadline: ContinuousClock.Instant, logger: Logger) {
        self.caller = caller
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.serverLogger = logger
    }

    /// A logger carrying the method, the caller, the request id and the trace id.
    ///
    /// Made when asked for, not per call: most calls log nothing, and setting metadata on a
    /// logger costs (the stream handler formats all of it on every change).
    public var logger: Logger {
        var logger = serverLogger
        var callMetadata = logger.handler.metadata
        callMetadata["method"] = .string(method)
        callMetadata["caller"] = .string(caller.rawValue)
        if let id = metadata[MetadataKey.requestID] { callMetadata["request-id"] = .string(id) }
        if let trace = metadata[MetadataKey.traceparent] { callMetadata["traceparent"] = .string(trace) }
        logger.handler.metadata = callMetadata
        return logger
    }

    /// The request id of the user request this call serves.
    public var requestID: String? { metadata[MetadataKey.requestID] }

    /// The authenticated user the caller acts for, if any.
    public var userID: UserID? { metadata[MetadataKey.userID].map(UserID.init(rawValue:)) }

    /// The end client's network address, as the gateway saw it.
    public var clientAddress: String? { metadata[MetadataKey.clientAddress] }

    /// The calling user, or `unauthenticated` when the call carries none.
    public func requireUser() throws -> UserID {
        guard let user = userID else { throw GuildError(.unauthenticated, "This call needs a signed-in user.") }
        return user
    }

    /// Time left before the deadline (zero when passed).
    public var remaining: Duration {
        max(.zero, deadline - ContinuousClock.now)
    }
}
