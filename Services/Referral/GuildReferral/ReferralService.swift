import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import GuildWire
import Logging
import SQLKit
import SwiftProtobuf

/// The logic of `guild-referral`: referral links and attribution, commissions (paid through
/// membership's ledger) and newcomer rewards, fraud review, points, levels, redemption and
/// leaderboards, and referral's part of the lifecycle funnel. It learns what happens elsewhere
/// from membership's and content's events (``deliver(_:)``), each applied once by its id.
/// ``ReferralWireMethods`` binds it to the wire server.
public final class ReferralService: Sendable {
    public let configuration: ReferralConfiguration
    let database: Database
    /// Roles and plans in a community, asked of membership and cached; `access.client` is
    /// membership's client (coupons, commission postings, the community's refund window).
    let access: MembershipAccess
    /// Auth's client: users' email addresses for the self-referral check.
    let auth: WireClient
    /// Content's client: unlocking an item for a redemption (nil: such entries fail).
    let content: WireClient?
    let clock: any WallClock
    let logger: Logger

    public init(
        database: Database, access: MembershipAccess, auth: WireClient, content: WireClient?,
        configuration: ReferralConfiguration = ReferralConfiguration(), clock: any WallClock = SystemWallClock(), logger: Logger
    ) {
        self.database = database
        self.access = access
        self.auth = auth
        self.content = content
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    /// Membership's client.
    var membership: WireClient { access.client }

    /// Runs the migrations.
    public func prepare() async throws {
        try await Migrator.migrate(database, migrations: ReferralMigrations.all, logger: logger)
    }

    // MARK: Events

    /// Topics of the events this service writes to its outbox.
    public enum Topic {
        public static let levelReached = "referral.level.reached"
        public static let referralConverted = "referral.referral.converted"
    }

    /// Writes an event in the caller's transaction.
    func emit(_ sql: any SQLDatabase, _ topic: String, _ message: some SwiftProtobuf.Message, at now: Date) async throws {
        try await Outbox.append(sql, topic: topic, payload: try message.serializedBytes(), at: now)
    }

    /// Applies an event of membership or content once: attribution and commissions
    /// (``prepareAttribution(_:)``, ``applyAttribution(_:event:prepared:now:)``) and points
    /// (``applyPoints(_:event:now:)``) in one transaction with the inbox claim. Work that needs
    /// another service (ledger postings, reward coupons) is recorded here and done after the
    /// commit by ``runJobs()``, never while a transaction is open.
    public func deliver(_ request: EventsDeliverRequest) async throws -> EventsDeliverResponse {
        let event = request.event
        invalidateAccess(for: event)
        let prepared: PreparedAttributionEvent?
        do {
            prepared = try await prepareAttribution(event)
        } catch let error as GuildError where error.code == .invalidArgument {
            // A malformed payload: sending it again would not mend it.
            logger.error("event with a malformed payload ignored", metadata: ["event": "\(event.id)", "topic": "\(event.topic)"])
            prepared = nil
        }
        let now = clock.now()
        try await database.transaction { sql in
            guard try await Inbox.claim(sql, eventID: event.id, topic: event.topic, now: now) else { return }
            do {
                try await self.applyAttribution(sql, event: event, prepared: prepared, now: now)
                try await self.applyPoints(sql, event: event, now: now)
            } catch is BinaryDecodingError {
                self.logger.error("event with a malformed payload ignored", metadata: ["event": "\(event.id)", "topic": "\(event.topic)"])
            }
        }
        await runFollowUps()
        return EventsDeliverResponse()
    }

    /// The work the scheduler repeats (every ``ReferralConfiguration/schedulerInterval``):
    /// commissions whose refund window closed become payable, ledger postings and reward
    /// coupons not yet confirmed by membership are sent again, redemptions interrupted by a
    /// failure or a restart are finished. Returns how many of each were done.
    public func runJobs() async -> [String: Int] {
        var done: [String: Int] = [:]
        for (name, job) in [
            ("commissions_matured", matureCommissions),
            ("ledger_postings", postPendingLedgerMovements),
            ("rewards_issued", issuePendingRewards),
            ("redemptions_resumed", resumeRedemptions),
        ] as [(String, @Sendable () async throws -> Int)] {
            do {
                done[name] = try await job()
            } catch {
                logger.warning("referral job failed; it runs again at the next tick", metadata: ["job": "\(name)", "error": "\(error)"])
            }
        }
        return done
    }

    /// What the retry loops gave up on: undelivered events, redemptions, ledger movements,
    /// newcomer rewards.
    var deadLetters: DeadLetterOffice {
        DeadLetterOffice(database: database) { kind, id in
            switch kind {
            case RedemptionSaga.work: "the delivery of redemption \(id) (a coupon or an item for points)"
            case Self.ledgerMovementWork: "ledger movement \(id) of a referral commission, to post in membership's ledger"
            case Self.rewardWork: "the newcomer reward of attribution \(id)"
            default: "\(kind) \(id)"
            }
        }
    }

    /// After an event: send what it recorded for other services now rather than at the next tick.
    func runFollowUps() async {
        for job in [postPendingLedgerMovements, issuePendingRewards] as [@Sendable () async throws -> Int] {
            do { _ = try await job() } catch {
                logger.debug("follow-up deferred to the scheduler", metadata: ["error": "\(error)"])
            }
        }
    }

    // MARK: Authorization

    /// Operations of this service and who may do them. The authorization test tries every cell.
    public enum Operation {
        public static let refer = CommunityOperation("refer")
        public static let editProgram = CommunityOperation("edit_program")
        public static let reviewReferrals = CommunityOperation("review_referrals")
        public static let earnPoints = CommunityOperation("earn_points")
        public static let readOthersPoints = CommunityOperation("read_others_points")
        public static let editPointsRules = CommunityOperation("edit_points_rules")
        public static let editLevels = CommunityOperation("edit_levels")
        public static let editCatalogue = CommunityOperation("edit_catalogue")
        public static let redeem = CommunityOperation("redeem")
        public static let readBoards = CommunityOperation("read_boards")
        public static let readAnalytics = CommunityOperation("read_analytics")
    }

    static let everyone: Set<CommunityRole> = [.owner, .coOwner, .moderator, .guestExpert, .member]
    static let owners: Set<CommunityRole> = [.owner, .coOwner]

    public static let policy = CommunityPolicy([
        Operation.refer: everyone,
        Operation.editProgram: owners,
        Operation.reviewReferrals: owners,
        Operation.earnPoints: everyone,
        Operation.readOthersPoints: [.owner, .coOwner, .moderator],
        Operation.editPointsRules: owners,
        Operation.editLevels: owners,
        Operation.editCatalogue: owners,
        Operation.redeem: everyone,
        Operation.readBoards: everyone,
        Operation.readAnalytics: owners,
    ])

    /// Throws unless `user` may do `operation` in `community`; returns their standing.
    @discardableResult
    func authorize(_ operation: CommunityOperation, user: UserID, in community: CommunityID) async throws -> MembershipAccess.Standing {
        let standing = try await access.standing(of: user, in: community)
        try Self.policy.authorize(operation, role: standing.role)
        return standing
    }

    /// A required identifier field.
    static func require(_ value: String, _ field: String) throws {
        guard !value.isEmpty else { throw GuildError.invalid([.init(field: field, description: "Required.")]) }
    }
}

/// How `guild-referral` is set up.
public struct ReferralConfiguration: Sendable {
    /// How often the scheduler runs ``ReferralService/runJobs()``.
    public var schedulerInterval: Duration = .seconds(15)
    /// The attribution window used until an owner sets one (days).
    public var defaultAttributionWindowDays = 30

    public init() {}
}
