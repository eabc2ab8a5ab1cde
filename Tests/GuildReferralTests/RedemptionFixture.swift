import Foundation
import GuildContent
import GuildCore
import GuildMembership
import GuildMessages
import GuildSecurity
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import Testing

@testable import GuildReferral

/// Helpers of the redemption scenarios, among them second referral services over the cluster's
/// referral database (another replica, or the same service after a restart) whose membership
/// fails in a chosen way.
extension ReferralFixture {
    /// Gives `user` `points` (an accepted review's reward).
    func earn(_ user: UserID, _ points: Int64) async throws {
        try await reviewAccepted(user, id: "event-earn-\(Identifier.make())", at: clock.now(), reward: points)
    }

    func reward(
        _ kind: String, cost: Int64, title: String = "20 % off", percent: Int64 = 0, amount: Int64 = 0, plans: [String] = [], item: String = "",
        stock: Int32 = 0, validDays: Int32 = 0, by user: UserID? = nil
    ) async throws -> ReferralCatalogueEntry {
        var request = ReferralCreateCatalogueEntryRequest()
        request.entry.communityID = community.id
        request.entry.title = title
        request.entry.kind = kind
        request.entry.costPoints = cost
        request.entry.percentOffBp = percent
        request.entry.amountOffMinorUnits = amount
        request.entry.planIds = plans
        request.entry.itemID = item
        request.entry.stock = stock
        request.entry.validDays = validDays
        return try await referral.createCatalogueEntry(request, user: user ?? owner)
    }

    func redeem(_ user: UserID, _ entry: ReferralCatalogueEntry, key: String = Identifier.make(), with service: ReferralService? = nil) async throws -> ReferralRedemption {
        var request = ReferralRedeemRequest()
        request.communityID = community.id
        request.entryID = entry.id
        request.idempotencyKey = key
        return try await (service ?? referral).redeem(request, user: user)
    }

    /// The coupons membership issued to `user`, read by the owner.
    func issuedCoupons(to user: UserID) async throws -> [MembershipCoupon] {
        var request = MembershipListCouponsRequest()
        request.communityID = community.id
        return try await membership.coupons(request, user: owner).coupons.filter { $0.issuedTo == user.rawValue }
    }

    func redemptionCount() async throws -> Int {
        try await cluster.referralDatabase.database.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM redemptions").first()?.decode(column: "n", as: Int.self) ?? 0
        }
    }

    /// Runs `body` with a second referral service on the cluster's referral database whose
    /// membership answers roles as the real one but `IssueCoupon` with `issueCoupon` (a stand-in
    /// membership served over the wire).
    func withSecondReferral(
        issueCoupon: @escaping @Sendable (MembershipIssueCouponRequest) async throws -> MembershipCoupon,
        _ body: (ReferralService) async throws -> Void
    ) async throws {
        let logger = Logger(label: "second-referral")
        let certificates = cluster.certificates
        let real = try WireClient(service: .membership, endpoints: [WireEndpoint(host: "127.0.0.1", port: cluster.membershipServer.port)],
                                  tls: try certificates.tls(for: .referral), logger: logger)
        let standIn = try await WireServer.bind(
            host: "127.0.0.1", port: 0, serviceName: .membership,
            router: WireRouter([
                WireMethod(MembershipAPI.checkEntitlement) { request, _ in try await real.call(MembershipAPI.checkEntitlement, request) },
                WireMethod(MembershipAPI.issueCoupon) { request, _ in try await issueCoupon(request) },
                WireMethod(MembershipAPI.voidIssuedCoupon) { request, _ in try await real.call(MembershipAPI.voidIssuedCoupon, request) },
            ]),
            tls: try certificates.tls(for: .membership), logger: logger)
        let membershipClient = try WireClient(service: .membership, endpoints: [WireEndpoint(host: "127.0.0.1", port: standIn.port)],
                                              tls: try certificates.tls(for: .referral), logger: logger)
        let service = try secondReferral(membership: membershipClient, logger: logger)
        do {
            try await body(service)
        } catch {
            await membershipClient.close()
            await standIn.close()
            await real.close()
            throw error
        }
        await membershipClient.close()
        await standIn.close()
        await real.close()
    }

    /// Runs `body` with a second referral service on the cluster's referral database whose
    /// membership is a port where nothing listens.
    func withUnreachableMembership(_ body: (ReferralService) async throws -> Void) async throws {
        let logger = Logger(label: "unreachable-membership")
        var configuration = WireClient.Configuration()
        configuration.defaultTimeout = .seconds(2)
        configuration.connectTimeout = .milliseconds(500)
        let client = try WireClient(service: .membership, endpoints: [WireEndpoint(host: "127.0.0.1", port: 9)],
                                    tls: try cluster.certificates.tls(for: .referral), configuration: configuration, logger: logger)
        let service = try secondReferral(membership: client, logger: logger)
        do {
            try await body(service)
        } catch {
            await client.close()
            throw error
        }
        await client.close()
    }

    private func secondReferral(membership: WireClient, logger: Logger) throws -> ReferralService {
        let tls = try cluster.certificates.tls(for: .referral)
        return ReferralService(
            database: cluster.referralDatabase.database, access: MembershipAccess(client: membership, clock: clock),
            auth: try WireClient(service: .auth, endpoints: [WireEndpoint(host: "127.0.0.1", port: cluster.authServer.port)], tls: tls, logger: logger),
            content: try WireClient(service: .content, endpoints: [WireEndpoint(host: "127.0.0.1", port: cluster.contentServer.port)], tls: tls, logger: logger),
            clock: clock, logger: logger)
    }
}
