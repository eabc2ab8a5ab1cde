import Foundation
import GuildContent
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import SQLKit
import Testing

@testable import GuildReferral

extension ReferralFixture {
    func board(_ board: String, as user: UserID, limit: Int32 = 0) async throws -> ReferralLeaderboard {
        var request = ReferralLeaderboardRequest()
        request.communityID = community.id
        request.board = board
        request.limit = limit
        return try await referral.leaderboard(request, user: user)
    }

    func hide(_ user: UserID, _ hidden: Bool) async throws -> ReferralPointsAccount {
        var request = ReferralSetBoardVisibilityRequest()
        request.communityID = community.id
        request.hidden = hidden
        return try await referral.setBoardVisibility(request, user: user)
    }
}

extension ReferralScenarios {
    static let leaderboardScenarios: [String: Scenario] = [
        "leaderboards: points by week, month and all time; ties go to who got there first; hidden members left out": { fixture in
            let (a, b, c, d, e, early) = (
                UserID("member-a"), UserID("member-b"), UserID("member-c"), UserID("member-d"), UserID("member-e"), UserID("aaa-early"))
            try await fixture.pay(a)
            try await fixture.pay(d)
            // Now: Wednesday 14 January 2026, 12:00 UTC. The week began on Monday the 12th.
            fixture.clock.set(ReferralFixture.january(14, 12))
            try await fixture.reviewAccepted(a, id: "event-a1", at: ReferralFixture.january(13, 10), reward: 30)
            try await fixture.reviewAccepted(b, id: "event-b1", at: ReferralFixture.january(12, 9), reward: 30)
            try await fixture.reviewAccepted(c, id: "event-c1", at: ReferralFixture.january(5, 8), reward: 50)
            try await fixture.reviewAccepted(c, id: "event-c2", at: ReferralFixture.january(13, 11), reward: 10)
            try await fixture.reviewAccepted(d, id: "event-d1", at: ReferralFixture.january(13, 12), reward: 100)
            try await fixture.reviewAccepted(e, id: "event-e1", at: ReferralFixture.january(0, 10), reward: 40)
            try await fixture.reviewAccepted(early, id: "event-f1", at: ReferralFixture.january(0, 10), reward: 40)
            #expect(try await fixture.hide(d, true).hiddenFromBoards)

            var week = try await fixture.board("points_week", as: a)
            #expect(week.rows.map(\.userID) == [b, a, c].map(\.rawValue))
            #expect(week.rows.map(\.value) == [30, 30, 10])
            #expect(week.rows.map(\.rank) == [1, 2, 3])
            #expect(week.rows.map(\.reachedAtMs) == [ReferralFixture.january(12, 9), ReferralFixture.january(13, 10), ReferralFixture.january(13, 11)].map(\.millisecondsSince1970))
            #expect(week.you.rank == 2)
            #expect(week.you.value == 30)
            #expect(week.periodStartMs == ReferralFixture.january(12, 0).millisecondsSince1970)
            #expect(week.periodEndMs == ReferralFixture.january(19, 0).millisecondsSince1970)
            #expect(week.tieRule == "Higher value first; equal values: who reached it first (earlier reached_at) ranks higher; then user id.")
            let month = try await fixture.board("points_month", as: a)
            #expect(month.rows.map(\.userID) == [c, b, a].map(\.rawValue))
            #expect(month.rows.map(\.value) == [60, 30, 30])
            #expect(month.periodStartMs == ReferralFixture.january(1, 0).millisecondsSince1970)
            #expect(month.periodEndMs == ReferralFixture.january(32, 0).millisecondsSince1970)
            // Equal values reached at the same instant: by user id.
            var all = try await fixture.board("points_all", as: a)
            #expect(all.rows.map(\.userID) == [c, early, e, b, a].map(\.rawValue))
            #expect(all.rows.map(\.value) == [60, 40, 40, 30, 30])
            #expect(all.you.rank == 5)
            #expect(all.periodStartMs == 0)
            // A limit shortens the rows, not the caller's own row.
            week = try await fixture.board("points_week", as: a, limit: 1)
            #expect(week.rows.map(\.userID) == [b.rawValue])
            #expect(week.you.rank == 2)
            // Hidden: not on the board, and no row of their own.
            let hidden = try await fixture.board("points_week", as: d)
            #expect(!hidden.rows.contains { $0.userID == d.rawValue })
            #expect(!hidden.hasYou)
            #expect(try await fixture.hide(d, false).hiddenFromBoards == false)
            #expect(try await fixture.board("points_week", as: d).rows.map(\.userID) == [d, b, a, c].map(\.rawValue))
            // Spending does not lower a board: a points board counts what was earned.
            let entry = try await fixture.reward("discount", cost: 20, amount: 100)
            #expect(try await fixture.redeem(a, entry).status == "completed")
            all = try await fixture.board("points_all", as: a)
            #expect(all.you.value == 30)
            // A caller with no points has no row.
            #expect(!(try await fixture.board("referrals", as: a).hasYou))
        },

        "leaderboards: check-in streaks, the latest each challenge reported": { fixture in
            let (a, b, c) = (UserID("member-a"), UserID("member-b"), UserID("member-c"))
            try await fixture.pay(a)
            try await fixture.checkedIn(a, id: "event-a1", at: ReferralFixture.january(3, 8), challenge: "challenge-1", streak: 3)
            try await fixture.checkedIn(a, id: "event-a2", at: ReferralFixture.january(5, 8), challenge: "challenge-2", streak: 5)
            try await fixture.checkedIn(b, id: "event-b1", at: ReferralFixture.january(4, 8), challenge: "challenge-1", streak: 5)
            try await fixture.checkedIn(c, id: "event-c1", at: ReferralFixture.january(2, 8), challenge: "challenge-1", streak: 2)
            // Told late: an older check-in of challenge 2 changes nothing.
            try await fixture.checkedIn(a, id: "event-a0", at: ReferralFixture.january(4, 7), challenge: "challenge-2", streak: 4)
            var board = try await fixture.board("streaks", as: a)
            #expect(board.rows.map(\.userID) == [b, a, c].map(\.rawValue))
            #expect(board.rows.map(\.value) == [5, 5, 2])
            #expect(board.rows.map(\.reachedAtMs) == [ReferralFixture.january(4, 8), ReferralFixture.january(5, 8), ReferralFixture.january(2, 8)].map(\.millisecondsSince1970))
            #expect(board.you.rank == 2)
            // A broken streak: challenge 2 now reports 1, so challenge 1's 3 is the best.
            try await fixture.checkedIn(a, id: "event-a3", at: ReferralFixture.january(7, 8), challenge: "challenge-2", streak: 1)
            board = try await fixture.board("streaks", as: a)
            #expect(board.rows.map(\.userID) == [b, a, c].map(\.rawValue))
            #expect(board.rows.map(\.value) == [5, 3, 2])
        },

        "leaderboards: referrals converted, through links and first payments": { fixture in
            let (a, b) = (UserID("member-a"), UserID("member-b"))
            try await fixture.pay(a)
            try await fixture.pay(b)
            func refer(_ referrer: UserID, _ newcomer: UserID, network: String, pays: Bool) async throws {
                var ask = ReferralGetMyLinkRequest()
                ask.communityID = fixture.community.id
                let link = try await fixture.referral.getMyLink(ask, user: referrer)
                var visit = ReferralRecordVisitRequest()
                visit.visitorID = "visitor-" + newcomer.rawValue
                visit.code = link.code
                _ = try await fixture.referral.recordVisit(visit, user: nil, clientAddress: network)
                var signup = ReferralRecordSignupRequest()
                signup.visitorID = visit.visitorID
                _ = try await fixture.referral.recordSignup(signup, user: newcomer, clientAddress: network)
                if pays { try await fixture.pay(newcomer) }
            }
            fixture.clock.set(ReferralFixture.january(2))
            try await refer(b, UserID("newcomer-1"), network: "10.0.1.5", pays: true)
            fixture.clock.set(ReferralFixture.january(3))
            try await refer(a, UserID("newcomer-2"), network: "10.0.2.5", pays: true)
            fixture.clock.set(ReferralFixture.january(4))
            try await refer(a, UserID("newcomer-3"), network: "10.0.3.5", pays: false)
            fixture.clock.set(ReferralFixture.january(5))
            try await refer(b, UserID("newcomer-4"), network: "10.0.4.5", pays: true)
            let board = try await fixture.board("referrals", as: a)
            #expect(board.rows.map(\.userID) == [b, a].map(\.rawValue))
            #expect(board.rows.map(\.value) == [2, 1])
            #expect(board.rows.map(\.reachedAtMs) == [ReferralFixture.january(5), ReferralFixture.january(3)].map(\.millisecondsSince1970))
            #expect(board.you.rank == 2)
            // Each conversion earned its referrer the rule's 100 points.
            #expect(try await fixture.account(b).earned == 200)
            #expect(try await fixture.account(a).earned == 100)
        },

        "leaderboards: the board and limit are checked": { fixture in
            let a = UserID("member-a")
            try await fixture.pay(a)
            let unknown = await thrownError { _ = try await fixture.board("likes", as: a) }
            #expect(unknown?.fieldViolations.map(\.field) == ["board"])
            let big = await thrownError { _ = try await fixture.board("points_all", as: a, limit: 101) }
            #expect(big?.fieldViolations.map(\.field) == ["limit"])
            let stranger = await thrownError { _ = try await fixture.board("points_all", as: UserID("stranger-01")) }
            #expect(stranger?.code == .permissionDenied)
        },
    ]
}
