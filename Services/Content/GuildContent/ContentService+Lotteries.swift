import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import Logging
import SQLKit
import SwiftProtobuf

/// Lotteries (抽奖), verifiably fair. The owner defines the prizes, who may enter (every member,
/// those who commented on a post, or those who finished a challenge) and when the draw happens.
///
/// At creation the service draws a secret seed and publishes only its commitment (SHA-256 of
/// the seed). Members enter once each before the draw time. The draw (by the owner, or by
/// ``drawDueLotteries()`` once the time has come) happens exactly once: a guarded update moves
/// the lottery from `open` to `drawn`, and in the same transaction the winners are computed with
/// ``LotteryDraw`` from the seed and the sorted entrants and recorded. From then on the lottery
/// carries the seed, the entrants and the winners, so anyone can re-run the draw
/// (`guild lottery verify`).
extension ContentService {
    static let maxLotteryTitle = 200
    static let maxPrizes = 20
    static let maxPrizeName = 100
    static let maxPrizeCount = 1_000

    /// Who may enter a lottery.
    enum LotteryEligibility: String {
        case members, commenters, finishers
    }

    /// Creates a lottery (owners and co-owners) and publishes the commitment to its seed. The
    /// seed itself stays unpublished until the draw.
    public func createLottery(_ request: ContentCreateLotteryRequest, user: UserID) async throws -> ContentLottery {
        let community = CommunityID(request.communityID)
        try await authorize(InteractionOperation.manageLotteries, user: user, in: community)
        let now = clock.now()
        var violations: [GuildError.FieldViolation] = []
        let title = request.title.trimmingCharacters(in: .whitespacesAndNewlines)
        if title.isEmpty || title.count > Self.maxLotteryTitle {
            violations.append(.init(field: "title", description: "1 to \(Self.maxLotteryTitle) characters."))
        }
        var prizes: [LotteryDraw.Prize] = []
        if !(1...Self.maxPrizes).contains(request.prizes.count) {
            violations.append(.init(field: "prizes", description: "1 to \(Self.maxPrizes) prizes."))
        }
        for (index, prize) in request.prizes.enumerated() {
            let name = prize.name.trimmingCharacters(in: .whitespacesAndNewlines)
            if name.isEmpty || name.count > Self.maxPrizeName {
                violations.append(.init(field: "prizes[\(index)].name", description: "1 to \(Self.maxPrizeName) characters."))
            }
            if !(1...Int32(Self.maxPrizeCount)).contains(prize.count) {
                violations.append(.init(field: "prizes[\(index)].count", description: "1 to \(Self.maxPrizeCount)."))
            }
            prizes.append(LotteryDraw.Prize(name: name, count: Int(prize.count)))
        }
        let eligibility = LotteryEligibility(rawValue: request.eligibility.isEmpty ? "members" : request.eligibility)
        if eligibility == nil {
            violations.append(.init(field: "eligibility", description: "members, commenters or finishers."))
        }
        if !request.hasDrawAt || request.drawAt.date <= now {
            violations.append(.init(field: "drawAt", description: "A time in the future."))
        }
        guard violations.isEmpty, let eligibility else { throw GuildError.invalid(violations) }
        let reference = eligibility == .members ? "" : request.eligibilityRef
        let referenceOK = try await database.withConnection { sql -> Bool in
            switch eligibility {
            case .members:
                return true
            case .commenters:
                return try await sql.raw("""
                    SELECT id FROM items WHERE id = \(bind: reference) AND community_id = \(bind: community.rawValue) AND kind = 'post' AND deleted_at_ms IS NULL
                    """).first() != nil
            case .finishers:
                return try await sql.raw("""
                    SELECT id FROM challenges WHERE id = \(bind: reference) AND community_id = \(bind: community.rawValue)
                    """).first() != nil
            }
        }
        guard referenceOK else {
            let what = eligibility == .commenters ? "A post of this community." : "A challenge of this community."
            throw GuildError.invalid([.init(field: "eligibilityRef", description: what)])
        }
        let seed = LotteryDraw.makeSeed()
        let id = Identifier.make(at: now)
        let prizesJSON = String(decoding: try JSONEncoder().encode(prizes.map { StoredPrize(name: $0.name, count: $0.count) }), as: UTF8.self)
        try await database.withConnection { sql in
            try await sql.raw("""
                INSERT INTO lotteries (id, community_id, title, prizes, eligibility, eligibility_ref, draw_at_ms, status, commitment, seed,
                                       created_by, created_at_ms)
                VALUES (\(bind: id), \(bind: community.rawValue), \(bind: title), \(bind: prizesJSON), \(bind: eligibility.rawValue),
                        \(bind: reference), \(bind: request.drawAt.date.millisecondsSince1970), 'open', \(bind: LotteryDraw.commitment(toSeed: seed)),
                        \(bind: LotteryDraw.hex(seed)), \(bind: user.rawValue), \(bind: now.millisecondsSince1970))
                """).run()
        }
        return try await lottery(id, user: user)
    }

    /// A lottery, to anyone. Before the draw: the prizes, the commitment, how many entered and
    /// whether the caller did; once drawn also the seed, the sorted entrants and the winners.
    public func lottery(_ request: ContentGetLotteryRequest, user: UserID?) async throws -> ContentLottery {
        try await lottery(request.lotteryID, user: user)
    }

    /// The lotteries of a community, the latest draw first (at most 100), each as
    /// ``lottery(_:user:)`` gives it.
    public func lotteries(_ request: ContentListLotteriesRequest, user: UserID?) async throws -> ContentLotteryList {
        try await database.withConnection { sql in
            let rows = try await sql.raw("""
                SELECT * FROM lotteries WHERE community_id = \(bind: request.communityID) ORDER BY draw_at_ms DESC, id DESC LIMIT 100
                """).all()
            var list = ContentLotteryList()
            for row in rows { list.lotteries.append(try await self.lotteryMessage(sql, row, user: user)) }
            return list
        }
    }

    /// Enters the caller (a member who meets the lottery's condition) once, before the draw
    /// time. Entering again gives the lottery back unchanged. Emits `content.lottery.entered`.
    public func enterLottery(_ request: ContentEnterLotteryRequest, user: UserID) async throws -> ContentLottery {
        let row = try await lotteryRow(request.lotteryID)
        let community = CommunityID(try row.decode(column: "community_id", as: String.self))
        try await authorize(InteractionOperation.enterLotteries, user: user, in: community)
        let id = request.lotteryID
        let now = clock.now()
        let entered = try await database.withConnection { sql in
            try await sql.raw("SELECT user_id FROM lottery_entries WHERE lottery_id = \(bind: id) AND user_id = \(bind: user.rawValue)").first() != nil
        }
        let eligibility = try row.decode(column: "eligibility", as: String.self)
        let reference = try row.decode(column: "eligibility_ref", as: String.self)
        guard !entered else { return try await lottery(id, user: user) }
        guard try row.decode(column: "status", as: String.self) == "open", now.millisecondsSince1970 < (try row.decode(column: "draw_at_ms", as: Int64.self)) else {
            throw GuildError(.failedPrecondition, "Entries have closed.", reason: "entries_closed")
        }
        try await requireEligible(user, eligibility: eligibility, reference: reference)
        try await database.transaction { sql in
            // Writing the lottery's row orders this entry with the draw, which writes it too: an
            // entry either lands before the draw reads the entrants or finds the lottery closed.
            guard try await sql.raw("""
                UPDATE lotteries SET status = status WHERE id = \(bind: id) AND status = 'open' AND draw_at_ms > \(bind: now.millisecondsSince1970) RETURNING id
                """).first() != nil else {
                throw GuildError(.failedPrecondition, "Entries have closed.", reason: "entries_closed")
            }
            let inserted = try await sql.raw("""
                INSERT INTO lottery_entries (lottery_id, user_id, entered_at_ms) VALUES (\(bind: id), \(bind: user.rawValue), \(bind: now.millisecondsSince1970))
                ON CONFLICT (lottery_id, user_id) DO NOTHING RETURNING user_id
                """).first() != nil
            if inserted {
                try await self.emit(sql, InteractionTopic.lotteryEntered, Self.lotteryEvent(id, community, user.rawValue, prize: "", now: now), at: now)
            }
        }
        return try await lottery(id, user: user)
    }

    /// Draws a lottery whose draw time has come (owners and co-owners). A lottery is drawn once:
    /// asked again, this refuses with "already_drawn"; before the time, "draw_time_not_reached".
    public func drawLottery(_ request: ContentDrawLotteryRequest, user: UserID) async throws -> ContentLottery {
        let row = try await lotteryRow(request.lotteryID)
        try await authorize(InteractionOperation.manageLotteries, user: user, in: CommunityID(try row.decode(column: "community_id", as: String.self)))
        let alreadyDrawn = GuildError(.failedPrecondition, "The lottery has been drawn already.", reason: "already_drawn")
        guard try row.decode(column: "status", as: String.self) == "open" else { throw alreadyDrawn }
        let now = clock.now()
        guard now.millisecondsSince1970 >= (try row.decode(column: "draw_at_ms", as: Int64.self)) else {
            throw GuildError(.failedPrecondition, "The draw time has not come yet.", reason: "draw_time_not_reached")
        }
        guard try await draw(request.lotteryID, now: now) else { throw alreadyDrawn }
        return try await lottery(request.lotteryID, user: user)
    }

    /// Draws every open lottery whose draw time has come (the scheduler's work; safe to run
    /// at any time and from several instances: each lottery is drawn once). Returns how many it
    /// drew.
    @discardableResult public func drawDueLotteries() async throws -> Int {
        let now = clock.now()
        let due = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT id FROM lotteries WHERE status = 'open' AND draw_at_ms <= \(bind: now.millisecondsSince1970) ORDER BY draw_at_ms LIMIT 200
                """).all().map { try $0.decode(column: "id", as: String.self) }
        }
        var drawn = 0
        for id in due {
            do {
                if try await draw(id, now: now) { drawn += 1 }
            } catch {
                logger.error("lottery draw failed; retried at the next run", metadata: ["lottery": "\(id)", "error": "\(error)"])
            }
        }
        return drawn
    }

    // MARK: - Drawing

    /// In one transaction: claims the lottery (`open` → `drawn`), computes the winners from the
    /// seed and every entrant, records them and emits `content.lottery.won` for each. Returns
    /// false when the lottery was not open (drawn already) or its time had not come.
    private func draw(_ id: String, now: Date) async throws -> Bool {
        try await database.transaction { sql in
            guard let row = try await sql.raw("""
                UPDATE lotteries SET status = 'drawn', drawn_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: id) AND status = 'open' AND draw_at_ms <= \(bind: now.millisecondsSince1970)
                RETURNING id, community_id, seed, prizes
                """).first() else { return false }
            let community = CommunityID(try row.decode(column: "community_id", as: String.self))
            guard let seed = LotteryDraw.bytes(hex: try row.decode(column: "seed", as: String.self)), !seed.isEmpty else {
                throw GuildError(.internal, "Lottery \(id) has an unreadable seed.")
            }
            let prizes = try Self.prizes(row)
            let entrants = try await sql.raw("SELECT user_id FROM lottery_entries WHERE lottery_id = \(bind: id)").all()
                .map { try $0.decode(column: "user_id", as: String.self) }
            let winners = LotteryDraw.winners(seed: seed, entrants: entrants, prizes: prizes)
            for winner in winners {
                try await sql.raw("""
                    INSERT INTO lottery_winners (lottery_id, position, prize, prize_index, user_id)
                    VALUES (\(bind: id), \(bind: winner.position), \(bind: winner.prize), \(bind: winner.prizeIndex), \(bind: winner.userID))
                    """).run()
                try await self.emit(sql, InteractionTopic.lotteryWon, Self.lotteryEvent(id, community, winner.userID, prize: winner.prize, now: now), at: now)
            }
            self.logger.info("lottery drawn", metadata: ["lottery": "\(id)", "entrants": "\(entrants.count)", "winners": "\(winners.count)"])
            return true
        }
    }

    // MARK: - Eligibility

    /// Refuses with "not_eligible", saying why, unless `user` meets the lottery's condition.
    private func requireEligible(_ user: UserID, eligibility: String, reference: String) async throws {
        switch LotteryEligibility(rawValue: eligibility) {
        case .members, nil:
            return
        case .commenters:
            let (commented, title) = try await database.withConnection { sql in
                (try await sql.raw("""
                    SELECT id FROM comments WHERE item_id = \(bind: reference) AND author_id = \(bind: user.rawValue) AND status = 'published'
                    """).first() != nil,
                 try await sql.raw("SELECT title FROM items WHERE id = \(bind: reference)").first()?.decode(column: "title", as: String.self) ?? "")
            }
            guard commented else {
                throw GuildError(.failedPrecondition, "Only members who commented on the post “\(title)” may enter.", reason: "not_eligible")
            }
        case .finishers:
            let (finished, title) = try await database.withConnection { sql in
                (try await sql.raw("""
                    SELECT user_id FROM challenge_members WHERE challenge_id = \(bind: reference) AND user_id = \(bind: user.rawValue)
                      AND finished_at_ms IS NOT NULL
                    """).first() != nil,
                 try await sql.raw("SELECT title FROM challenges WHERE id = \(bind: reference)").first()?.decode(column: "title", as: String.self) ?? "")
            }
            guard finished else {
                throw GuildError(.failedPrecondition, "Only members who finished the challenge “\(title)” may enter.", reason: "not_eligible")
            }
        }
    }

    // MARK: - Reading

    private func lottery(_ id: String, user: UserID?) async throws -> ContentLottery {
        let row = try await lotteryRow(id)
        return try await database.withConnection { sql in try await self.lotteryMessage(sql, row, user: user) }
    }

    private func lotteryRow(_ id: String) async throws -> any SQLRow {
        guard let row = try await database.withConnection({ sql in try await sql.raw("SELECT * FROM lotteries WHERE id = \(bind: id)").first() }) else {
            throw GuildError(.notFound, "No such lottery.")
        }
        return row
    }

    /// The lottery as published: never the seed before the draw.
    private func lotteryMessage(_ sql: any SQLDatabase, _ row: any SQLRow, user: UserID?) async throws -> ContentLottery {
        var lottery = ContentLottery()
        lottery.id = try row.decode(column: "id", as: String.self)
        lottery.communityID = try row.decode(column: "community_id", as: String.self)
        lottery.title = try row.decode(column: "title", as: String.self)
        lottery.prizes = try Self.prizes(row).map { prize in
            var message = ContentPrize()
            message.name = prize.name
            message.count = Int32(clamping: prize.count)
            return message
        }
        lottery.eligibility = try row.decode(column: "eligibility", as: String.self)
        lottery.eligibilityRef = try row.decode(column: "eligibility_ref", as: String.self)
        lottery.drawAt = try row.timestamp("draw_at_ms")
        let status = try row.decode(column: "status", as: String.self)
        lottery.status = status
        lottery.algorithm = LotteryDraw.algorithm
        lottery.commitment = try row.decode(column: "commitment", as: String.self)
        let entrants = try await sql.raw("SELECT user_id FROM lottery_entries WHERE lottery_id = \(bind: lottery.id)").all()
            .map { try $0.decode(column: "user_id", as: String.self) }
        lottery.entrantCount = Int32(clamping: entrants.count)
        if let user { lottery.entered = entrants.contains(user.rawValue) }
        if status == "drawn" {
            lottery.seed = try row.decode(column: "seed", as: String.self)
            lottery.entrants = LotteryDraw.canonicalEntrants(entrants)
            if let at = try row.optionalTimestamp("drawn_at_ms") { lottery.drawnAt = at }
            lottery.winners = try await sql.raw("""
                SELECT position, prize, prize_index, user_id FROM lottery_winners WHERE lottery_id = \(bind: lottery.id) ORDER BY position
                """).all().map { winner in
                    var message = ContentLotteryWinner()
                    message.prize = try winner.decode(column: "prize", as: String.self)
                    message.prizeIndex = Int32(clamping: try winner.decode(column: "prize_index", as: Int.self))
                    message.position = Int32(clamping: try winner.decode(column: "position", as: Int.self))
                    message.userID = try winner.decode(column: "user_id", as: String.self)
                    return message
                }
        }
        return lottery
    }

    /// The prizes as stored (JSON, in their published order).
    private static func prizes(_ row: any SQLRow) throws -> [LotteryDraw.Prize] {
        let text = try row.decode(column: "prizes", as: String.self)
        return try JSONDecoder().decode([StoredPrize].self, from: Data(text.utf8)).map { LotteryDraw.Prize(name: $0.name, count: $0.count) }
    }

    private static func lotteryEvent(_ id: String, _ community: CommunityID, _ user: String, prize: String, now: Date) -> ContentLotteryEvent {
        var event = ContentLotteryEvent()
        event.lotteryID = id
        event.communityID = community.rawValue
        event.userID = user
        event.prize = prize
        event.occurredAtMs = now.millisecondsSince1970
        return event
    }
}

/// A prize as the `lotteries.prizes` column keeps it.
private struct StoredPrize: Codable {
    var name: String
    var count: Int
}
