import CoreMetrics
import GuildCore
import Synchronization

/// Per-method metrics of a wire server, through swift-metrics: calls by method and outcome code
/// (`guild_wire_server_calls_total`) and call latency by method
/// (`guild_wire_server_call_duration_seconds`). Unknown method names are recorded as `unknown`,
/// so hostile callers cannot blow up the number of series.
///
/// One per connection, confined to its event loop: the counters and timers are made once per
/// method and outcome and then reused, so a call costs no registry lookup and no lock here.
final class WireServerMetrics {
    /// The metrics of one method: made when the method is first called on the connection.
    /// (It holds what it needs of the connection's metrics, not them: they hold it.)
    final class Method {
        let name: String
        let latency: CoreMetrics.Timer
        private var succeeded: Counter?
        private var failed: [GuildError.Code: Counter] = [:]
        private let service: ServiceName
        private let factory: any MetricsFactory

        fileprivate init(name: String, service: ServiceName, factory: any MetricsFactory) {
            self.name = name
            self.service = service
            self.factory = factory
            latency = CoreMetrics.Timer(
                label: "guild_wire_server_call_duration_seconds",
                dimensions: [("service", service.rawValue), ("method", name)],
                preferredDisplayUnit: .seconds,
                factory: factory)
        }

        func record(code: GuildError.Code?, duration: Duration) {
            latency.recordNanoseconds(duration.wholeNanoseconds)
            counter(for: code).increment()
        }

        private func counter(for code: GuildError.Code?) -> Counter {
            if code == nil, let succeeded { return succeeded }
            if let code, let counter = failed[code] { return counter }
            let counter = Counter(
                label: "guild_wire_server_calls_total",
                dimensions: [("service", service.rawValue), ("method", name), ("code", code?.name ?? "ok")],
                factory: factory)
            if let code { failed[code] = counter } else { succeeded = counter }
            return counter
        }
    }

    let service: ServiceName
    let factory: any MetricsFactory
    /// By the method's index in the router.
    private var methods: [Method?]
    /// Calls to names the router does not know.
    private var unknownMethod: Method?

    init(service: ServiceName, factory: (any MetricsFactory)?, methodCount: Int = 0) {
        self.service = service
        self.factory = factory ?? MetricsSystem.factory
        self.methods = Array(repeating: nil, count: methodCount)
    }

    /// The metrics of a registered method, by its router index.
    func method(_ method: WireMethod) -> Method {
        if methods.indices.contains(method.index), let known = methods[method.index] { return known }
        let made = Method(name: method.name, service: service, factory: factory)
        if methods.indices.contains(method.index) { methods[method.index] = made }
        return made
    }

    /// The metrics of calls to unknown methods (one series, whatever names hostile callers send).
    var unknown: Method {
        if let unknownMethod { return unknownMethod }
        let made = Method(name: "unknown", service: service, factory: factory)
        unknownMethod = made
        return made
    }
}

/// Calls running on a whole server, across connections, against its overall limit.
final class WireServerLoad: Sendable {
    let limit: Int
    private let running = Atomic<Int>(0)

    init(limit: Int) { self.limit = limit }

    /// Takes a slot; false (and no slot taken) when the server is at its limit.
    func tryAcquire() -> Bool {
        let now = running.add(1, ordering: .acquiring).newValue
        if now > limit {
            running.subtract(1, ordering: .releasing)
            return false
        }
        return true
    }

    func release() { running.subtract(1, ordering: .releasing) }

    var current: Int { running.load(ordering: .relaxed) }
}

/// Per-method metrics of a wire client, through swift-metrics: calls by service, method and
/// outcome code (`guild_wire_client_calls_total`), their latency including retries
/// (`guild_wire_client_call_duration_seconds`) and retries (`guild_wire_client_retries_total`).
/// Method names come from the caller's own descriptors, so the series are bounded.
final class WireClientMetrics: Sendable {
    private final class Method: Sendable {
        let latency: CoreMetrics.Timer
        let retries: Counter
        let calls: Mutex<[GuildError.Code?: Counter]> = Mutex([:])

        init(service: ServiceName, name: String, factory: any MetricsFactory) {
            latency = CoreMetrics.Timer(
                label: "guild_wire_client_call_duration_seconds", dimensions: [("service", service.rawValue), ("method", name)],
                preferredDisplayUnit: .seconds, factory: factory)
            retries = Counter(label: "guild_wire_client_retries_total", dimensions: [("service", service.rawValue), ("method", name)], factory: factory)
        }
    }

    let service: ServiceName
    let factory: any MetricsFactory
    private let methods: Mutex<[String: Method]> = Mutex([:])

    init(service: ServiceName, factory: any MetricsFactory) {
        self.service = service
        self.factory = factory
    }

    private func method(_ name: String) -> Method {
        methods.withLock { methods in
            if let known = methods[name] { return known }
            let made = Method(service: service, name: name, factory: factory)
            methods[name] = made
            return made
        }
    }

    func record(method name: String, code: GuildError.Code?, duration: Duration) {
        let method = method(name)
        method.latency.recordNanoseconds(duration.wholeNanoseconds)
        let counter = method.calls.withLock { calls in
            if let counter = calls[code] { return counter }
            let made = Counter(
                label: "guild_wire_client_calls_total",
                dimensions: [("service", service.rawValue), ("method", name), ("code", code?.name ?? "ok")], factory: factory)
            calls[code] = made
            return made
        }
        counter.increment()
    }

    func retried(method name: String) { method(name).retries.increment() }
}
