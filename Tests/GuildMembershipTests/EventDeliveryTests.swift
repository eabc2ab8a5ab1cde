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
                // The consumer wants the member's events (not the owner's role, also an event).
                let topics: Set<String> = [
                    MembershipService.Topic.subscriptionStarted, MembershipService.Topic.paymentSucceeded,
                    MembershipService.Topic.paymentRefunded, MembershipService.Topic.subscriptionEnded,
                ]
                let (_, plan) = try await f.openCommunity()
                let member = UserID("member-1")
                let order = try await f.order(plan, user: member)
                // Nothing happened yet that others care about.
                #expect(try await Outbox.due(f.database.database, subscriber: "referral", topics: topics, now: f.clock.now(), limit: 10).isEmpty)
                let paid = try await f.pay(order, user: member)
                _ = try await f.refund(paid, user: member)

                let relay = OutboxRelay(source: .membership, database: f.database.database,
                                        subscribers: [.init(name: .referral, client: client, topics: topics)], clock: f.clock, logger: logger)
                // The consumer refuses the first event; it waits for its retry (about a second) while
                // the next pass tries the second, which is refused too.
                #expect(try await relay.deliverDue() == 0)
                #expect(try await relay.deliverDue() == 0)
                #expect(try await Outbox.due(f.database.database, subscriber: "referral", topics: topics, now: f.clock.now(), limit: 10).count == 2)
                f.clock.advance(by: 1)
                #expect(try await relay.deliverDue() == 4)
                #expect(try await relay.deliverDue() == 0)  // all delivered
                let applied = try await consumer.applied()
                #expect(applied.map(\.topic) == [
                    MembershipService.Topic.subscriptionStarted, MembershipService.Topic.paymentSucceeded,
                    MembershipService.Topic.paymentRefunded, MembershipService.Topic.subscriptionEnded,
                ])
                #expect(try applied.allSatisfy { event in
                    let user = event.topic.hasPrefix("membership.payment")
                        ? try MembershipPaymentEvent(serializedBytes: event.payload).userID
                        : try MembershipSubscriptionEvent(serializedBytes: event.payload).userID
                    return user == member.rawValue
                })

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
