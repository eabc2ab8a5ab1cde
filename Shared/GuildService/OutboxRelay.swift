import ArgumentParser
import CoreMetrics
import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildWire
import Logging
import ServiceLifecycle
import Synchronization
import Tracing

/// Delivers a service's outbox to the services that subscribe, at least once and oldest first
/// (but not strictly in order: an event that failed waits for its retry while later ones go):
/// each due event goes out with `events.Deliver`; an answer marks it delivered; an error
/// schedules it again after an exponential backoff with jitter (1 s doubling up to
/// ``maximumBackoff``). A failure ends that subscriber's pass, so a subscriber that is down is
/// not called once per event; one subscriber being down never holds up another. A delivery that
/// failed ``maximumAttempts`` times (about a day of tries) is dead: it is not tried again until
/// an operator retries it (`guild dead-letters`). Runs until graceful shutdown.
public struct OutboxRelay: Service {
    /// One consumer of the events.
    public struct Subscriber: Sendable {
        public let name: ServiceName
        public let client: WireClient
        /// Topics it wants (nil: every topic).
        public let topics: Set<String>?
        /// One client per replica, when the subscriber has several: each event delivered is
        /// also sent to every replica (see ``broadcast(_:)``).
        public let replicas: [WireClient]

        public init(name: ServiceName, client: WireClient, topics: Set<String>? = nil, replicas: [WireClient] = []) {
            self.name = name
            self.client = client
            self.topics = topics
            self.replicas = replicas
        }

        /// Sends a delivered event to every replica, at once and once, without recording the
        /// outcome. The delivery was applied once (a subscriber applies an event id once, through
        /// the inbox its replicas share); what every replica needs is to drop what its own cache
        /// holds about it (a member's entitlements). A replica that misses it serves what it
        /// cached until the entry's short lifetime (30 s) ends.
        func broadcast(_ request: EventsDeliverRequest) async {
            guard replicas.count > 1 else { return }
            await withTaskGroup(of: Void.self) { group in
                for replica in replicas {
                    group.addTask { _ = try? await replica.call(EventsAPI.deliver, request, timeout: .seconds(2)) }
                }
            }
        }
    }

    let source: ServiceName
    let database: Database
    let subscribers: [Subscriber]
    let clock: any WallClock
    let interval: Duration
    let maximumAttempts: Int
    let logger: Logger
    let metrics: [ServiceName: SubscriberMetrics]
    public static let maximumBackoff: TimeInterval = 300
    /// How often the relay measures its backlog (``measureBacklog()``).
    public static let backlogInterval: Duration = .seconds(15)
    /// How long a delivered event is kept, and how often the relay prunes older ones (``prune()``).
    public static let retention: TimeInterval = 7 * 86_400
    public static let pruneInterval: Duration = .seconds(3600)
    /// Tries before a delivery is dead: 288 at the 5-minute cap is about a day.
    public static let defaultMaximumAttempts = 288

    public init(
        source: ServiceName, database: Database, subscribers: [Subscriber], clock: any WallClock = SystemWallClock(), interval: Duration = .seconds(1),
        maximumAttempts: Int = OutboxRelay.defaultMaximumAttempts, logger: Logger, metrics factory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.metrics = Dictionary(uniqueKeysWithValues: subscribers.map { ($0.name, SubscriberMetrics(subscriber: $0.name, factory: factory)) })
        self.maximumAttempts = maximumAttempts
        self.source = source
        self.database = database
        self.subscribers = subscribers
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        // The backlog is a count over the whole outbox: measured every 15 s (a scrape's usual
        // interval), not on every pass; delivered events are pruned once an hour.
        let measured = Mutex<ContinuousClock.Instant?>(nil)
        let pruned = Mutex<ContinuousClock.Instant?>(nil)
        @Sendable func due(_ last: borrowing Mutex<ContinuousClock.Instant?>, every interval: Duration) -> Bool {
            let now = ContinuousClock.now
            return last.withLock { last in
                guard last.map({ now - $0 >= interval }) ?? true else { return false }
                last = now
                return true
            }
        }
        try await PeriodicJob.leased(name: "outbox-relay", every: interval, database: database, logger: logger) {
            try await deliverDue()
            if due(measured, every: Self.backlogInterval) { try await measureBacklog() }
            if due(pruned, every: Self.pruneInterval) { try await prune() }
        }.run()
    }

    /// Deletes the events every subscriber received more than ``retention`` ago (by the
    /// service's clock), a thousand at a time. Returns how many.
    @discardableResult
    public func prune() async throws -> Int {
        let before = clock.now().addingTimeInterval(-Self.retention)
        let wanted = subscribers.map { (name: $0.name.rawValue, topics: $0.topics) }
        var total = 0
        while true {
            let count = try await Outbox.prune(database, subscribers: wanted, before: before, limit: 1000)
            total += count
            if count < 1000 { break }
        }
        if total > 0 { logger.info("pruned delivered outbox events", metadata: ["count": "\(total)"]) }
        return total
    }

    /// The relay's metrics for one subscriber: deliveries by outcome, and what waits.
    struct SubscriberMetrics: Sendable {
        let delivered: Counter
        let failed: Counter
        let dead: Counter
        let pending: Gauge
        let lag: Gauge

        init(subscriber: ServiceName, factory: any MetricsFactory) {
            func outcome(_ name: String) -> Counter {
                Counter(label: "guild_outbox_deliveries_total", dimensions: [("subscriber", subscriber.rawValue), ("outcome", name)], factory: factory)
            }
            delivered = outcome("delivered")
            failed = outcome("failed")
            dead = outcome("dead")
            pending = Gauge(label: "guild_outbox_pending_events", dimensions: [("subscriber", subscriber.rawValue)], factory: factory)
            lag = Gauge(label: "guild_outbox_lag_seconds", dimensions: [("subscriber", subscriber.rawValue)], factory: factory)
        }
    }

    /// Sets each subscriber's depth (events waiting) and lag (age of the oldest, 0 when none).
    public func measureBacklog() async throws {
        for subscriber in subscribers {
            let backlog = try await Outbox.backlog(database, subscriber: subscriber.name.rawValue, topics: subscriber.topics)
            metrics[subscriber.name]?.pending.record(backlog.count)
            let lagMs = backlog.oldestMs.map { max(0, clock.now().millisecondsSince1970 - $0) } ?? 0
            metrics[subscriber.name]?.lag.record(Double(lagMs) / 1000)
        }
    }

    /// One pass: every due event to every subscriber. Returns how many deliveries succeeded.
    @discardableResult
    public func deliverDue(batch: Int = 100) async throws -> Int {
        var delivered = 0
        for subscriber in subscribers {
            for event in try await Outbox.due(database, subscriber: subscriber.name.rawValue, topics: subscriber.topics, now: clock.now(), limit: batch) {
                var request = EventsDeliverRequest()
                request.event.id = event.id
                request.event.topic = event.topic
                request.event.source = source.rawValue
                request.event.occurredAtMs = event.occurredAtMs
                request.event.payload = Data(event.payload)
                do {
                    // The delivery continues the trace of the request that wrote the event.
                    let context = RequestTraceMetadata.context(requestID: event.requestID, traceparent: event.traceparent)
                    try await ServiceContext.withValue(context) {
                        _ = try await subscriber.client.call(EventsAPI.deliver, request, timeout: .seconds(10))
                        await subscriber.broadcast(request)
                    }
                    try await Outbox.record(database, event: event.id, subscriber: subscriber.name.rawValue, delivered: true, error: "", retryAt: clock.now(), now: clock.now())
                    delivered += 1
                    metrics[subscriber.name]?.delivered.increment()
                } catch {
                    let attempts = try await Outbox.deliveryState(database, event: event.id, subscriber: subscriber.name.rawValue).attempts + 1
                    let retryAt = clock.now().addingTimeInterval(Self.backoff(afterAttempts: attempts))
                    let dead = attempts >= maximumAttempts
                    try await Outbox.record(database, event: event.id, subscriber: subscriber.name.rawValue, delivered: false, error: "\(error)",
                                            retryAt: retryAt, dead: dead, now: clock.now())
                    (dead ? metrics[subscriber.name]?.dead : metrics[subscriber.name]?.failed)?.increment()
                    if dead {
                        logger.error("event delivery given up: a dead letter until an operator retries it (guild dead-letters)", metadata: [
                            "event": "\(event.id)", "topic": "\(event.topic)", "subscriber": "\(subscriber.name)", "attempts": "\(attempts)", "error": "\(error)",
                        ])
                    } else {
                        logger.warning("event delivery failed; will retry", metadata: [
                            "event": "\(event.id)", "subscriber": "\(subscriber.name)", "attempts": "\(attempts)", "error": "\(error)",
                        ])
                    }
                    break  // probably down: the rest of its batch waits for the next pass
                }
            }
        }
        return delivered
    }

    /// Parses the `--event-subscribers` option: `referral=127.0.0.1:7104;content=127.0.0.1:7103`
    /// (each service with one or more endpoints separated by commas).
    public static func parseSubscribers(_ text: String) throws -> [(ServiceName, [WireEndpoint])] {
        try text.split(separator: ";").map { entry in
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, let name = ServiceName(uri: "spiffe://guild/\(parts[0])"), let endpoints = WireEndpoint.list(parts[1]) else {
                throw ValidationError("--event-subscribers: expected service=host:port[,host:port], got '\(entry)'")
            }
            return (name, endpoints)
        }
    }

    /// The relay for `source`'s outbox to the subscribers named in `text` (nil when none),
    /// calling them with `source`'s certificate from `certificates`.
    public static func make(source: ServiceName, database: Database, subscribers text: String, certificates: String, logger: Logger) throws -> OutboxRelay? {
        let subscribers = try parseSubscribers(text)
        guard !subscribers.isEmpty else { return nil }
        let tls = try WireTLS.load(directory: certificates, service: source)
        let clients = try subscribers.map { name, endpoints in
            Subscriber(
                name: name, client: try WireClient(service: name, endpoints: endpoints, tls: tls, logger: logger),
                replicas: endpoints.count > 1 ? try endpoints.map { try WireClient(service: name, endpoints: [$0], tls: tls, logger: logger) } : [])
        }
        return OutboxRelay(source: source, database: database, subscribers: clients, logger: logger)
    }

    /// Seconds before the next attempt after `attempts` failures: 2^(attempts-1) seconds, at most
    /// ``maximumBackoff``, with up to 20 % random jitter so that retries do not synchronize.
    public static func backoff(afterAttempts attempts: Int) -> TimeInterval {
        let base = min(maximumBackoff, pow(2, Double(max(0, attempts - 1))))
        return base * Double.random(in: 0.8...1.0)
    }
}
