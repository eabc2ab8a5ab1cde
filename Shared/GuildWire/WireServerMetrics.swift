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
    private struct MethodMetrics {
        let latency: Timer
        var outcomes: [GuildError.Code?: Counter] = [:]
    }

    let service: ServiceName
    let factory: any MetricsFactory
    private var methods: [String: MethodMetrics] = [:]

    init(service: ServiceName, factory: (any MetricsFactory)?) {
        self.service = service
        self.factory = factory ?? MetricsSystem.factory
    }

    func record(method: String?, code: GuildError.Code?, duration: Duration) {
        let name = method ?? "unknown"
        if methods[name] == nil {
            methods[name] = MethodMetrics(latency: Timer(
                label: "guild_wire_server_call_duration_seconds",
                dimensions: [("service", service.rawValue), ("method", name)],
                preferredDisplayUnit: .seconds,
                factory: factory))
        }
        methods[name]!.latency.recordNanoseconds(duration.wholeNanoseconds)
        if let counter = methods[name]!.outcomes[code] {
            counter.increment()
            return
        }
        let counter = Counter(
            label: "guild_wire_server_calls_total",
            dimensions: [("service", service.rawValue), ("method", name), ("code", code?.name ?? "ok")],
            factory: factory)
        methods[name]!.outcomes[code] = counter
        counter.increment()
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
