import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// The logic of `guild-content`: posts and courses behind the paywall, discussion, moderation,
/// ratings, search and the feed. It knows nothing of sockets; ``ContentWireMethods`` binds it to
/// the wire server. Who may read what is decided per request from membership's answer
/// (``MembershipAccess``), from referral's answer for items limited to a minimum level
/// (``LevelAccess``) and from grants of single items; who may do what, from the role in
/// membership's answer through ``policy``.
public final class ContentService: Sendable {
    public let configuration: ContentConfiguration
    let database: Database
    let access: MembershipAccess
    /// Callers' levels, for items with a minimum level. Public so that whoever wires the
    /// service can ``LevelAccess/connect(_:)`` it to referral once that is up.
    public let levels: LevelAccess
    let clock: any WallClock
    let logger: Logger

    public init(
        database: Database, access: MembershipAccess, levels: LevelAccess? = nil, configuration: ContentConfiguration,
        clock: any WallClock = SystemWallClock(), logger: Logger
    ) {
        self.database = database
        self.access = access
        self.levels = levels ?? LevelAccess(client: nil, clock: clock)
        self.configuration = configuration
        self.clock = clock
        self.logger = logger
    }

    /// Runs migrations and makes the attachment directory.
    public func prepare() async throws {
        try await Migrator.migrate(database, migrations: ContentMigrations.all, logger: logger)
        try FileManager.default.createDirectory(at: configuration.attachmentDirectory, withIntermediateDirectories: true)
    }

    // MARK: Events

    /// Topics of the events this service writes to its outbox.
    public enum Topic {
        public static let itemPublished = "content.item.published"
        public static let commentCreated = "content.comment.created"
        public static let reactionAdded = "content.reaction.added"
        public static let lessonCompleted = "content.lesson.completed"
        public static let courseRated = "content.course.rated"
    }

    /// Writes an event in the caller's transaction.
    func emit(_ sql: any SQLDatabase, _ topic: String, _ message: some SwiftProtobuf.Message, at now: Date) async throws {
        try await Outbox.append(sql, topic: topic, payload: try message.serializedBytes(), at: now)
    }

    // MARK: Authorization

    /// Operations of this service and who may do them. The authorization test tries every cell.
    public enum Operation {
        public static let writePost = CommunityOperation("write_post")
        public static let publishWithoutApproval = CommunityOperation("publish_without_approval")
        public static let writeCourse = CommunityOperation("write_course")
        public static let editOthersItems = CommunityOperation("edit_others_items")
        public static let readUnpublished = CommunityOperation("read_unpublished")
        public static let deleteOthersItems = CommunityOperation("delete_others_items")
        public static let comment = CommunityOperation("comment")
        public static let react = CommunityOperation("react")
        public static let report = CommunityOperation("report")
        public static let mark = CommunityOperation("mark")
        public static let moderate = CommunityOperation("moderate")
        public static let editSettings = CommunityOperation("edit_settings")
        public static let assignExpert = CommunityOperation("assign_expert")
        public static let reviewAsExpert = CommunityOperation("review_as_expert")
        public static let rate = CommunityOperation("rate")
        public static let replyToRating = CommunityOperation("reply_to_rating")
        public static let readAudit = CommunityOperation("read_audit")
    }

    static let everyone: Set<CommunityRole> = [.owner, .coOwner, .moderator, .guestExpert, .member]
    static let moderators: Set<CommunityRole> = [.owner, .coOwner, .moderator]

    public static let policy = CommunityPolicy([
        Operation.writePost: everyone,
        Operation.publishWithoutApproval: [.owner, .coOwner, .moderator, .guestExpert],
        Operation.writeCourse: [.owner, .coOwner],
        Operation.editOthersItems: [.owner, .coOwner],
        Operation.readUnpublished: moderators,
        Operation.deleteOthersItems: moderators,
        Operation.comment: everyone,
        Operation.react: everyone,
        Operation.report: everyone,
        Operation.mark: moderators,
        Operation.moderate: moderators,
        Operation.editSettings: [.owner, .coOwner],
        Operation.assignExpert: [.owner, .coOwner],
        Operation.reviewAsExpert: [.guestExpert],
        Operation.rate: everyone,
        Operation.replyToRating: [.owner, .coOwner],
        Operation.readAudit: moderators,
    ])

    /// What a request is about, for ``prefetchStanding(_:user:)``.
    enum Subject {
        case item(String), lesson(String), chapter(String), comment(String), attachment(String), queueEntry(String)

        /// An item or a comment, as reactions, marks and reports name them.
        static func target(kind: String, id: String) -> Subject { kind == "comment" ? .comment(id) : .item(id) }
    }

    /// Asks membership for the caller's standing in the community `subject` belongs to before
    /// any database work starts, so that the checks made inside a transaction find it in the
    /// cache instead of holding a connection during a call over the wire. When the item has a
    /// minimum level, asks referral for the caller's level the same way (``load(_:item:user:)``
    /// then reads it with ``LevelAccess/knownRank(of:in:)``, never over the wire). Returns the
    /// community (nil when the subject does not exist: the operation itself then says so).
    @discardableResult
    func prefetchStanding(_ subject: Subject, user: UserID?) async throws -> CommunityID? {
        let found = try await database.withConnection { sql -> (String, Int)? in
            let query: SQLQueryString = switch subject {
            case .item(let id): "SELECT community_id, min_level FROM items WHERE id = \(bind: id)"
            case .lesson(let id): "SELECT i.community_id AS community_id, i.min_level AS min_level FROM lessons l JOIN items i ON i.id = l.course_id WHERE l.id = \(bind: id)"
            case .chapter(let id): "SELECT i.community_id AS community_id, i.min_level AS min_level FROM chapters c JOIN items i ON i.id = c.course_id WHERE c.id = \(bind: id)"
            case .comment(let id): "SELECT c.community_id AS community_id, i.min_level AS min_level FROM comments c JOIN items i ON i.id = c.item_id WHERE c.id = \(bind: id)"
            case .attachment(let id): "SELECT i.community_id AS community_id, i.min_level AS min_level FROM attachments a JOIN items i ON i.id = a.item_id WHERE a.id = \(bind: id)"
            // Queue entries are for moderators, who read everything.
            case .queueEntry(let id): "SELECT community_id, 0 AS min_level FROM moderation_queue WHERE id = \(bind: id)"
            }
            guard let row = try await sql.raw(query).first() else { return nil }
            return (try row.decode(column: "community_id", as: String.self), try row.decode(column: "min_level", as: Int.self))
        }
        guard let (id, minLevel) = found else { return nil }
        let community = CommunityID(rawValue: id)
        if let user {
            let standing = try await access.standing(of: user, in: community)
            if minLevel > 0, !standing.isStaff { _ = await levels.rank(of: user, in: community) }
        }
        return community
    }

    /// Loads an item with the caller's standing in its community, and what else opens it to them
    /// (``ItemRecord/reach``): a grant (read here) and their level (from the cache
    /// ``prefetchStanding(_:user:)`` filled; unknown is 0, which keeps the item locked).
    func load(_ sql: any SQLDatabase, item id: String, user: UserID?) async throws -> (ItemRecord, MembershipAccess.Standing) {
        guard let row = try await sql.raw("SELECT * FROM items WHERE id = \(bind: id)").first() else { throw Self.noSuchItem }
        var item = try ItemRecord(row: row)
        let standing = try await access.standing(of: user, in: item.communityID)
        if !item.isVisible(to: user, standing: standing) {
            // A guest expert sees the draft they were asked to review.
            guard let user, try await sql.raw("""
                SELECT item_id FROM expert_reviews WHERE item_id = \(bind: id) AND expert_id = \(bind: user.rawValue)
                """).first() != nil else { throw Self.noSuchItem }
        }
        if let user, !item.readable(by: user, standing: standing) {
            if item.minLevel > 0 { item.reach.level = levels.knownRank(of: user, in: item.communityID) ?? 0 }
            if !item.readable(by: user, standing: standing) {
                item.reach.granted = try await sql.raw("""
                    SELECT item_id FROM item_grants WHERE item_id = \(bind: id) AND user_id = \(bind: user.rawValue)
                    """).first() != nil
            }
        }
        return (item, standing)
    }

    /// Fills ``ItemRecord/reach`` for records read in a list (items, feed, search): asks referral
    /// for the caller's level in each community that has an item with a minimum level they do
    /// not otherwise read, then reads their grants among the items still locked. Call it outside
    /// transactions (it may call over the wire).
    func withReach(_ records: [ItemRecord], user: UserID?, standings: [String: MembershipAccess.Standing]) async throws -> [ItemRecord] {
        guard let user else { return records }
        var records = records
        func standing(_ record: ItemRecord) -> MembershipAccess.Standing { standings[record.communityID.rawValue] ?? .none }
        var ranks: [CommunityID: Int] = [:]
        for index in records.indices where records[index].minLevel > 0 && !records[index].readable(by: user, standing: standing(records[index])) {
            let community = records[index].communityID
            if ranks[community] == nil { ranks[community] = await levels.rank(of: user, in: community) }
            records[index].reach.level = ranks[community] ?? 0
        }
        let locked = records.filter { !$0.readable(by: user, standing: standing($0)) }.map(\.id)
        guard !locked.isEmpty else { return records }
        let granted = try await database.withConnection { sql in
            Set(try await sql.raw("""
                SELECT item_id FROM item_grants WHERE user_id = \(bind: user.rawValue) AND item_id IN (\(binds: locked))
                """).all().map { try $0.decode(column: "item_id", as: String.self) })
        }
        for index in records.indices where granted.contains(records[index].id) { records[index].reach.granted = true }
        return records
    }

    static let noSuchItem = GuildError(.notFound, "No such item.")

    /// Throws unless the caller may read the whole of `item` (attachments, comments, lessons
    /// beyond the free ones). The message never says anything of the content.
    func requireFullAccess(_ item: ItemRecord, standing: MembershipAccess.Standing, user: UserID?) throws {
        guard item.readable(by: user, standing: standing) else {
            if user == nil { throw GuildError(.unauthenticated, "Sign in and join the community to read this.", reason: "sign_in") }
            if item.admitsByMode(user, standing: standing) {
                throw GuildError(.permissionDenied, Self.levelMessage(item.minLevel), reason: "level_required")
            }
            throw GuildError(.permissionDenied, "Join the community (or the plans named on the item) to read this.", reason: "membership_required")
        }
    }

    /// Says which level opens an item.
    static func levelMessage(_ rank: Int) -> String { "Reach level \(rank) in this community to read this." }

    /// The paywall shown instead of the part the caller may not read. A caller whose plan or
    /// membership already opens it but whose level is too low is told `level_required` (the
    /// rank is the item's `access.minLevel`) and offered no plans: buying one would not help.
    func paywall(for item: ItemRecord, user: UserID?) async throws -> ContentPaywall {
        var paywall = ContentPaywall()
        if let user, !item.reachesLevel, item.admitsByMode(user, standing: try await access.standing(of: user, in: item.communityID)) {
            paywall.reason = "level_required"
            return paywall
        }
        paywall.reason = user == nil ? "sign_in" : item.accessMode == .plans ? "plan_required" : "membership_required"
        let plans = try await access.plans(of: item.communityID, needing: item.accessMode == .plans ? item.accessPlans : [])
        paywall.plans = plans.filter { item.accessMode != .plans || item.accessPlans.contains($0.id) }.map { plan in
            var option = ContentPlanOption()
            option.id = plan.id
            option.name = plan.name
            option.priceMinorUnits = plan.price.minorUnits
            option.currency = plan.price.currency
            option.period = plan.period
            return option
        }
        return paywall
    }

    /// Writes one line of the moderation audit log.
    func audit(_ sql: any SQLDatabase, community: CommunityID, actor: UserID, action: String, targetKind: String, targetID: String, reason: String, now: Date) async throws {
        try await sql.raw("""
            INSERT INTO moderation_audit (id, community_id, actor_id, action, target_kind, target_id, reason, at_ms)
            VALUES (\(bind: Identifier.make(at: now)), \(bind: community.rawValue), \(bind: actor.rawValue), \(bind: action),
                    \(bind: targetKind), \(bind: targetID), \(bind: reason), \(bind: now.millisecondsSince1970))
            """).run()
    }
}

/// How `guild-content` is set up.
public struct ContentConfiguration: Sendable {
    /// Where attachment files live (under the data directory).
    public var attachmentDirectory: URL
    /// The most an attachment may be configured to hold (``ContentAPI/maxAttachmentBytes``).
    public static let attachmentCeiling = ContentAPI.maxAttachmentBytes
    /// The largest attachment accepted.
    public var maxAttachmentBytes = attachmentCeiling
    /// Attachment types accepted; anything else is refused.
    public var allowedAttachmentTypes: Set<String> = [
        "image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "application/zip",
        "text/plain", "text/markdown", "text/csv", "application/json",
    ]
    /// How long a deleted item can be restored.
    public var restoreWindow: TimeInterval = 30 * 86_400
    /// How often the scheduler publishes scheduled items.
    public var schedulerInterval: Duration = .seconds(15)
    /// Longest title, post and comment.
    public var maxTitleLength = 200
    public var maxMarkdownBytes = 200_000
    public var maxCommentBytes = 10_000

    public init(attachmentDirectory: URL) {
        self.attachmentDirectory = attachmentDirectory
    }
}

extension Date {
    /// This instant as a protobuf timestamp, to the millisecond (what the database keeps).
    var timestamp: Google_Protobuf_Timestamp {
        let ms = millisecondsSince1970
        let seconds = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        return Google_Protobuf_Timestamp(seconds: seconds, nanos: Int32(ms - seconds * 1000) * 1_000_000)
    }
}

extension SQLRow {
    /// A column of milliseconds since 1970 as a protobuf timestamp.
    func timestamp(_ column: String) throws -> Google_Protobuf_Timestamp {
        Date(millisecondsSince1970: try decode(column: column, as: Int64.self)).timestamp
    }

    /// A nullable column of milliseconds since 1970 (nil: unset).
    func optionalTimestamp(_ column: String) throws -> Google_Protobuf_Timestamp? {
        try decode(column: column, as: Int64?.self).map { Date(millisecondsSince1970: $0).timestamp }
    }
}

/// A protobuf timestamp of milliseconds since 1970 (nil stays unset).
func timestamp(_ ms: Int64?) -> Google_Protobuf_Timestamp? {
    ms.map { Date(millisecondsSince1970: $0).timestamp }
}
