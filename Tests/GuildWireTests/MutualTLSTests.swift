import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import Logging
import NIOCore
import NIOSSL
import Synchronization
import Testing

@testable import GuildWire

/// The wire protocol over real sockets on loopback with mutual TLS 1.3.
@Suite("Wire protocol over mutual TLS")
struct MutualTLSTests {
    typealias Echo = MethodDescriptor<WireHealthResponse, WireHealthResponse>
    /// Echoes its request; `status` may hold a delay in milliseconds.
    static let echo = Echo("test.Echo", idempotent: true, allowedCallers: [.gateway])
    static let cliOnly = Echo("test.CliOnly", idempotent: true, allowedCallers: [.cli])

    /// Records which calls saw cancellation.
    final class Observations: Sendable {
        let cancelled = Mutex<Set<String>>([])
    }

    /// A running server and the certificates of its deployment.
    struct Fixture {
        let directory: TemporaryDirectory
        let certificates: TestCertificates
        let server: WireServer
        let observations: Observations

        var endpoint: WireEndpoint { WireEndpoint(host: "127.0.0.1", port: server.port) }

        /// Clients of these tests wait longer for a TLS handshake than the product's 2 s, and for
        /// a call that names no timeout longer than its 10 s: on a two-core machine running the
        /// whole test suite at once (in a debug build) a handshake or a 460 KiB echo can take
        /// that long, and what these tests check is not speed. Tests about deadlines name theirs.
        static var patientClient: WireClient.Configuration {
            var configuration = WireClient.Configuration()
            configuration.connectTimeout = .seconds(10)
            configuration.defaultTimeout = .seconds(30)
            return configuration
        }

        func client(as service: ServiceName = .gateway, certificates: TestCertificates? = nil, configuration: WireClient.Configuration = Fixture.patientClient) throws -> WireClient {
            try WireClient(service: .auth, endpoints: [endpoint], tls: try (certificates ?? self.certificates).tls(for: service), configuration: configuration, logger: Logger(label: "test-client"))
        }

        func stop() async {
            await server.close()
            directory.remove()
        }
    }

    static func withServer(configuration: WireServer.Configuration = .init(), _ body: (Fixture) async throws -> Void) async throws {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(directory: directory.url.appendingPathComponent("certs"))
        let observations = Observations()
        let handler: @Sendable (WireHealthResponse, CallContext) async throws -> WireHealthResponse = { request, context in
            if let delay = Int(request.status) {
                do {
                    try await Task.sleep(for: .milliseconds(delay))
                } catch {
                    observations.cancelled.withLock { _ = $0.insert(request.service) }
                    throw error
                }
            }
            var response = request
            response.service = request.service + " from " + context.caller.rawValue
            return response
        }
        let router = WireRouter([WireMethod(echo, handler: handler), WireMethod(cliOnly, handler: handler)])
        let server = try await WireServer.bind(
            host: "127.0.0.1", port: 0, serviceName: .auth, router: router,
            tls: try certificates.tls(for: .auth), configuration: configuration, logger: Logger(label: "test-server"))
        let fixture = Fixture(directory: directory, certificates: certificates, server: server, observations: observations)
        do {
            try await body(fixture)
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }

    static func message(_ text: String, delayMs: Int? = nil) -> WireHealthResponse {
        var message = WireHealthResponse()
        message.service = text
        if let delayMs { message.status = String(delayMs) }
        return message
    }

    @Test("a call succeeds and the server sees the caller's identity from its certificate")
    func callSucceeds() async throws {
        try await Self.withServer { fixture in
            let client = try fixture.client()
            let answer = try await client.call(Self.echo, Self.message("hi"))
            #expect(answer.service == "hi from gateway")
            let health = try await client.call(SystemAPI.health, WireHealthRequest())
            #expect(health.status == "serving" && health.service == "auth")
            await client.close()
        }
    }

    @Test("many calls in flight on one connection are matched to their callers")
    func concurrentCalls() async throws {
        try await Self.withServer { fixture in
            let client = try fixture.client()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<64 {
                    group.addTask {
                        let answer = try await client.call(Self.echo, Self.message("call-\(index)", delayMs: (index * 7) % 40))
                        #expect(answer.service == "call-\(index) from gateway")
                    }
                }
                try await group.waitForAll()
            }
            await client.close()
        }
    }

    @Test("a caller not allowed for the method gets permission denied")
    func permissionDenied() async throws {
        try await Self.withServer { fixture in
            let client = try fixture.client(as: .gateway)
            #expect(await thrownError { _ = try await client.call(Self.cliOnly, Self.message("x")) }?.code == .permissionDenied)
            let cli = try fixture.client(as: .cli)
            #expect(try await cli.call(Self.cliOnly, Self.message("x")).service == "x from cli")
            await client.close()
            await cli.close()
        }
    }

    @Test("a client without a certificate is refused")
    func noClientCertificate() async throws {
        try await Self.withServer { fixture in
            var configuration = TLSConfiguration.makeClientConfiguration()
            configuration.minimumTLSVersion = .tlsv13
            configuration.trustRoots = .certificates(try fixture.certificates.tls(for: .gateway).trustRoots)
            configuration.certificateVerification = .noHostnameVerification
            let context = try NIOSSLContext(configuration: configuration)
            await #expect(throws: GuildError.self) {
                let connection = try await WireConnection.connect(to: fixture.endpoint, service: .auth, sslContext: context, timeout: .seconds(5), logger: Logger(label: "test"))
                // TLS 1.3 client auth fails after the client's handshake finished: the first call must not succeed.
                _ = try await connection.call(method: Self.echo.name, payload: WirePayload(bytes: ByteBuffer()), metadata: [:], timeout: .seconds(5))
            }
        }
    }

    @Test("a client certificate from another CA is refused")
    func certificateFromAnotherCA() async throws {
        try await Self.withServer { fixture in
            let otherDirectory = try TemporaryDirectory()
            defer { otherDirectory.remove() }
            let other = try TestCertificates(directory: otherDirectory.url)
            let client = try fixture.client(as: .gateway, certificates: other)
            await #expect(throws: GuildError.self) { _ = try await client.call(Self.echo, Self.message("x"), timeout: .seconds(5)) }
            await client.close()
        }
    }

    @Test("a server whose certificate names another service is refused by the client")
    func wrongServerIdentity() async throws {
        try await Self.withServer { fixture in
            let tls = try fixture.certificates.tls(for: .gateway)
            await #expect(throws: GuildError.self) {
                _ = try await WireConnection.connect(to: fixture.endpoint, service: .content, sslContext: try tls.makeClientContext(), timeout: .seconds(5), logger: Logger(label: "test"))
            }
        }
    }

    @Test("the client's deadline fails the call in time and cancels the server's handler")
    func clientDeadline() async throws {
        try await Self.withServer { fixture in
            let client = try fixture.client()
            // Connect first, so the whole deadline is spent on the call itself.
            _ = try await client.call(Self.echo, Self.message("warm-up"))
            let started = ContinuousClock.now
            #expect(await thrownError { _ = try await client.call(Self.echo, Self.message("slow", delayMs: 10_000), timeout: .milliseconds(200)) }?.code == .deadlineExceeded)
            #expect(ContinuousClock.now - started < .seconds(5))  // the handler would take 10 s
            try await Self.eventually { fixture.observations.cancelled.withLock { $0.contains("slow") } }
            // The connection still serves calls afterwards.
            #expect(try await client.call(Self.echo, Self.message("after")).service == "after from gateway")
            await client.close()
        }
    }

    @Test("the server enforces the deadline on its own, capped by its maximum")
    func serverDeadline() async throws {
        var configuration = WireServer.Configuration()
        configuration.maxCallTimeout = .milliseconds(200)
        try await Self.withServer(configuration: configuration) { fixture in
            let client = try fixture.client()
            let started = ContinuousClock.now
            #expect(await thrownError { _ = try await client.call(Self.echo, Self.message("capped", delayMs: 60_000), timeout: .seconds(30)) }?.code == .deadlineExceeded)
            #expect(ContinuousClock.now - started < .seconds(10))  // the client alone would wait 30 s
            await client.close()
        }
    }

    @Test("cancelling the calling task cancels the call at once and the handler on the server")
    func cancellation() async throws {
        try await Self.withServer { fixture in
            let client = try fixture.client()
            _ = try await client.call(Self.echo, Self.message("warm-up"))
            let task = Task { try await client.call(Self.echo, Self.message("cancel-me", delayMs: 10_000)) }
            // Cancel once the server runs the call (a call cancelled before it is written is
            // never sent, and on a loaded machine 100 ms may not be enough to send it).
            try await Self.eventually { fixture.server.callsInFlight == 1 }
            let started = ContinuousClock.now
            task.cancel()
            #expect(await thrownError { _ = try await task.value }?.code == .cancelled)
            #expect(ContinuousClock.now - started < .seconds(5))  // the handler would take 10 s
            try await Self.eventually { fixture.observations.cancelled.withLock { $0.contains("cancel-me") } }
            await client.close()
        }
    }

    @Test("a service that is down answers unavailable quickly, not after the deadline")
    func serviceDown() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try TestCertificates(directory: directory.url)
        // A port that was free a moment ago: nothing listens there.
        let probe = try await WireServer.bind(host: "127.0.0.1", port: 0, serviceName: .auth, router: WireRouter(), tls: try certificates.tls(for: .auth), logger: Logger(label: "probe"))
        let port = probe.port
        await probe.close()
        let client = try WireClient(service: .auth, endpoints: [WireEndpoint(host: "127.0.0.1", port: port)], tls: try certificates.tls(for: .gateway), logger: Logger(label: "test"))
        let started = ContinuousClock.now
        #expect(await thrownError { _ = try await client.call(Self.echo, Self.message("x"), timeout: .seconds(30)) }?.code == .unavailable)
        #expect(ContinuousClock.now - started < .seconds(10))  // far sooner than the 30 s deadline
    }

    @Test("shutdown drains: a call in flight finishes, idle connections close at once")
    func gracefulDrain() async throws {
        try await Self.withServer { fixture in
            let busy = try fixture.client()
            let idle = try fixture.client()
            _ = try await busy.call(Self.echo, Self.message("warm-up"))
            _ = try await idle.call(Self.echo, Self.message("warm-up"))
            // Long enough that polling every 20 ms sees it running even on a loaded machine (with
            // 300 ms, a stalled test process sometimes saw the call already finished).
            let inFlight = Task { try await busy.call(Self.echo, Self.message("in-flight", delayMs: 2_000)) }
            // Drain only once the server runs the call (on a loaded machine the request can take a while).
            try await Self.eventually { fixture.server.callsInFlight == 1 }
            let started = ContinuousClock.now
            await fixture.server.close()
            // close() returned: every connection is gone, well before the 10 s grace period.
            #expect(ContinuousClock.now - started < .seconds(8))
            #expect(try await inFlight.value.service == "in-flight from gateway")
            #expect(await thrownError { _ = try await idle.call(Self.echo, Self.message("late"), timeout: .seconds(2)) }?.code == .unavailable)
        }
    }

    /// Waits up to 15 seconds for `condition`.
    static func eventually(_ condition: @Sendable () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(15)
        while !condition() {
            guard ContinuousClock.now < deadline else {
                Issue.record("condition not met within 15 seconds")
                return
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }
}

