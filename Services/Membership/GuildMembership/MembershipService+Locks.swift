import Foundation
import GuildCore
import GuildStorage
import SQLKit

/// The row locks that keep membership's limits on PostgreSQL as they are on SQLite (decisions,
/// "Concurrency"). Every transaction that takes more than one takes them in this order, so two
/// never wait on each other: the community, the group buy, the order, the buyer, the plan, the
/// subscription.
extension MembershipService {
    /// Locks a member's row in a community (created on their first purchase): the parent of
    /// everything decided per member (one live subscription, a trial once, a coupon's limit per
    /// member, first purchase only, renewal from the current period's end). Two purchases by
    /// one member run one after the other; purchases by different members do not wait.
    func lockBuyer(_ sql: any SQLDatabase, community: CommunityID, user: UserID, now: Date) async throws {
        try await sql.lockOrCreateRow(
            "buyers", key: [("community_id", community.rawValue), ("user_id", user.rawValue)],
            extra: [("created_at_ms", now.millisecondsSince1970)])
    }

    /// Locks an order, and first its group buy when it has one (the lock order above). Returns
    /// the order's group, or nil; throws `notFound` when there is no such order.
    @discardableResult
    func lockOrder(_ sql: any SQLDatabase, _ order: OrderID) async throws -> String? {
        // The group an order belongs to never changes, so it can be read before the lock.
        guard let row = try await sql.raw("SELECT group_buy_id FROM orders WHERE id = \(bind: order.rawValue)").first() else {
            throw GuildError(.notFound, "No such order.")
        }
        let group = try row.decode(column: "group_buy_id", as: String?.self)
        if let group { try await sql.lockRow("group_buys", is: group) }
        try await sql.lockRow("orders", is: order.rawValue)
        return group
    }
}
