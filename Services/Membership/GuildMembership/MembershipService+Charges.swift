import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import Logging
import SQLKit

/// Charges: one-off payments for something another service sells on a community's behalf (a
/// paid question, a consulting session). The platform holds the money from the payment until the
/// selling service settles the charge (the payee is owed it, minus the platform's fee) or
/// refunds it. Every transition is a guarded update of the charge's status, so it happens once
/// however often it is asked for; each is one balanced ledger transaction (decision 18).
extension MembershipService {
    /// Opens a charge for the calling user (the payer) and starts its payment.
    public func createCharge(_ request: MembershipCreateChargeRequest, user: UserID) async throws -> MembershipCharge {
        var violations: [GuildError.FieldViolation] = []
        if request.amountMinorUnits <= 0 { violations.append(.init(field: "amountMinorUnits", description: "A positive amount (free things need no charge).")) }
        if request.payeeID.isEmpty { violations.append(.init(field: "payeeId", description: "Required.")) }
        if !["question", "booking"].contains(request.purpose) { violations.append(.init(field: "purpose", description: "question or booking.")) }
        if request.reference.isEmpty || request.reference.count > 100 { violations.append(.init(field: "reference", description: "1 to 100 characters.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        guard request.payeeID != user.rawValue else {
            throw GuildError(.failedPrecondition, "You cannot pay yourself.", reason: "self_payment")
        }
        let provider = try paymentProvider(named: request.provider)
        // Stripe's webhook completes orders only; until it knows charges, a charge paid through
        // Stripe could be called off unpaid while the money arrived. Refuse rather than risk it.
        guard provider.name == "sandbox" else {
            throw GuildError(.failedPrecondition, "Charges are paid with the sandbox provider for now.", reason: "provider_not_supported")
        }
        var normalized = request
        normalized.provider = provider.name
        let now = clock.now()
        let chargeID = try await once(normalized, operation: "create_charge", user: user, now: now) { sql in
            let (community, _) = try await self.authorized(sql, community: CommunityID(request.communityID), user: user, operation: nil)
            guard community.status == .active else {
                throw GuildError(.failedPrecondition, "This community is not open.", reason: "community_not_active")
            }
            let amount = Money(minorUnits: request.amountMinorUnits, currency: community.currency)
            let id = Identifier.make(at: now)
            let payment = PaymentID.make(at: now)
            let started = try await provider.startPayment(id: payment, amount: amount, description: String(request.description_p.prefix(200)))
            // The sandbox "pays" through the gateway's confirm route for charges.
            let checkout = "/api/v1/charges/\(id)/sandbox-confirm"
            try await sql.raw("""
                INSERT INTO charges (id, community_id, payer_id, payee_id, purpose, reference, description, amount_minor, currency, status,
                                     payment_id, provider, provider_reference, checkout_url, failure_reason, fee_minor, created_at_ms, updated_at_ms)
                VALUES (\(bind: id), \(bind: request.communityID), \(bind: user.rawValue), \(bind: request.payeeID), \(bind: request.purpose),
                        \(bind: request.reference), \(bind: String(request.description_p.prefix(200))), \(bind: amount.minorUnits), \(bind: amount.currency.rawValue),
                        'pending', \(bind: payment.rawValue), \(bind: provider.name), \(bind: started.reference), \(bind: checkout), '', 0,
                        \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
                """).run()
            self.logger.info("charge opened", metadata: ["charge": "\(id)", "purpose": "\(request.purpose)", "amount": "\(amount)"])
            return id
        }
        return try await database.withConnection { sql in try await self.chargeMessage(sql, id: chargeID) }
    }

    /// The sandbox provider's confirmation of a charge's payment, by its payer.
    public func confirmSandboxCharge(_ request: MembershipConfirmSandboxChargeRequest, user: UserID) async throws -> MembershipCharge {
        let now = clock.now()
        let id = try await once(request, operation: "confirm_charge", user: user, now: now) { sql in
            let charge = try await self.chargeRow(sql, id: request.chargeID)
            guard try charge.decode(column: "payer_id", as: String.self) == user.rawValue else { throw GuildError(.notFound, "No such charge.") }
            guard try charge.decode(column: "provider", as: String.self) == "sandbox" else {
                throw GuildError(.failedPrecondition, "Only sandbox payments are confirmed through the API.", reason: "not_sandbox")
            }
            if request.fail {
                try await self.transition(sql, charge: request.chargeID, from: "pending", to: "failed", now: now,
                                          failure: request.failureReason.isEmpty ? "declined" : String(request.failureReason.prefix(200)))
            } else {
                try await self.chargePaid(sql, id: request.chargeID, now: now)
            }
            return request.chargeID
        }
        return try await database.withConnection { sql in try await self.chargeMessage(sql, id: id) }
    }

    /// The payment of a pending charge succeeded: the platform holds the money.
    func chargePaid(_ sql: any SQLDatabase, id: String, now: Date) async throws {
        guard try await transition(sql, charge: id, from: "pending", to: "held", now: now) else { return }
        let charge = try await chargeRow(sql, id: id)
        let (community, amount) = try chargeAmount(charge)
        try await Ledger.post(sql, kind: Ledger.chargePaymentKind, reference: id, community: community, entries: [
            LedgerEntry(.payerClearing(provider: try charge.decode(column: "provider", as: String.self)), amount),
            LedgerEntry(.chargeHolding(community), -amount),
        ], at: now)
        try await emit(sql, Topic.chargeHeld, try chargeEvent(charge, status: "held"), at: now)
    }

    /// Pays a held charge out: the platform keeps its fee, the payee is owed the rest. Repeating
    /// it answers with the charge as it is; a charge that is not held cannot be settled.
    public func settleCharge(_ request: MembershipSettleChargeRequest) async throws -> MembershipCharge {
        let now = clock.now()
        return try await database.transaction { sql in
            let charge = try await self.chargeRow(sql, id: request.chargeID)
            let status = try charge.decode(column: "status", as: String.self)
            if status == "settled" { return try await self.chargeMessage(sql, id: request.chargeID) }
            guard status == "held", try await self.transition(sql, charge: request.chargeID, from: "held", to: "settled", now: now) else {
                throw GuildError(.failedPrecondition, "A \(status) charge cannot be settled.", reason: "charge_not_held")
            }
            let (community, amount) = try self.chargeAmount(charge)
            let fee = self.platformFee(on: amount)
            let payee = UserID(try charge.decode(column: "payee_id", as: String.self))
            try await sql.raw("UPDATE charges SET fee_minor = \(bind: fee.minorUnits) WHERE id = \(bind: request.chargeID)").run()
            try await Ledger.post(sql, kind: Ledger.chargeSettlementKind, reference: request.chargeID, community: community, entries: [
                LedgerEntry(.chargeHolding(community), amount),
                LedgerEntry(.platformFees, -fee),
                LedgerEntry(.payeePayable(community, payee), -(amount - fee)),
            ].filter { !$0.amount.isZero }, at: now)
            try await self.emit(sql, Topic.chargeSettled, try self.chargeEvent(charge, status: "settled"), at: now)
            self.logger.info("charge settled", metadata: ["charge": "\(request.chargeID)", "amount": "\(amount)", "fee": "\(fee)"])
            return try await self.chargeMessage(sql, id: request.chargeID)
        }
    }

    /// Gives a charge back: a held one is refunded to the payer in full, a pending one is
    /// cancelled (its payment voided). Repeating it answers with the charge as it is; a settled
    /// charge cannot be refunded this way.
    public func refundCharge(_ request: MembershipRefundChargeRequest) async throws -> MembershipCharge {
        let now = clock.now()
        return try await database.transaction { sql in
            let charge = try await self.chargeRow(sql, id: request.chargeID)
            let status = try charge.decode(column: "status", as: String.self)
            switch status {
            case "refunded", "cancelled", "failed":
                return try await self.chargeMessage(sql, id: request.chargeID)
            case "pending":
                if try await self.transition(sql, charge: request.chargeID, from: "pending", to: "cancelled", now: now, failure: String(request.reason.prefix(200))) {
                    try await self.emit(sql, Topic.chargeCancelled, try self.chargeEvent(charge, status: "cancelled"), at: now)
                }
            case "held":
                guard try await self.transition(sql, charge: request.chargeID, from: "held", to: "refunded", now: now, failure: String(request.reason.prefix(200))) else {
                    throw GuildError(.aborted, "The charge changed meanwhile; try again.", reason: "charge_changed")
                }
                let (community, amount) = try self.chargeAmount(charge)
                let providerName = try charge.decode(column: "provider", as: String.self)
                guard let provider = self.providers[providerName] else {
                    throw GuildError(.unavailable, "The payment provider \(providerName) is not configured here.", retryAfterSeconds: 60)
                }
                // The provider's idempotency key is the charge: asking twice refunds once.
                try await provider.refund(reference: try charge.decode(column: "provider_reference", as: String.self), amount: amount,
                                          idempotencyKey: "charge-refund-\(request.chargeID)")
                try await Ledger.post(sql, kind: Ledger.chargeRefundKind, reference: request.chargeID, community: community, entries: [
                    LedgerEntry(.chargeHolding(community), amount),
                    LedgerEntry(.payerClearing(provider: providerName), -amount),
                ], at: now)
                try await self.emit(sql, Topic.chargeRefunded, try self.chargeEvent(charge, status: "refunded"), at: now)
                self.logger.info("charge refunded", metadata: ["charge": "\(request.chargeID)", "amount": "\(amount)"])
            default:
                throw GuildError(.failedPrecondition, "A \(status) charge cannot be refunded.", reason: "charge_settled")
            }
            return try await self.chargeMessage(sql, id: request.chargeID)
        }
    }

    /// A charge, for a service (content) or for a user: its payer, its payee or the community's
    /// owners; anyone else is told it does not exist.
    public func charge(_ request: MembershipGetChargeRequest, user: UserID?) async throws -> MembershipCharge {
        try await database.withConnection { sql in
            let row = try await self.chargeRow(sql, id: request.chargeID)
            if let user {
                let payer = try row.decode(column: "payer_id", as: String.self)
                let payee = try row.decode(column: "payee_id", as: String.self)
                if user.rawValue != payer, user.rawValue != payee {
                    let role = try await Self.role(sql, user: user, community: CommunityID(try row.decode(column: "community_id", as: String.self)), now: self.clock.now())
                    guard Self.policy.allows(Operation.readOrders, role: role) else { throw GuildError(.notFound, "No such charge.") }
                }
            }
            return try await self.chargeMessage(sql, id: request.chargeID)
        }
    }

    // MARK: Storage

    private func chargeRow(_ sql: any SQLDatabase, id: String) async throws -> any SQLRow {
        guard let row = try await sql.raw("SELECT * FROM charges WHERE id = \(bind: id)").first() else {
            throw GuildError(.notFound, "No such charge.")
        }
        return row
    }

    private func chargeAmount(_ row: any SQLRow) throws -> (CommunityID, Money) {
        let currency = Currency(rawValue: try row.decode(column: "currency", as: String.self)) ?? .cny
        return (CommunityID(try row.decode(column: "community_id", as: String.self)),
                Money(minorUnits: try row.decode(column: "amount_minor", as: Int64.self), currency: currency))
    }

    /// Moves a charge from `from` to `to` if it is still in `from`; false when it was not (another
    /// caller moved it first).
    @discardableResult
    private func transition(_ sql: any SQLDatabase, charge id: String, from: String, to: String, now: Date, failure: String? = nil) async throws -> Bool {
        let paidAt: Int64? = to == "held" ? now.millisecondsSince1970 : nil
        return try await sql.raw("""
            UPDATE charges SET status = \(bind: to), updated_at_ms = \(bind: now.millisecondsSince1970),
                   failure_reason = COALESCE(\(bind: failure), failure_reason), paid_at_ms = COALESCE(\(bind: paidAt), paid_at_ms)
            WHERE id = \(bind: id) AND status = \(bind: from) RETURNING id
            """).first() != nil
    }

    private func chargeEvent(_ row: any SQLRow, status: String) throws -> MembershipChargeEvent {
        var event = MembershipChargeEvent()
        event.chargeID = try row.decode(column: "id", as: String.self)
        event.communityID = try row.decode(column: "community_id", as: String.self)
        event.payerID = try row.decode(column: "payer_id", as: String.self)
        event.payeeID = try row.decode(column: "payee_id", as: String.self)
        event.purpose = try row.decode(column: "purpose", as: String.self)
        event.reference = try row.decode(column: "reference", as: String.self)
        event.amount = MembershipMoney(try chargeAmount(row).1)
        event.status = status
        return event
    }

    func chargeMessage(_ sql: any SQLDatabase, id: String) async throws -> MembershipCharge {
        let row = try await chargeRow(sql, id: id)
        let (community, amount) = try chargeAmount(row)
        var charge = MembershipCharge()
        charge.id = id
        charge.communityID = community.rawValue
        charge.payerID = try row.decode(column: "payer_id", as: String.self)
        charge.payeeID = try row.decode(column: "payee_id", as: String.self)
        charge.purpose = try row.decode(column: "purpose", as: String.self)
        charge.reference = try row.decode(column: "reference", as: String.self)
        charge.description_p = try row.decode(column: "description", as: String.self)
        charge.amount = MembershipMoney(amount)
        charge.status = try row.decode(column: "status", as: String.self)
        charge.fee = MembershipMoney(Money(minorUnits: try row.decode(column: "fee_minor", as: Int64.self), currency: amount.currency))
        charge.createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        charge.updatedAtMs = try row.decode(column: "updated_at_ms", as: Int64.self)
        charge.payment.id = try row.decode(column: "payment_id", as: String.self)
        charge.payment.provider = try row.decode(column: "provider", as: String.self)
        charge.payment.amount = charge.amount
        charge.payment.checkoutURL = try row.decode(column: "checkout_url", as: String.self)
        charge.payment.failureReason = try row.decode(column: "failure_reason", as: String.self)
        charge.payment.createdAtMs = charge.createdAtMs
        charge.payment.completedAtMs = try row.decode(column: "paid_at_ms", as: Int64?.self) ?? 0
        charge.payment.status = switch charge.status {
        case "pending": "pending"
        case "failed": "failed"
        case "cancelled": "voided"
        default: "succeeded"
        }
        return charge
    }
}
