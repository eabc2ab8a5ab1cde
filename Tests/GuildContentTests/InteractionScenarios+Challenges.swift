import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import SwiftProtobuf
import Testing

@testable import GuildContent

/// Check-in challenges: local days across time zones and a daylight-saving change, streaks and
/// the leaderboard, finishers, and who may join and check in when.
extension InteractionScenarios {
    static let challengeScenarios: [String: Scenario] = [
        "challenge: creating checks its fields, who creates, and the default time zone": challengeCreation,
        "challenge: day boundaries follow the challenge's time zone": challengeDayBoundaries,
        "challenge: consecutive local days across the New York DST change": challengeDaylightSaving,
        "challenge: streaks, missed days, behind and the leaderboard": challengeBoard,
        "challenge: a finisher after every day, announced once": challengeFinisher,
        "challenge: refused before the start, after the end, and without joining": challengeRefusals,
    ]

    static func challengeMember(_ n: Int) -> UserID { UserID("challenger-\(n)") }
    static let challengeStranger = UserID("stranger-ch1")

    /// Moves the fixture's clock forward to `iso` (an ISO 8601 instant in UTC).
    static func challengeClock(_ f: ContentFixture, to iso: String) throws {
        let target = try #require(ISO8601DateFormatter().date(from: iso), "bad instant \(iso)")
        let step = target.timeIntervalSince(f.clock.now())
        try #require(step >= 0, "the clock only moves forward (to \(iso))")
        f.clock.advance(by: step)
    }

    static func makeChallenge(
        _ f: ContentFixture, title: String = "30 days of Swift", start: String, days: Int32, timeZone: String = "", by user: UserID? = nil
    ) async throws -> ContentChallenge {
        var request = ContentCreateChallengeRequest()
        request.communityID = f.community.id
        request.title = title
        request.task = "Write one **small** program."
        request.startDate = start
        request.days = days
        request.timeZone = timeZone
        return try await f.content.createChallenge(request, user: user ?? f.owner)
    }

    static func challengeJoin(_ f: ContentFixture, _ challenge: ContentChallenge, _ user: UserID) async throws -> ContentChallenge {
        var request = ContentJoinChallengeRequest()
        request.challengeID = challenge.id
        return try await f.content.joinChallenge(request, user: user)
    }

    static func challengeCheckIn(_ f: ContentFixture, _ challenge: ContentChallenge, _ user: UserID, note: String = "done") async throws -> ContentCheckIn {
        var request = ContentCheckInRequest()
        request.challengeID = challenge.id
        request.note = note
        return try await f.content.checkIn(request, user: user)
    }

    static func challengeRead(_ f: ContentFixture, _ challenge: ContentChallenge, as user: UserID?) async throws -> ContentChallenge {
        var request = ContentGetChallengeRequest()
        request.challengeID = challenge.id
        return try await f.content.challenge(request, user: user)
    }

    static func challengeBoardOf(_ f: ContentFixture, _ challenge: ContentChallenge, as user: UserID?, limit: Int32 = 0) async throws -> ContentChallengeBoardResponse {
        var request = ContentChallengeBoardRequest()
        request.challengeID = challenge.id
        request.limit = limit
        return try await f.content.challengeBoard(request, user: user)
    }

    /// The check-in events of `topic` in content's outbox.
    static func checkInEvents(_ f: ContentFixture, _ topic: String) async throws -> [ContentCheckInEvent] {
        try await f.outbox().filter { $0.0 == topic }.map { try ContentCheckInEvent(serializedBytes: $0.1) }
    }

    static func challengeCreation(_ f: ContentFixture) async throws {
        let member = challengeMember(1)
        try await f.join(member)
        // Only owners and co-owners define challenges.
        for user in [member, f.moderator, f.expert, challengeStranger] {
            #expect(await thrownError { _ = try await makeChallenge(f, start: "2026-01-05", days: 7, by: user) }?.code == .permissionDenied)
        }
        // Each bad field is named.
        for (start, days, zone, field) in [
            ("2026-1-5", Int32(7), "", "startDate"), ("2026-02-30", 7, "", "startDate"), ("05/01/2026", 7, "", "startDate"),
            ("2026-01-05", 0, "", "days"), ("2026-01-05", 366, "", "days"), ("2026-01-05", 7, "Mars/Olympus", "timeZone"),
        ] {
            let error = await thrownError { _ = try await makeChallenge(f, start: start, days: days, timeZone: zone) }
            #expect(error?.code == .invalidArgument)
            #expect(error?.fieldViolations.map(\.field) == [field], "\(start) \(days) \(zone)")
        }
        #expect(await thrownError { _ = try await makeChallenge(f, title: "  ", start: "2026-01-05", days: 7) }?.fieldViolations.map(\.field) == ["title"])
        #expect(await thrownError { _ = try await makeChallenge(f, title: String(repeating: "t", count: 201), start: "2026-01-05", days: 7) }?
            .fieldViolations.map(\.field) == ["title"])
        // Without a time zone: the community's setting (UTC until set).
        let plain = try await makeChallenge(f, start: "2026-01-05", days: 365)
        #expect(plain.timeZone == "UTC")
        #expect(plain.startDate == "2026-01-05")
        #expect(plain.days == 365)
        #expect(plain.today == -4)
        #expect(plain.participants == 0)
        #expect(plain.createdBy == f.owner.rawValue)
        var settings = ContentUpdateSettingsRequest()
        settings.communityID = f.community.id
        settings.timeZone = "Asia/Shanghai"
        _ = try await f.content.updateSettings(settings, user: f.owner)
        let local = try await makeChallenge(f, title: "早起打卡", start: "2026-01-01", days: 21)
        #expect(local.timeZone == "Asia/Shanghai")
        #expect(local.today == 0)  // 08:00 in Shanghai on the first day
        let explicit = try await makeChallenge(f, start: "2026-01-01", days: 3, timeZone: "America/New_York")
        #expect(explicit.timeZone == "America/New_York")
        #expect(explicit.today == -1)  // still 2025-12-31 in New York
        // Anyone may read a challenge and list them; joining is idempotent.
        let joined = try await challengeJoin(f, local, member)
        #expect(joined.participants == 1)
        #expect(joined.hasMine)
        let again = try await challengeJoin(f, local, member)
        #expect(again.participants == 1)
        let seen = try await challengeRead(f, local, as: nil)
        #expect(seen.title == "早起打卡")
        #expect(seen.participants == 1)
        #expect(!seen.hasMine)
        #expect(!(try await challengeRead(f, local, as: challengeStranger)).hasMine)
        var list = ContentListChallengesRequest()
        list.communityID = f.community.id
        let listed = try await f.content.challenges(list, user: nil)
        #expect(Set(listed.challenges.map(\.id)) == [plain.id, local.id, explicit.id])
        var missing = ContentGetChallengeRequest()
        missing.challengeID = "no-such-challenge"
        #expect(await thrownError { _ = try await f.content.challenge(missing, user: member) }?.code == .notFound)
    }

    static func challengeDayBoundaries(_ f: ContentFixture) async throws {
        let member = challengeMember(1)
        try await f.join(member)
        let shanghai = try await makeChallenge(f, title: "Shanghai", start: "2026-01-01", days: 7, timeZone: "Asia/Shanghai")
        let utc = try await makeChallenge(f, title: "UTC", start: "2026-01-01", days: 7, timeZone: "UTC")
        _ = try await challengeJoin(f, shanghai, member)
        _ = try await challengeJoin(f, utc, member)

        // 15:59:59Z is 23:59:59 on 1 January in Shanghai; one second later it is 2 January there.
        try challengeClock(f, to: "2026-01-01T15:59:59Z")
        let late = try await challengeCheckIn(f, shanghai, member, note: "just in time")
        #expect(late.day == 0)
        #expect(late.localDate == "2026-01-01")
        #expect(late.note == "just in time")
        #expect(try await challengeCheckIn(f, utc, member).day == 0)

        try challengeClock(f, to: "2026-01-01T16:00:00Z")
        let early = try await challengeCheckIn(f, shanghai, member)
        #expect(early.day == 1)
        #expect(early.localDate == "2026-01-02")
        // The same instant is still 1 January in UTC: that day is taken.
        #expect(await thrownError { _ = try await challengeCheckIn(f, utc, member) }?.reason == "already_checked_in")

        try challengeClock(f, to: "2026-01-01T16:30:00Z")
        let twice = await thrownError { _ = try await challengeCheckIn(f, shanghai, member) }
        #expect(twice?.code == .failedPrecondition)
        #expect(twice?.reason == "already_checked_in")

        // Two check-ins racing on a new day: one is recorded, the other refused.
        try challengeClock(f, to: "2026-01-02T16:00:00Z")
        let raced = await withTaskGroup(of: GuildError?.self) { group in
            for _ in 0..<2 { group.addTask { await thrownError { _ = try await challengeCheckIn(f, shanghai, member) } } }
            return await group.reduce(into: []) { $0.append($1) }
        }
        #expect(raced.filter { $0 == nil }.count == 1)
        #expect(raced.compactMap { $0?.reason } == ["already_checked_in"])

        let mine = try await challengeRead(f, shanghai, as: member).mine
        #expect(mine.checkedIn == 3)
        #expect(mine.currentStreak == 3)
        #expect(mine.checkedInToday)
        #expect(mine.missed == 0)
        #expect(try await challengeRead(f, utc, as: member).mine.checkedIn == 1)
        // A refused check-in writes no event.
        #expect(try await checkInEvents(f, ContentService.InteractionTopic.checkedIn).count == 4)
    }

    static func challengeDaylightSaving(_ f: ContentFixture) async throws {
        let member = challengeMember(1)
        // A monthly plan bought on 1 January lapses before March: join in March.
        try challengeClock(f, to: "2026-03-01T00:00:00Z")
        try await f.join(member)
        // New York springs forward on 2026-03-08 at 02:00: that local day lasts 23 hours.
        let challenge = try await makeChallenge(f, start: "2026-03-06", days: 5, timeZone: "America/New_York")
        _ = try await challengeJoin(f, challenge, member)
        let steps: [(instant: String, day: Int32, date: String)] = [
            ("2026-03-07T04:30:00Z", 0, "2026-03-06"),  // 23:30 EST on the 6th
            ("2026-03-08T04:30:00Z", 1, "2026-03-07"),  // 23:30 EST on the 7th
            ("2026-03-09T03:30:00Z", 2, "2026-03-08"),  // 23:30 EDT on the 8th: 23 hours later
            ("2026-03-09T04:15:00Z", 3, "2026-03-09"),  // 00:15 EDT on the 9th: 45 minutes later, the next day
            ("2026-03-11T03:30:00Z", 4, "2026-03-10"),  // 23:30 EDT on the 10th
        ]
        for (index, step) in steps.enumerated() {
            try challengeClock(f, to: step.instant)
            let done = try await challengeCheckIn(f, challenge, member)
            #expect(done.day == step.day, "\(step.instant)")
            #expect(done.localDate == step.date, "\(step.instant)")
            let mine = try await challengeRead(f, challenge, as: member).mine
            #expect(mine.currentStreak == Int32(index + 1), "\(step.instant)")
            #expect(mine.missed == 0)
        }
        let streaks = try await checkInEvents(f, ContentService.InteractionTopic.checkedIn).map(\.streak)
        #expect(streaks == [1, 2, 3, 4, 5])
    }

    static func challengeBoard(_ f: ContentFixture) async throws {
        let (a, b, c) = (challengeMember(1), challengeMember(2), challengeMember(3))
        for user in [a, b, c] { try await f.join(user) }
        let challenge = try await makeChallenge(f, start: "2026-01-01", days: 10, timeZone: "UTC")
        for user in [a, b, c] { _ = try await challengeJoin(f, challenge, user) }
        let schedule: [(String, UserID)] = [
            ("2026-01-01T01:00:00Z", a), ("2026-01-01T02:00:00Z", b), ("2026-01-01T03:00:00Z", c),
            ("2026-01-02T01:00:00Z", a), ("2026-01-02T02:00:00Z", b),  // c misses day 1
            ("2026-01-03T01:00:00Z", b), ("2026-01-03T05:00:00Z", a), ("2026-01-03T06:00:00Z", c),
        ]
        for (instant, user) in schedule {
            try challengeClock(f, to: instant)
            _ = try await challengeCheckIn(f, challenge, user)
        }
        // Day 3, nobody checked in yet: a and b tie on days and streak; b checked in earlier on day 2.
        try challengeClock(f, to: "2026-01-04T00:30:00Z")
        var seen = try await challengeBoardOf(f, challenge, as: a)
        #expect(seen.leaders.map(\.userID) == [b, a, c].map(\.rawValue))
        #expect(seen.leaders.map(\.rank) == [1, 2, 3])
        #expect(seen.leaders.map(\.checkedIn) == [3, 3, 2])
        #expect(seen.leaders.map(\.currentStreak) == [3, 3, 1])
        #expect(seen.leaders.map(\.missed) == [0, 0, 1])
        #expect(seen.behind.map(\.userID) == [c.rawValue])
        let cStanding = try #require(seen.leaders.last)
        #expect(abs(cStanding.completionRate - 2.0 / 3.0) < 1e-9)
        #expect(cStanding.longestStreak == 1)
        #expect(!cStanding.checkedInToday)
        #expect(seen.challenge.today == 3)
        #expect(seen.challenge.participants == 3)
        #expect(seen.challenge.mine.userID == a.rawValue)
        #expect(seen.challenge.mine.rank == 2)
        #expect(try await challengeBoardOf(f, challenge, as: c, limit: 2).leaders.map(\.userID) == [b, a].map(\.rawValue))

        // Day 3: a and c check in, b does not. Day 4: b, c, a check in, in that order.
        for (instant, user) in [("2026-01-04T01:00:00Z", a), ("2026-01-04T02:00:00Z", c),
                                ("2026-01-05T00:10:00Z", b), ("2026-01-05T00:20:00Z", c), ("2026-01-05T00:30:00Z", a)] {
            try challengeClock(f, to: instant)
            _ = try await challengeCheckIn(f, challenge, user)
        }
        // b and c tie on 4 days; c's current streak (3) beats b's (1) although c checked in later.
        seen = try await challengeBoardOf(f, challenge, as: b)
        #expect(seen.leaders.map(\.userID) == [a, c, b].map(\.rawValue))
        #expect(seen.leaders.map(\.checkedIn) == [5, 4, 4])
        #expect(seen.leaders.map(\.currentStreak) == [5, 3, 1])
        #expect(seen.leaders.map(\.checkedInToday) == [true, true, true])
        #expect(seen.behind.map(\.userID) == [b, c].map(\.rawValue))
        #expect(seen.behind.allSatisfy { $0.missed == 1 && $0.behind })
        #expect(seen.challenge.mine.rank == 3)
        let mine = try await challengeRead(f, challenge, as: b).mine
        #expect(mine.checkedIn == 4)
        #expect(mine.longestStreak == 3)
        #expect(mine.behind)

        // The board is for members of the community.
        #expect(await thrownError { _ = try await challengeBoardOf(f, challenge, as: nil) }?.code == .unauthenticated)
        #expect(await thrownError { _ = try await challengeBoardOf(f, challenge, as: challengeStranger) }?.code == .permissionDenied)
        // A member who did not join sees the board, with no standing of their own.
        let outsider = try await challengeBoardOf(f, challenge, as: f.moderator)
        #expect(outsider.leaders.count == 3)
        #expect(!outsider.challenge.hasMine)
    }

    static func challengeFinisher(_ f: ContentFixture) async throws {
        let (finisher, laggard) = (challengeMember(1), challengeMember(2))
        for user in [finisher, laggard] { try await f.join(user) }
        let challenge = try await makeChallenge(f, start: "2026-01-01", days: 3, timeZone: "UTC")
        for user in [finisher, laggard] { _ = try await challengeJoin(f, challenge, user) }
        for (instant, users) in [("2026-01-01T08:00:00Z", [finisher, laggard]), ("2026-01-02T08:00:00Z", [finisher]), ("2026-01-03T08:00:00Z", [finisher, laggard])] {
            try challengeClock(f, to: instant)
            for user in users { _ = try await challengeCheckIn(f, challenge, user) }
            if instant.hasPrefix("2026-01-02") {
                #expect(try await challengeRead(f, challenge, as: nil).finishers == 0)
            }
        }
        let seen = try await challengeRead(f, challenge, as: finisher)
        #expect(seen.finishers == 1)
        #expect(seen.mine.finisher)
        #expect(seen.mine.checkedIn == 3)
        #expect(seen.mine.completionRate == 1)
        #expect(!(try await challengeRead(f, challenge, as: laggard)).mine.finisher)

        // Once over, nobody checks in, and the finisher is announced exactly once.
        try challengeClock(f, to: "2026-01-04T08:00:00Z")
        #expect(await thrownError { _ = try await challengeCheckIn(f, challenge, finisher) }?.reason == "challenge_over")
        let finished = try await checkInEvents(f, ContentService.InteractionTopic.challengeFinished)
        #expect(finished.map(\.userID) == [finisher.rawValue])
        #expect(finished.first?.day == 2)
        #expect(finished.first?.streak == 3)
        #expect(finished.first?.communityID == f.community.id)
        let checkedIn = try await checkInEvents(f, ContentService.InteractionTopic.checkedIn)
        #expect(checkedIn.filter { $0.userID == finisher.rawValue }.map(\.streak) == [1, 2, 3])
        #expect(checkedIn.filter { $0.userID == laggard.rawValue }.map(\.day) == [0, 2])
        let closing = try await challengeBoardOf(f, challenge, as: laggard)
        #expect(closing.leaders.map(\.finisher) == [true, false])
        #expect(closing.behind.map(\.userID) == [laggard.rawValue])
    }

    static func challengeRefusals(_ f: ContentFixture) async throws {
        let (joined, notJoined) = (challengeMember(1), challengeMember(2))
        for user in [joined, notJoined] { try await f.join(user) }
        let challenge = try await makeChallenge(f, start: "2026-01-05", days: 2, timeZone: "UTC")
        // Joining before the start is fine; checking in is not.
        _ = try await challengeJoin(f, challenge, joined)
        let early = await thrownError { _ = try await challengeCheckIn(f, challenge, joined) }
        #expect(early?.code == .failedPrecondition)
        #expect(early?.reason == "challenge_not_started")
        // Someone without a role in the community cannot join or check in.
        #expect(await thrownError { _ = try await challengeJoin(f, challenge, challengeStranger) }?.code == .permissionDenied)
        #expect(await thrownError { _ = try await challengeCheckIn(f, challenge, challengeStranger) }?.code == .permissionDenied)

        try challengeClock(f, to: "2026-01-05T10:00:00Z")
        let stranger = await thrownError { _ = try await challengeCheckIn(f, challenge, notJoined) }
        #expect(stranger?.code == .failedPrecondition)
        #expect(stranger?.reason == "not_joined")
        #expect(await thrownError { _ = try await challengeCheckIn(f, challenge, joined, note: String(repeating: "n", count: 2_001)) }?
            .fieldViolations.map(\.field) == ["note"])
        #expect(try await challengeCheckIn(f, challenge, joined).day == 0)

        // 2026-01-07 is the day after the last one.
        try challengeClock(f, to: "2026-01-07T00:00:00Z")
        let late = await thrownError { _ = try await challengeCheckIn(f, challenge, joined) }
        #expect(late?.code == .failedPrecondition)
        #expect(late?.reason == "challenge_over")
        #expect(await thrownError { _ = try await challengeJoin(f, challenge, notJoined) }?.reason == "challenge_over")
        let over = try await challengeRead(f, challenge, as: joined)
        #expect(over.today == 2)
        #expect(over.participants == 1)
        #expect(over.mine.missed == 1)
        #expect(try await checkInEvents(f, ContentService.InteractionTopic.checkedIn).count == 1)
    }
}
