import Foundation
import ArgumentParser
import GuildContent
import GuildCore
import GuildSecurity
import GuildService
import GuildWire
import Logging
import ServiceLifecycle

/// `guild-content`: posts and courses behind the paywall, discussion, moderation, ratings,
/// search and the feed, over the wire protocol.
@main
struct GuildContentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guild-content",
        abstract: "Guild's content service: posts, courses, discussion, moderation, ratings, search, feed."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var observability: ObservabilityOptions

    @Option(help: "Wire address to listen on (env GUILD_CONTENT_LISTEN).")
    var listen: String = ConfigEnvironment().string("GUILD_CONTENT_LISTEN", default: "127.0.0.1:7103")

    @Option(name: .customLong("database-url"), help: "sqlite:<path> or postgres://user:pass@host:port/db (env GUILD_CONTENT_DATABASE_URL or the config file, which keep a password out of `ps`; default sqlite under the data directory).")
    var databaseURL: String?

    @Option(name: .customLong("membership"), help: "The membership service's wire endpoints, host:port[,host:port] (env GUILD_MEMBERSHIP_ENDPOINTS).")
    var membership: String = ConfigEnvironment().string("GUILD_MEMBERSHIP_ENDPOINTS", default: "127.0.0.1:7102")

    @Option(name: .customLong("referral"), help: "The referral service's wire endpoints, host:port[,host:port], asked for members' levels (env GUILD_REFERRAL_ENDPOINTS).")
    var referral: String = ConfigEnvironment().string("GUILD_REFERRAL_ENDPOINTS", default: "127.0.0.1:7104")

    @Option(name: .customLong("access-cache-seconds"), help: "How long an entitlement or level answer is reused without news from membership (env GUILD_CONTENT_ACCESS_CACHE_SECONDS).")
    var accessCacheSeconds: Int = ConfigEnvironment().int("GUILD_CONTENT_ACCESS_CACHE_SECONDS", default: 30)

    @Option(name: .customLong("max-attachment-bytes"), help: "The largest attachment accepted (env GUILD_CONTENT_MAX_ATTACHMENT_BYTES; at most 983040, as one travels in one wire frame).")
    var maxAttachmentBytes: Int = ConfigEnvironment().int("GUILD_CONTENT_MAX_ATTACHMENT_BYTES", default: ContentConfiguration.attachmentCeiling)

    @Option(name: .customLong("event-subscribers"), help: "Services that receive content's events: service=host:port[,host:port] separated by ';' (env GUILD_CONTENT_EVENT_SUBSCRIBERS; default none).")
    var eventSubscribers: String = ConfigEnvironment().string("GUILD_CONTENT_EVENT_SUBSCRIBERS", default: "")

    func validate() throws {
        _ = try OutboxRelay.parseSubscribers(eventSubscribers)
        guard WireEndpoint.list(membership) != nil else { throw ValidationError("--membership: expected host:port[,host:port]") }
        guard WireEndpoint.list(referral) != nil else { throw ValidationError("--referral: expected host:port[,host:port]") }
        guard (0...3600).contains(accessCacheSeconds) else { throw ValidationError("--access-cache-seconds must be between 0 and 3600") }
        guard (1...ContentConfiguration.attachmentCeiling).contains(maxAttachmentBytes) else { throw ValidationError("--max-attachment-bytes must be between 1 and \(ContentConfiguration.attachmentCeiling)") }
    }

    func run() async throws {
        let url = ServiceRunner.databaseURL(service: .content, given: databaseURL, options: common)
        var configuration = ContentConfiguration(attachmentDirectory: URL(fileURLWithPath: common.dataDirectory).appendingPathComponent("content/attachments"))
        configuration.maxAttachmentBytes = maxAttachmentBytes
        let settings = configuration
        let certificates = common.resolvedCertificatesDirectory
        let membershipEndpoints = WireEndpoint.list(membership)!
        let referralEndpoints = WireEndpoint.list(referral)!
        let ttl = Duration.seconds(accessCacheSeconds)
        let subscribers = eventSubscribers
        let clock = common.makeClock()
        let schedulerInterval = common.schedulerInterval(default: settings.schedulerInterval)
        try await ServiceRunner.run(service: .content, listen: listen, databaseURL: url, options: common, observability: observability) { database, logger in
            let tls = try WireTLS.load(directory: certificates, service: .content)
            let membershipClient = try WireClient(service: .membership, endpoints: membershipEndpoints, tls: tls, logger: logger)
            // Referral may start after content: the client connects on its first call, and a level
            // it cannot learn keeps items with a minimum level locked meanwhile.
            let referralClient = try WireClient(service: .referral, endpoints: referralEndpoints, tls: tls, logger: logger)
            let service = ContentService(
                database: database, access: MembershipAccess(client: membershipClient, ttl: ttl, clock: clock),
                levels: LevelAccess(client: referralClient, ttl: ttl, clock: clock, logger: logger), configuration: settings, clock: clock, logger: logger)
            try await service.prepare()
            let scheduler = PeriodicJob.leased(name: "content-scheduler", every: schedulerInterval, database: database, logger: logger) {
                let published = try await service.publishDue()
                if published > 0 { logger.info("scheduled items published", metadata: ["count": "\(published)"]) }
                let done = await service.runInteractionJobs().filter { $0.value > 0 }
                if !done.isEmpty { logger.info("interaction jobs", metadata: done.mapValues { "\($0)" }) }
            }
            let sweeper = PeriodicJob.leased(name: "attachment-sweep", every: .seconds(3600), database: database, logger: logger) {
                _ = try await service.sweepAttachments()
            }
            var services: [any Service] = [scheduler, sweeper]
            if let relay = try OutboxRelay.make(source: .content, database: database, subscribers: subscribers, certificates: certificates, logger: logger) {
                services.append(relay)
            }
            return ServiceRunner.Parts(router: service.wireRouter, services: services)
        }
    }
}
