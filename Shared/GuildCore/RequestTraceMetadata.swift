import Instrumentation
import ServiceContextModule

/// The request id and W3C trace context of the work being served, as text: what an outbox event
/// stores so that its delivery, later and from another task, continues the request's trace.
public enum RequestTraceMetadata {
    /// From the task's `ServiceContext` (both nil outside any request).
    public static func current() -> (requestID: String?, traceparent: String?) {
        guard let context = ServiceContext.current else { return (nil, nil) }
        var carrier: [String: String] = [:]
        InstrumentationSystem.instrument.inject(context, into: &carrier, using: MetadataCarrier())
        return (context.requestID, carrier["traceparent"])
    }

    /// A `ServiceContext` continuing what ``current()`` gave.
    public static func context(requestID: String?, traceparent: String?) -> ServiceContext {
        var metadata: [String: String] = [:]
        metadata["request-id"] = requestID
        metadata["traceparent"] = traceparent
        return context(metadata: metadata)
    }

    /// A `ServiceContext` continuing the request a wire call's metadata names: its `request-id`,
    /// and the trace context the instrument reads from it (`traceparent`, `tracestate`).
    public static func context(metadata: [String: String]) -> ServiceContext {
        var context = ServiceContext.topLevel
        context.requestID = metadata["request-id"]
        InstrumentationSystem.instrument.extract(metadata, into: &context, using: MetadataCarrier())
        return context
    }
}
