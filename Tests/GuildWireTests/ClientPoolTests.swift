import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import Logging
import Synchronization
import Testing

@testable import GuildWire

@Suite("Endpoint health and retry budget")
struct EndpointHealthTests {
    @Test("backoff grows exponentially within its jitter window, up to the maximum")
    func backoff() {
        var health = EndpointHealth()
        var policy = EndpointHealth.Policy()
        policy.ejectionThreshold = 100
        let now = ContinuousClock.now
        var previousLow = Duration.zero
        for failure in 1...8 {
            health.recordFailure(now: now, policy: policy, jitter: 0, mayEject: true)
            let low = health.retryNotBefore! - now
            var high = health
            high.recordSuccess()
            for _ in 0..<failure { high.recordFailure(now: now, policy: policy, jitter: 1, mayEject: true) }
            let expected = min(policy.initialBackoff * (1 << (failure - 1)), policy.maximumBackoff)
            #expect(low == expected / 2)
            #expect(high.retryNotBefore! - now == expected)
            #expect(low >= previousLow)
            previousLow = low
            #expect(!health.isAvailable(now: now))
            #expect(health.isAvailable(now: now + expected))
        }
    }

    @Test("repeated failures eject; after the ejection one probe goes; its failure ejects for longer, its success restores")
    func ejectionAndProbe() {
        var policy = EndpointHealth.Policy()
        policy.ejectionThreshold = 3
        let now = ContinuousClock.now
        var health = EndpointHealth()
        for _ in 0..<3 { health.recordFailure(now: now, policy: policy, jitter: 0.5, mayEject: true) }
        #expect(health.state == .ejected(until: now + policy.baseEjection))
        let early = health.admit(now: now + .seconds(1))
        #expect(!early)
        let later = now + policy.baseEjection
        let probe = health.admit(now: later)
        #expect(probe)
        #expect(health.state == .probing)
        let second = health.admit(now: later)
        #expect(!second)  // one probe at a time
        health.recordFailure(now: later, policy: policy, jitter: 0.5, mayEject: true)
        #expect(health.state == .ejected(until: later + policy.baseEjection * 2))
        let nextProbe = health.admit(now: later + policy.baseEjection * 2)
        #expect(nextProbe)
        health.recordSuccess()
        #expect(health.state == .healthy && health.consecutiveFailures == 0)
    }

    @Test("an endpoint is not ejected when that would leave none")
    func noEjectionOfTheLast() {
        var policy = EndpointHealth.Policy()
        policy.ejectionThreshold = 2
        var health = EndpointHealth()
        for _ in 0..<5 { health.recordFailure(now: .now, policy: policy, jitter: 0, mayEject: false) }
        #expect(health.state == .healthy)
    }

    @Test("the retry budget allows its reserve plus a share of calls, never more")
    func retryBudget() {
        var budget = RetryBudget(ratio: 0.2, reserve: 2, capacity: 100)
        let reserve = [budget.withdraw(), budget.withdraw(), budget.withdraw()]
        #expect(reserve == [true, true, false])
        for _ in 0..<10 { budget.deposit() }
        let earned = [budget.withdraw(), budget.withdraw(), budget.withdraw()]
        #expect(earned == [true, true, false])
    }
}

/// The client over several live servers: balancing, failover, drain, retry limits.
@Suite("Client pool over several endpoints")
struct ClientPoolTests {
    typealias Message = WireHealthResponse
    static let idempotentUnavailable = MethodDescriptor<Message, Message>("test.FlakyIdempotent", idempotent: true, allowedCallers: [.gateway])
    static let unsafeUnavailable = MethodDescriptor<Message, Message>("test.FlakyUnsafe", idempotent: false, allowedCallers: [.gateway])
    static let quiet = Logger(label: "pool", factory: { _ in SwiftLogNoOpLogHandler() })

    final class Counter: Sendable {
        let value = Atomic<Int>(0)
        func increment() { value.add(1, ordering: .relaxed) }
        var count: Int { value.load(ordering: .relaxed) }
    }

    struct Cluster {
        let directory: TemporaryDirectory
        let certificates: TestCertificates
        let servers: [WireServer]
        let invocations: Counter

        var endpoints: [WireEndpoint] { servers.map { WireEndpoint(host: "127.0.0.1", port: $0.port) } }

        func client(_ configure: (inout WireClient.Configuration) -> Void = { _ in }) throws -> WireClient {
            var configuration = MutualTLSTests.Fixture.patientClient
            configure(&configuration)
            return try WireClient(service: .auth, endpoints: endpoints, tls: try certificates.tls(for: .gateway), configuration: configuration, logger: ClientPoolTests.quiet)
        }
    }

    static func withCluster(size: Int, _ body: (Cluster) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(directory: directory.url)
        let invocations = Counter()
        let flaky: @Sendable (Message, CallContext) async throws -> Message = { _, _ in
            invocations.increment()
            throw GuildError(.unavailable, "flaky", retryAfterSeconds: 1)
        }
        let router = WireRouter([
            WireMethod(MutualTLSTests.echo) { request, _ in
                if let delay = Int(request.status) { try await Task.sleep(for: .milliseconds(delay)) }
                return request
            },
            WireMethod(idempotentUnavailable, handler: flaky),
            WireMethod(unsafeUnavailable, handler: flaky),
        ])
        var servers: [WireServer] = []
        for _ in 0..<size {
            servers.append(try await WireServer.bind(host: "127.0.0.1", port: 0, serviceName: .auth, router: router, tls: try certificates.tls(for: .auth), logger: quiet))
        }
        let cluster = Cluster(directory: directory, certificates: certificates, servers: servers, invocations: invocations)
        do {
            try await body(cluster)
        } catch {
            for server in servers { await server.close() }
            directory.remove()
            throw error
        }
        for server in servers { await server.close() }
        directory.remove()
    }

    @Test("calls spread over endpoints by fewest outstanding")
    func balancing() async throws {
        try await Self.withCluster(size: 2) { cluster in
            let client = try cluster.client()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<20 {
                    // A generous deadline: on a loaded machine the 20 calls may take a while to all start.
                    group.addTask { _ = try await client.call(MutualTLSTests.echo, MutualTLSTests.message("c\(index)", delayMs: 8_000), timeout: .seconds(60)) }
                }
                try await MutualTLSTests.eventually { cluster.servers.map(\.callsInFlight).reduce(0, +) == 20 }
                let spread = cluster.servers.map(\.callsInFlight)
                #expect(abs(spread[0] - spread[1]) <= 2, "spread \(spread)")
                try await group.waitForAll()
            }
            await client.close()
        }
    }

    @Test("with one endpoint down, every call still succeeds on the other, idempotent or not")
    func failover() async throws {
        try await Self.withCluster(size: 2) { cluster in
            await cluster.servers[0].close()
            let client = try cluster.client()
            for index in 0..<10 {
                #expect(try await client.call(MutualTLSTests.echo, MutualTLSTests.message("e\(index)")).service == "e\(index)")
            }
            // A non-idempotent method is retried too when the request never reached a server.
            let unsafeEcho = MethodDescriptor<Message, Message>(MutualTLSTests.echo.name, idempotent: false, allowedCallers: [.gateway])
            for index in 0..<10 {
                #expect(try await client.call(unsafeEcho, MutualTLSTests.message("u\(index)")).service == "u\(index)")
            }
            await client.close()
        }
    }

    @Test("a draining endpoint: new calls go elsewhere without the caller seeing an error")
    func drainIsInvisible() async throws {
        try await Self.withCluster(size: 2) { cluster in
            let client = try cluster.client()
            for index in 0..<6 { _ = try await client.call(MutualTLSTests.echo, MutualTLSTests.message("w\(index)")) }
            await cluster.servers[0].close()
            for index in 0..<20 {
                #expect(try await client.call(MutualTLSTests.echo, MutualTLSTests.message("d\(index)")).service == "d\(index)")
            }
            await client.close()
        }
    }

    @Test("retries of an idempotent method stay within the retry budget")
    func retryBudgetLimitsRetries() async throws {
        try await Self.withCluster(size: 2) { cluster in
            let client = try cluster.client { configuration in
                configuration.retryReserve = 5
                configuration.retryRatio = 0.1
                configuration.health.ejectionThreshold = 1_000  // keep both endpoints in rotation
                configuration.health.initialBackoff = .milliseconds(1)
                configuration.health.maximumBackoff = .milliseconds(1)
            }
            for _ in 0..<50 {
                _ = await thrownError { _ = try await client.call(Self.idempotentUnavailable, Message()) }
                try await Task.sleep(for: .milliseconds(2))
            }
            // 50 first attempts, plus at most the reserve and 10% of the calls as retries.
            #expect(cluster.invocations.count > 50)
            #expect(cluster.invocations.count <= 50 + 5 + 5)
            await client.close()
        }
    }

    @Test("a non-idempotent call that reached a server is not retried")
    func noRetryOfUnsafeCalls() async throws {
        try await Self.withCluster(size: 2) { cluster in
            let client = try cluster.client()
            for _ in 0..<5 {
                #expect(await thrownError { _ = try await client.call(Self.unsafeUnavailable, Message()) }?.code == .unavailable)
            }
            #expect(cluster.invocations.count == 5)
            await client.close()
        }
    }
}
