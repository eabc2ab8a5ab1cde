import Foundation
import GuildCore
import GuildMessages
import GuildWire
import Logging
import Synchronization

/// A caller's level (the rank on the community's ladder, 1 for the first level) as
/// `guild-referral` answers it, for items limited to a minimum level. Modelled on
/// ``MembershipAccess``: answers are asked over the wire and kept for `ttl`.
///
/// Content receives no referral events yet, so nothing drops an entry early: a member who just
/// reached a level reads the item once their entry expires (``invalidate(user:community:)`` is
/// there for when `referral.level.reached` is relayed to content).
///
/// It never fails a request: without a client, or when referral does not answer, the level is
/// taken as 0 (so items with a minimum level stay locked) and a warning is logged. Such an
/// answer is kept briefly (at most ``failureTTL``) so that a referral that is down does not
/// slow every read.
///
/// The client is bound late (``connect(_:)``) because in tests content starts before referral.
public final class LevelAccess: Sendable {
    private struct Entry {
        let rank: Int
        let fetched: Date
        let expires: Date
    }

    /// The longest a failed answer (level 0) is reused.
    public static let failureTTL: Duration = .seconds(5)
    /// The longest a read waits for referral before taking level 0.
    static let callTimeout: Duration = .seconds(2)
    /// How long after it expired an answer may still be read by ``knownRank(of:in:)``: the
    /// time between a request's prefetch and its checks inside a transaction.
    static let grace: Duration = .seconds(10)

    private let client: Mutex<WireClient?>
    private let ttl: Duration
    private let capacity: Int
    private let clock: any WallClock
    private let logger: Logger
    private let entries = Mutex<[String: Entry]>([:])

    /// - Parameters:
    ///   - client: referral's client; nil until ``connect(_:)`` (every level is then 0).
    ///   - ttl: how long an answer is reused.
    ///   - capacity: entries kept at most (the cache is emptied when full).
    ///   - clock: the service's clock, on which answers age.
    public init(
        client: WireClient?, ttl: Duration = .seconds(30), capacity: Int = 50_000, clock: any WallClock = SystemWallClock(),
        logger: Logger = Logger(label: "guild-content.levels")
    ) {
        self.client = Mutex(client)
        self.ttl = ttl
        self.capacity = capacity
        self.clock = clock
        self.logger = logger
    }

    /// Binds (or replaces) referral's client and forgets every answer.
    public func connect(_ client: WireClient) {
        self.client.withLock { $0 = client }
        entries.withLock { $0.removeAll() }
    }

    private static func key(_ user: UserID, _ community: CommunityID) -> String { user.rawValue + "|" + community.rawValue }

    /// The level of `user` in `community`, asked of referral unless a fresh answer is kept.
    /// 0 when referral cannot say (never throws). Call it outside transactions.
    public func rank(of user: UserID, in community: CommunityID) async -> Int {
        let key = Self.key(user, community)
        let now = clock.now()
        if let entry = entries.withLock({ $0[key] }), entry.expires > now { return entry.rank }
        var rank = 0
        var expires = now.addingTimeInterval(ttl.timeInterval)
        if let client = client.withLock({ $0 }) {
            var request = ReferralGetStandingRequest()
            request.userID = user.rawValue
            request.communityID = community.rawValue
            do {
                rank = Int(try await client.call(ReferralAPI.getStanding, request, timeout: Self.callTimeout).level.rank)
            } catch {
                logger.warning("referral did not say a level: items with a minimum level stay locked",
                               metadata: ["user": "\(user)", "community": "\(community)", "error": "\(error)"])
                expires = now.addingTimeInterval(min(ttl, Self.failureTTL).timeInterval)
            }
        } else {
            logger.warning("no referral client: items with a minimum level stay locked", metadata: ["community": "\(community)"])
            expires = now.addingTimeInterval(min(ttl, Self.failureTTL).timeInterval)
        }
        let entry = Entry(rank: max(0, rank), fetched: now, expires: expires)
        entries.withLock { entries in
            if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            entries[key] = entry
        }
        return entry.rank
    }

    /// The answer kept for `user` in `community`, without asking: what checks made inside a
    /// transaction read after ``rank(of:in:)`` was called for the request (nil: not asked, or
    /// asked too long ago, which locks the item).
    func knownRank(of user: UserID, in community: CommunityID) -> Int? {
        guard let entry = entries.withLock({ $0[Self.key(user, community)] }) else { return nil }
        guard entry.fetched.addingTimeInterval((ttl + Self.grace).timeInterval) > clock.now() else { return nil }
        return entry.rank
    }

    /// Forgets what is known of `user` in `community` (news of a level reached).
    public func invalidate(user: UserID, community: CommunityID) {
        _ = entries.withLock { $0.removeValue(forKey: Self.key(user, community)) }
    }
}
