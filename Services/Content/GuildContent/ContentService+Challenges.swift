import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import SQLKit

/// Check-in challenges (打卡). The owner defines a challenge: a start date, a number of days, the
/// daily task and a time zone (the community's by default). Members join and check in at most
/// once per local day of that time zone, with a note. Their standing (streaks, missed days,
/// completion rate, behind) is computed from their check-ins by ``CheckInStanding``; whoever
/// checks in every day becomes a finisher, once, with an event.
///
/// Days are local calendar days (``ChallengeCalendar``): a day lasts 23 or 25 hours across a
/// daylight-saving change. The primary key (challenge, member, day) makes a second check-in on the
/// same day impossible, even when two requests race.
extension ContentService {
    static let maxChallengeTitle = 200
    static let maxChallengeTask = 5_000
    static let maxChallengeDays = 365
    static let maxCheckInNote = 2_000

    /// Creates a challenge (owners and co-owners). The start date is a local date (`YYYY-MM-DD`)
    /// of the challenge's time zone, which defaults to the community's.
    public func createChallenge(_ request: ContentCreateChallengeRequest, user: UserID) async throws -> ContentChallenge {
        let community = CommunityID(request.communityID)
        try await authorize(InteractionOperation.manageChallenges, user: user, in: community)
        var violations: [GuildError.FieldViolation] = []
        let title = request.title.trimmingCharacters(in: .whitespacesAndNewlines)
        if title.isEmpty || title.count > Self.maxChallengeTitle {
            violations.append(.init(field: "title", description: "1 to \(Self.maxChallengeTitle) characters."))
        }
        let task = request.task.trimmingCharacters(in: .whitespacesAndNewlines)
        if task.count > Self.maxChallengeTask { violations.append(.init(field: "task", description: "At most 5,000 characters.")) }
        let startDate = LocalDate(request.startDate)
        if startDate == nil { violations.append(.init(field: "startDate", description: "A date written YYYY-MM-DD, such as 2026-03-01.")) }
        if !(1...Int32(Self.maxChallengeDays)).contains(request.days) {
            violations.append(.init(field: "days", description: "1 to \(Self.maxChallengeDays)."))
        }
        if !request.timeZone.isEmpty, TimeZone(identifier: request.timeZone) == nil {
            violations.append(.init(field: "timeZone", description: "An IANA time zone, such as Asia/Shanghai."))
        }
        guard violations.isEmpty, let startDate else { throw GuildError.invalid(violations) }
        let now = clock.now()
        let id = Identifier.make(at: now)
        try await database.transaction { sql in
            var zone = request.timeZone
            if zone.isEmpty { zone = try await self.settings(sql, community: community).timeZone }
            if TimeZone(identifier: zone) == nil { zone = "UTC" }
            try await sql.raw("""
                INSERT INTO challenges (id, community_id, title, task, start_date, days, time_zone, created_by, created_at_ms)
                VALUES (\(bind: id), \(bind: community.rawValue), \(bind: title), \(bind: task), \(bind: startDate.description),
                        \(bind: Int(request.days)), \(bind: zone), \(bind: user.rawValue), \(bind: now.millisecondsSince1970))
                """).run()
        }
        return try await challenge(id, user: user)
    }

    /// A challenge with its participants, finishers, the current day, and the caller's own
    /// standing when they joined (without a rank: ranks are on ``challengeBoard(_:user:)``).
    /// Anyone may read it; nobody else's standing is shown here.
    public func challenge(_ request: ContentGetChallengeRequest, user: UserID?) async throws -> ContentChallenge {
        try await challenge(request.challengeID, user: user)
    }

    /// The challenges of a community, the latest first (at most 200), each as
    /// ``challenge(_:user:)`` gives it.
    public func challenges(_ request: ContentListChallengesRequest, user: UserID?) async throws -> ContentChallengeList {
        let community = CommunityID(request.communityID)
        let now = clock.now()
        return try await database.withConnection { sql in
            let rows = try await sql.raw("""
                SELECT * FROM challenges WHERE community_id = \(bind: community.rawValue) ORDER BY created_at_ms DESC, id DESC LIMIT 200
                """).all()
            var list = ContentChallengeList()
            for row in rows {
                list.challenges.append(try await self.challengeMessage(sql, ChallengeRecord(row: row), user: user, now: now))
            }
            return list
        }
    }

    /// Joins a challenge (any member of its community). Joining again changes nothing and gives
    /// the challenge back; a challenge that is over takes nobody new.
    public func joinChallenge(_ request: ContentJoinChallengeRequest, user: UserID) async throws -> ContentChallenge {
        let record = try await challengeRecord(request.challengeID)
        try await authorize(InteractionOperation.joinChallenges, user: user, in: record.communityID)
        let now = clock.now()
        try await database.transaction { sql in
            let joined = try await sql.raw("""
                SELECT user_id FROM challenge_members WHERE challenge_id = \(bind: record.id) AND user_id = \(bind: user.rawValue)
                """).first() != nil
            guard !joined else { return }
            guard record.calendar.dayIndex(at: now) < record.days else {
                throw GuildError(.failedPrecondition, "The challenge is over.", reason: "challenge_over")
            }
            try await sql.raw("""
                INSERT INTO challenge_members (challenge_id, user_id, joined_at_ms) VALUES (\(bind: record.id), \(bind: user.rawValue), \(bind: now.millisecondsSince1970))
                ON CONFLICT (challenge_id, user_id) DO NOTHING
                """).run()
        }
        return try await challenge(record.id, user: user)
    }

    /// Checks the caller in for today, the local day of the challenge's time zone now. At most
    /// once a day ("already_checked_in"), only while the challenge runs ("challenge_not_started",
    /// "challenge_over") and only after joining ("not_joined"). Emits
    /// `content.challenge.checked_in` with the streak, and `content.challenge.finished` once,
    /// when this check-in completes every day.
    public func checkIn(_ request: ContentCheckInRequest, user: UserID) async throws -> ContentCheckIn {
        let note = request.note.trimmingCharacters(in: .whitespacesAndNewlines)
        guard note.count <= Self.maxCheckInNote else {
            throw GuildError.invalid([.init(field: "note", description: "At most 2,000 characters.")])
        }
        let record = try await challengeRecord(request.challengeID)
        try await authorize(InteractionOperation.joinChallenges, user: user, in: record.communityID)
        let now = clock.now()
        let day = record.calendar.dayIndex(at: now)
        guard day >= 0 else {
            throw GuildError(.failedPrecondition, "The challenge starts on \(record.startDate) (\(record.timeZoneID)).", reason: "challenge_not_started")
        }
        guard day < record.days else {
            throw GuildError(.failedPrecondition, "The challenge is over.", reason: "challenge_over")
        }
        let localDate = record.calendar.localDate(ofDay: day).description
        do {
            try await database.transaction { sql in
                // The member's row is locked: two check-ins at once (either side of local
                // midnight) take turns, so the one that completes every day sees the other.
                guard try await sql.raw("""
                    SELECT user_id FROM challenge_members WHERE challenge_id = \(bind: record.id) AND user_id = \(bind: user.rawValue)
                    \(SQLLockingClause.update)
                    """).first() != nil else {
                    throw GuildError(.failedPrecondition, "Join the challenge before checking in.", reason: "not_joined")
                }
                try await sql.raw("""
                    INSERT INTO checkins (challenge_id, user_id, day, local_date, note, at_ms)
                    VALUES (\(bind: record.id), \(bind: user.rawValue), \(bind: day), \(bind: localDate), \(bind: note), \(bind: now.millisecondsSince1970))
                    """).run()
                let days = try await self.checkedInDays(sql, challenge: record.id, user: user.rawValue)
                let standing = CheckInStanding(days: days, today: day, length: record.days)
                var event = ContentCheckInEvent()
                event.challengeID = record.id
                event.communityID = record.communityID.rawValue
                event.userID = user.rawValue
                event.day = Int32(day)
                event.streak = Int32(clamping: standing.currentStreak)
                event.occurredAtMs = now.millisecondsSince1970
                try await self.emit(sql, InteractionTopic.checkedIn, event, at: now)
                if standing.isFinisher {
                    let finished = try await sql.raw("""
                        UPDATE challenge_members SET finished_at_ms = \(bind: now.millisecondsSince1970)
                        WHERE challenge_id = \(bind: record.id) AND user_id = \(bind: user.rawValue) AND finished_at_ms IS NULL RETURNING user_id
                        """).first() != nil
                    if finished { try await self.emit(sql, InteractionTopic.challengeFinished, event, at: now) }
                }
            }
        } catch let error as GuildError where error.code == .alreadyExists {
            throw GuildError(.failedPrecondition, "You have checked in today (\(localDate)) already.", reason: "already_checked_in")
        }
        var checkIn = ContentCheckIn()
        checkIn.challengeID = record.id
        checkIn.userID = user.rawValue
        checkIn.day = Int32(day)
        checkIn.localDate = localDate
        checkIn.note = note
        checkIn.at = now.timestamp
        return checkIn
    }

    /// The leaderboard of a challenge, for members of its community: the most days checked in
    /// first, then the longer current streak, then whoever made their latest check-in earlier,
    /// then by user id; ranks from 1. `behind` lists the members who missed at least one day
    /// that is over, the most missed first. Both lists hold at most `limit` (default 20, at
    /// most 100) entries.
    public func challengeBoard(_ request: ContentChallengeBoardRequest, user: UserID?) async throws -> ContentChallengeBoardResponse {
        let record = try await challengeRecord(request.challengeID)
        guard let user else {
            throw GuildError(.unauthenticated, "Sign in and join the community to see the leaderboard.", reason: "sign_in")
        }
        try await authorize(InteractionOperation.joinChallenges, user: user, in: record.communityID)
        let limit = request.limit == 0 ? 20 : Int(min(max(request.limit, 1), 100))
        let now = clock.now()
        let today = record.calendar.dayIndex(at: now)
        return try await database.withConnection { sql in
            let members = try await sql.raw("SELECT user_id FROM challenge_members WHERE challenge_id = \(bind: record.id)").all()
                .map { try $0.decode(column: "user_id", as: String.self) }
            var days: [String: Set<Int>] = [:]
            var latest: [String: Int64] = [:]
            for row in try await sql.raw("SELECT user_id, day, at_ms FROM checkins WHERE challenge_id = \(bind: record.id)").all() {
                let member = try row.decode(column: "user_id", as: String.self)
                days[member, default: []].insert(try row.decode(column: "day", as: Int.self))
                latest[member] = max(latest[member] ?? 0, try row.decode(column: "at_ms", as: Int64.self))
            }
            let entries = members.map { member in
                (member: member, standing: CheckInStanding(days: days[member] ?? [], today: today, length: record.days), latest: latest[member])
            }
            let ordered = entries.sorted { a, b in
                if a.standing.checkedIn != b.standing.checkedIn { return a.standing.checkedIn > b.standing.checkedIn }
                if a.standing.currentStreak != b.standing.currentStreak { return a.standing.currentStreak > b.standing.currentStreak }
                switch (a.latest, b.latest) {
                case let (x?, y?) where x != y: return x < y
                case (.some, .none): return true
                case (.none, .some): return false
                default: return a.member.utf8.lexicographicallyPrecedes(b.member.utf8)
                }
            }
            var response = ContentChallengeBoardResponse()
            response.challenge = try await self.challengeMessage(sql, record, user: user, now: now)
            var ranked: [(member: String, standing: ContentChallengeStanding)] = []
            for (index, entry) in ordered.enumerated() {
                let checkedToday = (0..<record.days).contains(today) && (days[entry.member] ?? []).contains(today)
                ranked.append((entry.member, Self.standingMessage(entry.member, entry.standing, checkedInToday: checkedToday, rank: index + 1)))
            }
            response.leaders = ranked.prefix(limit).map(\.standing)
            response.behind = ranked.map(\.standing).filter(\.behind)
                .sorted { ($0.missed, $1.userID) > ($1.missed, $0.userID) }
                .prefix(limit).map { $0 }
            if let mine = ranked.first(where: { $0.member == user.rawValue }) { response.challenge.mine = mine.standing }
            return response
        }
    }

    // MARK: - Reading

    private func challenge(_ id: String, user: UserID?) async throws -> ContentChallenge {
        let record = try await challengeRecord(id)
        let now = clock.now()
        return try await database.withConnection { sql in try await self.challengeMessage(sql, record, user: user, now: now) }
    }

    private func challengeRecord(_ id: String) async throws -> ChallengeRecord {
        guard let row = try await database.withConnection({ sql in try await sql.raw("SELECT * FROM challenges WHERE id = \(bind: id)").first() }) else {
            throw GuildError(.notFound, "No such challenge.")
        }
        return try ChallengeRecord(row: row)
    }

    /// The day indexes `user` checked in on.
    private func checkedInDays(_ sql: any SQLDatabase, challenge: String, user: String) async throws -> Set<Int> {
        Set(try await sql.raw("SELECT day FROM checkins WHERE challenge_id = \(bind: challenge) AND user_id = \(bind: user)").all()
            .map { try $0.decode(column: "day", as: Int.self) })
    }

    private func challengeMessage(_ sql: any SQLDatabase, _ record: ChallengeRecord, user: UserID?, now: Date) async throws -> ContentChallenge {
        var message = ContentChallenge()
        message.id = record.id
        message.communityID = record.communityID.rawValue
        message.title = record.title
        message.task = record.task
        message.startDate = record.startDate.description
        message.days = Int32(record.days)
        message.timeZone = record.timeZoneID
        message.createdBy = record.createdBy
        message.createdAt = Date(millisecondsSince1970: record.createdAtMs).timestamp
        let today = record.calendar.dayIndex(at: now)
        message.today = Int32(clamping: today)
        if let counts = try await sql.raw("""
            SELECT CAST(COUNT(*) AS BIGINT) AS participants,
                   CAST(COALESCE(SUM(CASE WHEN finished_at_ms IS NULL THEN 0 ELSE 1 END), 0) AS BIGINT) AS finishers
            FROM challenge_members WHERE challenge_id = \(bind: record.id)
            """).first() {
            message.participants = Int32(clamping: try counts.decode(column: "participants", as: Int64.self))
            message.finishers = Int32(clamping: try counts.decode(column: "finishers", as: Int64.self))
        }
        if let user, try await sql.raw("""
            SELECT user_id FROM challenge_members WHERE challenge_id = \(bind: record.id) AND user_id = \(bind: user.rawValue)
            """).first() != nil {
            let days = try await checkedInDays(sql, challenge: record.id, user: user.rawValue)
            let standing = CheckInStanding(days: days, today: today, length: record.days)
            message.mine = Self.standingMessage(user.rawValue, standing, checkedInToday: (0..<record.days).contains(today) && days.contains(today), rank: 0)
        }
        return message
    }

    private static func standingMessage(_ user: String, _ standing: CheckInStanding, checkedInToday: Bool, rank: Int) -> ContentChallengeStanding {
        var message = ContentChallengeStanding()
        message.userID = user
        message.checkedIn = Int32(clamping: standing.checkedIn)
        message.currentStreak = Int32(clamping: standing.currentStreak)
        message.longestStreak = Int32(clamping: standing.longestStreak)
        message.missed = Int32(clamping: standing.missed)
        message.completionRate = standing.completionRate
        message.finisher = standing.isFinisher
        message.behind = standing.isBehind
        message.checkedInToday = checkedInToday
        message.rank = Int32(clamping: rank)
        return message
    }
}

/// A stored challenge with its calendar.
private struct ChallengeRecord {
    let id: String
    let communityID: CommunityID
    let title: String
    let task: String
    let startDate: LocalDate
    let days: Int
    let timeZoneID: String
    let createdBy: String
    let createdAtMs: Int64
    let calendar: ChallengeCalendar

    init(row: any SQLRow) throws {
        id = try row.decode(column: "id", as: String.self)
        communityID = CommunityID(try row.decode(column: "community_id", as: String.self))
        title = try row.decode(column: "title", as: String.self)
        task = try row.decode(column: "task", as: String.self)
        let start = try row.decode(column: "start_date", as: String.self)
        days = try row.decode(column: "days", as: Int.self)
        timeZoneID = try row.decode(column: "time_zone", as: String.self)
        createdBy = try row.decode(column: "created_by", as: String.self)
        createdAtMs = try row.decode(column: "created_at_ms", as: Int64.self)
        // Both were validated on the way in; a row that fails here was written by something else.
        guard let startDate = LocalDate(start), let zone = TimeZone(identifier: timeZoneID), days >= 1 else {
            throw GuildError(.internal, "Challenge \(id) has an unreadable start date, length or time zone.")
        }
        self.startDate = startDate
        calendar = ChallengeCalendar(startDate: startDate, days: days, timeZone: zone)
    }
}
