import Instrumentation

/// Puts trace context into a wire call's metadata and reads it back out, for
/// swift-distributed-tracing's instrument (W3C `traceparent` and `tracestate`). Keys are
/// lowercase, as the wire protocol's metadata keys are.
public struct MetadataCarrier: Injector, Extractor {
    public init() {}

    public func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) {
        carrier[key.lowercased()] = value
    }

    public func extract(key: String, from carrier: [String: String]) -> String? {
        carrier[key.lowercased()]
    }
}
