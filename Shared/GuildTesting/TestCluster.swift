import Foundation
import GuildAuth
import GuildContent
import GuildCore
import GuildGateway
import GuildMembership
import GuildReferral
import GuildSecurity
import GuildService
import GuildStorage
import GuildWire
import Logging

/// An in-process Guild: the auth, membership, content and referral services, each behind a real wire server (mutual
/// TLS on a loopback port the kernel picks) over a throwaway database of its own, and a gateway
/// configured to reach them. Service tests and users' own tests start one with
/// ``withCluster(database:authConfiguration:clock:gatewayConfiguration:_:)``.
public final class TestCluster: Sendable {
    public let directory: TemporaryDirectory
    public let certificates: TestCertificates
    public let database: TestDatabase
    public let auth: AuthService
    public let authServer: WireServer
    public let membershipDatabase: TestDatabase
    public let membership: MembershipService
    public let membershipServer: WireServer
    public let contentDatabase: TestDatabase
    public let content: ContentService
    public let contentServer: WireServer
    public let referralDatabase: TestDatabase
    public let referral: ReferralService
    public let referralServer: WireServer
    /// Membership's outbox relay to content and referral. It does not run by itself: a test
    /// calls `deliverDue()` when it wants membership's news to arrive.
    public let membershipEvents: OutboxRelay
    /// Content's outbox relay to referral, driven by hand the same way.
    public let contentEvents: OutboxRelay
    public let gateway: Gateway
    public let clock: any WallClock

    /// Auth settings that keep tests fast: scrypt at N=2^10 instead of 2^17.
    public static var fastAuthConfiguration: AuthConfiguration {
        var configuration = AuthConfiguration()
        configuration.passwordHashing = .init(logN: 10, r: 8, p: 1)
        return configuration
    }

    private init(
        directory: TemporaryDirectory, certificates: TestCertificates, database: TestDatabase, auth: AuthService, authServer: WireServer,
        membershipDatabase: TestDatabase, membership: MembershipService, membershipServer: WireServer,
        contentDatabase: TestDatabase, content: ContentService, contentServer: WireServer,
        referralDatabase: TestDatabase, referral: ReferralService, referralServer: WireServer,
        membershipEvents: OutboxRelay, contentEvents: OutboxRelay, gateway: Gateway, clock: any WallClock
    ) {
        self.directory = directory
        self.certificates = certificates
        self.database = database
        self.auth = auth
        self.authServer = authServer
        self.membershipDatabase = membershipDatabase
        self.membership = membership
        self.membershipServer = membershipServer
        self.contentDatabase = contentDatabase
        self.content = content
        self.contentServer = contentServer
        self.referralDatabase = referralDatabase
        self.referral = referral
        self.referralServer = referralServer
        self.membershipEvents = membershipEvents
        self.contentEvents = contentEvents
        self.gateway = gateway
        self.clock = clock
    }

    /// Starts a cluster.
    public static func start(
        database kind: TestDatabaseKind = .sqlite,
        authConfiguration: AuthConfiguration = TestCluster.fastAuthConfiguration,
        clock: any WallClock = SystemWallClock(),
        gatewayConfiguration: GatewayConfiguration = GatewayConfiguration(),
        membershipProviders: [any PaymentProvider] = [SandboxPaymentProvider()],
        logger: Logger = Logger(label: "test-cluster")
    ) async throws -> TestCluster {
        let directory = try TemporaryDirectory()
        let certificates = try TestCertificates(directory: directory.url.appendingPathComponent("certs"))
        let database = try await TestDatabase.create(kind, directory: directory.url, logger: logger)
        let keyEncryptionKey = SealingKey.generate()
        let auth = try AuthService(database: database.database, configuration: authConfiguration, keyEncryptionKey: keyEncryptionKey, clock: clock, logger: logger)
        try await auth.prepare()
        let authServer = try await WireServer.bind(
            host: "127.0.0.1", port: 0, serviceName: .auth, router: auth.wireRouter,
            tls: try certificates.tls(for: .auth), logger: logger)
        let membershipDatabase = try await TestDatabase.create(kind, directory: directory.url, logger: logger)
        let membership = MembershipService(database: membershipDatabase.database, providers: membershipProviders, clock: clock, logger: logger)
        try await membership.prepare()
        let membershipServer = try await WireServer.bind(
            host: "127.0.0.1", port: 0, serviceName: .membership, router: membership.wireRouter,
            tls: try certificates.tls(for: .membership), logger: logger)
        let contentDatabase = try await TestDatabase.create(kind, directory: directory.url, logger: logger)
        let contentTLS = try certificates.tls(for: .content)
        let membershipClient = try WireClient(
            service: .membership, endpoints: [WireEndpoint(host: "127.0.0.1", port: membershipServer.port)], tls: contentTLS, logger: logger)
        let content = ContentService(
            database: contentDatabase.database, access: MembershipAccess(client: membershipClient, clock: clock),
            configuration: ContentConfiguration(attachmentDirectory: directory.url.appendingPathComponent("attachments")), clock: clock, logger: logger)
        try await content.prepare()
        let contentServer = try await WireServer.bind(
            host: "127.0.0.1", port: 0, serviceName: .content, router: content.wireRouter, tls: contentTLS, logger: logger)
        let referralDatabase = try await TestDatabase.create(kind, directory: directory.url, logger: logger)
        let referralTLS = try certificates.tls(for: .referral)
        func client(_ service: ServiceName, _ server: WireServer, _ tls: WireTLS) throws -> WireClient {
            try WireClient(service: service, endpoints: [WireEndpoint(host: "127.0.0.1", port: server.port)], tls: tls, logger: logger)
        }
        let referral = ReferralService(
            database: referralDatabase.database, access: MembershipAccess(client: try client(.membership, membershipServer, referralTLS), clock: clock),
            auth: try client(.auth, authServer, referralTLS), content: try client(.content, contentServer, referralTLS),
            clock: clock, logger: logger)
        try await referral.prepare()
        let referralServer = try await WireServer.bind(
            host: "127.0.0.1", port: 0, serviceName: .referral, router: referral.wireRouter, tls: referralTLS, logger: logger)
        content.levels.connect(try client(.referral, referralServer, contentTLS))
        let membershipTLS = try certificates.tls(for: .membership)
        let membershipEvents = OutboxRelay(source: .membership, database: membershipDatabase.database, subscribers: [
            OutboxRelay.Subscriber(name: .content, client: try client(.content, contentServer, membershipTLS)),
            OutboxRelay.Subscriber(name: .referral, client: try client(.referral, referralServer, membershipTLS)),
        ], clock: clock, logger: logger)
        let contentEvents = OutboxRelay(source: .content, database: contentDatabase.database, subscribers: [
            OutboxRelay.Subscriber(name: .referral, client: try client(.referral, referralServer, contentTLS)),
        ], clock: clock, logger: logger)
        var configuration = gatewayConfiguration
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.services[.auth] = [WireEndpoint(host: "127.0.0.1", port: authServer.port)]
        configuration.services[.membership] = [WireEndpoint(host: "127.0.0.1", port: membershipServer.port)]
        configuration.services[.content] = [WireEndpoint(host: "127.0.0.1", port: contentServer.port)]
        configuration.services[.referral] = [WireEndpoint(host: "127.0.0.1", port: referralServer.port)]
        let gateway = try Gateway(configuration: configuration, tls: try certificates.tls(for: .gateway), logger: logger)
        return TestCluster(
            directory: directory, certificates: certificates, database: database, auth: auth, authServer: authServer,
            membershipDatabase: membershipDatabase, membership: membership, membershipServer: membershipServer,
            contentDatabase: contentDatabase, content: content, contentServer: contentServer,
            referralDatabase: referralDatabase, referral: referral, referralServer: referralServer,
            membershipEvents: membershipEvents, contentEvents: contentEvents, gateway: gateway, clock: clock)
    }

    /// Stops everything and deletes the cluster's files and database.
    public func shutdown() async {
        await authServer.close()
        await membershipServer.close()
        await contentServer.close()
        await referralServer.close()
        await auth.shutdown()
        await database.drop()
        await membershipDatabase.drop()
        await contentDatabase.drop()
        await referralDatabase.drop()
        directory.remove()
    }

    /// Runs `body` with a fresh cluster, shutting it down afterwards whatever happens.
    public static func withCluster<T: Sendable>(
        database kind: TestDatabaseKind = .sqlite,
        authConfiguration: AuthConfiguration = TestCluster.fastAuthConfiguration,
        clock: any WallClock = SystemWallClock(),
        gatewayConfiguration: GatewayConfiguration = GatewayConfiguration(),
        membershipProviders: [any PaymentProvider] = [SandboxPaymentProvider()],
        logger: Logger = Logger(label: "test-cluster"),
        _ body: (TestCluster) async throws -> T
    ) async throws -> T {
        let cluster = try await start(
            database: kind, authConfiguration: authConfiguration, clock: clock, gatewayConfiguration: gatewayConfiguration,
            membershipProviders: membershipProviders, logger: logger)
        do {
            let result = try await body(cluster)
            await cluster.shutdown()
            return result
        } catch {
            await cluster.shutdown()
            throw error
        }
    }
}
