import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// The logic of `guild-membership`: communities and roles, plans, offers and coupons, orders and
/// payments, subscriptions and entitlements, and the money ledger. It knows nothing of sockets;
/// ``MembershipWireMethods`` binds it to the wire server. Every method that acts for a user
/// takes that user and checks their role in the community through ``policy``.
public final class MembershipService: Sendable {
    public let configuration: MembershipConfiguration
    let database: Database
    let clock: any WallClock
    let providers: [String: any PaymentProvider]
    let logger: Logger

    public init(
        database: Database,
        configuration: MembershipConfiguration = MembershipConfiguration(),
        providers: [any PaymentProvider] = [SandboxPaymentProvider()],
        clock: any WallClock = SystemWallClock(),
        logger: Logger
    ) {
        self.database = database
        self.configuration = configuration
        self.providers = Dictionary(providers.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.clock = clock
        self.logger = logger
    }

    /// Runs migrations.
    public func prepare() async throws {
        try await Migrator.migrate(database, migrations: MembershipMigrations.all, logger: logger)
    }

    // MARK: Events

    /// Topics of the events this service writes to its outbox.
    public enum Topic {
        public static let paymentSucceeded = "membership.payment.succeeded"
        public static let paymentRefunded = "membership.payment.refunded"
        public static let subscriptionStarted = "membership.subscription.started"
        public static let subscriptionEnded = "membership.subscription.ended"
        /// A staff role was granted or taken back (payload: RoleAssignment, role "" when taken).
        public static let roleChanged = "membership.role.changed"
        /// A charge's payer paid; the platform holds the money (payload: ChargeEvent).
        public static let chargeHeld = "membership.charge.held"
        public static let chargeSettled = "membership.charge.settled"
        public static let chargeRefunded = "membership.charge.refunded"
        /// A charge nobody paid was called off.
        public static let chargeCancelled = "membership.charge.cancelled"
    }

    /// Writes an event in the caller's transaction.
    func emit(_ sql: any SQLDatabase, _ topic: String, _ message: some SwiftProtobuf.Message, at now: Date) async throws {
        try await Outbox.append(sql, topic: topic, payload: try message.serializedBytes(), at: now)
    }

    /// A payment event for an order's payment: `amount` is what moved (the payment, or one
    /// refund of `refund`'s id); every event also carries the payment's whole amount and the
    /// card's fingerprint, so that referral claws back pro rata, once per refund.
    func paymentEvent(_ sql: any SQLDatabase, order: OrderID, amount: Money, full: Bool = false, refund: String? = nil) async throws -> MembershipPaymentEvent {
        var event = MembershipPaymentEvent()
        let row = try await sql.raw("""
            SELECT o.community_id AS community_id, o.plan_id AS plan_id, o.user_id AS user_id, p.id AS payment_id, p.provider AS provider,
                   p.amount_minor AS payment_amount, p.currency AS currency, p.card_fingerprint AS card_fingerprint
            FROM orders o JOIN payments p ON p.order_id = o.id AND p.status = 'succeeded' WHERE o.id = \(bind: order.rawValue)
            """).first()
        event.orderID = order.rawValue
        event.paymentID = try row?.decode(column: "payment_id", as: String.self) ?? ""
        event.communityID = try row?.decode(column: "community_id", as: String.self) ?? ""
        event.planID = try row?.decode(column: "plan_id", as: String.self) ?? ""
        event.userID = try row?.decode(column: "user_id", as: String.self) ?? ""
        event.provider = try row?.decode(column: "provider", as: String.self) ?? ""
        event.cardFingerprint = try row?.decode(column: "card_fingerprint", as: String.self) ?? ""
        event.paymentAmount = MembershipMoney(Money(
            minorUnits: try row?.decode(column: "payment_amount", as: Int64.self) ?? amount.minorUnits,
            currency: Currency(rawValue: try row?.decode(column: "currency", as: String.self) ?? "") ?? amount.currency))
        event.amount = MembershipMoney(amount)
        event.full = full
        event.refundID = refund ?? ""
        return event
    }

    /// A subscription event from its stored row.
    func subscriptionEvent(_ sql: any SQLDatabase, _ id: SubscriptionID) async throws -> MembershipSubscriptionEvent {
        var event = MembershipSubscriptionEvent()
        guard let row = try await sql.raw("SELECT * FROM subscriptions WHERE id = \(bind: id.rawValue)").first() else { return event }
        event.subscriptionID = id.rawValue
        event.communityID = try row.decode(column: "community_id", as: String.self)
        event.planID = try row.decode(column: "plan_id", as: String.self)
        event.userID = try row.decode(column: "user_id", as: String.self)
        event.state = try row.decode(column: "status", as: String.self)
        return event
    }

    /// Who a refund is recorded as decided by when the service itself decides (a group buy that
    /// did not fill in time).
    static let systemActor = UserID("system")

    // MARK: Authorization

    /// Operations of this service and who may do them. The authorization test tries every cell.
    public enum Operation {
        public static let editCommunity = CommunityOperation("edit_community")
        public static let changeLifecycle = CommunityOperation("change_lifecycle")
        public static let assignStaff = CommunityOperation("assign_staff")
        public static let assignCoOwner = CommunityOperation("assign_co_owner")
        public static let managePlans = CommunityOperation("manage_plans")
        public static let viewHiddenPlans = CommunityOperation("view_hidden_plans")
        public static let manageCoupons = CommunityOperation("manage_coupons")
        public static let readOrders = CommunityOperation("read_orders")
        public static let readEarnings = CommunityOperation("read_earnings")
        public static let refundOrders = CommunityOperation("refund_orders")
    }

    public static let policy = CommunityPolicy([
        Operation.editCommunity: [.owner, .coOwner],
        Operation.changeLifecycle: [.owner],
        Operation.assignStaff: [.owner, .coOwner],
        Operation.assignCoOwner: [.owner],
        Operation.managePlans: [.owner, .coOwner],
        Operation.viewHiddenPlans: [.owner, .coOwner, .moderator, .guestExpert],
        Operation.manageCoupons: [.owner, .coOwner],
        Operation.readOrders: [.owner, .coOwner],
        Operation.readEarnings: [.owner, .coOwner],
        Operation.refundOrders: [.owner, .coOwner],
    ])

    /// The role of `user` in `community` at `now`: an assigned role, else `member` while a
    /// subscription gives access, else none.
    static func role(_ sql: any SQLDatabase, user: UserID?, community: CommunityID, now: Date) async throws -> CommunityRole? {
        guard let user else { return nil }
        if let row = try await sql.raw("""
            SELECT role FROM community_roles WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue)
            """).first() {
            return CommunityRole(rawValue: try row.decode(column: "role", as: String.self))
        }
        return try await accessGrants(sql, user: user, community: community, at: now).isEmpty ? nil : .member
    }

    /// The subscriptions that give `user` access to `community` at `instant`: each one's plan and
    /// the end of its access (nil: for ever). Read from the entitlement index.
    static func accessGrants(_ sql: any SQLDatabase, user: UserID, community: CommunityID, at instant: Date) async throws -> [(plan: String, until: Int64?)] {
        let ms = instant.millisecondsSince1970
        return try await sql.raw("""
            SELECT plan_id, access_until_ms FROM subscriptions
            WHERE user_id = \(bind: user.rawValue) AND community_id = \(bind: community.rawValue)
              AND status <> 'expired' AND started_at_ms <= \(bind: ms) AND (access_until_ms IS NULL OR access_until_ms > \(bind: ms))
            """).all().map { (try $0.decode(column: "plan_id", as: String.self), try $0.decode(column: "access_until_ms", as: Int64?.self)) }
    }

    /// Loads the community and the caller's role in it, and checks `operation` when given.
    func authorized(_ sql: any SQLDatabase, community id: CommunityID, user: UserID?, operation: CommunityOperation?) async throws -> (CommunityRecord, CommunityRole?) {
        guard let row = try await sql.raw("SELECT * FROM communities WHERE id = \(bind: id.rawValue)").first() else {
            throw GuildError(.notFound, "No such community.")
        }
        let community = try CommunityRecord(row: row)
        let role = try await Self.role(sql, user: user, community: id, now: clock.now())
        if let operation { try Self.policy.authorize(operation, role: role) }
        return (community, role)
    }

    // MARK: Communities

    /// Creates a community in draft; the caller becomes its owner.
    public func createCommunity(_ request: MembershipCreateCommunityRequest, user: UserID) async throws -> MembershipCommunity {
        var violations: [GuildError.FieldViolation] = []
        let slug = request.slug.lowercased()
        if let problem = Self.slugProblem(slug) { violations.append(.init(field: "slug", description: problem)) }
        let name = request.name.trimmingCharacters(in: .whitespacesAndNewlines)
        if name.isEmpty || name.count > 100 { violations.append(.init(field: "name", description: "A name of 1 to 100 characters is required.")) }
        if request.description_p.count > 5000 { violations.append(.init(field: "description", description: "At most 5,000 characters.")) }
        let currency = Currency(rawValue: request.currency.isEmpty ? "CNY" : request.currency)
        if currency == nil { violations.append(.init(field: "currency", description: "An ISO 4217 code such as CNY or USD.")) }
        if !(0...365).contains(request.refundWindowDays) { violations.append(.init(field: "refundWindowDays", description: "From 0 to 365 days.")) }
        let dissolution = request.dissolutionRefund.isEmpty ? "pro_rata" : request.dissolutionRefund
        if !["pro_rata", "none"].contains(dissolution) {
            violations.append(.init(field: "dissolutionRefund", description: "pro_rata (members get back the unused part) or none."))
        }
        guard violations.isEmpty, let currency else { throw GuildError.invalid(violations) }

        let now = clock.now()
        let id = CommunityID.make(at: now)
        do {
            try await database.transaction { sql in
                try await sql.raw("""
                    INSERT INTO communities (id, slug, name, description, currency, refund_window_days, dissolution_refund, status, owner_id, created_at_ms, updated_at_ms)
                    VALUES (\(bind: id.rawValue), \(bind: slug), \(bind: name), \(bind: request.description_p), \(bind: currency.rawValue),
                            \(bind: Int(request.refundWindowDays)), \(bind: dissolution), 'draft', \(bind: user.rawValue), \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
                    """).run()
                try await sql.raw("""
                    INSERT INTO community_roles (community_id, user_id, role, granted_at_ms)
                    VALUES (\(bind: id.rawValue), \(bind: user.rawValue), 'owner', \(bind: now.millisecondsSince1970))
                    """).run()
                var assignment = MembershipRoleAssignment()
                assignment.communityID = id.rawValue
                assignment.userID = user.rawValue
                assignment.role = CommunityRole.owner.rawValue
                assignment.grantedAtMs = now.millisecondsSince1970
                try await self.emit(sql, Topic.roleChanged, assignment, at: now)
            }
        } catch let error as GuildError where error.code == .alreadyExists {
            throw Self.slugTaken
        }
        logger.info("community created", metadata: ["community": "\(id)", "owner": "\(user)"])
        return try await community(id.rawValue, user: user)
    }

    /// A community by id or slug. Drafts are visible to their staff only.
    public func community(_ idOrSlug: String, user: UserID?) async throws -> MembershipCommunity {
        try await database.withConnection { sql in
            guard let row = try await sql.raw("""
                SELECT c.*, \(unsafeRaw: Self.liveMembersColumn) FROM communities c WHERE c.id = \(bind: idOrSlug) OR c.slug = \(bind: idOrSlug.lowercased())
                """).first() else { throw GuildError(.notFound, "No such community.") }
            let community = try CommunityRecord(row: row)
            let role = try await Self.role(sql, user: user, community: community.id, now: self.clock.now())
            if community.status == .draft, role == nil || role == .member {
                throw GuildError(.notFound, "No such community.")
            }
            var message = community.message(callerRole: role)
            message.members = try row.decode(column: "members", as: Int64.self)
            return message
        }
    }

    /// The `members` column of a query over `communities c`: the people with a live
    /// subscription (trial, active, past due or cancelling) on any of its plans, each once.
    static let liveMembersColumn = """
        (SELECT COUNT(DISTINCT s.user_id) FROM subscriptions s WHERE s.community_id = c.id AND s.status <> 'expired') AS members
        """

    /// The public directory: active communities, newest first, each with its live member count.
    /// Every word of `query` must appear in the name, slug or description (case-insensitive).
    /// The cursor is the last entry's creation instant and id, so pages neither skip nor repeat
    /// while communities are added.
    public func directory(_ request: MembershipListCommunitiesRequest) async throws -> MembershipListCommunitiesResponse {
        var violations: [GuildError.FieldViolation] = []
        if request.query.count > 100 { violations.append(.init(field: "q", description: "At most 100 characters.")) }
        if !(0...50).contains(request.limit) { violations.append(.init(field: "limit", description: "From 1 to 50 (0: 20).")) }
        let after = request.cursor.isEmpty ? nil : DirectoryCursor(request.cursor)
        if !request.cursor.isEmpty, after == nil { violations.append(.init(field: "cursor", description: "A next_cursor from an earlier page.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let limit = request.limit == 0 ? 20 : Int(request.limit)
        let words = request.query.lowercased().split(whereSeparator: \.isWhitespace).prefix(8)
        return try await database.withConnection { sql in
            var query = SQLQueryString("""
                SELECT c.*, \(unsafeRaw: Self.liveMembersColumn) FROM communities c WHERE c.status = 'active'
                """)
            for word in words {
                let pattern = "%" + word.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%"
                query.appendInterpolation(unsafeRaw: " AND LOWER(c.name || ' ' || c.slug || ' ' || c.description) LIKE ")
                query.appendInterpolation(bind: pattern)
                query.appendInterpolation(unsafeRaw: " ESCAPE '\\'")
            }
            if let after {
                query.appendInterpolation(unsafeRaw: " AND (c.created_at_ms < ")
                query.appendInterpolation(bind: after.createdAtMs)
                query.appendInterpolation(unsafeRaw: " OR (c.created_at_ms = ")
                query.appendInterpolation(bind: after.createdAtMs)
                query.appendInterpolation(unsafeRaw: " AND c.id < ")
                query.appendInterpolation(bind: after.id)
                query.appendInterpolation(unsafeRaw: "))")
            }
            query.appendInterpolation(unsafeRaw: " ORDER BY c.created_at_ms DESC, c.id DESC LIMIT \(limit + 1)")
            let rows = try await sql.raw(query).all()
            var response = MembershipListCommunitiesResponse()
            for row in rows.prefix(limit) {
                var entry = MembershipDirectoryEntry()
                entry.community = try CommunityRecord(row: row).message(callerRole: nil)
                entry.members = try row.decode(column: "members", as: Int64.self)
                entry.community.members = entry.members
                response.communities.append(entry)
            }
            if rows.count > limit, let last = response.communities.last?.community {
                response.nextCursor = DirectoryCursor(createdAtMs: last.createdAtMs, id: last.id).text
            }
            return response
        }
    }

    /// Edits a community; a lifecycle move (publish, archive) needs the owner.
    public func updateCommunity(_ request: MembershipUpdateCommunityRequest, user: UserID) async throws -> MembershipCommunity {
        let id = CommunityID(request.communityID)
        var violations: [GuildError.FieldViolation] = []
        if request.hasSlug, let problem = Self.slugProblem(request.slug.lowercased()) { violations.append(.init(field: "slug", description: problem)) }
        if request.hasName, request.name.trimmingCharacters(in: .whitespaces).isEmpty || request.name.count > 100 {
            violations.append(.init(field: "name", description: "A name of 1 to 100 characters is required."))
        }
        if request.hasRefundWindowDays, !(0...365).contains(request.refundWindowDays) {
            violations.append(.init(field: "refundWindowDays", description: "From 0 to 365 days."))
        }
        if request.hasStatus, !["active", "archived"].contains(request.status) {
            violations.append(.init(field: "status", description: "active (publish) or archived."))
        }
        let currency = request.hasCurrency ? Currency(rawValue: request.currency) : nil
        if request.hasCurrency, currency == nil { violations.append(.init(field: "currency", description: "An ISO 4217 code such as CNY or USD.")) }
        if request.hasDissolutionRefund, !["pro_rata", "none"].contains(request.dissolutionRefund) {
            violations.append(.init(field: "dissolutionRefund", description: "pro_rata (members get back the unused part) or none."))
        }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let now = clock.now()
        do {
            try await database.transaction { sql in
                // Read, changed where the request says and written back under the row's lock, so two
                // edits of different fields at once both stay.
                try await sql.lockRow("communities", is: id.rawValue)
                var (community, role) = try await self.authorized(sql, community: id, user: user, operation: Operation.editCommunity)
                if request.hasStatus, let status = CommunityRecord.Status(rawValue: request.status), status != community.status {
                    try Self.policy.authorize(Operation.changeLifecycle, role: role)
                    switch (community.status, status) {
                    case (.draft, .active), (.active, .archived), (.archived, .active): community.status = status
                    default:
                        throw GuildError(.failedPrecondition, "A \(community.status.rawValue) community cannot become \(status.rawValue).", reason: "invalid_transition")
                    }
                }
                if let currency, currency != community.currency {
                    let plans = try await sql.raw("SELECT COUNT(*) AS n FROM plans WHERE community_id = \(bind: id.rawValue)").first()?.decode(column: "n", as: Int.self) ?? 0
                    guard plans == 0 else {
                        throw GuildError(.failedPrecondition, "The currency can change only while the community has no plans.",
                                         fieldViolations: [.init(field: "currency", description: "Fixed once plans exist.")], reason: "currency_fixed")
                    }
                    community.currency = currency
                }
                if request.hasSlug { community.slug = request.slug.lowercased() }
                if request.hasName { community.name = request.name.trimmingCharacters(in: .whitespaces) }
                if request.hasDescription_p { community.description = request.description_p }
                if request.hasRefundWindowDays { community.refundWindowDays = Int(request.refundWindowDays) }
                if request.hasDissolutionRefund { community.dissolutionRefund = request.dissolutionRefund }
                try await sql.raw("""
                    UPDATE communities SET slug = \(bind: community.slug), name = \(bind: community.name), description = \(bind: community.description),
                        currency = \(bind: community.currency.rawValue), dissolution_refund = \(bind: community.dissolutionRefund),
                        refund_window_days = \(bind: community.refundWindowDays), status = \(bind: community.status.rawValue), updated_at_ms = \(bind: now.millisecondsSince1970)
                    WHERE id = \(bind: id.rawValue)
                    """).run()
            }
        } catch let error as GuildError where error.code == .alreadyExists {
            throw Self.slugTaken
        }
        return try await community(id.rawValue, user: user)
    }

    /// Gives `request.userID` a staff role (or removes it with an empty role). Only the owner
    /// makes co-owners; nobody changes the owner's role here.
    public func setRole(_ request: MembershipSetRoleRequest, user: UserID) async throws -> MembershipRoleAssignment {
        let id = CommunityID(request.communityID)
        let target = UserID(request.userID)
        let role = request.role.isEmpty ? nil : CommunityRole(rawValue: request.role)
        if let role, !CommunityRole.assignable.contains(role) {
            throw GuildError.invalid([.init(field: "role", description: "co_owner, moderator or guest_expert (empty to remove).")])
        }
        guard !request.userID.isEmpty else { throw GuildError.invalid([.init(field: "userId", description: "Required.")]) }
        let now = clock.now()
        return try await database.transaction { sql in
            let (community, callerRole) = try await self.authorized(sql, community: id, user: user, operation: Operation.assignStaff)
            if target == community.owner {
                throw GuildError(.failedPrecondition, "The owner's role cannot be changed.", reason: "owner_role")
            }
            let current = try await sql.raw("""
                SELECT role FROM community_roles WHERE community_id = \(bind: id.rawValue) AND user_id = \(bind: target.rawValue)
                """).first().map { CommunityRole(rawValue: try $0.decode(column: "role", as: String.self)) }
            if role == .coOwner || current == .coOwner { try Self.policy.authorize(Operation.assignCoOwner, role: callerRole) }
            try await sql.raw("DELETE FROM community_roles WHERE community_id = \(bind: id.rawValue) AND user_id = \(bind: target.rawValue)").run()
            if let role {
                try await sql.raw("""
                    INSERT INTO community_roles (community_id, user_id, role, granted_at_ms)
                    VALUES (\(bind: id.rawValue), \(bind: target.rawValue), \(bind: role.rawValue), \(bind: now.millisecondsSince1970))
                    """).run()
            }
            var assignment = MembershipRoleAssignment()
            assignment.communityID = id.rawValue
            assignment.userID = target.rawValue
            assignment.role = try await Self.role(sql, user: target, community: id, now: now)?.rawValue ?? ""
            assignment.grantedAtMs = now.millisecondsSince1970
            try await self.emit(sql, Topic.roleChanged, assignment, at: now)
            return assignment
        }
    }

    /// The role of a user in a community (for other services' authorization).
    public func role(_ request: MembershipGetRoleRequest) async throws -> MembershipRoleAssignment {
        try await database.withConnection { sql in
            var assignment = MembershipRoleAssignment()
            assignment.communityID = request.communityID
            assignment.userID = request.userID
            assignment.role = try await Self.role(sql, user: UserID(request.userID), community: CommunityID(request.communityID), now: self.clock.now())?.rawValue ?? ""
            return assignment
        }
    }

    static let slugTaken = GuildError(
        .alreadyExists, "Another community uses this slug.",
        fieldViolations: [.init(field: "slug", description: "Another community uses this slug.")], reason: "slug_taken")

    /// Why a slug is refused: 3 to 40 of a–z, 0–9 and inner hyphens.
    static func slugProblem(_ slug: String) -> String? {
        let valid = (3...40).contains(slug.utf8.count)
            && slug.utf8.allSatisfy { (97...122).contains($0) || (48...57).contains($0) || $0 == 45 }
            && !slug.hasPrefix("-") && !slug.hasSuffix("-")
        return valid ? nil : "3 to 40 lowercase letters, digits and inner hyphens."
    }
}

/// Where a directory page ends: the last entry's creation instant and id.
struct DirectoryCursor {
    let createdAtMs: Int64
    let id: String

    init(createdAtMs: Int64, id: String) {
        self.createdAtMs = createdAtMs
        self.id = id
    }

    init?(_ text: String) {
        let parts = text.split(separator: ".", maxSplits: 1)
        guard parts.count == 2, let ms = Int64(parts[0]), ms >= 0, !parts[1].isEmpty, parts[1].count <= 64 else { return nil }
        createdAtMs = ms
        id = String(parts[1])
    }

    var text: String { "\(createdAtMs).\(id)" }
}
