import CoreMetrics
import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import Logging
import MetricsTestKit
import Testing

@testable import GuildWire

/// Load shedding, metadata limits and per-method metrics of a live server.
@Suite("Server limits and metrics")
struct ServerLimitsTests {
    typealias Fixture = MutualTLSTests.Fixture

    static func slow(_ name: String, ms: Int) -> WireHealthResponse {
        MutualTLSTests.message(name, delayMs: ms)
    }

    @Test("beyond the server-wide limit, calls are refused at once with resource_exhausted, not queued")
    func serverWideLimit() async throws {
        var configuration = WireServer.Configuration()
        configuration.maxConcurrentCalls = 2
        try await MutualTLSTests.withServer(configuration: configuration) { fixture in
            let first = try fixture.client()
            let second = try fixture.client()
            _ = try await second.call(MutualTLSTests.echo, MutualTLSTests.message("warm-up"))
            let running = (0..<2).map { index in Task { try await first.call(MutualTLSTests.echo, Self.slow("slow-\(index)", ms: 6_000)) } }
            try await MutualTLSTests.eventually { fixture.server.callsInFlight == 2 }
            let started = ContinuousClock.now
            let refused = await thrownError { _ = try await second.call(MutualTLSTests.echo, MutualTLSTests.message("one too many")) }
            #expect(refused?.code == .resourceExhausted)
            #expect(refused?.reason == "server_overloaded")
            #expect(refused?.retryAfterSeconds == 1)
            #expect(ContinuousClock.now - started < .seconds(4))  // not queued behind the 6 s calls
            for task in running { _ = try await task.value }
            #expect(try await second.call(MutualTLSTests.echo, MutualTLSTests.message("after")).service == "after from gateway")
            await first.close()
            await second.close()
        }
    }

    @Test("beyond the per-connection limit, the extra call on that connection is refused")
    func perConnectionLimit() async throws {
        var configuration = WireServer.Configuration()
        configuration.maxConcurrentCallsPerConnection = 2
        try await MutualTLSTests.withServer(configuration: configuration) { fixture in
            let client = try fixture.client()
            _ = try await client.call(MutualTLSTests.echo, MutualTLSTests.message("warm-up"))
            let running = (0..<2).map { index in Task { try await client.call(MutualTLSTests.echo, Self.slow("slow-\(index)", ms: 6_000)) } }
            try await MutualTLSTests.eventually { fixture.server.callsInFlight == 2 }
            let refused = await thrownError { _ = try await client.call(MutualTLSTests.echo, MutualTLSTests.message("third")) }
            #expect(refused?.code == .resourceExhausted)
            for task in running { _ = try await task.value }
            await client.close()
        }
    }

    @Test("too much metadata is refused on the call; the connection stays usable")
    func metadataLimits() async throws {
        try await MutualTLSTests.withServer { fixture in
            let client = try fixture.client()
            let many = Dictionary(uniqueKeysWithValues: (0..<40).map { ("key-\($0)", "v") })
            let tooMany = await thrownError { _ = try await client.call(MutualTLSTests.echo, MutualTLSTests.message("x"), metadata: many) }
            #expect(tooMany?.code == .invalidArgument)
            #expect(tooMany?.reason == "metadata_too_large")
            let big = ["request-id": String(repeating: "x", count: 9 * 1024)]
            let tooBig = await thrownError { _ = try await client.call(MutualTLSTests.echo, MutualTLSTests.message("x"), metadata: big) }
            #expect(tooBig?.reason == "metadata_too_large")
            #expect(try await client.call(MutualTLSTests.echo, MutualTLSTests.message("fine"), metadata: ["request-id": "r-1"]).service == "fine from gateway")
            await client.close()
        }
    }

    @Test("each call is counted by method and outcome, and timed")
    func metrics() async throws {
        let metrics = TestMetrics()
        var configuration = WireServer.Configuration()
        configuration.metricsFactory = metrics
        try await MutualTLSTests.withServer(configuration: configuration) { fixture in
            let client = try fixture.client()
            _ = try await client.call(MutualTLSTests.echo, MutualTLSTests.message("one"))
            _ = try await client.call(MutualTLSTests.echo, MutualTLSTests.message("two"))
            _ = await thrownError { _ = try await client.call(MutualTLSTests.cliOnly, MutualTLSTests.message("no")) }
            let unknown = MethodDescriptor<WireHealthResponse, WireHealthResponse>("test.DoesNotExist-\(UUID())", idempotent: true, allowedCallers: [])
            _ = await thrownError { _ = try await client.call(unknown, MutualTLSTests.message("no")) }
            await client.close()
        }
        let ok = try metrics.expectCounter("guild_wire_server_calls_total", [("service", "auth"), ("method", "test.Echo"), ("code", "ok")])
        #expect(ok.totalValue == 2)
        let denied = try metrics.expectCounter("guild_wire_server_calls_total", [("service", "auth"), ("method", "test.CliOnly"), ("code", "permission_denied")])
        #expect(denied.totalValue == 1)
        let unknownMethod = try metrics.expectCounter("guild_wire_server_calls_total", [("service", "auth"), ("method", "unknown"), ("code", "unimplemented")])
        #expect(unknownMethod.totalValue == 1)
        let timer = try metrics.expectTimer("guild_wire_server_call_duration_seconds", [("service", "auth"), ("method", "test.Echo")])
        #expect(timer.values.count == 2)
    }

    @Test("a connection's metrics are freed with it (its methods' metrics do not hold them)")
    func metricsFreed() {
        let router = WireRouter([WireMethod(MutualTLSTests.echo) { request, _ in request }])
        weak var freed: WireServerMetrics?
        do {
            let metrics = WireServerMetrics(service: .auth, factory: TestMetrics(), methodCount: router.count)
            let method = metrics.method(router.method(named: MutualTLSTests.echo.name)!)
            method.record(code: nil, duration: .milliseconds(1))
            metrics.unknown.record(code: .unimplemented, duration: .milliseconds(1))
            #expect(metrics.method(router.method(named: MutualTLSTests.echo.name)!) === method)  // made once
            freed = metrics
        }
        #expect(freed == nil)
    }
}
