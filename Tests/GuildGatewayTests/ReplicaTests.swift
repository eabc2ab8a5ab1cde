import Foundation
import GuildCore
import GuildMessages
import GuildService
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import Synchronization
import Testing

/// Several replicas of a service over one database: a lease per periodic job (one runner at a
/// time, taken over when the holder dies or leaves), and each event sent to every replica of a
/// subscriber while it is applied once.
@Suite("Replicas over one database")
struct ReplicaTests {
    /// A service's database with the tables replicas share (leases, the outbox).
    static func withSharedDatabase(_ kind: TestDatabaseKind, _ body: (Database) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let test = try await TestDatabase.create(kind, directory: directory.url)
        do {
            try await test.database.withConnection { sql in
                for statement in Outbox.createTables(test.database.dialect) + [Outbox.deadLetterColumn] + Outbox.traceColumns + [JobLease.createTable] {
                    try await sql.raw(SQLQueryString(statement)).run()
                }
            }
            try await body(test.database)
        } catch {
            await test.drop()
            directory.remove()
            throw error
        }
        await test.drop()
        directory.remove()
    }

    @Test("a lease has one holder: renewed by it, refused to others until it expires or is given up, then taken over", arguments: TestDatabaseKind.available)
    func leaseHolders(_ kind: TestDatabaseKind) async throws {
        try await Self.withSharedDatabase(kind) { database in
            let a = JobLease(database: database, name: "scheduler", holder: "replica-a", duration: .seconds(15))
            let b = JobLease(database: database, name: "scheduler", holder: "replica-b", duration: .seconds(15))
            let other = JobLease(database: database, name: "relay", holder: "replica-b", duration: .seconds(15))
            let now = Date()
            #expect(try await a.acquire(now: now) != nil)
            #expect(try await b.acquire(now: now) == nil)
            #expect(try await other.acquire(now: now) != nil)  // another job's lease is its own
            #expect(try await a.acquire(now: now.addingTimeInterval(10)) != nil)  // renewed: now until 25 s
            #expect(try await b.acquire(now: now.addingTimeInterval(20)) == nil)
            // A dies: nobody renews, and after its lease ran out B takes over; A is then refused.
            #expect(try await b.acquire(now: now.addingTimeInterval(26)) != nil)
            #expect(try await a.acquire(now: now.addingTimeInterval(27)) == nil)
            #expect(try await a.current()?.holder == "replica-b")
            // B leaves gracefully: A takes it at once.
            try await b.release()
            #expect(try await a.acquire(now: now.addingTimeInterval(28)) != nil)
            try await b.release()  // not B's any more: nothing happens
            #expect(try await b.acquire(now: now.addingTimeInterval(29)) == nil)
        }
    }

    @Test("two replicas asking at once: exactly one holds the lease", arguments: TestDatabaseKind.available)
    func leaseRace(_ kind: TestDatabaseKind) async throws {
        try await Self.withSharedDatabase(kind) { database in
            let now = Date()
            let winners = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<8 {
                    group.addTask { try await JobLease(database: database, name: "race", holder: "replica-\(index)", duration: .seconds(15)).acquire(now: now) != nil }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(winners == 1)
        }
    }

    @Test("of two replicas' periodic jobs over one database, one runs the work and the other stands by; when the runner leaves, the other takes over, and runs the job when its interval since the last run is over", arguments: TestDatabaseKind.available)
    func jobsRunOnce(_ kind: TestDatabaseKind) async throws {
        try await Self.withSharedDatabase(kind) { database in
            let runs = Mutex<[String]>([])
            func replica(_ name: String, job: String, every interval: Duration) -> PeriodicJob {
                PeriodicJob(
                    name: job, every: interval,
                    lease: JobLease(database: database, name: job, holder: name, duration: .seconds(15)),
                    logger: Logger(label: "test")
                ) { runs.withLock { $0.append(name) } }
            }
            let a = replica("a", job: "membership-scheduler", every: .zero), b = replica("b", job: "membership-scheduler", every: .zero)
            for _ in 0..<3 {
                #expect(try await a.runOnce())
                #expect(try await b.runOnce() == false)
            }
            #expect(runs.withLock { $0 } == ["a", "a", "a"])
            // A shuts down gracefully (its run loop gives the lease up): B runs the work at once.
            try await JobLease(database: database, name: "membership-scheduler", holder: "a", duration: .seconds(15)).release()
            #expect(try await b.runOnce())
            #expect(try await a.runOnce() == false)
            #expect(runs.withLock { $0 } == ["a", "a", "a", "b"])

            // An hourly job: the holder runs it, then only renews its lease. A replica taking
            // over waits for the hour since that run instead of running it again at once.
            runs.withLock { $0 = [] }
            let hourlyA = replica("a", job: "attachment-sweep", every: .seconds(3600)), hourlyB = replica("b", job: "attachment-sweep", every: .seconds(3600))
            #expect(try await hourlyA.runOnce())
            #expect(try await hourlyA.runOnce() == false)  // renewed, not due
            #expect(try await hourlyB.runOnce() == false)  // standing by
            try await JobLease(database: database, name: "attachment-sweep", holder: "a", duration: .seconds(15)).release()
            #expect(try await hourlyB.runOnce() == false)  // holds the lease now, but the hour is not over
            #expect(try await JobLease(database: database, name: "attachment-sweep", holder: "b", duration: .seconds(15)).current()?.holder == "b")
            #expect(runs.withLock { $0 } == ["a"])
        }
    }

    @Test("an event is applied once by a subscriber with two replicas, and every replica is sent it (their caches forget what it changed)")
    func eventsReachEveryReplica() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try TestCertificates(directory: directory.url.appendingPathComponent("certs"))
        let logger = Logger(label: "replicas")
        let consumerDatabase = try await TestDatabase.create(.sqlite, directory: directory.url, logger: logger)
        let first = try await TestEventConsumer(database: consumerDatabase)
        let second = try await TestEventConsumer(database: consumerDatabase, createTables: false)
        var servers: [WireServer] = []
        for consumer in [first, second] {
            servers.append(try await WireServer.bind(
                host: "127.0.0.1", port: 0, serviceName: .content, router: consumer.router, tls: try certificates.tls(for: .content), logger: logger))
        }
        let endpoints = servers.map { WireEndpoint(host: "127.0.0.1", port: $0.port) }
        let tls = try certificates.tls(for: .membership)
        let subscriber = OutboxRelay.Subscriber(
            name: .content, client: try WireClient(service: .content, endpoints: endpoints, tls: tls, logger: logger),
            replicas: try endpoints.map { try WireClient(service: .content, endpoints: [$0], tls: tls, logger: logger) })
        try await Self.withSharedDatabase(.sqlite) { database in
            for index in 0..<3 {
                try await database.transaction { sql in
                    _ = try await Outbox.append(sql, topic: "membership.subscription.started", payload: Array("event \(index)".utf8), at: Date())
                }
            }
            let relay = OutboxRelay(source: .membership, database: database, subscribers: [subscriber], logger: logger)
            #expect(try await relay.deliverDue() == 3)
            #expect(try await relay.deliverDue() == 0)  // recorded once: nothing is due again
            #expect(try await first.applied().count == 3)  // one inbox for both replicas: applied once
            // Each replica was sent every event (and one of them the delivery itself).
            #expect(first.calls >= 3 && second.calls >= 3)
            #expect(first.calls + second.calls == 9)
        }
        for server in servers { await server.close() }
        await consumerDatabase.drop()
    }
}
