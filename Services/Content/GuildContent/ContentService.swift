import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// The logic of `guild-content`: posts and courses behind the paywall, discussion, moderation,
/// ratings, search and the feed. It knows nothing of sockets; ``ContentWireMethods`` binds it to
/// the wire server. Who may read what is decided per request from membership's answer
/// (``MembershipAccess``); who may do what, from the role in that answer through ``policy``.
public final class ContentService: Sendable {
    public let configuration: ContentConfiguration
    let database: Database
    let access: MembershipAccess
    let clock: any WallClock
    let logger: Logger

    public init(database: Database, access: MembershipAccess, configuration: ContentConfiguration, clock: any WallClock = SystemWallClock(), logger: Logger) {
        self.database = database
        self.access = access
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
    /// cache instead of holding a connection during a call over the wire. Returns the community
    /// (nil when the subject does not exist: the operation itself then says so).
    @discardableResult
    func prefetchStanding(_ subject: Subject, user: UserID?) async throws -> CommunityID? {
        let community = try await database.withConnection { sql -> String? in
            let query: SQLQueryString = switch subject {
            case .item(let id): "SELECT community_id FROM items WHERE id = \(bind: id)"
            case .lesson(let id): "SELECT i.community_id AS community_id FROM lessons l JOIN items i ON i.id = l.course_id WHERE l.id = \(bind: id)"
            case .chapter(let id): "SELECT i.community_id AS community_id FROM chapters c JOIN items i ON i.id = c.course_id WHERE c.id = \(bind: id)"
            case .comment(let id): "SELECT community_id FROM comments WHERE id = \(bind: id)"
            case .attachment(let id): "SELECT i.community_id AS community_id FROM attachments a JOIN items i ON i.id = a.item_id WHERE a.id = \(bind: id)"
            case .queueEntry(let id): "SELECT community_id FROM moderation_queue WHERE id = \(bind: id)"
            }
            return try await sql.raw(query).first()?.decode(column: "community_id", as: String.self)
        }.map(CommunityID.init(rawValue:))
        if let community, user != nil { _ = try await access.standing(of: user, in: community) }
        return community
    }

    /// Loads an item with the caller's standing in its community.
    func load(_ sql: any SQLDatabase, item id: String, user: UserID?) async throws -> (ItemRecord, MembershipAccess.Standing) {
        guard let row = try await sql.raw("SELECT * FROM items WHERE id = \(bind: id)").first() else { throw Self.noSuchItem }
        let item = try ItemRecord(row: row)
        let standing = try await access.standing(of: user, in: item.communityID)
        if !item.isVisible(to: user, standing: standing) {
            // A guest expert sees the draft they were asked to review.
            guard let user, try await sql.raw("""
                SELECT item_id FROM expert_reviews WHERE item_id = \(bind: id) AND expert_id = \(bind: user.rawValue)
                """).first() != nil else { throw Self.noSuchItem }
        }
        return (item, standing)
    }

    static let noSuchItem = GuildError(.notFound, "No such item.")

    /// Throws unless the caller may read the whole of `item` (attachments, comments, lessons
    /// beyond the free ones). The message never says anything of the content.
    func requireFullAccess(_ item: ItemRecord, standing: MembershipAccess.Standing, user: UserID?) throws {
        guard item.readable(by: user, standing: standing) else {
            if user == nil { throw GuildError(.unauthenticated, "Sign in and join the community to read this.", reason: "sign_in") }
            throw GuildError(.permissionDenied, "Join the community (or the plans named on the item) to read this.", reason: "membership_required")
        }
    }

    /// The paywall shown instead of the part the caller may not read.
    func paywall(for item: ItemRecord, user: UserID?) async throws -> ContentPaywall {
        var paywall = ContentPaywall()
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
