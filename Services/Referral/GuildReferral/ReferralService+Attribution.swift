import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import GuildWire
import Logging
import SQLKit
import SwiftProtobuf

// Referral links, visits, attribution, the programme, commissions with clawback, newcomer
// rewards, fraud review and referral's funnel figures.
//
// The attribution rule. A visit records a touch: a member's link (source "referral", the
// link's owner as referrer), else a campaign (utm_source, with utm_campaign), else "direct".
// At sign-up (``ReferralService/recordSignup(_:user:clientAddress:)``) each community the
// visitor touched attributes the user to the visitor's FIRST touch there within the
// programme's attribution window (default 30 days) before now: first touch wins, older touches
// are ignored. A user attributed in a community stays attributed to that first attribution;
// asking again returns it. A payment converts the attribution when it is the user's first
// successful payment in the community, made after the sign-up and within the same window.
//
// The fraud checks. A sign-up through one's own link, or through the link of an account with
// the same email after normalisation (``FraudSignals/normalizedEmail(_:)``), or (at a payment)
// with a card whose fingerprint was seen on the referrer's own payments, is a `self_referral`:
// it earns no commission and no reward. When more than the programme's burst limit of sign-ups
// through one link from one network (``FraudSignals/network(of:)``) fall within its burst
// window, that sign-up and the others of the burst not yet reviewed nor converted are `held`
// (with the reason) until an owner approves (attributed; held commissions become pending and
// the reward is issued) or rejects them (rejected; commissions void).

extension ReferralMigrations {
    static let attribution = Migration(version: 2, name: "links, visits, attribution, programmes, commissions, rewards") { _ in
        [
            """
            CREATE TABLE links (
                code TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                UNIQUE (community_id, user_id)
            )
            """,
            """
            CREATE TABLE visits (
                id TEXT PRIMARY KEY,
                visitor_id TEXT NOT NULL,
                community_id TEXT NOT NULL,
                source TEXT NOT NULL,
                campaign TEXT NOT NULL,
                code TEXT NOT NULL,
                referrer_id TEXT NOT NULL,
                network TEXT NOT NULL,
                user_id TEXT,
                at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX visits_by_visitor ON visits (visitor_id, community_id, at_ms)",
            "CREATE INDEX visits_by_community ON visits (community_id, at_ms)",
            "CREATE INDEX visits_by_referrer ON visits (community_id, referrer_id)",
            """
            CREATE TABLE programs (
                community_id TEXT PRIMARY KEY,
                enabled BOOLEAN NOT NULL,
                commission_bp BIGINT NOT NULL,
                commission_mode TEXT NOT NULL,
                recurring_months BIGINT NOT NULL,
                reward_kind TEXT NOT NULL,
                reward_percent_off_bp BIGINT NOT NULL,
                reward_amount_off_minor_units BIGINT NOT NULL,
                reward_valid_days BIGINT NOT NULL,
                attribution_window_days BIGINT NOT NULL,
                burst_limit BIGINT NOT NULL,
                burst_window_minutes BIGINT NOT NULL,
                clawback TEXT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE attributions (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                visitor_id TEXT NOT NULL,
                source TEXT NOT NULL,
                campaign TEXT NOT NULL,
                referrer_id TEXT NOT NULL,
                code TEXT NOT NULL,
                status TEXT NOT NULL,
                reason TEXT NOT NULL,
                network TEXT NOT NULL,
                touched_at_ms BIGINT NOT NULL,
                signed_up_at_ms BIGINT NOT NULL,
                converted_at_ms BIGINT,
                first_payment_id TEXT NOT NULL,
                reward_status TEXT NOT NULL,
                reward_coupon_code TEXT NOT NULL,
                reviewed_by TEXT NOT NULL,
                reviewed_at_ms BIGINT,
                UNIQUE (community_id, user_id)
            )
            """,
            "CREATE INDEX attributions_by_signup ON attributions (community_id, signed_up_at_ms)",
            "CREATE INDEX attributions_by_referrer ON attributions (community_id, referrer_id)",
            "CREATE INDEX attributions_by_burst ON attributions (code, network, signed_up_at_ms)",
            "CREATE INDEX attributions_by_reward ON attributions (reward_status)",
            """
            CREATE TABLE member_facts (
                community_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                trial_at_ms BIGINT,
                paid_at_ms BIGINT,
                PRIMARY KEY (community_id, user_id)
            )
            """,
            """
            CREATE TABLE card_fingerprints (
                user_id TEXT NOT NULL,
                fingerprint TEXT NOT NULL,
                first_seen_at_ms BIGINT NOT NULL,
                PRIMARY KEY (user_id, fingerprint)
            )
            """,
            """
            CREATE TABLE commissions (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                attribution_id TEXT NOT NULL,
                referrer_id TEXT NOT NULL,
                referee_id TEXT NOT NULL,
                payment_id TEXT NOT NULL UNIQUE,
                order_id TEXT NOT NULL,
                payment_minor_units BIGINT NOT NULL,
                amount_minor_units BIGINT NOT NULL,
                clawed_back_minor_units BIGINT NOT NULL,
                currency TEXT NOT NULL,
                status TEXT NOT NULL,
                reason TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                payable_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX commissions_by_maturity ON commissions (status, payable_at_ms)",
            "CREATE INDEX commissions_by_referrer ON commissions (community_id, referrer_id)",
            "CREATE INDEX commissions_by_attribution ON commissions (attribution_id)",
            """
            CREATE TABLE clawbacks (
                refund_id TEXT PRIMARY KEY,
                commission_id TEXT NOT NULL,
                amount_minor_units BIGINT NOT NULL,
                at_ms BIGINT NOT NULL
            )
            """,
            """
            CREATE TABLE ledger_movements (
                id TEXT PRIMARY KEY,
                commission_id TEXT NOT NULL,
                seq BIGINT NOT NULL,
                community_id TEXT NOT NULL,
                movement TEXT NOT NULL,
                amount_minor_units BIGINT NOT NULL,
                currency TEXT NOT NULL,
                from_state TEXT NOT NULL,
                referrer_id TEXT NOT NULL,
                posted BOOLEAN NOT NULL,
                attempts BIGINT NOT NULL,
                last_error TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                posted_at_ms BIGINT,
                UNIQUE (commission_id, seq)
            )
            """,
            "CREATE INDEX ledger_movements_unposted ON ledger_movements (posted, commission_id, seq)",
        ]
    }
}

/// What ``ReferralService/prepareAttribution(_:)`` learnt outside any transaction for one event
/// (for example the community's refund window, asked of membership).
struct PreparedAttributionEvent: Sendable {
    var refundWindowDays: Int?
}

/// The touch that attributes a sign-up in one community, found before the sign-up's transaction.
private struct FirstTouch: Sendable {
    var community: String
    var source: String
    var campaign: String
    var code: String
    var referrer: String
    var network: String
    var atMS: Int64
    var program: AttributionProgram
}

extension ReferralService {
    static let dayMS: Int64 = 86_400_000
    /// Link codes: no 0/O, 1/I/L, so a code read aloud or copied by hand survives.
    static let codeAlphabet = Array("23456789ABCDEFGHJKMNPQRSTUVWXYZ")
    static let codeLength = 8

    enum EventTopic {
        static let paymentSucceeded = "membership.payment.succeeded"
        static let paymentRefunded = "membership.payment.refunded"
        static let subscriptionStarted = "membership.subscription.started"
        static let subscriptionEnded = "membership.subscription.ended"
        static let roleChanged = "membership.role.changed"
    }

    // MARK: Links

    /// The caller's link in a community, made on first ask. Anyone with a role there (members
    /// and staff) may refer; one code per member and community, 8 characters from an
    /// unambiguous alphabet, unique across communities.
    func getMyLink(_ request: ReferralGetMyLinkRequest, user: UserID) async throws -> ReferralLink {
        try Self.require(request.communityID, "communityId")
        let community = CommunityID(request.communityID)
        try await authorize(Operation.refer, user: user, in: community)
        return try await ensureLink(community: community, user: user)
    }

    func ensureLink(community: CommunityID, user: UserID) async throws -> ReferralLink {
        if let link = try await database.withConnection({ sql in try await Self.link(sql, community: community, user: user) }) { return link }
        let now = clock.now()
        for _ in 0..<8 {
            var generator = SystemRandomNumberGenerator()
            let code = String((0..<Self.codeLength).map { _ in Self.codeAlphabet.randomElement(using: &generator)! })
            let made: ReferralLink?
            do {
                made = try await database.transaction { sql in
                    if let link = try await Self.link(sql, community: community, user: user) { return link }
                    guard try await sql.raw("SELECT code FROM links WHERE code = \(bind: code)").first() == nil else { return nil }
                    try await sql.raw("""
                        INSERT INTO links (code, community_id, user_id, created_at_ms)
                        VALUES (\(bind: code), \(bind: community.rawValue), \(bind: user.rawValue), \(bind: now.millisecondsSince1970))
                        """).run()
                    return try await Self.link(sql, community: community, user: user)
                }
            } catch {
                // A concurrent request made the member's link first.
                if let link = try await database.withConnection({ sql in try await Self.link(sql, community: community, user: user) }) { return link }
                throw error
            }
            if let made { return made }
        }
        throw GuildError(.internal, "No free link code was found; try again.")
    }

    static func link(_ sql: any SQLDatabase, community: CommunityID, user: UserID) async throws -> ReferralLink? {
        guard let row = try await sql.raw("""
            SELECT * FROM links WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: user.rawValue)
            """).first() else { return nil }
        var link = ReferralLink()
        link.code = try row.decode(column: "code", as: String.self)
        link.communityID = community.rawValue
        link.userID = user.rawValue
        link.path = "/r/" + link.code
        link.createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        return link
    }

    // MARK: Visits

    /// Records a touch. A code must be a link's (its community and owner then apply, source
    /// "referral"); without one the community is required and the source is utm_source
    /// (lowercased; 1 to 64 of a-z 0-9 . _ -), else "direct". The visitor id is made (32 hex
    /// characters) when empty. The client's network (/24, /64) is kept for the burst check.
    func recordVisit(_ request: ReferralRecordVisitRequest, user: UserID?, clientAddress: String?) async throws -> ReferralVisit {
        var violations: [GuildError.FieldViolation] = []
        let visitor = request.visitorID.isEmpty ? Bytes.random(16).hexString : request.visitorID
        if !Self.isValidVisitorID(visitor) { violations.append(.init(field: "visitorId", description: "8 to 64 of A-Z a-z 0-9 _ -.")) }
        let source = request.utmSource.trimmingCharacters(in: .whitespaces).lowercased()
        if !source.isEmpty, !(source.count <= 64 && source.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || "._-".unicodeScalars.contains($0) })) {
            violations.append(.init(field: "utmSource", description: "1 to 64 of a-z 0-9 . _ -."))
        }
        let campaign = request.utmCampaign.trimmingCharacters(in: .whitespacesAndNewlines)
        if campaign.count > 128 || campaign.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            violations.append(.init(field: "utmCampaign", description: "At most 128 printable characters."))
        }
        let code = request.code.trimmingCharacters(in: .whitespaces).uppercased()
        if code.isEmpty, request.communityID.isEmpty { violations.append(.init(field: "communityId", description: "Required without a code.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }

        var visit = ReferralVisit()
        visit.visitorID = visitor
        visit.campaign = campaign
        if !code.isEmpty {
            guard code.count <= 32, let row = try await database.withConnection({ sql in
                try await sql.raw("SELECT community_id, user_id FROM links WHERE code = \(bind: code)").first()
            }) else { throw GuildError(.notFound, "No such referral link.", reason: "unknown_referral_code") }
            visit.communityID = try row.decode(column: "community_id", as: String.self)
            visit.referrerID = try row.decode(column: "user_id", as: String.self)
            visit.code = code
            visit.source = "referral"
        } else {
            var ask = MembershipGetCommunityRequest()
            ask.community = request.communityID
            visit.communityID = try await membership.call(MembershipAPI.getCommunity, ask).id
            visit.source = source.isEmpty ? "direct" : source
        }
        let now = clock.now()
        visit.id = Identifier.make(at: now)
        visit.atMs = now.millisecondsSince1970
        let network = FraudSignals.network(of: clientAddress)
        try await database.withConnection { [visit] sql in
            try await sql.raw("""
                INSERT INTO visits (id, visitor_id, community_id, source, campaign, code, referrer_id, network, user_id, at_ms)
                VALUES (\(bind: visit.id), \(bind: visit.visitorID), \(bind: visit.communityID), \(bind: visit.source), \(bind: visit.campaign),
                        \(bind: visit.code), \(bind: visit.referrerID), \(bind: network), \(bind: user?.rawValue), \(bind: visit.atMs))
                """).run()
        }
        return visit
    }

    static func isValidVisitorID(_ id: String) -> Bool {
        (8...64).contains(id.count) && id.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-" }
    }

    // MARK: Sign-up

    /// The caller (just signed up, or an existing account arriving through a link) claims the
    /// visitor's touches: see the attribution rule at the top of this file. Returns the
    /// caller's attribution in each community the visitor touched (made now or before).
    func recordSignup(_ request: ReferralRecordSignupRequest, user: UserID, clientAddress: String?) async throws -> ReferralSignupResponse {
        guard Self.isValidVisitorID(request.visitorID) else {
            throw GuildError.invalid([.init(field: "visitorId", description: "8 to 64 of A-Z a-z 0-9 _ -.")])
        }
        let visitor = request.visitorID
        let now = clock.now()
        let nowMS = now.millisecondsSince1970
        let windowDays = configuration.defaultAttributionWindowDays
        let (communities, touches) = try await database.withConnection { sql in
            let communities = try await sql.raw("SELECT DISTINCT community_id FROM visits WHERE visitor_id = \(bind: visitor)").all()
                .map { try $0.decode(column: "community_id", as: String.self) }.sorted()
            var touches: [FirstTouch] = []
            for community in communities {
                let program = try await AttributionProgram.load(sql, community: community, windowDays: windowDays)
                let since = nowMS - program.attributionWindowDays * Self.dayMS
                guard let row = try await sql.raw("""
                    SELECT * FROM visits WHERE visitor_id = \(bind: visitor) AND community_id = \(bind: community)
                      AND at_ms >= \(bind: since) AND at_ms <= \(bind: nowMS)
                    ORDER BY at_ms, id LIMIT 1
                    """).first() else { continue }
                touches.append(FirstTouch(
                    community: community, source: try row.decode(column: "source", as: String.self),
                    campaign: try row.decode(column: "campaign", as: String.self), code: try row.decode(column: "code", as: String.self),
                    referrer: try row.decode(column: "referrer_id", as: String.self), network: try row.decode(column: "network", as: String.self),
                    atMS: try row.decode(column: "at_ms", as: Int64.self), program: program))
            }
            return (communities, touches)
        }
        // Email addresses from auth, never inside a transaction.
        let referrers = Set(touches.map(\.referrer).filter { !$0.isEmpty && $0 != user.rawValue })
        var emails: [String: String] = [:]
        var newcomerEmail: String?
        if !referrers.isEmpty {
            newcomerEmail = try await normalizedEmail(of: user)
            if newcomerEmail != nil {
                for referrer in referrers { emails[referrer] = try await normalizedEmail(of: UserID(referrer)) }
            }
        }
        let network = FraudSignals.network(of: clientAddress)
        let record: @Sendable () async throws -> [ReferralAttribution] = { [emails, newcomerEmail] in
            try await self.database.transaction { sql in
                var attributions: [ReferralAttribution] = []
                for community in communities {
                    if let row = try await sql.raw("""
                        SELECT * FROM attributions WHERE community_id = \(bind: community) AND user_id = \(bind: user.rawValue)
                        """).first() {
                        attributions.append(try Self.attributionMessage(row))
                        continue
                    }
                    guard let touch = touches.first(where: { $0.community == community }) else { continue }
                    let id = try await self.attribute(sql, touch: touch, visitor: visitor, user: user, network: network.isEmpty ? touch.network : network,
                                                      sameEmail: newcomerEmail != nil && emails[touch.referrer] == newcomerEmail, now: now)
                    try await sql.raw("""
                        UPDATE visits SET user_id = \(bind: user.rawValue)
                        WHERE visitor_id = \(bind: visitor) AND community_id = \(bind: community) AND user_id IS NULL
                        """).run()
                    if let row = try await sql.raw("SELECT * FROM attributions WHERE id = \(bind: id)").first() {
                        attributions.append(try Self.attributionMessage(row))
                    }
                }
                return attributions
            }
        }
        var response = ReferralSignupResponse()
        do {
            response.attributions = try await record()
        } catch where Database.isUniqueViolation(error) {
            // Two sign-ups of one user at once: the second finds the first's attributions.
            response.attributions = try await record()
        }
        await runFollowUps()
        return response
    }

    /// Inserts the attribution of `user` to `touch`, applying the self-referral and burst checks.
    private func attribute(
        _ sql: any SQLDatabase, touch: FirstTouch, visitor: String, user: UserID, network: String, sameEmail: Bool, now: Date
    ) async throws -> String {
        let nowMS = now.millisecondsSince1970
        var status = "attributed"
        var reason = ""
        if !touch.referrer.isEmpty, touch.referrer == user.rawValue {
            (status, reason) = ("self_referral", "same account")
        } else if !touch.referrer.isEmpty, sameEmail {
            (status, reason) = ("self_referral", "same email address")
        }
        let rewardStatus = status == "attributed" && !touch.referrer.isEmpty && touch.program.givesReward ? "pending" : "none"
        let id = Identifier.make(at: now)
        if !touch.code.isEmpty {
            // One sign-up through a link at a time, so a burst is counted whole.
            try await sql.raw("SELECT code FROM links WHERE code = \(bind: touch.code) \(SQLLockingClause.update)").run()
        }
        try await sql.raw("""
            INSERT INTO attributions (id, community_id, user_id, visitor_id, source, campaign, referrer_id, code, status, reason, network,
                                      touched_at_ms, signed_up_at_ms, converted_at_ms, first_payment_id, reward_status, reward_coupon_code,
                                      reviewed_by, reviewed_at_ms)
            VALUES (\(bind: id), \(bind: touch.community), \(bind: user.rawValue), \(bind: visitor), \(bind: touch.source), \(bind: touch.campaign),
                    \(bind: touch.referrer), \(bind: touch.code), \(bind: status), \(bind: reason), \(bind: network), \(bind: touch.atMS), \(bind: nowMS),
                    \(bind: nil as Int64?), '', \(bind: rewardStatus), '', '', \(bind: nil as Int64?))
            """).run()
        if !touch.code.isEmpty, !network.isEmpty {
            let since = nowMS - touch.program.burstWindowMinutes * 60_000
            let count = try await sql.raw("""
                SELECT COUNT(*) AS n FROM attributions
                WHERE code = \(bind: touch.code) AND network = \(bind: network) AND signed_up_at_ms > \(bind: since) AND signed_up_at_ms <= \(bind: nowMS)
                """).first()?.decode(column: "n", as: Int64.self) ?? 0
            if count > touch.program.burstLimit {
                let reason = FraudSignals.burstReason(count: Int(count), code: touch.code, network: network, minutes: Int(touch.program.burstWindowMinutes))
                try await sql.raw("""
                    UPDATE attributions SET status = 'held', reason = \(bind: reason)
                    WHERE code = \(bind: touch.code) AND network = \(bind: network) AND signed_up_at_ms > \(bind: since) AND signed_up_at_ms <= \(bind: nowMS)
                      AND status = 'attributed' AND reviewed_at_ms IS NULL AND converted_at_ms IS NULL
                    """).run()
                logger.notice("sign-ups held for review", metadata: ["code": "\(touch.code)", "network": "\(network)", "count": "\(count)"])
            }
        }
        return id
    }

    /// The normalised email of `user` from auth; nil when auth does not know them.
    func normalizedEmail(of user: UserID) async throws -> String? {
        var request = AuthGetUserRequest()
        request.userID = user.rawValue
        do {
            let account = try await auth.call(AuthAPI.getUser, request)
            return account.email.isEmpty ? nil : FraudSignals.normalizedEmail(account.email)
        } catch let error as GuildError where error.code == .notFound {
            return nil
        }
    }

    // MARK: Programme

    /// The community's programme (anyone may read its terms); the defaults when never set.
    func program(_ request: ReferralGetProgramRequest) async throws -> ReferralProgram {
        try Self.require(request.communityID, "communityId")
        let windowDays = configuration.defaultAttributionWindowDays
        return try await database.withConnection { sql in
            try await AttributionProgram.load(sql, community: request.communityID, windowDays: windowDays).message(community: request.communityID)
        }
    }

    /// Replaces the community's programme (owners and co-owners). It applies to sign-ups and
    /// payments from now on; commissions already earned keep their terms.
    func updateProgram(_ request: ReferralUpdateProgramRequest, user: UserID) async throws -> ReferralProgram {
        try Self.require(request.program.communityID, "program.communityId")
        let community = CommunityID(request.program.communityID)
        try await authorize(Operation.editProgram, user: user, in: community)
        var program = try AttributionProgram(validating: request.program, windowDays: configuration.defaultAttributionWindowDays)
        program.updatedAtMS = clock.now().millisecondsSince1970
        try await database.transaction { [program] sql in try await program.save(sql, community: community.rawValue) }
        return program.message(community: community.rawValue)
    }

    // MARK: A referrer's view

    /// The caller's link (made if missing), their visits, sign-ups and conversions, the people
    /// they referred and their commissions with the sums pending, payable and clawed back.
    /// Held commissions count in none of the sums until reviewed.
    func myReferrals(_ request: ReferralGetMyReferralsRequest, user: UserID) async throws -> ReferralReferralSummary {
        var linkRequest = ReferralGetMyLinkRequest()
        linkRequest.communityID = request.communityID
        let link = try await getMyLink(linkRequest, user: user)
        let community = request.communityID
        var summary = try await database.withConnection { sql in
            var summary = ReferralReferralSummary()
            summary.visits = try await sql.raw("""
                SELECT COUNT(*) AS n FROM visits WHERE community_id = \(bind: community) AND referrer_id = \(bind: user.rawValue)
                """).first()?.decode(column: "n", as: Int64.self) ?? 0
            summary.signups = try await sql.raw("""
                SELECT COUNT(*) AS n FROM attributions WHERE community_id = \(bind: community) AND referrer_id = \(bind: user.rawValue)
                """).first()?.decode(column: "n", as: Int64.self) ?? 0
            summary.converted = try await sql.raw("""
                SELECT COUNT(*) AS n FROM attributions WHERE community_id = \(bind: community) AND referrer_id = \(bind: user.rawValue)
                  AND status = 'attributed' AND converted_at_ms IS NOT NULL
                """).first()?.decode(column: "n", as: Int64.self) ?? 0
            summary.referrals = try await sql.raw("""
                SELECT * FROM attributions WHERE community_id = \(bind: community) AND referrer_id = \(bind: user.rawValue)
                ORDER BY signed_up_at_ms DESC, id DESC LIMIT 500
                """).all().map { row in
                    var attribution = try Self.attributionMessage(row)
                    // What only the owners' review needs, and the newcomer's own coupon.
                    attribution.visitorID = ""
                    attribution.network = ""
                    attribution.rewardCouponCode = ""
                    return attribution
                }
            summary.commissions = try await sql.raw("""
                SELECT * FROM commissions WHERE community_id = \(bind: community) AND referrer_id = \(bind: user.rawValue)
                ORDER BY created_at_ms DESC, id DESC
                """).all().map(Self.commissionMessage)
            return summary
        }
        summary.link = link
        summary.currency = summary.commissions.first?.currency ?? ""
        for commission in summary.commissions {
            let left = commission.amountMinorUnits - commission.clawedBackMinorUnits
            switch commission.status {
            case "pending": summary.pendingMinorUnits += left
            case "payable": summary.payableMinorUnits += left
            default: break
            }
            summary.clawedBackMinorUnits += commission.clawedBackMinorUnits
        }
        return summary
    }

    // MARK: Review

    /// Sign-ups held for review in a community (owners and co-owners), oldest first.
    func heldAttributions(_ request: ReferralListHeldRequest, user: UserID) async throws -> ReferralAttributionList {
        try Self.require(request.communityID, "communityId")
        try await authorize(Operation.reviewReferrals, user: user, in: CommunityID(request.communityID))
        return try await database.withConnection { sql in
            var list = ReferralAttributionList()
            list.attributions = try await sql.raw("""
                SELECT * FROM attributions WHERE community_id = \(bind: request.communityID) AND status = 'held' ORDER BY signed_up_at_ms, id
                """).all().map(Self.attributionMessage)
            return list
        }
    }

    /// An owner decides a held sign-up. Approve: attributed; its held commissions become
    /// pending (accrued in membership's ledger), its reward is issued, a conversion already
    /// made counts for the referrer. Reject: rejected; its held commissions are void and no
    /// reward is issued. Asking again for the same decision returns the attribution.
    func reviewAttribution(_ request: ReferralReviewAttributionRequest, user: UserID) async throws -> ReferralAttribution {
        try Self.require(request.attributionID, "attributionId")
        let note = request.note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard note.count <= 500 else { throw GuildError.invalid([.init(field: "note", description: "At most 500 characters.")]) }
        guard let found = try await database.withConnection({ sql in
            try await sql.raw("SELECT community_id FROM attributions WHERE id = \(bind: request.attributionID)").first()
        }) else { throw GuildError(.notFound, "No such attribution.") }
        let community = CommunityID(try found.decode(column: "community_id", as: String.self))
        try await authorize(Operation.reviewReferrals, user: user, in: community)
        let now = clock.now()
        let nowMS = now.millisecondsSince1970
        let attribution = try await database.transaction { sql in
            guard let row = try await sql.raw("SELECT * FROM attributions WHERE id = \(bind: request.attributionID) \(SQLLockingClause.update)").first() else {
                throw GuildError(.notFound, "No such attribution.")
            }
            let current = try Self.attributionMessage(row)
            let reviewed = try row.decode(column: "reviewed_at_ms", as: Int64?.self) != nil
            guard current.status == "held" else {
                if reviewed, current.status == (request.approve ? "attributed" : "rejected") { return current }
                throw GuildError(.failedPrecondition, "Only a held sign-up can be reviewed; this one is \(current.status.replacingOccurrences(of: "_", with: " ")).", reason: "not_held")
            }
            let verdict = request.approve ? "Approved by an owner" : "Rejected by an owner"
            let reason = note.isEmpty ? verdict : "\(verdict): \(note)"
            try await sql.raw("""
                UPDATE attributions SET status = \(bind: request.approve ? "attributed" : "rejected"), reason = \(bind: reason),
                       reviewed_by = \(bind: user.rawValue), reviewed_at_ms = \(bind: nowMS)
                WHERE id = \(bind: current.id)
                """).run()
            if !request.approve {
                try await sql.raw("UPDATE attributions SET reward_status = 'none' WHERE id = \(bind: current.id) AND reward_status = 'pending'").run()
            }
            let held = try await sql.raw("""
                SELECT * FROM commissions WHERE attribution_id = \(bind: current.id) AND status = 'held' ORDER BY created_at_ms, id
                """).all()
            for commission in held {
                let id = try commission.decode(column: "id", as: String.self)
                let left = try commission.decode(column: "amount_minor_units", as: Int64.self) - commission.decode(column: "clawed_back_minor_units", as: Int64.self)
                let status = !request.approve ? "void" : left > 0 ? "pending" : "clawed_back"
                try await sql.raw("""
                    UPDATE commissions SET status = \(bind: status), reason = \(bind: reason) WHERE id = \(bind: id)
                    """).run()
                if status == "pending" {
                    try await self.recordMovement(sql, commission: commission, movement: "accrue", amount: left, fromState: "", now: now)
                }
            }
            if request.approve, current.convertedAtMs > 0, !current.referrerID.isEmpty {
                try await self.converted(sql, attribution: current, paymentID: current.firstPaymentID, at: now)
            }
            guard let row = try await sql.raw("SELECT * FROM attributions WHERE id = \(bind: current.id)").first() else {
                throw GuildError(.internal, "Attribution \(current.id) vanished.")
            }
            return try Self.attributionMessage(row)
        }
        _ = try? await matureCommissions()
        await runFollowUps()
        return attribution
    }

    /// A referral counts as converted: the referrer earns the `referral_converted` points and
    /// `referral.referral.converted` is told.
    func converted(_ sql: any SQLDatabase, attribution: ReferralAttribution, paymentID: String, at: Date) async throws {
        try await award(sql, community: CommunityID(attribution.communityID), user: UserID(attribution.referrerID),
                        kind: "referral_converted", source: attribution.id, at: at)
        var event = ReferralReferralConvertedEvent()
        event.communityID = attribution.communityID
        event.referrerID = attribution.referrerID
        event.refereeID = attribution.userID
        event.attributionID = attribution.id
        event.paymentID = paymentID
        event.occurredAtMs = at.millisecondsSince1970
        try await emit(sql, Topic.referralConverted, event, at: at)
    }

    // MARK: Funnel

    /// Referral's part of the lifecycle funnel for [from_ms, to_ms): a cohort, so that each
    /// stage is a part of the one before it and every rate lies in [0, 1]. People are counted
    /// by visitor id (an account that signed up without one counts as itself):
    /// - visitors: those with a visit in the range, and those whose sign-up in the range came
    ///   from an earlier touch (a sign-up is a visit);
    /// - signups: of them, those who signed up in the range (any status);
    /// - trials, paid: of the sign-ups, those whose first trial, or first payment, fell in the
    ///   range; trial_to_paid: those of the trials who paid at or after their trial started;
    /// - referrers: distinct referrers of attributed sign-ups in the range.
    /// The same per source (the visit's, or the sign-up's first touch), with signup_rate =
    /// signups / visitors and paid_rate = paid / signups (0 when the denominator is 0).
    /// Sources by visitors, then sign-ups (most first), then name.
    func funnelStats(_ request: ReferralFunnelStatsRequest, user: UserID) async throws -> ReferralFunnelStats {
        try Self.require(request.communityID, "communityId")
        guard request.fromMs >= 0, request.toMs > request.fromMs else {
            throw GuildError.invalid([.init(field: "toMs", description: "The range must end after it starts.")])
        }
        try await authorize(Operation.readAnalytics, user: user, in: CommunityID(request.communityID))
        let (community, from, to) = (request.communityID, request.fromMs, request.toMs)
        return try await database.withConnection { sql in
            var stats = ReferralFunnelStats()
            var sources: [String: ReferralSourceStats] = [:]
            func entry(_ source: String) -> ReferralSourceStats { sources[source] ?? ReferralSourceStats.with { $0.source = source } }
            let person = "COALESCE(NULLIF(a.visitor_id, ''), 'user:' || a.user_id)"
            // Visitors, with the range's sign-ups among them; per source, then in all.
            let visitors: SQLQueryString = """
                SELECT source, visitor_id AS person FROM visits WHERE community_id = \(bind: community) AND at_ms >= \(bind: from) AND at_ms < \(bind: to)
                UNION ALL
                SELECT a.source AS source, \(unsafeRaw: person) AS person FROM attributions a
                WHERE a.community_id = \(bind: community) AND a.signed_up_at_ms >= \(bind: from) AND a.signed_up_at_ms < \(bind: to)
                """
            for row in try await sql.raw("SELECT source, COUNT(DISTINCT person) AS n FROM (\(visitors)) v GROUP BY source").all() {
                let source = try row.decode(column: "source", as: String.self)
                var stats = entry(source)
                stats.visitors = try row.decode(column: "n", as: Int64.self)
                sources[source] = stats
            }
            stats.visitors = try await sql.raw("SELECT COUNT(DISTINCT person) AS n FROM (\(visitors)) v").first()?.decode(column: "n", as: Int64.self) ?? 0
            // The sign-ups and what became of them.
            let outcomes: SQLQueryString = """
                COUNT(DISTINCT \(unsafeRaw: person)) AS signups,
                COUNT(DISTINCT CASE WHEN f.trial_at_ms >= \(bind: from) AND f.trial_at_ms < \(bind: to) THEN \(unsafeRaw: person) END) AS trials,
                COUNT(DISTINCT CASE WHEN f.paid_at_ms >= \(bind: from) AND f.paid_at_ms < \(bind: to) THEN \(unsafeRaw: person) END) AS paid,
                COUNT(DISTINCT CASE WHEN f.trial_at_ms >= \(bind: from) AND f.trial_at_ms < \(bind: to) AND f.paid_at_ms >= f.trial_at_ms
                                     AND f.paid_at_ms < \(bind: to) THEN \(unsafeRaw: person) END) AS trial_to_paid
                FROM attributions a LEFT JOIN member_facts f ON f.community_id = a.community_id AND f.user_id = a.user_id
                WHERE a.community_id = \(bind: community) AND a.signed_up_at_ms >= \(bind: from) AND a.signed_up_at_ms < \(bind: to)
                """
            for row in try await sql.raw("SELECT a.source AS source, \(outcomes) GROUP BY a.source").all() {
                let source = try row.decode(column: "source", as: String.self)
                var stats = entry(source)
                stats.signups = try row.decode(column: "signups", as: Int64.self)
                stats.trials = try row.decode(column: "trials", as: Int64.self)
                stats.paid = try row.decode(column: "paid", as: Int64.self)
                sources[source] = stats
            }
            if let row = try await sql.raw("SELECT \(outcomes)").first() {
                stats.signups = try row.decode(column: "signups", as: Int64.self)
                stats.trials = try row.decode(column: "trials", as: Int64.self)
                stats.paid = try row.decode(column: "paid", as: Int64.self)
                stats.trialToPaid = try row.decode(column: "trial_to_paid", as: Int64.self)
            }
            stats.referrers = try await sql.raw("""
                SELECT COUNT(DISTINCT referrer_id) AS n FROM attributions
                WHERE community_id = \(bind: community) AND signed_up_at_ms >= \(bind: from) AND signed_up_at_ms < \(bind: to)
                  AND status = 'attributed' AND referrer_id <> ''
                """).first()?.decode(column: "n", as: Int64.self) ?? 0
            stats.bySource = sources.values.map { source in
                var source = source
                source.signupRate = source.visitors > 0 ? Double(source.signups) / Double(source.visitors) : 0
                source.paidRate = source.signups > 0 ? Double(source.paid) / Double(source.signups) : 0
                return source
            }.sorted { ($0.visitors, $0.signups, $1.source) > ($1.visitors, $1.signups, $0.source) }
            return stats
        }
    }

    // MARK: Events

    /// Outside any transaction: decodes `event` if it concerns attribution and asks other
    /// services what applying it needs: for a payment that may earn a commission, the
    /// community's refund window (when it becomes payable). Throws `invalidArgument` for a
    /// malformed payload.
    func prepareAttribution(_ event: EventsEvent) async throws -> PreparedAttributionEvent? {
        guard event.topic == EventTopic.paymentSucceeded else { return nil }
        let payment: MembershipPaymentEvent
        do {
            payment = try MembershipPaymentEvent(serializedBytes: event.payload)
        } catch {
            throw GuildError(.invalidArgument, "The payment event's payload is malformed.")
        }
        guard !payment.communityID.isEmpty, !payment.userID.isEmpty else { return nil }
        let windowDays = configuration.defaultAttributionWindowDays
        let mayEarn = try await database.withConnection { sql in
            guard try await AttributionProgram.load(sql, community: payment.communityID, windowDays: windowDays).paysCommission,
                  let row = try await sql.raw("""
                      SELECT referrer_id, status FROM attributions WHERE community_id = \(bind: payment.communityID) AND user_id = \(bind: payment.userID)
                      """).first() else { return false }
            return try !row.decode(column: "referrer_id", as: String.self).isEmpty && ["attributed", "held"].contains(row.decode(column: "status", as: String.self))
        }
        guard mayEarn else { return nil }
        var request = MembershipGetCommunityRequest()
        request.community = payment.communityID
        let community = try await membership.call(MembershipAPI.getCommunity, request)
        return PreparedAttributionEvent(refundWindowDays: Int(community.refundWindowDays))
    }

    /// Inside the event's transaction: trials and payments (member facts for the funnel,
    /// conversion, commission, the card check), refunds (clawback).
    func applyAttribution(_ sql: any SQLDatabase, event: EventsEvent, prepared: PreparedAttributionEvent?, now: Date) async throws {
        let at = event.occurredAtMs > 0 ? Date(millisecondsSince1970: event.occurredAtMs) : now
        switch event.topic {
        case EventTopic.paymentSucceeded:
            let payment = try MembershipPaymentEvent(serializedBytes: event.payload)
            try await paymentSucceeded(sql, payment: payment, prepared: prepared, at: at, now: now)
        case EventTopic.paymentRefunded:
            let refund = try MembershipPaymentEvent(serializedBytes: event.payload)
            try await paymentRefunded(sql, refund: refund, eventID: event.id, at: at, now: now)
        case EventTopic.subscriptionStarted:
            let subscription = try MembershipSubscriptionEvent(serializedBytes: event.payload)
            guard subscription.state == "trialing", !subscription.communityID.isEmpty, !subscription.userID.isEmpty else { return }
            try await sql.raw("""
                INSERT INTO member_facts (community_id, user_id, trial_at_ms, paid_at_ms)
                VALUES (\(bind: subscription.communityID), \(bind: subscription.userID), \(bind: at.millisecondsSince1970), \(bind: nil as Int64?))
                ON CONFLICT (community_id, user_id) DO UPDATE SET trial_at_ms = CASE
                    WHEN member_facts.trial_at_ms IS NULL OR member_facts.trial_at_ms > excluded.trial_at_ms THEN excluded.trial_at_ms
                    ELSE member_facts.trial_at_ms END
                """).run()
        default:
            break
        }
    }

    /// Drops what this replica's access cache holds about the member an event of membership is
    /// about. Done for every delivery, before the inbox decides whether the event is new: every
    /// replica is sent each event (a broadcast), and only one applies it.
    func invalidateAccess(for event: EventsEvent) {
        let affected: (userID: String, communityID: String)?
        switch event.topic {
        case EventTopic.paymentSucceeded, EventTopic.paymentRefunded:
            affected = (try? MembershipPaymentEvent(serializedBytes: event.payload)).map { ($0.userID, $0.communityID) }
        case EventTopic.subscriptionStarted, EventTopic.subscriptionEnded:
            affected = (try? MembershipSubscriptionEvent(serializedBytes: event.payload)).map { ($0.userID, $0.communityID) }
        case EventTopic.roleChanged:
            affected = (try? MembershipRoleAssignment(serializedBytes: event.payload)).map { ($0.userID, $0.communityID) }
        default:
            affected = nil
        }
        if let affected { access.invalidate(user: UserID(affected.userID), community: CommunityID(affected.communityID)) }
    }

    // MARK: Rows

    static func attributionMessage(_ row: any SQLRow) throws -> ReferralAttribution {
        var attribution = ReferralAttribution()
        attribution.id = try row.decode(column: "id", as: String.self)
        attribution.communityID = try row.decode(column: "community_id", as: String.self)
        attribution.userID = try row.decode(column: "user_id", as: String.self)
        attribution.visitorID = try row.decode(column: "visitor_id", as: String.self)
        attribution.source = try row.decode(column: "source", as: String.self)
        attribution.campaign = try row.decode(column: "campaign", as: String.self)
        attribution.referrerID = try row.decode(column: "referrer_id", as: String.self)
        attribution.code = try row.decode(column: "code", as: String.self)
        attribution.status = try row.decode(column: "status", as: String.self)
        attribution.reason = try row.decode(column: "reason", as: String.self)
        attribution.touchedAtMs = try row.decode(column: "touched_at_ms", as: Int64.self)
        attribution.signedUpAtMs = try row.decode(column: "signed_up_at_ms", as: Int64.self)
        attribution.convertedAtMs = try row.decode(column: "converted_at_ms", as: Int64?.self) ?? 0
        attribution.firstPaymentID = try row.decode(column: "first_payment_id", as: String.self)
        attribution.rewardCouponCode = try row.decode(column: "reward_coupon_code", as: String.self)
        attribution.network = try row.decode(column: "network", as: String.self)
        return attribution
    }

    static func commissionMessage(_ row: any SQLRow) throws -> ReferralCommission {
        var commission = ReferralCommission()
        commission.id = try row.decode(column: "id", as: String.self)
        commission.communityID = try row.decode(column: "community_id", as: String.self)
        commission.referrerID = try row.decode(column: "referrer_id", as: String.self)
        commission.refereeID = try row.decode(column: "referee_id", as: String.self)
        commission.paymentID = try row.decode(column: "payment_id", as: String.self)
        commission.orderID = try row.decode(column: "order_id", as: String.self)
        commission.paymentMinorUnits = try row.decode(column: "payment_minor_units", as: Int64.self)
        commission.amountMinorUnits = try row.decode(column: "amount_minor_units", as: Int64.self)
        commission.clawedBackMinorUnits = try row.decode(column: "clawed_back_minor_units", as: Int64.self)
        commission.currency = try row.decode(column: "currency", as: String.self)
        commission.status = try row.decode(column: "status", as: String.self)
        commission.createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        commission.payableAtMs = try row.decode(column: "payable_at_ms", as: Int64.self)
        commission.reason = try row.decode(column: "reason", as: String.self)
        return commission
    }
}
