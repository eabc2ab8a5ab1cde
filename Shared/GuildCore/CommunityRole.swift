import Foundation

/// A user's role in one community. Roles are per community: an owner here has no power in
/// another community.
public struct CommunityRole: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let owner = CommunityRole(rawValue: "owner")
    public static let coOwner = CommunityRole(rawValue: "co_owner")
    public static let moderator = CommunityRole(rawValue: "moderator")
    public static let guestExpert = CommunityRole(rawValue: "guest_expert")
    /// A paying (or trialing) member: derived from a live subscription, never assigned.
    public static let member = CommunityRole(rawValue: "member")

    /// Roles the owner assigns (everyone but the owner and members).
    public static let assignable: Set<CommunityRole> = [.coOwner, .moderator, .guestExpert]
    /// Every role there is.
    public static let all: [CommunityRole] = [.owner, .coOwner, .moderator, .guestExpert, .member]

    public var isKnown: Bool { Self.all.contains(self) }
    public var description: String { rawValue }
}

/// Something a user may do in a community, named for the authorization table.
public struct CommunityOperation: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public var description: String { rawValue }
}

/// Which roles may do which operations in a community: one table per service, checked through
/// one function, so that every service decides the same way and a test can try every cell.
public struct CommunityPolicy: Sendable {
    public let rules: [CommunityOperation: Set<CommunityRole>]

    public init(_ rules: [CommunityOperation: Set<CommunityRole>]) {
        self.rules = rules
    }

    /// Whether a user holding `role` (nil: none) may do `operation`.
    public func allows(_ operation: CommunityOperation, role: CommunityRole?) -> Bool {
        guard let role, let allowed = rules[operation] else { return false }
        return allowed.contains(role)
    }

    /// Throws `permissionDenied` unless `role` may do `operation`.
    public func authorize(_ operation: CommunityOperation, role: CommunityRole?) throws {
        guard allows(operation, role: role) else {
            let who = role.map { "A \($0.rawValue.replacingOccurrences(of: "_", with: " "))" } ?? "Someone without a role in this community"
            throw GuildError(.permissionDenied, "\(who) may not \(operation.rawValue.replacingOccurrences(of: "_", with: " ")) here.", reason: "role_required")
        }
    }
}
