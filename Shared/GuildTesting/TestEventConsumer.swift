import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildWire
import SQLKit
import Synchronization

/// A consumer of a service's events, as a later service will be: it serves `events.Deliver`
/// over the wire, refuses the first `failures` deliveries (a consumer that is down), and applies
/// each event id once through its ``Inbox``, keeping what it applied.
public final class TestEventConsumer: Sendable {
    public let database: TestDatabase
    private let state: Mutex<(failuresLeft: Int, calls: Int)>

    /// - Parameter createTables: false for a second replica of a consumer, sharing the first's database.
    public init(database: TestDatabase, failures: Int = 0, createTables: Bool = true) async throws {
        self.database = database
        self.state = Mutex((failures, 0))
        guard createTables else { return }
        try await database.database.withConnection { sql in
            try await sql.raw(SQLQueryString(Inbox.createTable)).run()
            try await sql.raw("CREATE TABLE applied (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL)").run()
        }
    }

    /// How many deliveries arrived, refused ones included.
    public var calls: Int { state.withLock { $0.calls } }

    public var router: WireRouter {
        WireRouter([
            WireMethod(EventsAPI.deliver) { request, _ in
                let refuse = self.state.withLock { state -> Bool in
                    state.calls += 1
                    guard state.failuresLeft > 0 else { return false }
                    state.failuresLeft -= 1
                    return true
                }
                // Not `unavailable`, which the client would retry at once: each refusal reaches the relay.
                if refuse { throw GuildError(.internal, "consumer cannot apply events yet") }
                let event = request.event
                try await self.database.database.transaction { sql in
                    guard try await Inbox.claim(sql, eventID: event.id, topic: event.topic, now: Date()) else { return }
                    try await sql.raw("""
                        INSERT INTO applied (event_id, topic, payload) VALUES (\(bind: event.id), \(bind: event.topic), \(bind: event.payload))
                        """).run()
                }
                return EventsDeliverResponse()
            },
        ])
    }

    /// The events applied, in the order they were applied.
    public func applied() async throws -> [(topic: String, payload: Data)] {
        try await database.database.withConnection { sql in
            try await sql.raw("SELECT topic, payload FROM applied ORDER BY seq").all().map {
                (try $0.decode(column: "topic", as: String.self), try $0.decode(column: "payload", as: Data.self))
            }
        }
    }
}
