import ArgumentParser
import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildWire
import Logging
import ServiceLifecycle

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

        public init(name: ServiceName, client: WireClient, topics: Set<String>? = nil) {
            self.name = name
            self.client = client
            self.topics = topics
        }
    }

    let source: ServiceName
    let database: Database
    let subscribers: [Subscriber]
    let clock: any WallClock
    let interval: Duration
    let maximumAttempts: Int
    let logger: Logger
    public static let maximumBackoff: TimeInterval = 300
    /// Tries before a delivery is dead: 288 at the 5-minute cap is about a day.
    public static let defaultMaximumAttempts = 288

    public init(
        source: ServiceName, database: Database, subscribers: [Subscriber], clock: any WallClock = SystemWallClock(), interval: Duration = .seconds(1),
        maximumAttempts: Int = OutboxRelay.defaultMaximumAttempts, logger: Logger
    ) {
        self.maximumAttempts = maximumAttempts
        self.source = source
        self.database = database
        self.subscribers = subscribers
        self.clock = clock
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        try await PeriodicJob(name: "outbox-relay", every: interval, logger: logger) { try await deliverDue() }.run()
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
                    _ = try await subscriber.client.call(EventsAPI.deliver, request, timeout: .seconds(10))
                    try await Outbox.record(database, event: event.id, subscriber: subscriber.name.rawValue, delivered: true, error: "", retryAt: clock.now(), now: clock.now())
                    delivered += 1
                } catch {
                    let attempts = try await Outbox.deliveryState(database, event: event.id, subscriber: subscriber.name.rawValue).attempts + 1
                    let retryAt = clock.now().addingTimeInterval(Self.backoff(afterAttempts: attempts))
                    let dead = attempts >= maximumAttempts
                    try await Outbox.record(database, event: event.id, subscriber: subscriber.name.rawValue, delivered: false, error: "\(error)",
                                            retryAt: retryAt, dead: dead, now: clock.now())
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
            Subscriber(name: name, client: try WireClient(service: name, endpoints: endpoints, tls: tls, logger: logger))
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
