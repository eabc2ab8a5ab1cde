import Foundation
import GuildCore
import SQLKit

/// The transactional outbox: a service writes an event in the same database transaction as the
/// change it describes, so the event exists if and only if the change does. ``OutboxRelay``
/// (GuildService) delivers each event to every subscriber at least once; consumers apply each
/// event id once (``Inbox``).
public enum Outbox {
    /// The tables, created by one of the service's migrations.
    public static func createTables(_ dialect: SQLDialectKind) -> [String] {
        [
            """
            CREATE TABLE outbox_events (
                seq \(dialect == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"),
                id TEXT NOT NULL UNIQUE,
                topic TEXT NOT NULL,
                payload \(dialect.bytesType) NOT NULL,
                occurred_at_ms BIGINT NOT NULL
            )
            """,
            // Per subscriber: delivered, or when to try again.
            """
            CREATE TABLE outbox_deliveries (
                event_id TEXT NOT NULL REFERENCES outbox_events(id),
                subscriber TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                next_attempt_at_ms BIGINT NOT NULL,
                delivered_at_ms BIGINT,
                last_error TEXT NOT NULL,
                PRIMARY KEY (event_id, subscriber)
            )
            """,
        ]
    }

    /// The migration statement that adds the dead-letter state to deliveries: a delivery that
    /// failed as often as the relay allows is dead, and is not tried again until an operator
    /// retries it (``retryDead(_:event:subscriber:)``).
    public static let deadLetterColumn = "ALTER TABLE outbox_deliveries ADD COLUMN dead_at_ms BIGINT"

    /// The migration statements that let an event carry the request id and the trace context
    /// of the request that wrote it, so that its delivery continues that trace.
    public static let traceColumns = [
        "ALTER TABLE outbox_events ADD COLUMN request_id TEXT",
        "ALTER TABLE outbox_events ADD COLUMN traceparent TEXT",
    ]

    /// Appends an event inside the caller's transaction, with the request id and trace context
    /// of the work being served (the task's `ServiceContext`). Returns its id.
    @discardableResult
    public static func append(_ sql: any SQLDatabase, topic: String, payload: [UInt8], at now: Date) async throws -> String {
        let id = Identifier.make(at: now)
        let trace = RequestTraceMetadata.current()
        try await sql.raw("""
            INSERT INTO outbox_events (id, topic, payload, occurred_at_ms, request_id, traceparent)
            VALUES (\(bind: id), \(bind: topic), \(bind: Data(payload)), \(bind: now.millisecondsSince1970), \(bind: trace.requestID), \(bind: trace.traceparent))
            """).run()
        return id
    }

    /// One stored event.
    public struct Event: Sendable, Equatable {
        public let id: String
        public let topic: String
        public let payload: [UInt8]
        public let occurredAtMs: Int64
        /// The request that wrote it, and its trace context (nil for work no request started).
        public var requestID: String? = nil
        public var traceparent: String? = nil
    }

    /// Events not yet delivered to `subscriber` whose next attempt is due, in the order they
    /// were written.
    public static func due(_ database: Database, subscriber: String, topics: Set<String>?, now: Date, limit: Int) async throws -> [Event] {
        let nowMs = now.millisecondsSince1970
        return try await database.withConnection { sql in
            // Topics are filtered in the query, so events a subscriber does not want never fill its batch.
            var query: SQLQueryString = """
                SELECT e.id AS id, e.topic AS topic, e.payload AS payload, e.occurred_at_ms AS occurred_at_ms,
                    e.request_id AS request_id, e.traceparent AS traceparent
                FROM outbox_events e LEFT JOIN outbox_deliveries d ON d.event_id = e.id AND d.subscriber = \(bind: subscriber)
                WHERE d.delivered_at_ms IS NULL AND d.dead_at_ms IS NULL AND (d.next_attempt_at_ms IS NULL OR d.next_attempt_at_ms <= \(bind: nowMs))
                """
            guard appendTopicFilter(topics, to: &query) else { return [] }
            query.appendLiteral(" ORDER BY e.seq LIMIT ")
            query.appendInterpolation(bind: limit)
            return try await sql.raw(query).all().map { row in
                Event(
                    id: try row.decode(column: "id", as: String.self), topic: try row.decode(column: "topic", as: String.self),
                    payload: Array(try row.decode(column: "payload", as: Data.self)),
                    occurredAtMs: try row.decode(column: "occurred_at_ms", as: Int64.self),
                    requestID: try row.decode(column: "request_id", as: String?.self),
                    traceparent: try row.decode(column: "traceparent", as: String?.self))
            }
        }
    }

    /// Narrows `query` (over `outbox_events e`) to a subscriber's topics (nil: every topic).
    /// False when it wants none, so the caller need not ask at all.
    private static func appendTopicFilter(_ topics: Set<String>?, to query: inout SQLQueryString) -> Bool {
        guard let topics else { return true }
        guard !topics.isEmpty else { return false }
        query.appendLiteral(" AND e.topic IN (")
        query.appendInterpolation(binds: topics.sorted())
        query.appendLiteral(")")
        return true
    }

    /// Deletes up to `limit` events written before `before` that every subscriber that wants
    /// them has received, with their deliveries; events no subscriber wants go too. An event
    /// waiting for a subscriber, or dead for one (an operator may retry it), stays. Returns how
    /// many events went. A subscriber added later receives only the events still kept.
    public static func prune(_ database: Database, subscribers: [(name: String, topics: Set<String>?)], before: Date, limit: Int) async throws -> Int {
        try await database.transaction { sql in
            var query: SQLQueryString = "SELECT e.id AS id FROM outbox_events e WHERE e.occurred_at_ms < \(bind: before.millisecondsSince1970)"
            for subscriber in subscribers {
                let received: SQLQueryString = """
                    EXISTS (SELECT 1 FROM outbox_deliveries d WHERE d.event_id = e.id AND d.subscriber = \(bind: subscriber.name) AND d.delivered_at_ms IS NOT NULL)
                    """
                if let topics = subscriber.topics {
                    guard !topics.isEmpty else { continue }
                    query.appendLiteral(" AND (e.topic NOT IN (")
                    query.appendInterpolation(binds: topics.sorted())
                    query.appendLiteral(") OR ")
                } else {
                    query.appendLiteral(" AND (")
                }
                query.appendInterpolation(received)
                query.appendLiteral(")")
            }
            query.appendLiteral(" ORDER BY e.seq LIMIT ")
            query.appendInterpolation(bind: limit)
            let ids = try await sql.raw(query).all().map { try $0.decode(column: "id", as: String.self) }
            guard !ids.isEmpty else { return 0 }
            try await sql.raw("DELETE FROM outbox_deliveries WHERE event_id IN (\(binds: ids))").run()
            try await sql.raw("DELETE FROM outbox_events WHERE id IN (\(binds: ids))").run()
            return ids.count
        }
    }

    /// How many events wait for `subscriber` (not delivered, not dead; due or backing off), and
    /// when the oldest of them was written: the relay's depth and lag, for its metrics.
    public static func backlog(_ database: Database, subscriber: String, topics: Set<String>?) async throws -> (count: Int, oldestMs: Int64?) {
        try await database.withConnection { sql in
            var query: SQLQueryString = """
                SELECT COUNT(*) AS pending, MIN(e.occurred_at_ms) AS oldest
                FROM outbox_events e LEFT JOIN outbox_deliveries d ON d.event_id = e.id AND d.subscriber = \(bind: subscriber)
                WHERE d.delivered_at_ms IS NULL AND d.dead_at_ms IS NULL
                """
            guard appendTopicFilter(topics, to: &query) else { return (0, nil) }
            guard let row = try await sql.raw(query).first() else { return (0, nil) }
            return (try row.decode(column: "pending", as: Int.self), try row.decode(column: "oldest", as: Int64?.self))
        }
    }

    /// Records the outcome of one delivery attempt: delivered, or failed and due again at `retryAt`
    /// (or, when `dead`, not again until an operator says so). One statement (an upsert), so two
    /// relays recording the same event at once count both attempts, and a failure recorded after
    /// a success never makes the event undelivered.
    public static func record(
        _ database: Database, event: String, subscriber: String, delivered: Bool, error: String, retryAt: Date, dead: Bool = false, now: Date
    ) async throws {
        let deliveredAt: Int64? = delivered ? now.millisecondsSince1970 : nil
        let deadAt: Int64? = !delivered && dead ? now.millisecondsSince1970 : nil
        try await database.withConnection { sql in
            try await sql.raw("""
                INSERT INTO outbox_deliveries (event_id, subscriber, attempts, next_attempt_at_ms, delivered_at_ms, last_error, dead_at_ms)
                VALUES (\(bind: event), \(bind: subscriber), 1, \(bind: retryAt.millisecondsSince1970), \(bind: deliveredAt), \(bind: String(error.prefix(500))), \(bind: deadAt))
                ON CONFLICT (event_id, subscriber) DO UPDATE SET
                    attempts = outbox_deliveries.attempts + 1,
                    next_attempt_at_ms = excluded.next_attempt_at_ms,
                    delivered_at_ms = COALESCE(outbox_deliveries.delivered_at_ms, excluded.delivered_at_ms),
                    last_error = excluded.last_error,
                    dead_at_ms = CASE WHEN outbox_deliveries.delivered_at_ms IS NULL THEN excluded.dead_at_ms ELSE NULL END
                """).run()
        }
    }

    /// A delivery the relay gave up on.
    public struct DeadDelivery: Sendable, Equatable {
        public let event: String
        public let topic: String
        public let subscriber: String
        public let attempts: Int
        public let lastError: String
        public let deadAtMs: Int64
    }

    /// The dead deliveries, oldest first.
    public static func deadDeliveries(_ database: Database, limit: Int) async throws -> [DeadDelivery] {
        try await database.withConnection { sql in
            try await sql.raw("""
                SELECT d.event_id AS event_id, e.topic AS topic, d.subscriber AS subscriber, d.attempts AS attempts, d.last_error AS last_error,
                       d.dead_at_ms AS dead_at_ms
                FROM outbox_deliveries d JOIN outbox_events e ON e.id = d.event_id
                WHERE d.dead_at_ms IS NOT NULL ORDER BY d.dead_at_ms, d.event_id LIMIT \(bind: limit)
                """).all().map { row in
                DeadDelivery(
                    event: try row.decode(column: "event_id", as: String.self), topic: try row.decode(column: "topic", as: String.self),
                    subscriber: try row.decode(column: "subscriber", as: String.self), attempts: try row.decode(column: "attempts", as: Int.self),
                    lastError: try row.decode(column: "last_error", as: String.self), deadAtMs: try row.decode(column: "dead_at_ms", as: Int64.self))
            }
        }
    }

    /// Makes dead deliveries due at once with a fresh allowance of attempts: one (`event` and
    /// `subscriber`), or every one when both are nil. Returns how many.
    @discardableResult
    public static func retryDead(_ database: Database, event: String?, subscriber: String?) async throws -> Int {
        try await database.withConnection { sql in
            var query: SQLQueryString = "UPDATE outbox_deliveries SET dead_at_ms = NULL, attempts = 0, next_attempt_at_ms = 0 WHERE dead_at_ms IS NOT NULL"
            if let event { query.appendLiteral(" AND event_id = "); query.appendInterpolation(bind: event) }
            if let subscriber { query.appendLiteral(" AND subscriber = "); query.appendInterpolation(bind: subscriber) }
            query.appendLiteral(" RETURNING event_id")
            return try await sql.raw(query).all().count
        }
    }

    /// How many delivery attempts `event` has had to `subscriber` and whether it arrived.
    public static func deliveryState(_ database: Database, event: String, subscriber: String) async throws -> (attempts: Int, delivered: Bool) {
        try await database.withConnection { sql in
            guard let row = try await sql.raw("""
                SELECT attempts, delivered_at_ms FROM outbox_deliveries WHERE event_id = \(bind: event) AND subscriber = \(bind: subscriber)
                """).first() else { return (0, false) }
            return (try row.decode(column: "attempts", as: Int.self), try row.decode(column: "delivered_at_ms", as: Int64?.self) != nil)
        }
    }
}

/// The consumer's side of at-least-once delivery: remembers which event ids were applied, in the
/// same transaction as their effect, so a redelivered event changes nothing.
public enum Inbox {
    public static let createTable = """
        CREATE TABLE inbox_events (
            id TEXT PRIMARY KEY,
            topic TEXT NOT NULL,
            applied_at_ms BIGINT NOT NULL
        )
        """

    /// Claims `eventID` inside the caller's transaction: true the first time, false when it was
    /// applied before (then the caller applies nothing). Two deliveries of one event at once: the
    /// second waits on the first's row (PostgreSQL) or the write lock (SQLite), then gets false.
    public static func claim(_ sql: any SQLDatabase, eventID: String, topic: String, now: Date) async throws -> Bool {
        try await sql.raw("""
            INSERT INTO inbox_events (id, topic, applied_at_ms) VALUES (\(bind: eventID), \(bind: topic), \(bind: now.millisecondsSince1970))
            ON CONFLICT (id) DO NOTHING RETURNING id
            """).first() != nil
    }
}
