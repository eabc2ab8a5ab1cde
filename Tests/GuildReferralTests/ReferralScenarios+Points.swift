import Foundation
import GuildContent
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import SQLKit
import Testing

@testable import GuildReferral

extension ReferralScenarios {
    /// Points, levels, redemption and leaderboards.
    static let pointsScenarios: [String: Scenario] = [earningScenarios, levelScenarios, redemptionScenarios, leaderboardScenarios]
        .reduce(into: [:]) { all, part in all.merge(part) { first, _ in first } }

    static let earningScenarios: [String: Scenario] = [
        "points: a check-in earns 10 once, however often its event arrives": { fixture in
            let member = UserID("member-0001")
            let at = ReferralFixture.january(1, 8)
            try await fixture.checkedIn(member, id: "event-checkin-1", at: at)
            try await fixture.checkedIn(member, id: "event-checkin-1", at: at)
            var account = try await fixture.account(member)
            #expect(account.balance == 10)
            #expect(account.earned == 10)
            #expect(account.recent.map(\.source) == ["event-checkin-1"])
            #expect(account.recent.map(\.reason) == ["check_in"])
            #expect(account.recent.first?.atMs == at.millisecondsSince1970)
            // A second check-in the same UTC day is over the cap (10 a day).
            try await fixture.checkedIn(member, id: "event-checkin-2", at: ReferralFixture.january(1, 20), challenge: "challenge-2")
            account = try await fixture.account(member)
            #expect(account.balance == 10)
            #expect(account.recent.count == 1)
        },

        "points: comments within the daily cap, whatever order they arrive in": { fixture in
            _ = try await fixture.rules([("comment", 5, 10, true)])
            let (first, second) = (UserID("member-0001"), UserID("member-0002"))
            // Three comments of the same day, told in reverse order.
            for index in [3, 2, 1] {
                try await fixture.commented(first, id: "event-comment-a\(index)", at: ReferralFixture.january(5, 9, index))
            }
            // The same three for someone else, in order.
            for index in [1, 2, 3] {
                try await fixture.commented(second, id: "event-comment-b\(index)", at: ReferralFixture.january(5, 9, index))
            }
            #expect(try await fixture.account(first).balance == 10)
            #expect(try await fixture.account(second).balance == 10)
            #expect(try await fixture.entries(first).map(\.1) == [5, 5])
            // Another member's comment counts against their own cap only.
            let third = UserID("member-0003")
            try await fixture.commented(third, id: "event-comment-c1", at: ReferralFixture.january(5, 10))
            #expect(try await fixture.account(third).balance == 5)
            #expect(try await fixture.account(first).balance == 10)
            // A cap of 12 with 5 a comment: the third comment gives the 2 left.
            _ = try await fixture.rules([("comment", 5, 12, true)])
            let fourth = UserID("member-0004")
            for index in [1, 2, 3] {
                try await fixture.commented(fourth, id: "event-comment-d\(index)", at: ReferralFixture.january(5, 11, index))
            }
            #expect(try await fixture.entries(fourth).map(\.1) == [5, 5, 2])
        },

        "points: each UTC day of the deed has its own cap, whenever the event arrives": { fixture in
            let member = UserID("member-0001")
            // Both arrive on 1 January (the clock), but happened on two days.
            try await fixture.checkedIn(member, id: "event-late", at: ReferralFixture.january(1, 23, 59, 59))
            try await fixture.checkedIn(member, id: "event-early", at: ReferralFixture.january(2, 0, 0, 1))
            #expect(try await fixture.account(member).balance == 20)
            // Another check-in of 1 January, told after those of 2 January: that day is full.
            try await fixture.checkedIn(member, id: "event-late-2", at: ReferralFixture.january(1, 6), challenge: "challenge-2")
            #expect(try await fixture.account(member).balance == 20)
            let days = try await fixture.cluster.referralDatabase.database.withConnection { sql in
                try await sql.raw("SELECT day FROM points_entries WHERE user_id = \(bind: member.rawValue) ORDER BY day").all()
                    .map { try $0.decode(column: "day", as: String.self) }
            }
            #expect(days == ["2026-01-01", "2026-01-02"])
        },

        "points: an accepted review earns its own reward, else the rule's 50": { fixture in
            let member = UserID("member-0001")
            try await fixture.reviewAccepted(member, id: "event-review-1", at: ReferralFixture.january(3), reward: 70)
            #expect(try await fixture.account(member).balance == 70)
            try await fixture.reviewAccepted(member, id: "event-review-2", at: ReferralFixture.january(3, 13), reward: 0)
            #expect(try await fixture.account(member).balance == 120)
            #expect(try await fixture.entries(member).map(\.1) == [70, 50])
        },

        "points: content's real events earn points (a published post, a check-in)": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            var post = ContentCreateItemRequest()
            post.communityID = fixture.community.id
            post.title = "Welcome"
            post.markdown = "Hello."
            post.publish = true
            _ = try await fixture.content.createItem(post, user: fixture.owner)
            var create = ContentCreateChallengeRequest()
            create.communityID = fixture.community.id
            create.title = "Thirty days of Swift"
            create.startDate = "2026-01-01"
            create.days = 30
            create.timeZone = "UTC"
            let challenge = try await fixture.content.createChallenge(create, user: fixture.owner)
            var join = ContentJoinChallengeRequest()
            join.challengeID = challenge.id
            _ = try await fixture.content.joinChallenge(join, user: member)
            var checkIn = ContentCheckInRequest()
            checkIn.challengeID = challenge.id
            _ = try await fixture.content.checkIn(checkIn, user: member)
            try await fixture.deliver()
            try await fixture.deliver()
            #expect(try await fixture.account(fixture.owner).balance == 20)
            #expect(try await fixture.account(member).balance == 10)
            var streaks = ReferralLeaderboardRequest()
            streaks.communityID = fixture.community.id
            streaks.board = "streaks"
            let board = try await fixture.referral.leaderboard(streaks, user: member)
            #expect(board.rows.map(\.userID) == [member.rawValue])
            #expect(board.rows.map(\.value) == [1])
        },

        "points: owners edit the rules, members may not, and every kind is kept": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            let refused = await thrownError { _ = try await fixture.rules([("comment", 8, 16, true)], by: member) }
            #expect(refused?.code == .permissionDenied)
            let rules = try await fixture.rules([("comment", 8, 16, true), ("check_in", 10, 10, false)])
            #expect(rules.rules.map(\.kind) == ["check_in", "post", "comment", "answer", "lesson_completed", "referral_converted", "review_accepted"])
            #expect(rules.rules.map(\.points) == [10, 20, 8, 30, 10, 100, 50])
            #expect(rules.rules.map(\.dailyCap) == [10, 60, 16, 0, 50, 0, 0])
            #expect(rules.rules.map(\.enabled) == [false, true, true, true, true, true, true])
            var read = ReferralGetPointsRulesRequest()
            read.communityID = fixture.community.id
            #expect(try await fixture.referral.pointsRules(read) == rules)
            // A disabled rule earns nothing; an edited one its new amount.
            try await fixture.checkedIn(member, id: "event-checkin", at: ReferralFixture.january(2))
            try await fixture.commented(member, id: "event-comment", at: ReferralFixture.january(2))
            #expect(try await fixture.account(member).balance == 8)
            // Bad rules change nothing.
            let bad = await thrownError {
                _ = try await fixture.rules([("like", 5, 0, true), ("post", 100_001, 0, true), ("answer", 5, -1, true), ("comment", 5, 1_000_001, true)])
            }
            #expect(bad?.code == .invalidArgument)
            #expect(bad?.fieldViolations.map(\.field) == ["rules[0].kind", "rules[1].points", "rules[2].dailyCap", "rules[3].dailyCap"])
            let twice = await thrownError { _ = try await fixture.rules([("post", 5, 0, true), ("post", 6, 0, true)]) }
            #expect(twice?.fieldViolations.map(\.field) == ["rules[1].kind"])
            #expect(try await fixture.referral.pointsRules(read) == rules)
        },
    ]

    static let levelScenarios: [String: Scenario] = [
        "levels: earning 100 points reaches level 2, announced once": { fixture in
            let member = UserID("member-0001")
            try await fixture.reviewAccepted(member, id: "event-review-1", at: ReferralFixture.january(2), reward: 60)
            #expect(try await fixture.levelEvents().isEmpty)
            try await fixture.reviewAccepted(member, id: "event-review-2", at: ReferralFixture.january(3), reward: 40)
            try await fixture.reviewAccepted(member, id: "event-review-2", at: ReferralFixture.january(3), reward: 40)
            var events = try await fixture.levelEvents()
            #expect(events.count == 1)
            #expect(events.first?.userID == member.rawValue)
            #expect(events.first?.level.rank == 2)
            #expect(events.first?.level.name == "学徒 Apprentice")
            #expect(events.first?.earned == 100)
            #expect(events.first?.occurredAtMs == ReferralFixture.january(3).millisecondsSince1970)
            var account = try await fixture.account(member)
            #expect(account.level.rank == 2)
            #expect(account.nextLevel.rank == 3)
            #expect(account.pointsToNext == 200)
            // More points within level 2 announce nothing more.
            try await fixture.reviewAccepted(member, id: "event-review-3", at: ReferralFixture.january(4), reward: 150)
            #expect(try await fixture.levelEvents().count == 1)
            account = try await fixture.account(member)
            #expect(account.earned == 250)
            #expect(account.pointsToNext == 50)
            // Jumping two levels at once announces each.
            let other = UserID("member-0002")
            try await fixture.reviewAccepted(other, id: "event-review-4", at: ReferralFixture.january(4), reward: 1_000)
            events = try await fixture.levelEvents()
            #expect(events.filter { $0.userID == other.rawValue }.map(\.level.rank) == [2, 3, 4])
            // Content asks for the standing.
            var request = ReferralGetStandingRequest()
            request.communityID = fixture.community.id
            request.userID = other.rawValue
            let standing = try await fixture.referral.standing(request)
            #expect(standing.level.rank == 4)
            #expect(standing.earned == 1_000)
            #expect(standing.balance == 1_000)
        },

        "levels: owners edit the ladder within the rules; members follow their points at once": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            let refused = await thrownError { _ = try await fixture.ladder([(1, "Seed", 0)], by: member) }
            #expect(refused?.code == .permissionDenied)
            let cases: [([(Int32, String, Int64)], [String])] = [
                ([], ["levels"]),
                ([(1, "Seed", 10)], ["levels[0].threshold"]),
                ([(1, "Seed", 0), (2, "Sprout", 0)], ["levels[1].threshold"]),
                ([(1, "Seed", 0), (3, "Sprout", 50)], ["levels[1].rank"]),
                ([(1, "   ", 0)], ["levels[0].name"]),
                ([(1, String(repeating: "树", count: 41), 0)], ["levels[0].name"]),
                ((1...21).map { (Int32($0), "L\($0)", Int64($0 - 1) * 10) }, ["levels"]),
            ]
            for (levels, fields) in cases {
                let error = await thrownError { _ = try await fixture.ladder(levels) }
                #expect(error?.code == .invalidArgument)
                #expect(error?.fieldViolations.map(\.field) == fields, "\(levels)")
            }
            var read = ReferralGetLevelsRequest()
            read.communityID = fixture.community.id
            #expect(try await fixture.referral.levels(read).levels.map(\.threshold) == [0, 100, 300, 1_000, 3_000])
            try await fixture.reviewAccepted(member, id: "event-review-1", at: ReferralFixture.january(2), reward: 60)
            #expect(try await fixture.account(member).level.rank == 1)
            let ladder = try await fixture.ladder([(1, " Seed ", 0), (2, "Sprout", 50), (3, "Tree", 500)])
            #expect(ladder.levels.map(\.name) == ["Seed", "Sprout", "Tree"])
            #expect(try await fixture.referral.levels(read) == ladder)
            var account = try await fixture.account(member)
            #expect(account.level.name == "Sprout")
            #expect(account.pointsToNext == 440)
            // Raising the thresholds moves the member down, and announces nothing.
            _ = try await fixture.ladder([(1, "Seed", 0), (2, "Sprout", 1_000)])
            account = try await fixture.account(member)
            #expect(account.level.rank == 1)
            #expect(try await fixture.levelEvents().isEmpty)
            // A single level: the top, with nothing next.
            _ = try await fixture.ladder([(1, "Everyone", 0)])
            account = try await fixture.account(member)
            #expect(account.level.name == "Everyone")
            #expect(!account.hasNextLevel)
            #expect(account.pointsToNext == 0)
        },
    ]
}
