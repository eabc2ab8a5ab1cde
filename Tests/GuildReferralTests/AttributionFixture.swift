import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildReferral

/// Shortcuts the attribution scenarios share: links, visits and sign-ups as a user would make
/// them through the gateway, the programme, and what the referral database holds.
extension ReferralFixture {
    /// An account in auth with `email`; its id.
    func register(_ email: String) async throws -> UserID {
        var request = AuthRegisterRequest()
        request.email = email
        request.password = "correct horse battery"
        request.displayName = "Member"
        // As the gateway does, over the wire.
        let client = try WireClient(
            service: .auth, endpoints: [WireEndpoint(host: "127.0.0.1", port: cluster.authServer.port)],
            tls: try cluster.certificates.tls(for: .gateway), logger: Logger(label: "test-gateway"))
        let session = try await client.call(AuthAPI.register, request)
        await client.close()
        return UserID(session.user.id)
    }

    func link(_ user: UserID) async throws -> ReferralLink {
        try await referral.getMyLink(.with { $0.communityID = community.id }, user: user)
    }

    @discardableResult
    func visit(_ visitor: String, code: String = "", source: String = "", campaign: String = "", address: String? = nil, user: UserID? = nil) async throws -> ReferralVisit {
        try await referral.recordVisit(.with {
            $0.visitorID = visitor
            $0.code = code
            $0.communityID = code.isEmpty ? community.id : ""
            $0.utmSource = source
            $0.utmCampaign = campaign
        }, user: user, clientAddress: address)
    }

    /// `user` signs up with `visitor`'s touches; their attribution in the community (nil: none).
    @discardableResult
    func signup(_ user: UserID, visitor: String, address: String? = nil) async throws -> ReferralAttribution? {
        try await referral.recordSignup(.with { $0.visitorID = visitor }, user: user, clientAddress: address)
            .attributions.first { $0.communityID == community.id }
    }

    /// Replaces the programme (as the owner), starting from the defaults.
    @discardableResult
    func setProgram(_ change: (inout ReferralProgram) -> Void) async throws -> ReferralProgram {
        var program = try await referral.program(.with { $0.communityID = community.id })
        change(&program)
        return try await referral.updateProgram(.with { $0.program = program }, user: owner)
    }

    func summary(_ user: UserID) async throws -> ReferralReferralSummary {
        try await referral.myReferrals(.with { $0.communityID = community.id }, user: user)
    }

    /// Rows of the referral database.
    func rows(_ query: String) async throws -> [any SQLRow] {
        try await cluster.referralDatabase.database.withConnection { sql in try await sql.raw(SQLQueryString(query)).all() }
    }

    /// The commissions on `referee`'s payments, oldest first.
    func commissions(of referee: UserID) async throws -> [ReferralCommission] {
        try await rows("SELECT * FROM commissions WHERE referee_id = '\(referee.rawValue)' ORDER BY created_at_ms, id").map(ReferralService.commissionMessage)
    }

    /// The attribution of `user` as stored (nil: none).
    func attribution(of user: UserID) async throws -> ReferralAttribution? {
        try await rows("SELECT * FROM attributions WHERE user_id = '\(user.rawValue)' AND community_id = '\(community.id)'")
            .first.map(ReferralService.attributionMessage)
    }

    func rewardStatus(of user: UserID) async throws -> String? {
        try await rows("SELECT reward_status FROM attributions WHERE user_id = '\(user.rawValue)'").first?.decode(column: "reward_status", as: String.self)
    }

    /// The ledger movements of `commission`, in order: "movement amount from_state posted".
    func movements(of commission: String) async throws -> [String] {
        try await rows("SELECT * FROM ledger_movements WHERE commission_id = '\(commission)' ORDER BY seq").map { row in
            let from = try row.decode(column: "from_state", as: String.self)
            return "\(try row.decode(column: "movement", as: String.self)) \(try row.decode(column: "amount_minor_units", as: Int64.self))"
                + (from.isEmpty ? "" : " from \(from)") + (try row.decode(column: "posted", as: Bool.self) ? " posted" : " unposted")
        }
    }

    /// The events membership wrote on `topic`, as its relay sends them.
    func membershipEvents(_ topic: String) async throws -> [EventsEvent] {
        try await cluster.membershipDatabase.database.withConnection { sql in
            try await sql.raw("SELECT * FROM outbox_events WHERE topic = \(bind: topic) ORDER BY seq").all()
        }.map { row in
            EventsEvent.with {
                $0.id = (try? row.decode(column: "id", as: String.self)) ?? ""
                $0.topic = topic
                $0.source = "membership"
                $0.occurredAtMs = (try? row.decode(column: "occurred_at_ms", as: Int64.self)) ?? 0
                $0.payload = (try? row.decode(column: "payload", as: Data.self)) ?? Data()
            }
        }
    }

    /// Delivers `event` to referral directly, as a relay sending it again would.
    func redeliver(_ event: EventsEvent) async throws {
        _ = try await referral.deliver(.with { $0.event = event })
    }

    /// Visit through `code` and sign up: the newcomer's attribution.
    @discardableResult
    func refer(_ newcomer: UserID, code: String, visitor: String? = nil, address: String? = nil) async throws -> ReferralAttribution {
        let visitor = visitor ?? "visitor-" + newcomer.rawValue
        try await visit(visitor, code: code, address: address)
        let attribution = try await signup(newcomer, visitor: visitor, address: address)
        return try #require(attribution)
    }

    var now: Date { clock.now() }
    static let day: TimeInterval = 86_400
}
