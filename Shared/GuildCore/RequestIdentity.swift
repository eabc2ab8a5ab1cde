import ServiceContextModule

/// The id of the user request a piece of work serves, carried in the task's `ServiceContext`
/// beside the trace context (swift-distributed-tracing's span context), so that every wire call,
/// database query, log line and outbox event made while serving it carries it too, however many
/// hops away from the gateway that took the request.
public enum RequestIDKey: ServiceContextKey {
    public typealias Value = String
    public static var nameOverride: String? { "request-id" }
}

extension ServiceContext {
    /// The id of the user request being served, if any.
    public var requestID: String? {
        get { self[RequestIDKey.self] }
        set { self[RequestIDKey.self] = newValue }
    }
}
