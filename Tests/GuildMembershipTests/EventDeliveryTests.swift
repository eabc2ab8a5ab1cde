import Foundation
import GuildCore
import GuildMessages
import GuildService
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import SwiftProtobuf
import Synchronization
import Testing

@testable import GuildMembership

/// A consumer of membership's events, as a later service will be: it serves `events.Deliver`
/// over the wire, refuses the first `failures` deliveries (a consumer that is down), and applies
/// each event id once through its ``Inbox``.
final class TestEventConsumer: Sendable {
    let database: TestDatabase
    private let state: Mutex<(failuresLeft: Int, calls: Int)>

    init(database: TestDatabase, failures: Int) async throws {
        self.database = database
        self.state = Mutex((failures, 0))
        try await database.database.withConnection { sql in
            try await sql.raw(SQLQueryString(Inbox.createTable)).run()
            try await sql.raw("CREATE TABLE applied (event_id TEXT NOT NULL, topic TEXT NOT NULL, user_id TEXT NOT NULL)").run()
        }
    }

    var calls: Int { state.withLock { $0.calls } }

    var router: WireRouter {
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
                let user: String = switch event.topic {
                case MembershipService.Topic.paymentSucceeded, MembershipService.Topic.paymentRefunded:
                    try MembershipPaymentEvent(serializedBytes: event.payload).userID
                default:
                    try MembershipSubscriptionEvent(serializedBytes: event.payload).userID
                }
                try await self.database.database.transaction { sql in
                    guard try await Inbox.claim(sql, eventID: event.id, topic: event.topic, now: Date()) else { return }
                    try await sql.raw("INSERT INTO applied (event_id, topic, user_id) VALUES (\(bind: event.id), \(bind: event.topic), \(bind: user))").run()
                }
                return EventsDeliverResponse()
            },
        ])
    }

    /// The events applied, in the order they were applied.
    func applied() async throws -> [(topic: String, user: String)] {
        try await database.database.withConnection { sql in
            try await sql.raw("SELECT topic, user_id FROM applied").all().map {
                (try $0.decode(column: "topic", as: String.self), try $0.decode(column: "user_id", as: String.self))
            }
        }
    }
}

@Suite("Membership events")
struct EventDeliveryTests {
    @Test("events are written with their change and delivered over the wire at least once, applied once, through a consumer that fails at first")
    func delivery() async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(directory: directory.url.appendingPathComponent("certs"))
        let logger = Logger(label: "events-test")
        let consumerDatabase = try await TestDatabase.create(.sqlite, directory: directory.url, logger: logger)
        let consumer = try await TestEventConsumer(database: consumerDatabase, failures: 2)
        let server = try await WireServer.bind(host: "127.0.0.1", port: 0, serviceName: .referral, router: consumer.router,
                                               tls: try certificates.tls(for: .referral), logger: logger)
        let client = try WireClient(service: .referral, endpoints: [WireEndpoint(host: "127.0.0.1", port: server.port)],
                                    tls: try certificates.tls(for: .membership), logger: logger)
        do {
            try await MembershipFixture.with(.sqlite) { f in
                let (_, plan) = try await f.openCommunity()
                let member = UserID("member-1")
                let order = try await f.order(plan, user: member)
                // Nothing happened yet that others care about.
                #expect(try await Outbox.due(f.database.database, subscriber: "referral", topics: nil, now: f.clock.now(), limit: 10).isEmpty)
                let paid = try await f.pay(order, user: member)
                _ = try await f.refund(paid, user: member)

                let relay = OutboxRelay(source: .membership, database: f.database.database,
                                        subscribers: [.init(name: .referral, client: client)], clock: f.clock, logger: logger)
                // The consumer refuses the first event; it waits for its retry (about a second) while
                // the next pass tries the second, which is refused too.
                #expect(try await relay.deliverDue() == 0)
                #expect(try await relay.deliverDue() == 0)
                #expect(try await Outbox.due(f.database.database, subscriber: "referral", topics: nil, now: f.clock.now(), limit: 10).count == 2)
                f.clock.advance(by: 1)
                #expect(try await relay.deliverDue() == 4)
                #expect(try await relay.deliverDue() == 0)  // all delivered
                let applied = try await consumer.applied()
                #expect(applied.map(\.topic) == [
                    MembershipService.Topic.subscriptionStarted, MembershipService.Topic.paymentSucceeded,
                    MembershipService.Topic.paymentRefunded, MembershipService.Topic.subscriptionEnded,
                ])
                #expect(applied.allSatisfy { $0.user == member.rawValue })

                // Delivered again (a relay that crashed before recording success): applied once.
                try await f.database.database.withConnection { sql in try await sql.raw("DELETE FROM outbox_deliveries").run() }
                #expect(try await relay.deliverDue() == 4)
                #expect(try await consumer.applied().count == 4)
                #expect(consumer.calls == 2 + 4 + 4)
            }
        } catch {
            await client.close()
            await server.close()
            await consumerDatabase.drop()
            directory.remove()
            throw error
        }
        await client.close()
        await server.close()
        await consumerDatabase.drop()
        directory.remove()
    }

    @Test("backoff doubles from one second up to five minutes, with jitter below the step")
    func backoff() {
        for attempts in 1...12 {
            let base = min(OutboxRelay.maximumBackoff, pow(2, Double(attempts - 1)))
            let delay = OutboxRelay.backoff(afterAttempts: attempts)
            #expect(delay <= base && delay >= base * 0.8)
        }
    }
}
