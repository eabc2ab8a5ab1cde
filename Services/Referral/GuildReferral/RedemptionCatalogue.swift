import Foundation
import GuildCore
import GuildMessages
import SQLKit

/// The rewards a community offers for points (积分兑换), edited by its owners.
///
/// Rules:
/// - Kinds: `renewal_coupon` (a coupon off the plans in plan_ids, which are required),
///   `discount` (a coupon off any purchase, or off plan_ids when given) and `unlock_item` (the
///   whole of one item, item_id required). A coupon takes percent_off_bp (1…10,000) or
///   amount_off_minor_units (≥ 1), exactly one; an unlock takes neither.
/// - cost_points ≥ 1; valid_days 1…365 (default 30), how long an issued coupon lasts; stock 0
///   means unlimited, else at most that many redemptions that did not fail.
/// - A new entry is active; members see active entries only, owners see all.
enum RedemptionCatalogue {
    static let renewalCoupon = "renewal_coupon"
    static let discount = "discount"
    static let unlockItem = "unlock_item"
    static let kinds = [renewalCoupon, discount, unlockItem]

    static let maxTitleLength = 80
    static let maxCost: Int64 = 100_000_000
    static let maxStock: Int32 = 1_000_000
    static let defaultValidDays: Int32 = 30

    /// A checked new entry (title trimmed, valid_days defaulted, plan ids without blanks).
    static func validated(_ requested: ReferralCatalogueEntry) throws -> ReferralCatalogueEntry {
        var entry = requested
        var violations: [GuildError.FieldViolation] = []
        entry.title = entry.title.trimmingCharacters(in: .whitespacesAndNewlines)
        violations += titleViolations(entry.title) + costViolations(entry.costPoints) + stockViolations(entry.stock)
        entry.planIds = entry.planIds.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if entry.validDays == 0 { entry.validDays = defaultValidDays }
        if !(1...365).contains(entry.validDays) { violations.append(.init(field: "validDays", description: "1 to 365 days.")) }
        switch entry.kind {
        case renewalCoupon, discount:
            let percent = entry.percentOffBp, amount = entry.amountOffMinorUnits
            if (percent == 0) == (amount == 0) {
                violations.append(.init(field: "percentOffBp", description: "Give a percentage (percentOffBp) or an amount (amountOffMinorUnits), one of them."))
            } else if percent != 0, !(1...10_000).contains(percent) {
                violations.append(.init(field: "percentOffBp", description: "1 to 10000 (basis points: 1000 is 10 %)."))
            } else if amount < 0 {
                violations.append(.init(field: "amountOffMinorUnits", description: "At least 1."))
            }
            if entry.kind == renewalCoupon, entry.planIds.isEmpty {
                violations.append(.init(field: "planIds", description: "A renewal coupon names the plans it renews."))
            }
            if !entry.itemID.isEmpty { violations.append(.init(field: "itemId", description: "Only for unlock_item.")) }
        case unlockItem:
            if entry.itemID.isEmpty { violations.append(.init(field: "itemId", description: "Required: the item to unlock.")) }
            if entry.percentOffBp != 0 || entry.amountOffMinorUnits != 0 || !entry.planIds.isEmpty {
                violations.append(.init(field: "kind", description: "An unlock takes no discount and no plans."))
            }
        default:
            violations.append(.init(field: "kind", description: "One of \(kinds.joined(separator: ", "))."))
        }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        return entry
    }

    static func titleViolations(_ title: String) -> [GuildError.FieldViolation] {
        title.isEmpty || title.count > maxTitleLength ? [.init(field: "title", description: "1 to \(maxTitleLength) characters.")] : []
    }

    static func costViolations(_ cost: Int64) -> [GuildError.FieldViolation] {
        (1...maxCost).contains(cost) ? [] : [.init(field: "costPoints", description: "1 to \(maxCost) points.")]
    }

    static func stockViolations(_ stock: Int32) -> [GuildError.FieldViolation] {
        (0...maxStock).contains(stock) ? [] : [.init(field: "stock", description: "0 (unlimited) to \(maxStock).")]
    }

    /// Plan ids as stored (they never hold a comma).
    static func text(_ planIDs: [String]) -> String { planIDs.joined(separator: ",") }
    static func planIDs(_ text: String) -> [String] { text.split(separator: ",").map(String.init) }

    static func entry(_ row: any SQLRow) throws -> ReferralCatalogueEntry {
        var entry = ReferralCatalogueEntry()
        entry.id = try row.decode(column: "id", as: String.self)
        entry.communityID = try row.decode(column: "community_id", as: String.self)
        entry.title = try row.decode(column: "title", as: String.self)
        entry.kind = try row.decode(column: "kind", as: String.self)
        entry.costPoints = try row.decode(column: "cost_points", as: Int64.self)
        entry.percentOffBp = try row.decode(column: "percent_off_bp", as: Int64.self)
        entry.amountOffMinorUnits = try row.decode(column: "amount_off_minor_units", as: Int64.self)
        entry.planIds = planIDs(try row.decode(column: "plan_ids", as: String.self))
        entry.itemID = try row.decode(column: "item_id", as: String.self)
        entry.validDays = Int32(try row.decode(column: "valid_days", as: Int.self))
        entry.stock = Int32(try row.decode(column: "stock", as: Int.self))
        entry.redeemed = Int32(try row.decode(column: "redeemed", as: Int.self))
        entry.active = try row.decode(column: "active", as: Bool.self)
        entry.createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        return entry
    }
}

extension ReferralService {
    func catalogueEntry(_ sql: any SQLDatabase, id: String) async throws -> ReferralCatalogueEntry {
        guard let row = try await sql.raw("SELECT * FROM catalogue WHERE id = \(bind: id)").first() else {
            throw GuildError(.notFound, "No such reward.", reason: "reward_not_found")
        }
        return try RedemptionCatalogue.entry(row)
    }
}
