import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import GuildWire
import Logging
import SQLKit

// Points (积分): the append-only ledger, earning rules with daily caps, levels (等级),
// redemption (积分兑换) as a saga with membership or content, and leaderboards.
// The rules are documented on ``PointsLedger``, ``PointsRule``, ``LevelLadder``,
// ``RedemptionCatalogue``, ``RedemptionSaga`` and ``Leaderboard``.

extension ReferralMigrations {
    static let points = Migration(version: 3, name: "points, rules, levels, catalogue, redemptions, boards") { dialect in
        [
            // Append-only: never updated nor deleted. `day` is the UTC day of at_ms (daily caps);
            // `seq` orders entries written within one millisecond.
            """
            CREATE TABLE points_entries (
                seq \(dialect == .sqlite ? "INTEGER PRIMARY KEY AUTOINCREMENT" : "BIGSERIAL PRIMARY KEY"),
                id TEXT NOT NULL UNIQUE,
                community_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                delta BIGINT NOT NULL,
                reason TEXT NOT NULL,
                source TEXT NOT NULL,
                day TEXT NOT NULL,
                at_ms BIGINT NOT NULL,
                UNIQUE (community_id, user_id, reason, source)
            )
            """,
            "CREATE INDEX points_entries_by_member ON points_entries (community_id, user_id, at_ms)",
            "CREATE INDEX points_entries_by_day ON points_entries (community_id, user_id, reason, day)",
            "CREATE INDEX points_entries_by_time ON points_entries (community_id, at_ms)",
            """
            CREATE TABLE points_rules (
                community_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                points BIGINT NOT NULL,
                daily_cap BIGINT NOT NULL,
                enabled BOOLEAN NOT NULL,
                updated_at_ms BIGINT NOT NULL,
                PRIMARY KEY (community_id, kind)
            )
            """,
            """
            CREATE TABLE levels (
                community_id TEXT NOT NULL,
                rank INTEGER NOT NULL,
                name TEXT NOT NULL,
                threshold BIGINT NOT NULL,
                PRIMARY KEY (community_id, rank)
            )
            """,
            // The highest rank announced per member (each level is announced once); its row is
            // also the member's lock for points writes.
            """
            CREATE TABLE member_levels (
                community_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                rank INTEGER NOT NULL,
                reached_at_ms BIGINT NOT NULL,
                PRIMARY KEY (community_id, user_id)
            )
            """,
            """
            CREATE TABLE catalogue (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                title TEXT NOT NULL,
                kind TEXT NOT NULL,
                cost_points BIGINT NOT NULL,
                percent_off_bp BIGINT NOT NULL,
                amount_off_minor_units BIGINT NOT NULL,
                plan_ids TEXT NOT NULL,
                item_id TEXT NOT NULL,
                valid_days INTEGER NOT NULL,
                stock INTEGER NOT NULL,
                redeemed INTEGER NOT NULL,
                active BOOLEAN NOT NULL,
                created_at_ms BIGINT NOT NULL,
                updated_at_ms BIGINT NOT NULL
            )
            """,
            "CREATE INDEX catalogue_by_community ON catalogue (community_id, created_at_ms)",
            // The reward's terms are copied at the debit, so every attempt to deliver it asks
            // for the same thing even if the owner edits the reward meanwhile.
            """
            CREATE TABLE redemptions (
                id TEXT PRIMARY KEY,
                community_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                entry_id TEXT NOT NULL,
                cost_points BIGINT NOT NULL,
                status TEXT NOT NULL,
                coupon_code TEXT NOT NULL,
                item_id TEXT NOT NULL,
                failure_reason TEXT NOT NULL,
                kind TEXT NOT NULL,
                title TEXT NOT NULL,
                percent_off_bp BIGINT NOT NULL,
                amount_off_minor_units BIGINT NOT NULL,
                plan_ids TEXT NOT NULL,
                valid_days INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                last_error TEXT NOT NULL,
                created_at_ms BIGINT NOT NULL,
                completed_at_ms BIGINT
            )
            """,
            "CREATE INDEX redemptions_by_member ON redemptions (community_id, user_id, created_at_ms)",
            "CREATE INDEX redemptions_by_status ON redemptions (status, created_at_ms)",
            """
            CREATE TABLE board_prefs (
                community_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                hidden BOOLEAN NOT NULL,
                updated_at_ms BIGINT NOT NULL,
                PRIMARY KEY (community_id, user_id)
            )
            """,
            """
            CREATE TABLE streaks (
                community_id TEXT NOT NULL,
                user_id TEXT NOT NULL,
                challenge_id TEXT NOT NULL,
                streak BIGINT NOT NULL,
                at_ms BIGINT NOT NULL,
                PRIMARY KEY (community_id, user_id, challenge_id)
            )
            """,
        ]
    }
}

extension ReferralService {
    /// Credits `user` for `kind` (a rule's kind) from `source` (an event or attribution id), once
    /// per (community, user, kind, source), within the rule's daily cap, in the caller's
    /// transaction; emits `referral.level.reached` when the member reaches a level. `points`
    /// overrides the rule's amount (a review task's reward). Returns the points credited.
    @discardableResult
    func award(_ sql: any SQLDatabase, community: CommunityID, user: UserID, kind: String, source: String, points: Int64? = nil, at: Date) async throws -> Int64 {
        try await credit(sql, community: community, user: user, kind: kind, source: source, points: points, at: at)
    }

    /// Inside the event's transaction: the earning rules for content's events. The deed counts
    /// on the UTC day it happened (the event's occurred_at_ms), not the day it arrived; a
    /// check-in also records the member's streak for the streak board.
    func applyPoints(_ sql: any SQLDatabase, event: EventsEvent, now: Date) async throws {
        guard let deed = try PointsDeed.from(event) else { return }
        let at = event.occurredAtMs > 0 ? Date(millisecondsSince1970: event.occurredAtMs) : now
        if let challenge = deed.challenge, let streak = deed.streak, !challenge.isEmpty {
            try await recordStreak(sql, community: deed.community, user: deed.user, challenge: challenge, streak: streak, at: at)
        }
        try await award(sql, community: deed.community, user: deed.user, kind: deed.kind, source: event.id, points: deed.points, at: at)
    }

    /// The community's earning rules (anyone may read them).
    func pointsRules(_ request: ReferralGetPointsRulesRequest) async throws -> ReferralPointsRules {
        try Self.require(request.communityID, "communityId")
        let community = CommunityID(request.communityID)
        let rules = try await database.withConnection { sql in try await self.pointsRules(sql, community: community) }
        return pointsRulesMessage(rules, community: community)
    }

    /// Replaces the rules of the kinds given (owners and co-owners); see ``PointsRule``.
    func updatePointsRules(_ request: ReferralUpdatePointsRulesRequest, user: UserID) async throws -> ReferralPointsRules {
        try Self.require(request.communityID, "communityId")
        let community = CommunityID(request.communityID)
        try await authorize(Operation.editPointsRules, user: user, in: community)
        let now = clock.now()
        let rules = try await database.transaction { sql in
            try await self.lockEdits(sql, community: community, now: now)
            let current = try await self.pointsRules(sql, community: community)
            let merged = try PointsRule.merged(PointsRule.kinds.compactMap { current[$0] }, with: request.rules)
            try await sql.raw("DELETE FROM points_rules WHERE community_id = \(bind: community.rawValue)").run()
            for rule in merged {
                try await sql.raw("""
                    INSERT INTO points_rules (community_id, kind, points, daily_cap, enabled, updated_at_ms)
                    VALUES (\(bind: community.rawValue), \(bind: rule.kind), \(bind: rule.points), \(bind: rule.dailyCap),
                            \(bind: rule.enabled), \(bind: now.millisecondsSince1970))
                    """).run()
            }
            return Dictionary(uniqueKeysWithValues: merged.map { ($0.kind, $0) })
        }
        logger.info("points rules updated", metadata: ["community": "\(community)", "by": "\(user)"])
        return pointsRulesMessage(rules, community: community)
    }

    /// Locks the community's settings for an owner's edit (the rules, the ladder): a second
    /// edit at once waits, then reads what the first wrote.
    func lockEdits(_ sql: any SQLDatabase, community: CommunityID, now: Date) async throws {
        try await sql.lockOrCreateRow("community_edits", key: [("community_id", community.rawValue)], extra: [("created_at_ms", now.millisecondsSince1970)])
    }

    /// The caller's points account, or (owners, co-owners, moderators) `user_id`'s.
    func points(_ request: ReferralGetPointsRequest, user: UserID) async throws -> ReferralPointsAccount {
        try Self.require(request.communityID, "communityId")
        let community = CommunityID(request.communityID)
        let subject = request.userID.isEmpty ? user : UserID(request.userID)
        try await authorize(subject == user ? Operation.earnPoints : Operation.readOthersPoints, user: user, in: community)
        return try await database.withConnection { sql in try await self.account(sql, community: community, user: subject) }
    }

    /// The community's level ladder (anyone may read it).
    func levels(_ request: ReferralGetLevelsRequest) async throws -> ReferralLevelLadder {
        try Self.require(request.communityID, "communityId")
        let community = CommunityID(request.communityID)
        return try await database.withConnection { sql in try await self.ladder(sql, community: community) }.message(community: community)
    }

    /// Replaces the ladder (owners and co-owners); see ``LevelLadder``. Members move to the
    /// level their points earned reach on the new ladder at once; a rank not announced before
    /// is announced at the member's next credit.
    func updateLevels(_ request: ReferralUpdateLevelsRequest, user: UserID) async throws -> ReferralLevelLadder {
        try Self.require(request.communityID, "communityId")
        let community = CommunityID(request.communityID)
        try await authorize(Operation.editLevels, user: user, in: community)
        let ladder = try LevelLadder.validated(request.levels)
        let now = clock.now()
        try await database.transaction { sql in
            try await self.lockEdits(sql, community: community, now: now)
            try await sql.raw("DELETE FROM levels WHERE community_id = \(bind: community.rawValue)").run()
            for level in ladder.levels {
                try await sql.raw("""
                    INSERT INTO levels (community_id, rank, name, threshold)
                    VALUES (\(bind: community.rawValue), \(bind: Int(level.rank)), \(bind: level.name), \(bind: level.threshold))
                    """).run()
            }
        }
        logger.info("level ladder updated", metadata: ["community": "\(community)", "by": "\(user)", "levels": "\(ladder.levels.count)"])
        return ladder.message(community: community)
    }

    /// A member's balance, points earned and level, for content deciding a minimum level. Only
    /// services call it (the wire method admits content and the gateway), so it takes no user.
    func standing(_ request: ReferralGetStandingRequest) async throws -> ReferralStanding {
        try Self.require(request.communityID, "communityId")
        try Self.require(request.userID, "userId")
        let community = CommunityID(request.communityID)
        let user = UserID(request.userID)
        let (totals, ladder) = try await database.withConnection { sql in
            (try await self.totals(sql, community: community, user: user), try await self.ladder(sql, community: community))
        }
        var standing = ReferralStanding()
        standing.communityID = community.rawValue
        standing.userID = user.rawValue
        standing.balance = totals.balance
        standing.earned = totals.earned
        standing.level = ladder.level(for: totals.earned)
        return standing
    }

    /// Adds a reward to the community's catalogue (owners and co-owners); see ``RedemptionCatalogue``.
    func createCatalogueEntry(_ request: ReferralCreateCatalogueEntryRequest, user: UserID) async throws -> ReferralCatalogueEntry {
        try Self.require(request.entry.communityID, "entry.communityId")
        let community = CommunityID(request.entry.communityID)
        try await authorize(Operation.editCatalogue, user: user, in: community)
        var entry = try RedemptionCatalogue.validated(request.entry)
        let now = clock.now()
        entry.id = Identifier.make(at: now)
        entry.redeemed = 0
        entry.active = true
        entry.createdAtMs = now.millisecondsSince1970
        try await database.transaction { [entry] sql in
            try await sql.raw("""
                INSERT INTO catalogue (id, community_id, title, kind, cost_points, percent_off_bp, amount_off_minor_units, plan_ids, item_id,
                                       valid_days, stock, redeemed, active, created_at_ms, updated_at_ms)
                VALUES (\(bind: entry.id), \(bind: community.rawValue), \(bind: entry.title), \(bind: entry.kind), \(bind: entry.costPoints),
                        \(bind: entry.percentOffBp), \(bind: entry.amountOffMinorUnits), \(bind: RedemptionCatalogue.text(entry.planIds)),
                        \(bind: entry.itemID), \(bind: Int(entry.validDays)), \(bind: Int(entry.stock)), 0, \(bind: true),
                        \(bind: now.millisecondsSince1970), \(bind: now.millisecondsSince1970))
                """).run()
        }
        logger.info("reward added", metadata: ["community": "\(community)", "entry": "\(entry.id)", "kind": "\(entry.kind)"])
        return entry
    }

    /// Changes a reward (owners and co-owners): the fields it names and only those (title, cost,
    /// stock with 0 for unlimited, active: false hides it from members and stops redemptions).
    /// Kind and terms never change: a different reward is a new entry. Redemptions already
    /// made keep the terms they were made with. The entry is read and written under its lock.
    func updateCatalogueEntry(_ request: ReferralUpdateCatalogueEntryRequest, user: UserID) async throws -> ReferralCatalogueEntry {
        try Self.require(request.entry.id, "entry.id")
        let change = request.entry
        let community = try await database.withConnection { sql in try await self.catalogueEntry(sql, id: change.id).communityID }
        try await authorize(Operation.editCatalogue, user: user, in: CommunityID(community))
        let title = change.title.trimmingCharacters(in: .whitespacesAndNewlines)
        var violations: [GuildError.FieldViolation] = []
        if change.hasTitle { violations += RedemptionCatalogue.titleViolations(title) }
        if change.hasCostPoints { violations += RedemptionCatalogue.costViolations(change.costPoints) }
        if change.hasStock { violations += RedemptionCatalogue.stockViolations(change.stock) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let now = clock.now()
        return try await database.transaction { sql in
            try await sql.lockRow("catalogue", is: change.id)
            let current = try await self.catalogueEntry(sql, id: change.id)
            try await sql.raw("""
                UPDATE catalogue SET title = \(bind: change.hasTitle ? title : current.title),
                       cost_points = \(bind: change.hasCostPoints ? change.costPoints : current.costPoints),
                       stock = \(bind: Int(change.hasStock ? change.stock : current.stock)),
                       active = \(bind: change.hasActive ? change.active : current.active), updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: current.id)
                """).run()
            return try await self.catalogueEntry(sql, id: current.id)
        }
    }

    /// The community's rewards, the oldest first: active ones for anyone with a role, all of
    /// them for those who edit the catalogue.
    func catalogue(_ request: ReferralListCatalogueRequest, user: UserID?) async throws -> ReferralCatalogue {
        try Self.require(request.communityID, "communityId")
        let community = CommunityID(request.communityID)
        let standing = try await access.standing(of: user, in: community)
        try Self.policy.authorize(Operation.redeem, role: standing.role)
        let everything = Self.policy.allows(Operation.editCatalogue, role: standing.role)
        return try await database.withConnection { sql in
            var catalogue = ReferralCatalogue()
            catalogue.entries = try await sql.raw("""
                SELECT * FROM catalogue WHERE community_id = \(bind: community.rawValue) ORDER BY created_at_ms, id
                """).all().map(RedemptionCatalogue.entry).filter { everything || $0.active }
            return catalogue
        }
    }

    /// Redeems a reward for points, as the saga ``RedemptionSaga`` describes: the answer is
    /// the redemption `completed`, `failed` (points returned) or `pending` (membership did not
    /// answer; the scheduler finishes it). A repeat with the same idempotency key returns the
    /// same redemption as it is now (and pushes it on if it is still pending).
    func redeem(_ request: ReferralRedeemRequest, user: UserID) async throws -> ReferralRedemption {
        try IdempotencyKeys.validate(request.idempotencyKey)
        try Self.require(request.entryID, "entryId")
        let entry = try await database.withConnection { sql in try await self.catalogueEntry(sql, id: request.entryID) }
        guard request.communityID.isEmpty || request.communityID == entry.communityID else {
            throw GuildError(.notFound, "No such reward.", reason: "reward_not_found")
        }
        try await authorize(Operation.redeem, user: user, in: CommunityID(entry.communityID))
        let now = clock.now()
        let id = try await IdempotencyKeys.run(
            database, scope: "redeem:\(user)", key: request.idempotencyKey, fingerprint: try request.fingerprint, now: now,
            encode: { Array($0.utf8) }, decode: { String(decoding: $0, as: UTF8.self) }
        ) { sql in
            try await self.debitRedemption(sql, entry: entry.id, user: user, now: now)
        }
        do {
            try await advanceRedemption(id)
        } catch {
            // The debit is safe; the scheduler settles it.
            logger.warning("redemption not settled now; the scheduler will", metadata: ["redemption": "\(id)", "error": "\(error)"])
        }
        return try await database.withConnection { sql in try await self.redemption(sql, id: id) }
    }

    /// The caller's redemptions in a community, the latest first (at most 100).
    func myRedemptions(_ request: ReferralListMyRedemptionsRequest, user: UserID) async throws -> ReferralRedemptionList {
        try Self.require(request.communityID, "communityId")
        let community = CommunityID(request.communityID)
        try await authorize(Operation.redeem, user: user, in: community)
        return try await database.withConnection { sql in
            var list = ReferralRedemptionList()
            list.redemptions = try await sql.raw("""
                SELECT r.*, w.next_attempt_at_ms AS next_attempt_at_ms FROM redemptions r
                LEFT JOIN work_attempts w ON w.kind = \(bind: RedemptionSaga.work) AND w.id = r.id
                WHERE r.community_id = \(bind: community.rawValue) AND r.user_id = \(bind: user.rawValue)
                ORDER BY r.created_at_ms DESC, r.id DESC LIMIT 100
                """).all().map(RedemptionSaga.redemption)
            return list
        }
    }

    /// The community's redemptions, newest first, for its owners and co-owners (who edit the
    /// catalogue): what members redeemed, what is still being delivered and what failed.
    func redemptions(_ request: ReferralListRedemptionsRequest, user: UserID) async throws -> ReferralRedemptionList {
        try Self.require(request.communityID, "communityId")
        guard ["", RedemptionSaga.pending, RedemptionSaga.completed, RedemptionSaga.failed].contains(request.status) else {
            throw GuildError.invalid([.init(field: "status", description: "pending, completed or failed (empty: all).")])
        }
        guard (0...500).contains(request.limit) else { throw GuildError.invalid([.init(field: "limit", description: "0 (100) to 500.")]) }
        let community = CommunityID(request.communityID)
        try await authorize(Operation.editCatalogue, user: user, in: community)
        return try await database.withConnection { sql in
            var query: SQLQueryString = """
                SELECT r.*, w.next_attempt_at_ms AS next_attempt_at_ms FROM redemptions r
                LEFT JOIN work_attempts w ON w.kind = \(bind: RedemptionSaga.work) AND w.id = r.id
                WHERE r.community_id = \(bind: community.rawValue)
                """
            if !request.status.isEmpty { query.appendLiteral(" AND r.status = "); query.appendInterpolation(bind: request.status) }
            query.appendLiteral(" ORDER BY r.created_at_ms DESC, r.id DESC LIMIT ")
            query.appendInterpolation(bind: request.limit == 0 ? 100 : Int(request.limit))
            var list = ReferralRedemptionList()
            list.redemptions = try await sql.raw(query).all().map(RedemptionSaga.redemption)
            return list
        }
    }

    /// Finishes redemptions left pending by a failure or a restart (steps 2–3 of
    /// ``RedemptionSaga``), the oldest first, at most 100 a tick. Returns how many settled.
    func resumeRedemptions() async throws -> Int {
        let pending = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT id FROM redemptions WHERE status = \(bind: RedemptionSaga.pending) ORDER BY created_at_ms, id LIMIT 100
                """).all().map { try $0.decode(column: "id", as: String.self) }
        }
        var settled = 0
        let resting = try await WorkAttempts.states(database, kind: RedemptionSaga.work, now: clock.now()).resting
        for id in pending where !resting.contains(id) {
            do {
                if try await advanceRedemption(id) { settled += 1 }
            } catch {
                logger.warning("redemption not settled; next tick", metadata: ["redemption": "\(id)", "error": "\(error)"])
            }
        }
        return settled
    }

    /// A leaderboard of the community; see ``Leaderboard``. `you` is the caller's own row.
    func leaderboard(_ request: ReferralLeaderboardRequest, user: UserID) async throws -> ReferralLeaderboard {
        try Self.require(request.communityID, "communityId")
        var violations: [GuildError.FieldViolation] = []
        if !Leaderboard.boards.contains(request.board) {
            violations.append(.init(field: "board", description: "One of \(Leaderboard.boards.joined(separator: ", "))."))
        }
        if !(0...Leaderboard.maxLimit).contains(request.limit) {
            violations.append(.init(field: "limit", description: "1 to \(Leaderboard.maxLimit) (default \(Leaderboard.defaultLimit))."))
        }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let community = CommunityID(request.communityID)
        try await authorize(Operation.readBoards, user: user, in: community)
        let nowMs = clock.now().millisecondsSince1970
        let period = Leaderboard.period(request.board, nowMs: nowMs)
        let entries = try await database.withConnection { sql in
            try await self.boardEntries(sql, community: community, board: request.board, period: period)
        }
        let rows = Leaderboard.ranked(entries)
        var board = ReferralLeaderboard()
        board.communityID = community.rawValue
        board.board = request.board
        if let period {
            board.periodStartMs = period.lowerBound
            board.periodEndMs = period.upperBound
        }
        board.rows = Array(rows.prefix(Int(request.limit == 0 ? Leaderboard.defaultLimit : request.limit)))
        if let you = rows.first(where: { $0.userID == user.rawValue }) { board.you = you }
        board.tieRule = Leaderboard.tieRule
        return board
    }

    /// Hides the caller from every leaderboard of the community, or shows them again.
    func setBoardVisibility(_ request: ReferralSetBoardVisibilityRequest, user: UserID) async throws -> ReferralPointsAccount {
        try Self.require(request.communityID, "communityId")
        guard request.hasHidden else { throw GuildError.invalid([.init(field: "hidden", description: "Required: true or false.")]) }
        let community = CommunityID(request.communityID)
        try await authorize(Operation.readBoards, user: user, in: community)
        let now = clock.now()
        return try await database.transaction { sql in
            try await sql.raw("""
                INSERT INTO board_prefs (community_id, user_id, hidden, updated_at_ms)
                VALUES (\(bind: community.rawValue), \(bind: user.rawValue), \(bind: request.hidden), \(bind: now.millisecondsSince1970))
                ON CONFLICT (community_id, user_id) DO UPDATE SET hidden = excluded.hidden, updated_at_ms = excluded.updated_at_ms
                """).run()
            return try await self.account(sql, community: community, user: user)
        }
    }
}
