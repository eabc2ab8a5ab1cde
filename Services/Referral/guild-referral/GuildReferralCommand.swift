import Foundation
import ArgumentParser
import GuildCore
import GuildReferral
import GuildSecurity
import GuildService
import GuildWire
import Logging
import ServiceLifecycle

/// `guild-referral`: referral links, commissions, rewards, points, levels, redemption,
/// leaderboards and referral's funnel figures, over the wire protocol.
@main
struct GuildReferralCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guild-referral",
        abstract: "Guild's referral service: referral links, commissions, points, levels, redemption, leaderboards."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var observability: ObservabilityOptions

    @Option(help: "Wire address to listen on (env GUILD_REFERRAL_LISTEN).")
    var listen: String = ConfigEnvironment().string("GUILD_REFERRAL_LISTEN", default: "127.0.0.1:7104")

    @Option(name: .customLong("database-url"), help: "sqlite:<path> or postgres://user:pass@host:port/db (env GUILD_REFERRAL_DATABASE_URL or the config file, which keep a password out of `ps`; default sqlite under the data directory).")
    var databaseURL: String?

    @Option(name: .customLong("auth"), help: "The auth service's wire endpoints, host:port[,host:port] (env GUILD_AUTH_ENDPOINTS).")
    var auth: String = ConfigEnvironment().string("GUILD_AUTH_ENDPOINTS", default: "127.0.0.1:7101")

    @Option(name: .customLong("membership"), help: "The membership service's wire endpoints, host:port[,host:port] (env GUILD_MEMBERSHIP_ENDPOINTS).")
    var membership: String = ConfigEnvironment().string("GUILD_MEMBERSHIP_ENDPOINTS", default: "127.0.0.1:7102")

    @Option(name: .customLong("content"), help: "The content service's wire endpoints, host:port[,host:port] (env GUILD_CONTENT_ENDPOINTS).")
    var content: String = ConfigEnvironment().string("GUILD_CONTENT_ENDPOINTS", default: "127.0.0.1:7103")

    @Option(name: .customLong("access-cache-seconds"), help: "How long a role answer is reused without news from membership (env GUILD_REFERRAL_ACCESS_CACHE_SECONDS).")
    var accessCacheSeconds: Int = ConfigEnvironment().int("GUILD_REFERRAL_ACCESS_CACHE_SECONDS", default: 30)

    @Option(name: .customLong("event-subscribers"), help: "Services that receive referral's events: service=host:port[,host:port] separated by ';' (env GUILD_REFERRAL_EVENT_SUBSCRIBERS; default none).")
    var eventSubscribers: String = ConfigEnvironment().string("GUILD_REFERRAL_EVENT_SUBSCRIBERS", default: "")

    func validate() throws {
        _ = try OutboxRelay.parseSubscribers(eventSubscribers)
        for (name, value) in [("--auth", auth), ("--membership", membership), ("--content", content)] {
            guard WireEndpoint.list(value) != nil else { throw ValidationError("\(name): expected host:port[,host:port]") }
        }
        guard (0...3600).contains(accessCacheSeconds) else { throw ValidationError("--access-cache-seconds must be between 0 and 3600") }
    }

    func run() async throws {
        let url = ServiceRunner.databaseURL(service: .referral, given: databaseURL, options: common)
        let settings = ReferralConfiguration()
        let certificates = common.resolvedCertificatesDirectory
        let endpoints = (auth: WireEndpoint.list(auth)!, membership: WireEndpoint.list(membership)!, content: WireEndpoint.list(content)!)
        let ttl = Duration.seconds(accessCacheSeconds)
        let subscribers = eventSubscribers
        let clock = common.makeClock()
        let schedulerInterval = common.schedulerInterval(default: settings.schedulerInterval)
        try await ServiceRunner.run(service: .referral, listen: listen, databaseURL: url, options: common, observability: observability) { database, logger in
            let tls = try WireTLS.load(directory: certificates, service: .referral)
            let membershipClient = try WireClient(service: .membership, endpoints: endpoints.membership, tls: tls, logger: logger)
            let authClient = try WireClient(service: .auth, endpoints: endpoints.auth, tls: tls, logger: logger)
            let contentClient = try WireClient(service: .content, endpoints: endpoints.content, tls: tls, logger: logger)
            let service = ReferralService(
                database: database, access: MembershipAccess(client: membershipClient, ttl: ttl, clock: clock), auth: authClient,
                content: contentClient, configuration: settings, clock: clock, logger: logger)
            try await service.prepare()
            let scheduler = PeriodicJob.leased(name: "referral-scheduler", every: schedulerInterval, database: database, logger: logger) {
                let done = await service.runJobs().filter { $0.value > 0 }
                if !done.isEmpty { logger.info("referral jobs", metadata: done.mapValues { "\($0)" }) }
            }
            var services: [any Service] = [scheduler]
            if let relay = try OutboxRelay.make(source: .referral, database: database, subscribers: subscribers, certificates: certificates, logger: logger) {
                services.append(relay)
            }
            return ServiceRunner.Parts(router: service.wireRouter, services: services)
        }
    }
}
