import GuildSecurity
import Hummingbird
import Logging
import NIOCore

/// Per-request state of the gateway: the request id, the client's address, and the verified
/// caller once a bearer token was checked.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The request id echoed in `X-Request-Id` and passed to every service called.
    public var requestID: String = ""
    /// W3C trace context to pass on.
    public var traceparent: String?
    /// The peer address of the TCP connection.
    public let remoteAddress: SocketAddress?
    /// The verified caller, after ``GatewayApplication`` checked the bearer token.
    public var claims: AccessTokenClaims?

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.remoteAddress = source.channel.remoteAddress
    }

    /// JSON request bodies larger than this are refused with 413.
    public var maxUploadSize: Int { 64 * 1024 }
}
