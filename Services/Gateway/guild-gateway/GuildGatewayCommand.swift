import ArgumentParser
import GuildCore
import Foundation
import GuildGateway
import GuildWeb
import GuildService
import GuildWire
import Logging
import ServiceLifecycle
import UnixSignals

/// `guild-gateway`: the HTTP/JSON API in front of the services.
@main
struct GuildGatewayCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guild-gateway",
        abstract: "Guild's HTTP/JSON gateway: routes requests to the services over the wire protocol."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var observability: ObservabilityOptions

    @Option(help: "HTTP address to listen on (env GUILD_GATEWAY_LISTEN).")
    var listen: String = ConfigEnvironment().string("GUILD_GATEWAY_LISTEN", default: "127.0.0.1:8080")

    @Option(name: .customLong("auth"), help: "Auth service endpoints, comma-separated host:port (env GUILD_AUTH_ENDPOINTS).")
    var authEndpoints: String = ConfigEnvironment().string("GUILD_AUTH_ENDPOINTS", default: "127.0.0.1:7101")

    @Option(name: .customLong("membership"), help: "Membership service endpoints, comma-separated host:port (env GUILD_MEMBERSHIP_ENDPOINTS).")
    var membershipEndpoints: String = ConfigEnvironment().string("GUILD_MEMBERSHIP_ENDPOINTS", default: "127.0.0.1:7102")

    @Option(name: .customLong("content"), help: "Content service endpoints, comma-separated host:port (env GUILD_CONTENT_ENDPOINTS).")
    var contentEndpoints: String = ConfigEnvironment().string("GUILD_CONTENT_ENDPOINTS", default: "127.0.0.1:7103")

    @Option(name: .customLong("referral"), help: "Referral service endpoints, comma-separated host:port (env GUILD_REFERRAL_ENDPOINTS).")
    var referralEndpoints: String = ConfigEnvironment().string("GUILD_REFERRAL_ENDPOINTS", default: "127.0.0.1:7104")

    @Option(name: .customLong("request-timeout-ms"), help: "How long one HTTP request may wait for services (env GUILD_GATEWAY_REQUEST_TIMEOUT_MS).")
    var requestTimeoutMs: Int = ConfigEnvironment().int("GUILD_GATEWAY_REQUEST_TIMEOUT_MS", default: 5000)

    @Flag(name: .customLong("trust-forwarded-for"), help: "Take the client address from X-Forwarded-For (only behind a trusted proxy).")
    var trustForwardedFor = ConfigEnvironment().string("GUILD_GATEWAY_TRUST_FORWARDED_FOR") == "1"

    @Option(name: .customLong("rate-limits"), help: ArgumentHelp(
        "Requests per client address and per account: `off`, or changes to the defaults such as read=300/10s,account.money=20/10s (env GUILD_GATEWAY_RATE_LIMITS).",
        discussion: "Classes: read, write, money, signup; `read=` is the address limit, `account.read=` the account's; `=off` lifts one. Defaults: docs/operations.md."))
    var rateLimits: String = ConfigEnvironment().string("GUILD_GATEWAY_RATE_LIMITS", default: "")

    @Option(name: .customLong("web-session-key-file"), help: "File holding the key that seals the web front end's session cookies, 32 bytes in base64; give every gateway the same one (env GUILD_WEB_SESSION_KEY_FILE; default <certs-dir>/\(SealingKey.webSessionFileName), made when missing).")
    var webSessionKeyFile: String? = ConfigEnvironment().string("GUILD_WEB_SESSION_KEY_FILE")

    /// The key itself, from the environment only (never a flag: flags show in `ps`).
    var webSessionKeyText: String? { ConfigEnvironment().string("GUILD_WEB_SESSION_KEY") }

    func run() async throws {
        common.bootstrapLogging()
        let registry = ProcessMetrics.bootstrap()
        let logger = Logger(label: "guild-gateway")
        let metricsEndpoint = try observability.metricsEndpoint()
        let tracing = try observability.bootstrapTracing(name: "guild-gateway")
        guard let address = WireEndpoint(listen) else { throw ValidationError("--listen must be host:port") }
        guard let auth = WireEndpoint.list(authEndpoints) else { throw ValidationError("--auth must be host:port[,host:port...]") }
        guard let membership = WireEndpoint.list(membershipEndpoints) else { throw ValidationError("--membership must be host:port[,host:port...]") }
        var configuration = GatewayConfiguration()
        configuration.host = address.host
        configuration.port = address.port
        guard let content = WireEndpoint.list(contentEndpoints) else { throw ValidationError("--content must be host:port[,host:port...]") }
        guard let referral = WireEndpoint.list(referralEndpoints) else { throw ValidationError("--referral must be host:port[,host:port...]") }
        configuration.services = [.auth: auth, .membership: membership, .content: content, .referral: referral]
        configuration.requestTimeout = .milliseconds(requestTimeoutMs)
        configuration.trustForwardedFor = trustForwardedFor
        guard let limits = RateLimits(rateLimits) else {
            throw ValidationError("--rate-limits must be off, or class=N/Ss entries (read, write, money, signup; address. or account. before the class), comma-separated")
        }
        configuration.rateLimits = limits
        configuration.clock = common.makeClock()
        configuration.metricsRegistry = registry
        let tls = try WireTLS.load(directory: common.resolvedCertificatesDirectory, service: .gateway)
        let gateway = try Gateway(configuration: configuration, tls: tls, logger: logger)
        let web = try await WebFrontEnd(gateway: gateway, sessionKey: try webSessionKey(), logger: logger)
        let app = gateway.makeApplication(mounting: [web]) { channel in
            logger.notice("guild-gateway listening on http://\(address)")
        }
        let group = ServiceGroup(configuration: .init(
            // Shut down in reverse: the span exporter last, so the last spans go out.
            services: (tracing.map { [.init(service: $0)] } ?? []) + [.init(service: app)]
                + (metricsEndpoint.map { [.init(service: MetricsServer(registry: registry, endpoint: $0, logger: logger))] } ?? []),
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        try await group.run()
    }

    /// The web session key: from GUILD_WEB_SESSION_KEY, or its file (made when missing, so one
    /// gateway needs nothing; several share the file `guild certs` writes).
    func webSessionKey() throws -> SealingKey {
        if let text = webSessionKeyText { return try SealingKey(base64: text) }
        let path = webSessionKeyFile ?? (common.resolvedCertificatesDirectory as NSString).appendingPathComponent(SealingKey.webSessionFileName)
        try SealingKey.ensureFile(at: URL(fileURLWithPath: path))
        return try SealingKey(contentsOf: URL(fileURLWithPath: path))
    }
}
