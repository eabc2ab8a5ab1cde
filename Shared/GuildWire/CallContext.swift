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
    /// A logger carrying the request id and trace id.
    public let logger: Logger

    public init(caller: ServiceName, method: String, metadata: [String: String], deadline: ContinuousClock.Instant, logger: Logger) {
        self.caller = caller
        self.method = method
        self.metadata = metadata
        self.deadline = deadline
        self.logger = logger
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
