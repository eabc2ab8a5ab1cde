import CoreMetrics
import Foundation
import GuildCore
import GuildMessages
import GuildWire
import Synchronization

/// What a service (content, referral) knows of a caller in one community: their role and the plans they hold,
/// asked of `guild-membership` over the wire and kept briefly. Membership's events about a user
/// and community (a subscription started or ended, a payment refunded) drop that entry at once,
/// so a member who just paid reads the course on their next request.
public final class MembershipAccess: Sendable {
    /// A caller's standing in a community.
    public struct Standing: Sendable, Equatable {
        public var role: CommunityRole?
        public var plans: Set<String>

        /// Staff read everything; members what their plans open.
        public var isStaff: Bool { role != nil && role != .member }
        public static let none = Standing(role: nil, plans: [])
    }

    private struct Entry {
        let standing: Standing
        let expires: Date
    }

    /// Membership's client, for calls beyond access (charges).
    public let client: WireClient
    private let ttl: TimeInterval
    private let capacity: Int
    private let clock: any WallClock
    private let entries = Mutex<[String: Entry]>([:])
    private let planEntries = Mutex<[String: (plans: [MembershipPlan], expires: Date)]>([:])
    private let standingMetrics: CacheMetrics
    private let planMetrics: CacheMetrics

    /// - Parameters:
    ///   - ttl: how long an answer is reused without news from membership.
    ///   - capacity: entries kept at most (the cache is emptied when full).
    ///   - clock: the service's clock (a simulated one in demos): an answer's age and the
    ///     instant membership says access ends are both read on it, as membership wrote them.
    public init(
        client: WireClient, ttl: Duration = .seconds(30), capacity: Int = 50_000, clock: any WallClock = SystemWallClock(),
        metrics factory: any MetricsFactory = MetricsSystem.factory
    ) {
        self.client = client
        self.standingMetrics = CacheMetrics(cache: "entitlements", factory: factory)
        self.planMetrics = CacheMetrics(cache: "plans", factory: factory)
        self.ttl = ttl.timeInterval
        self.capacity = capacity
        self.clock = clock
    }

    private static func key(_ user: UserID, _ community: CommunityID) -> String { user.rawValue + "|" + community.rawValue }

    /// The standing of `user` (nil: a visitor) in `community`.
    public func standing(of user: UserID?, in community: CommunityID) async throws -> Standing {
        guard let user else { return .none }
        let key = Self.key(user, community)
        let now = clock.now()
        if let entry = entries.withLock({ $0[key] }), entry.expires > now {
            standingMetrics.hit()
            return entry.standing
        }
        standingMetrics.miss()
        var request = MembershipCheckEntitlementRequest()
        request.userID = user.rawValue
        request.communityID = community.rawValue
        let answer = try await client.call(MembershipAPI.checkEntitlement, request)
        let standing = Standing(role: answer.role.isEmpty ? nil : CommunityRole(rawValue: answer.role), plans: Set(answer.planIds))
        // Never keep an answer past the moment membership said it stops holding.
        var expires = now.addingTimeInterval(ttl)
        if answer.validUntilMs > 0, answer.validUntilMs < Int64.max {
            expires = min(expires, Date(millisecondsSince1970: answer.validUntilMs))
        }
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = Entry(standing: standing, expires: expires)
        }
        return standing
    }

    /// Forgets what is known of `user` in `community` (a membership event arrived).
    public func invalidate(user: UserID, community: CommunityID) {
        _ = entries.withLock { $0.removeValue(forKey: Self.key(user, community)) }
    }

    /// The community's plans on sale, for the paywall. A cached list that lacks one of
    /// `needing` (a plan made since) is asked again.
    public func plans(of community: CommunityID, needing: [String] = []) async throws -> [MembershipPlan] {
        let now = clock.now()
        if let entry = planEntries.withLock({ $0[community.rawValue] }), entry.expires > now,
           needing.allSatisfy({ id in entry.plans.contains { $0.id == id } }) {
            planMetrics.hit()
            return entry.plans
        }
        planMetrics.miss()
        var request = MembershipListPlansRequest()
        request.communityID = community.rawValue
        let plans = try await client.call(MembershipAPI.listPlans, request).plans.filter { $0.status == "active" && $0.visible }
        planEntries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[community.rawValue] = (plans, now.addingTimeInterval(ttl))
        }
        return plans
    }
}
