import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import SQLKit

/// Who may read an item's body beyond its free part.
enum AccessMode: String, Sendable {
    /// Everyone reads everything.
    case `public`
    /// Everyone reads the free part (above the preview marker, the first lessons); members the rest.
    case preview
    /// Members read it; others the free part, if any.
    case members
    /// Holders of the named plans read it; others the free part, if any.
    case plans

    /// Whether a caller with `standing` is let in by this mode: staff and the record's `owner`
    /// always; everyone for `public`; members for `preview` and `members`; holders of one of
    /// `plans` for `plans`. Items and events decide who reads and who attends with it.
    func admits(_ user: UserID?, standing: MembershipAccess.Standing, owner: UserID, plans: [String]) -> Bool {
        if self == .public || standing.isStaff { return true }
        if let user, user == owner { return true }
        switch self {
        case .public: return true
        case .preview, .members: return standing.role == .member
        case .plans: return !standing.plans.isDisjoint(with: plans)
        }
    }
}

/// The stages of an item.
enum ItemStatus: String, Sendable {
    case draft, scheduled, pendingReview = "pending_review", published, rejected, removed
}

/// What an item's Markdown renders to, made once when the text is written (rendering a long
/// post on every read, and parsing it again for each excerpt of a list, costs milliseconds).
struct Rendering: Sendable, Equatable {
    /// HTML and excerpt of the free part (above the preview marker; empty without one).
    var freeHTML, freeExcerpt: String
    /// HTML and excerpt of the whole text.
    var fullHTML, fullExcerpt: String

    private init(freeHTML: String, freeExcerpt: String, fullHTML: String, fullExcerpt: String) {
        self.freeHTML = freeHTML
        self.freeExcerpt = freeExcerpt
        self.fullHTML = fullHTML
        self.fullExcerpt = fullExcerpt
    }

    /// A post's free part (above the preview marker; nothing without one) and its whole text
    /// without the marker.
    static func parts(of markdown: String) -> (free: String, full: String) {
        let split = Markdown.splitPreview(markdown)
        return (split.rest == nil ? "" : split.preview, [split.preview, split.rest ?? ""].joined(separator: "\n\n"))
    }

    init(markdown: String) {
        let (free, full) = Self.parts(of: markdown)
        freeHTML = Markdown.html(free)
        freeExcerpt = Markdown.excerpt(free, limit: 200)
        fullHTML = Markdown.html(full)
        fullExcerpt = Markdown.excerpt(full, limit: 200)
    }

    /// The stored rendering of a row, or a fresh one for a row written before renderings were
    /// stored.
    init(row: any SQLRow, markdown: String) throws {
        if let fullHTML = try row.decode(column: "full_html", as: String?.self),
           let fullExcerpt = try row.decode(column: "full_excerpt", as: String?.self),
           let freeHTML = try row.decode(column: "free_html", as: String?.self),
           let freeExcerpt = try row.decode(column: "free_excerpt", as: String?.self) {
            self.init(freeHTML: freeHTML, freeExcerpt: freeExcerpt, fullHTML: fullHTML, fullExcerpt: fullExcerpt)
        } else {
            self.init(markdown: markdown)
        }
    }
}

/// What opens an item to the caller who loaded it beyond their membership standing: their level
/// in the community (referral's rank; 0 unknown) and a grant of the item (a points redemption).
/// Filled by ``ContentService/load(_:item:user:)`` and ``ContentService/withReach(_:user:standings:)``;
/// a record read any other way has none (which can only lock, never open).
struct Reach: Sendable, Equatable {
    var level = 0
    var granted = false
}

/// One row of `items`.
struct ItemRecord: Sendable {
    var id: String
    var communityID: CommunityID
    var kind: String
    var authorID: UserID
    var title: String
    var tags: [String]
    var markdown: String
    var accessMode: AccessMode
    var accessPlans: [String]
    var freeLessons: Int
    /// The lowest level (rank) whose members may read the whole item; 0: none needed.
    var minLevel: Int
    var status: ItemStatus
    var rejectionReason: String
    var publishAtMs: Int64?
    var publishedAtMs: Int64?
    var createdAtMs: Int64
    var updatedAtMs: Int64
    var deletedAtMs: Int64?
    var version: Int
    var pinned: Bool
    var essence: Bool
    var rendering: Rendering
    /// What the caller who loaded it has beyond their standing (not a column).
    var reach = Reach()

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        communityID = CommunityID(try row.decode(column: "community_id", as: String.self))
        kind = try row.decode(column: "kind", as: String.self)
        authorID = UserID(try row.decode(column: "author_id", as: String.self))
        title = try row.decode(column: "title", as: String.self)
        tags = ItemRecord.list(try row.decode(column: "tags", as: String.self))
        markdown = try row.decode(column: "markdown", as: String.self)
        accessMode = AccessMode(rawValue: try row.decode(column: "access_mode", as: String.self)) ?? .members
        accessPlans = ItemRecord.list(try row.decode(column: "access_plans", as: String.self))
        freeLessons = try row.decode(column: "free_lessons", as: Int.self)
        minLevel = try row.decode(column: "min_level", as: Int.self)
        status = ItemStatus(rawValue: try row.decode(column: "status", as: String.self)) ?? .draft
        rejectionReason = try row.decode(column: "rejection_reason", as: String.self)
        publishAtMs = try row.decode(column: "publish_at_ms", as: Int64?.self)
        publishedAtMs = try row.decode(column: "published_at_ms", as: Int64?.self)
        createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        updatedAtMs = try row.decode(column: "updated_at_ms", as: Int64.self)
        deletedAtMs = try row.decode(column: "deleted_at_ms", as: Int64?.self)
        version = try row.decode(column: "version", as: Int.self)
        pinned = try row.decode(column: "pinned", as: Bool.self)
        essence = try row.decode(column: "essence", as: Bool.self)
        rendering = try Rendering(row: row, markdown: markdown)
    }

    /// Lists are stored as text, one entry per line (tags and plan ids hold no newlines).
    static func list(_ text: String) -> [String] { text.split(separator: "\n").map(String.init) }
    static func text(_ list: [String]) -> String { list.joined(separator: "\n") }

    var isCourse: Bool { kind == "course" }
    var isLive: Bool { status == .published && deletedAtMs == nil }

    /// Whether the caller may know the item exists: published and not deleted, or their own,
    /// or they are staff who see unpublished work.
    func isVisible(to user: UserID?, standing: MembershipAccess.Standing) -> Bool {
        if isLive { return true }
        if let user, user == authorID { return true }
        return ContentService.policy.allows(ContentService.Operation.readUnpublished, role: standing.role)
    }

    /// Whether the caller may read all of it: staff and its author always; a grantee of it; else
    /// whoever its mode admits, if they reached its minimum level (``reach`` says theirs).
    func readable(by user: UserID?, standing: MembershipAccess.Standing) -> Bool {
        if standing.isStaff { return true }
        if let user, user == authorID { return true }
        if reach.granted { return true }
        return admitsByMode(user, standing: standing) && reachesLevel
    }

    /// Whether the mode alone lets the caller in (their plan or membership).
    func admitsByMode(_ user: UserID?, standing: MembershipAccess.Standing) -> Bool {
        accessMode.admits(user, standing: standing, owner: authorID, plans: accessPlans)
    }

    /// Whether the caller's level (``reach``) is high enough, or none is needed.
    var reachesLevel: Bool { minLevel == 0 || reach.level >= minLevel }

    /// Whether the item's whole text is open to everyone (a public item without a minimum level).
    var isOpenToAll: Bool { accessMode == .public && minLevel == 0 }

    /// The post's free part (above the preview marker; nothing without one).
    var freeMarkdown: String { Rendering.parts(of: markdown).free }

    /// The message, with the body the caller may read. Lists pass `withBody: false`.
    func message(readable: Bool, canEdit: Bool, withBody: Bool) -> ContentItem {
        var item = ContentItem()
        item.id = id
        item.communityID = communityID.rawValue
        item.kind = kind
        item.authorID = authorID.rawValue
        item.title = title
        item.tags = tags
        item.access.mode = accessMode.rawValue
        item.access.planIds = accessPlans
        item.access.freeLessons = Int32(freeLessons)
        item.access.minLevel = Int32(minLevel)
        item.status = status.rawValue
        if canEdit { item.rejectionReason = rejectionReason }
        if let t = timestamp(publishAtMs) { item.publishAt = t }
        if let t = timestamp(publishedAtMs) { item.publishedAt = t }
        item.createdAt = Date(millisecondsSince1970: createdAtMs).timestamp
        item.updatedAt = Date(millisecondsSince1970: updatedAtMs).timestamp
        if let t = timestamp(deletedAtMs) { item.deletedAt = t }
        item.version = Int32(version)
        item.pinned = pinned
        item.essence = essence
        item.locked = !readable
        if withBody, !isCourse { item.html = readable ? rendering.fullHTML : rendering.freeHTML }
        item.excerpt = readable ? rendering.fullExcerpt : rendering.freeExcerpt
        if canEdit, withBody { item.markdown = markdown }
        return item
    }
}
