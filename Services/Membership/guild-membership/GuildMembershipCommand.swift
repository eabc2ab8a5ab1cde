import Foundation
import ArgumentParser
import GuildCore
import GuildMembership
import GuildService
import GuildWire
import Logging
import ServiceLifecycle

/// `guild-membership`: communities, plans, offers, coupons, orders, payments, subscriptions and
/// the money ledger, over the wire protocol.
@main
struct GuildMembershipCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guild-membership",
        abstract: "Guild's membership service: communities, plans, coupons, orders, payments, subscriptions, ledger.",
        discussion: "Stripe: set GUILD_STRIPE_API_KEY and GUILD_STRIPE_WEBHOOK_SECRET in the environment, or stripe-api-key and stripe-webhook-secret in the config file (secrets are never flags)."
    )

    @OptionGroup var common: CommonOptions
    @OptionGroup var observability: ObservabilityOptions

    @Option(help: "Wire address to listen on (env GUILD_MEMBERSHIP_LISTEN).")
    var listen: String = ConfigEnvironment().string("GUILD_MEMBERSHIP_LISTEN", default: "127.0.0.1:7102")

    @Option(name: .customLong("database-url"), help: "sqlite:<path> or postgres://user:pass@host:port/db (env GUILD_MEMBERSHIP_DATABASE_URL or the config file, which keep a password out of `ps`; default sqlite under the data directory).")
    var databaseURL: String?

    @Option(name: .customLong("platform-fee-bp"), help: "The platform's fee on payments in basis points, 0 to 5000 (env GUILD_MEMBERSHIP_PLATFORM_FEE_BP; 500 = 5 %).")
    var platformFeeBasisPoints: Int = ConfigEnvironment().int("GUILD_MEMBERSHIP_PLATFORM_FEE_BP", default: 500)

    @Option(name: .customLong("grace-days"), help: "Days a past-due subscription keeps access (env GUILD_MEMBERSHIP_GRACE_DAYS).")
    var graceDays: Int = ConfigEnvironment().int("GUILD_MEMBERSHIP_GRACE_DAYS", default: 3)

    @Option(name: .customLong("event-subscribers"), help: "Services that receive membership's events: service=host:port[,host:port] separated by ';' (env GUILD_MEMBERSHIP_EVENT_SUBSCRIBERS; default none).")
    var eventSubscribers: String = ConfigEnvironment().string("GUILD_MEMBERSHIP_EVENT_SUBSCRIBERS", default: "")

    /// Stripe's secret key, which enables the stripe provider, and the webhook endpoint's signing
    /// secret: from the environment or the config file only (never flags, which `ps` and the help
    /// would show), and never logged.
    var stripeAPIKey: String? { ConfigEnvironment().string("GUILD_STRIPE_API_KEY") }
    var stripeWebhookSecret: String? { ConfigEnvironment().string("GUILD_STRIPE_WEBHOOK_SECRET") }

    @Option(name: .customLong("public-url"), help: "The gateway's public address, for Stripe's return pages (env GUILD_PUBLIC_URL).")
    var publicURL: String = ConfigEnvironment().string("GUILD_PUBLIC_URL", default: "http://127.0.0.1:8080")

    func validate() throws {
        _ = try OutboxRelay.parseSubscribers(eventSubscribers)
        if stripeAPIKey != nil, stripeWebhookSecret == nil {
            throw ValidationError("GUILD_STRIPE_API_KEY needs GUILD_STRIPE_WEBHOOK_SECRET: without it no payment could ever be confirmed")
        }
        guard (0...5000).contains(platformFeeBasisPoints) else { throw ValidationError("--platform-fee-bp must be between 0 and 5000") }
        guard (0...60).contains(graceDays) else { throw ValidationError("--grace-days must be between 0 and 60") }
    }

    func run() async throws {
        var configuration = MembershipConfiguration()
        configuration.platformFeeBasisPoints = Int64(platformFeeBasisPoints)
        configuration.gracePeriod = .seconds(graceDays * 86_400)
        let url = ServiceRunner.databaseURL(service: .membership, given: databaseURL, options: common)
        let settings = configuration
        let subscribers = eventSubscribers
        let certificates = common.resolvedCertificatesDirectory
        var providers: [any PaymentProvider] = [SandboxPaymentProvider()]
        if let stripeAPIKey, let stripeWebhookSecret {
            providers.append(StripePaymentProvider(configuration: StripeConfiguration(
                apiKey: stripeAPIKey, webhookSecret: stripeWebhookSecret,
                successURL: publicURL + "/?payment=succeeded", cancelURL: publicURL + "/?payment=cancelled")))
        }
        let paymentProviders = providers
        let clock = common.makeClock()
        let schedulerInterval = common.schedulerInterval(default: settings.schedulerInterval)
        try await ServiceRunner.run(service: .membership, listen: listen, databaseURL: url, options: common, observability: observability) { database, logger in
            let service = MembershipService(database: database, configuration: settings, providers: paymentProviders, clock: clock, logger: logger)
            try await service.prepare()
            let scheduler = PeriodicJob.leased(name: "membership-scheduler", every: schedulerInterval, database: database, logger: logger) {
                let changed = try await service.advanceSubscriptions()
                if changed > 0 { logger.info("subscriptions moved on", metadata: ["count": "\(changed)"]) }
                let closed = try await service.closeExpiredGroupBuys()
                if closed > 0 { logger.info("group buys closed short", metadata: ["count": "\(closed)"]) }
                let stranded = try await service.refundStrandedGroupPayments()
                if stranded > 0 { logger.warning("stranded group-buy payments refunded", metadata: ["count": "\(stranded)"]) }
                let abandoned = try await service.cancelAbandonedOrders()
                if abandoned > 0 { logger.info("abandoned orders cancelled", metadata: ["count": "\(abandoned)"]) }
            }
            var services: [any Service] = [scheduler]
            if let relay = try OutboxRelay.make(source: .membership, database: database, subscribers: subscribers, certificates: certificates, logger: logger) {
                services.append(relay)
            }
            return ServiceRunner.Parts(router: service.wireRouter, services: services)
        }
    }
}
