import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import SwiftProtobuf

/// Check-in challenges (打卡) and lotteries (抽奖).
extension WebPages {
    static let interaction: [WebPage] = [
        WebPage(.get, "/c/:slug/challenges/:id") { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            var request = ContentChallengeBoardRequest()
            request.challengeID = try visit.path("id")
            request.limit = 10
            let board = try await web.gateway.client(.content).call(ContentAPI.challengeBoard, request, metadata: visit.metadata)
            let challenge = board.challenge
            guard challenge.communityID == community.id else { throw WebError.notFound }
            let names = await web.displayNames(Set(board.leaders.map(\.userID)), metadata: visit.metadata)
            let catalogue = visit.catalogue
            // today is 0-based: the challenge runs while 0 <= today < days.
            let running = challenge.today >= 0 && challenge.today < challenge.days
            var values: [String: Any] = [
                "pageTitle": challenge.title, "slug": community.slug, "community": community.name, "id": challenge.id,
                "title": challenge.title, "task": challenge.task,
                "schedule": catalogue.text("challenge_schedule", [
                    "start": challenge.startDate, "days": catalogue.plural("time_days", count: Int64(challenge.days)), "zone": challenge.timeZone,
                ]),
                "today": running ? catalogue.text("challenge_today", ["day": String(challenge.today + 1), "days": String(challenge.days)])
                    : catalogue.text(challenge.today < 0 ? "challenge_not_started" : "challenge_ended"),
                "participants": catalogue.plural("challenge_participants", count: Int64(challenge.participants)),
                "leaders": board.leaders.map { standing in
                    [
                        "rank": standing.rank, "name": names[standing.userID] ?? catalogue.text("comment_someone"),
                        "streak": catalogue.plural("challenge_streak", count: Int64(standing.currentStreak)),
                        "checkedIn": catalogue.plural("challenge_checked_in", count: Int64(standing.checkedIn)),
                    ] as [String: Any]
                },
            ]
            if challenge.hasMine, !challenge.mine.userID.isEmpty {
                let mine = challenge.mine
                values["mine"] = [
                    "streak": catalogue.plural("challenge_streak", count: Int64(mine.currentStreak)),
                    "checkedIn": catalogue.plural("challenge_checked_in", count: Int64(mine.checkedIn)),
                    "done": mine.checkedInToday,
                ]
                values["canCheckIn"] = !mine.checkedInToday && running
            } else {
                values["canJoin"] = visit.isSignedIn && challenge.today < challenge.days
            }
            values["signIn"] = visit.signInLink
            return visit.render("challenge", values)
        },
        WebPage(.post, "/c/:slug/challenges/:id/join", signIn: .required) { web, visit in
            var request = ContentJoinChallengeRequest()
            request.challengeID = try visit.path("id")
            _ = try await web.gateway.client(.content).call(ContentAPI.joinChallenge, request, metadata: visit.metadata)
            visit.flash("flash_challenge_joined")
            return Visit.redirect(to: "/c/\(Visit.percentEncoded(try visit.path("slug")))/challenges/\(Visit.percentEncoded(request.challengeID))")
        },
        WebPage(.post, "/c/:slug/challenges/:id/checkins", signIn: .required) { web, visit in
            var request = ContentCheckInRequest()
            request.challengeID = try visit.path("id")
            request.note = visit.form["note"] ?? ""
            do {
                _ = try await web.gateway.client(.content).call(ContentAPI.checkIn, request, metadata: visit.metadata)
                visit.flash("flash_checked_in")
            } catch let error as GuildError where [.failedPrecondition, .alreadyExists, .invalidArgument].contains(error.code) {
                visit.flash(error.code == .alreadyExists ? "flash_checked_in_already" : "flash_check_in_refused", kind: .error)
            }
            return Visit.redirect(to: "/c/\(Visit.percentEncoded(try visit.path("slug")))/challenges/\(Visit.percentEncoded(request.challengeID))")
        },
        WebPage(.get, "/c/:slug/lotteries/:id") { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            var request = ContentGetLotteryRequest()
            request.lotteryID = try visit.path("id")
            let lottery = try await web.gateway.client(.content).call(ContentAPI.getLottery, request, metadata: visit.metadata)
            guard lottery.communityID == community.id else { throw WebError.notFound }
            let catalogue = visit.catalogue
            let drawAt = Int64(lottery.drawAt.seconds) * 1000
            var values: [String: Any] = [
                "pageTitle": lottery.title, "slug": community.slug, "community": community.name, "id": lottery.id,
                "title": lottery.title,
                "prizes": lottery.prizes.map { ["name": $0.name, "count": "× \($0.count)"] },
                "drawAt": catalogue.text("lottery_draw_at", ["time": visit.format.dateTime(milliseconds: drawAt)]),
                "entrants": catalogue.plural("lottery_entrants", count: Int64(lottery.entrantCount)),
                "commitment": lottery.commitment, "algorithm": lottery.algorithm,
                "drawn": lottery.status == "drawn", "entered": lottery.entered,
                "canEnter": visit.isSignedIn && !lottery.entered && lottery.status == "open",
                "signIn": visit.signInLink,
            ]
            if lottery.status == "drawn" {
                let names = await web.displayNames(Set(lottery.winners.map(\.userID)), metadata: visit.metadata)
                values["seed"] = lottery.seed
                values["winners"] = lottery.winners.map { winner in
                    ["prize": winner.prize, "name": names[winner.userID] ?? catalogue.text("comment_someone"), "position": winner.position + 1] as [String: Any]
                }
                values["verify"] = catalogue.text("lottery_verify_how", ["id": lottery.id])
            } else {
                values["timeLeft"] = catalogue.text("plan_offer_left", ["time": visit.format.timeLeft(until: drawAt, now: visit.now, catalogue: catalogue)])
            }
            return visit.render("lottery", values)
        },
        WebPage(.post, "/c/:slug/lotteries/:id/entries", signIn: .required) { web, visit in
            var request = ContentEnterLotteryRequest()
            request.lotteryID = try visit.path("id")
            do {
                _ = try await web.gateway.client(.content).call(ContentAPI.enterLottery, request, metadata: visit.metadata)
                visit.flash("flash_lottery_entered")
            } catch let error as GuildError where [.failedPrecondition, .permissionDenied].contains(error.code) {
                visit.flash("flash_lottery_refused", kind: .error)
            }
            return Visit.redirect(to: "/c/\(Visit.percentEncoded(try visit.path("slug")))/lotteries/\(Visit.percentEncoded(request.lotteryID))")
        },
    ]
}
