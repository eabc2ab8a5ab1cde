import Foundation
import GuildCore
import GuildMessages
import SQLKit

/// A community's referral programme: the referrer's commission, the newcomer's reward, the
/// attribution window, the burst rule of the fraud check and how refunds claw back. A
/// community whose owners never set one has ``defaults(windowDays:)``: enabled, 10 % of the
/// first payment, no reward, a 30-day window, more than 3 sign-ups within 60 minutes held,
/// pro rata clawback.
///
/// A disabled programme still records visits and attributions (the funnel needs them) but
/// earns no commission and issues no reward.
struct AttributionProgram: Sendable, Equatable {
    var enabled = true
    /// Of each commissioned payment, in basis points (1000 = 10 %); 0: no commission.
    var commissionBP: Int64 = 1000
    /// `first_payment` (the converting payment only) or `recurring` (each payment within
    /// ``recurringMonths`` months of the converting one).
    var commissionMode = "first_payment"
    var recurringMonths: Int64 = 0
    /// `none`, `percent` or `amount`: the newcomer's coupon.
    var rewardKind = "none"
    var rewardPercentOffBP: Int64 = 0
    var rewardAmountOffMinorUnits: Int64 = 0
    var rewardValidDays: Int64 = 30
    var attributionWindowDays: Int64 = 30
    var burstLimit: Int64 = 3
    var burstWindowMinutes: Int64 = 60
    /// `pro_rata` or `full`: what a partial refund claws back.
    var clawback = "pro_rata"
    var updatedAtMS: Int64 = 0

    static let commissionModes = ["first_payment", "recurring"]
    static let rewardKinds = ["none", "percent", "amount"]
    static let clawbackModes = ["pro_rata", "full"]

    static func defaults(windowDays: Int) -> AttributionProgram {
        var program = AttributionProgram()
        program.attributionWindowDays = Int64(windowDays)
        return program
    }

    /// Whether a payment can earn a commission at all.
    var paysCommission: Bool { enabled && commissionBP > 0 }
    /// Whether newcomers brought by a link get a coupon.
    var givesReward: Bool { enabled && rewardKind != "none" }

    /// The programme an owner sends, checked. The whole programme is replaced; empty modes and
    /// zero windows, burst limits and reward validity mean the defaults (so that a JSON body
    /// may leave them out), while a zero commission means none.
    init(validating message: ReferralProgram, windowDays: Int) throws {
        var program = AttributionProgram.defaults(windowDays: windowDays)
        var violations: [GuildError.FieldViolation] = []
        // A PUT replaces the programme; a missing `enabled` is not read as "off".
        if message.hasEnabled { program.enabled = message.enabled } else {
            violations.append(.init(field: "enabled", description: "Required: true or false (the programme is switched on or off only by saying so)."))
        }
        if (0...5000).contains(message.commissionBp) { program.commissionBP = Int64(message.commissionBp) } else {
            violations.append(.init(field: "commissionBp", description: "0 to 5000 basis points (0 to 50 %)."))
        }
        let mode = message.commissionMode.isEmpty ? "first_payment" : message.commissionMode
        if Self.commissionModes.contains(mode) { program.commissionMode = mode } else {
            violations.append(.init(field: "commissionMode", description: "first_payment or recurring."))
        }
        if mode == "recurring" {
            if (1...36).contains(message.recurringMonths) { program.recurringMonths = Int64(message.recurringMonths) } else {
                violations.append(.init(field: "recurringMonths", description: "1 to 36 months for a recurring commission."))
            }
        } else if message.recurringMonths != 0 {
            violations.append(.init(field: "recurringMonths", description: "Only for a recurring commission."))
        }
        let kind = message.rewardKind.isEmpty ? "none" : message.rewardKind
        if Self.rewardKinds.contains(kind) { program.rewardKind = kind } else {
            violations.append(.init(field: "rewardKind", description: "none, percent or amount."))
        }
        switch kind {
        case "percent":
            if (1...10_000).contains(message.rewardPercentOffBp) { program.rewardPercentOffBP = message.rewardPercentOffBp } else {
                violations.append(.init(field: "rewardPercentOffBp", description: "1 to 10000 basis points off."))
            }
            if message.rewardAmountOffMinorUnits != 0 { violations.append(.init(field: "rewardAmountOffMinorUnits", description: "Only for an amount reward.")) }
        case "amount":
            if (1...100_000_000).contains(message.rewardAmountOffMinorUnits) { program.rewardAmountOffMinorUnits = message.rewardAmountOffMinorUnits } else {
                violations.append(.init(field: "rewardAmountOffMinorUnits", description: "1 to 100000000 minor units off."))
            }
            if message.rewardPercentOffBp != 0 { violations.append(.init(field: "rewardPercentOffBp", description: "Only for a percent reward.")) }
        default:
            if message.rewardPercentOffBp != 0 || message.rewardAmountOffMinorUnits != 0 {
                violations.append(.init(field: "rewardKind", description: "Say percent or amount to give a reward."))
            }
        }
        if message.rewardValidDays != 0 {
            if (1...365).contains(message.rewardValidDays) { program.rewardValidDays = Int64(message.rewardValidDays) } else {
                violations.append(.init(field: "rewardValidDays", description: "1 to 365 days."))
            }
        }
        if message.attributionWindowDays != 0 {
            if (1...365).contains(message.attributionWindowDays) { program.attributionWindowDays = Int64(message.attributionWindowDays) } else {
                violations.append(.init(field: "attributionWindowDays", description: "1 to 365 days."))
            }
        }
        if message.burstLimit != 0 {
            if (1...1000).contains(message.burstLimit) { program.burstLimit = Int64(message.burstLimit) } else {
                violations.append(.init(field: "burstLimit", description: "1 to 1000 sign-ups."))
            }
        }
        if message.burstWindowMinutes != 0 {
            if (1...10_080).contains(message.burstWindowMinutes) { program.burstWindowMinutes = Int64(message.burstWindowMinutes) } else {
                violations.append(.init(field: "burstWindowMinutes", description: "1 to 10080 minutes (a week)."))
            }
        }
        let clawback = message.clawback.isEmpty ? "pro_rata" : message.clawback
        if Self.clawbackModes.contains(clawback) { program.clawback = clawback } else {
            violations.append(.init(field: "clawback", description: "pro_rata or full."))
        }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        self = program
    }

    init() {}

    /// The programme of `community` (the defaults when never set).
    static func load(_ sql: any SQLDatabase, community: String, windowDays: Int) async throws -> AttributionProgram {
        guard let row = try await sql.raw("SELECT * FROM programs WHERE community_id = \(bind: community)").first() else {
            return .defaults(windowDays: windowDays)
        }
        var program = AttributionProgram()
        program.enabled = try row.decode(column: "enabled", as: Bool.self)
        program.commissionBP = try row.decode(column: "commission_bp", as: Int64.self)
        program.commissionMode = try row.decode(column: "commission_mode", as: String.self)
        program.recurringMonths = try row.decode(column: "recurring_months", as: Int64.self)
        program.rewardKind = try row.decode(column: "reward_kind", as: String.self)
        program.rewardPercentOffBP = try row.decode(column: "reward_percent_off_bp", as: Int64.self)
        program.rewardAmountOffMinorUnits = try row.decode(column: "reward_amount_off_minor_units", as: Int64.self)
        program.rewardValidDays = try row.decode(column: "reward_valid_days", as: Int64.self)
        program.attributionWindowDays = try row.decode(column: "attribution_window_days", as: Int64.self)
        program.burstLimit = try row.decode(column: "burst_limit", as: Int64.self)
        program.burstWindowMinutes = try row.decode(column: "burst_window_minutes", as: Int64.self)
        program.clawback = try row.decode(column: "clawback", as: String.self)
        program.updatedAtMS = try row.decode(column: "updated_at_ms", as: Int64.self)
        return program
    }

    /// Replaces the programme of `community`, in one statement (two replacements at once: the
    /// later one wins whole, never a mix).
    func save(_ sql: any SQLDatabase, community: String) async throws {
        try await sql.raw("""
            INSERT INTO programs (community_id, enabled, commission_bp, commission_mode, recurring_months, reward_kind, reward_percent_off_bp,
                                  reward_amount_off_minor_units, reward_valid_days, attribution_window_days, burst_limit, burst_window_minutes,
                                  clawback, updated_at_ms)
            VALUES (\(bind: community), \(bind: enabled), \(bind: commissionBP), \(bind: commissionMode), \(bind: recurringMonths), \(bind: rewardKind),
                    \(bind: rewardPercentOffBP), \(bind: rewardAmountOffMinorUnits), \(bind: rewardValidDays), \(bind: attributionWindowDays),
                    \(bind: burstLimit), \(bind: burstWindowMinutes), \(bind: clawback), \(bind: updatedAtMS))
            ON CONFLICT (community_id) DO UPDATE SET
                enabled = excluded.enabled, commission_bp = excluded.commission_bp, commission_mode = excluded.commission_mode,
                recurring_months = excluded.recurring_months, reward_kind = excluded.reward_kind, reward_percent_off_bp = excluded.reward_percent_off_bp,
                reward_amount_off_minor_units = excluded.reward_amount_off_minor_units, reward_valid_days = excluded.reward_valid_days,
                attribution_window_days = excluded.attribution_window_days, burst_limit = excluded.burst_limit,
                burst_window_minutes = excluded.burst_window_minutes, clawback = excluded.clawback, updated_at_ms = excluded.updated_at_ms
            """).run()
    }

    func message(community: String) -> ReferralProgram {
        var message = ReferralProgram()
        message.communityID = community
        message.enabled = enabled
        message.commissionBp = Int32(commissionBP)
        message.commissionMode = commissionMode
        message.recurringMonths = Int32(recurringMonths)
        message.rewardKind = rewardKind
        message.rewardPercentOffBp = rewardPercentOffBP
        message.rewardAmountOffMinorUnits = rewardAmountOffMinorUnits
        message.rewardValidDays = Int32(rewardValidDays)
        message.attributionWindowDays = Int32(attributionWindowDays)
        message.burstLimit = Int32(burstLimit)
        message.burstWindowMinutes = Int32(burstWindowMinutes)
        message.clawback = clawback
        message.updatedAtMs = updatedAtMS
        return message
    }
}
