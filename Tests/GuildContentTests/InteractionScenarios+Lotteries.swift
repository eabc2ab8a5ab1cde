import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildContent

/// Lotteries: the commitment and the revealed seed, reproducing the draw from the published data
/// alone, one draw, one entry per member, the draw time, who may enter, and the events.
extension InteractionScenarios {
    static let lotteryScenarios: [String: Scenario] = [
        "lottery: creating checks its fields and who creates": lotteryCreation,
        "lottery: the commitment before the draw is SHA-256 of the seed revealed after": lotteryCommitment,
        "lottery: the draw is reproducible from the published data and its JSON": lotteryReproducible,
        "lottery: drawn exactly once, by hand or by the scheduler": lotteryDrawnOnce,
        "lottery: one entry per member, entries close at the draw time": lotteryEntries,
        "lottery: eligibility by comments on a post": lotteryCommenters,
        "lottery: eligibility by finishing a challenge": lotteryFinishers,
    ]

    static func lotteryMember(_ n: Int) -> UserID { UserID("entrant-\(n)") }
    static let lotteryStranger = UserID("stranger-lt1")

    static func lotteryRequest(
        _ f: ContentFixture, prizes: [(String, Int32)] = [("Swift book", 1), ("Sticker pack", 2)], eligibility: String = "members",
        ref: String = "", drawIn: TimeInterval = 86_400
    ) -> ContentCreateLotteryRequest {
        var request = ContentCreateLotteryRequest()
        request.communityID = f.community.id
        request.title = "New year draw"
        request.prizes = prizes.map { name, count in
            var prize = ContentPrize()
            prize.name = name
            prize.count = count
            return prize
        }
        request.eligibility = eligibility
        request.eligibilityRef = ref
        request.drawAt = Google_Protobuf_Timestamp(date: f.clock.now().addingTimeInterval(drawIn))
        return request
    }

    static func makeLottery(
        _ f: ContentFixture, prizes: [(String, Int32)] = [("Swift book", 1), ("Sticker pack", 2)], eligibility: String = "members",
        ref: String = "", drawIn: TimeInterval = 86_400
    ) async throws -> ContentLottery {
        try await f.content.createLottery(lotteryRequest(f, prizes: prizes, eligibility: eligibility, ref: ref, drawIn: drawIn), user: f.owner)
    }

    static func lotteryEnter(_ f: ContentFixture, _ lottery: ContentLottery, _ user: UserID) async throws -> ContentLottery {
        var request = ContentEnterLotteryRequest()
        request.lotteryID = lottery.id
        return try await f.content.enterLottery(request, user: user)
    }

    static func lotteryDrawByHand(_ f: ContentFixture, _ lottery: ContentLottery, by user: UserID? = nil) async throws -> ContentLottery {
        var request = ContentDrawLotteryRequest()
        request.lotteryID = lottery.id
        return try await f.content.drawLottery(request, user: user ?? f.owner)
    }

    static func lotteryRead(_ f: ContentFixture, _ lottery: ContentLottery, as user: UserID?) async throws -> ContentLottery {
        var request = ContentGetLotteryRequest()
        request.lotteryID = lottery.id
        return try await f.content.lottery(request, user: user)
    }

    /// The lottery events of `topic` in content's outbox.
    static func lotteryEvents(_ f: ContentFixture, _ topic: String) async throws -> [ContentLotteryEvent] {
        try await f.outbox().filter { $0.0 == topic }.map { try ContentLotteryEvent(serializedBytes: $0.1) }
    }

    /// What `LotteryDraw.verify` says of a lottery as published.
    static func verifyPublished(_ lottery: ContentLottery) -> [String] {
        LotteryDraw.verify(
            seedHex: lottery.seed, commitment: lottery.commitment, entrants: lottery.entrants,
            prizes: lottery.prizes.map { LotteryDraw.Prize(name: $0.name, count: Int($0.count)) },
            publishedWinners: lottery.winners.map { LotteryDraw.Winner(prize: $0.prize, prizeIndex: Int($0.prizeIndex), position: Int($0.position), userID: $0.userID) })
    }

    /// The stored (secret until the draw) seed, read from content's database.
    static func storedSeed(_ f: ContentFixture, _ lottery: ContentLottery) async throws -> String {
        try await f.cluster.contentDatabase.database.withConnection { sql in
            try await sql.raw("SELECT seed FROM lotteries WHERE id = \(bind: lottery.id)").first()?.decode(column: "seed", as: String.self) ?? ""
        }
    }

    /// Members 1...n join the community and enter.
    static func lotteryEntrants(_ f: ContentFixture, _ lottery: ContentLottery, _ n: Int) async throws -> [UserID] {
        var users: [UserID] = []
        for i in 1...n {
            let user = lotteryMember(i)
            try await f.join(user)
            _ = try await lotteryEnter(f, lottery, user)
            users.append(user)
        }
        return users
    }

    static func lotteryCreation(_ f: ContentFixture) async throws {
        let member = lotteryMember(1)
        try await f.join(member)
        for user in [member, f.moderator, f.expert, lotteryStranger] {
            #expect(await thrownError { _ = try await f.content.createLottery(lotteryRequest(f), user: user) }?.code == .permissionDenied)
        }
        let cases: [(ContentCreateLotteryRequest, String)] = [
            (lotteryRequest(f, prizes: []), "prizes"),
            (lotteryRequest(f, prizes: (1...21).map { ("Prize \($0)", 1) }), "prizes"),
            (lotteryRequest(f, prizes: [("Book", 0)]), "prizes[0].count"),
            (lotteryRequest(f, prizes: [("Book", 1), ("Mug", 1_001)]), "prizes[1].count"),
            (lotteryRequest(f, prizes: [(" ", 1)]), "prizes[0].name"),
            (lotteryRequest(f, prizes: [(String(repeating: "p", count: 101), 1)]), "prizes[0].name"),
            (lotteryRequest(f, eligibility: "everyone"), "eligibility"),
            (lotteryRequest(f, drawIn: 0), "drawAt"),
            (lotteryRequest(f, drawIn: -60), "drawAt"),
            (lotteryRequest(f, eligibility: "commenters", ref: "no-such-post"), "eligibilityRef"),
            (lotteryRequest(f, eligibility: "finishers", ref: "no-such-challenge"), "eligibilityRef"),
        ]
        for (request, field) in cases {
            let error = await thrownError { _ = try await f.content.createLottery(request, user: f.owner) }
            #expect(error?.code == .invalidArgument, "\(field)")
            #expect(error?.fieldViolations.map(\.field) == [field])
        }
        var untitled = lotteryRequest(f)
        untitled.title = ""
        #expect(await thrownError { _ = try await f.content.createLottery(untitled, user: f.owner) }?.fieldViolations.map(\.field) == ["title"])
        var noTime = lotteryRequest(f)
        noTime.clearDrawAt()
        #expect(await thrownError { _ = try await f.content.createLottery(noTime, user: f.owner) }?.fieldViolations.map(\.field) == ["drawAt"])

        let made = try await makeLottery(f)
        #expect(made.status == "open")
        #expect(made.algorithm == LotteryDraw.algorithm)
        #expect(made.prizes.map(\.name) == ["Swift book", "Sticker pack"])
        #expect(made.prizes.map(\.count) == [1, 2])
        #expect(made.eligibility == "members")
        #expect(made.drawAt.date == f.clock.now().addingTimeInterval(86_400))
        // Anyone may read lotteries, and list them.
        #expect(try await lotteryRead(f, made, as: nil).title == "New year draw")
        var list = ContentListLotteriesRequest()
        list.communityID = f.community.id
        #expect(try await f.content.lotteries(list, user: nil).lotteries.map(\.id) == [made.id])
        var missing = ContentGetLotteryRequest()
        missing.lotteryID = "no-such-lottery"
        #expect(await thrownError { _ = try await f.content.lottery(missing, user: member) }?.code == .notFound)
    }

    static func lotteryCommitment(_ f: ContentFixture) async throws {
        let lottery = try await makeLottery(f)
        let users = try await lotteryEntrants(f, lottery, 4)
        let before = try await lotteryRead(f, lottery, as: users[0])
        let seed = try await storedSeed(f, lottery)
        #expect(seed.count == 64)
        // Before the draw: the commitment and the count, never the seed, the entrants or winners.
        #expect(before.commitment.count == 64)
        #expect(before.commitment == lottery.commitment)
        #expect(before.seed.isEmpty)
        #expect(before.entrants.isEmpty)
        #expect(before.winners.isEmpty)
        #expect(before.entrantCount == 4)
        #expect(before.entered)
        #expect(!(try await lotteryRead(f, lottery, as: nil)).entered)
        for seen in [before, try await lotteryRead(f, lottery, as: nil), try await lotteryRead(f, lottery, as: f.owner)] {
            #expect(!seen.everything.contains(seed))
        }
        var list = ContentListLotteriesRequest()
        list.communityID = f.community.id
        #expect(!(try await f.content.lotteries(list, user: f.owner)).everything.contains(seed))

        f.clock.advance(by: 86_400)
        #expect(try await f.content.drawDueLotteries() == 1)
        let after = try await lotteryRead(f, lottery, as: nil)
        #expect(after.status == "drawn")
        #expect(after.seed == seed)
        #expect(after.hasDrawnAt)
        let revealed = try #require(LotteryDraw.bytes(hex: after.seed))
        #expect(revealed.count == 32)
        #expect(LotteryDraw.commitment(toSeed: revealed) == before.commitment)
        #expect(after.commitment == before.commitment)
    }

    static func lotteryReproducible(_ f: ContentFixture) async throws {
        let lottery = try await makeLottery(f, prizes: [("Swift book", 1), ("Sticker pack", 2), ("Mug", 1)])
        let users = try await lotteryEntrants(f, lottery, 6)
        f.clock.advance(by: 86_400)
        let drawn = try await lotteryDrawByHand(f, lottery)
        #expect(drawn.status == "drawn")
        #expect(drawn.entrants == LotteryDraw.canonicalEntrants(users.map(\.rawValue)))
        #expect(drawn.entrants == users.map(\.rawValue).sorted())
        #expect(drawn.entrantCount == 6)
        #expect(drawn.winners.map(\.position) == [1, 2, 3, 4])
        #expect(drawn.winners.map(\.prize) == ["Swift book", "Sticker pack", "Sticker pack", "Mug"])
        #expect(drawn.winners.map(\.prizeIndex) == [0, 1, 1, 2])
        #expect(Set(drawn.winners.map(\.userID)).count == 4)
        #expect(Set(drawn.winners.map(\.userID)).isSubset(of: Set(drawn.entrants)))
        // Anyone holding the published data recomputes the same winners.
        #expect(verifyPublished(drawn) == [])
        #expect(verifyPublished(try await lotteryRead(f, lottery, as: nil)) == [])
        // A tampered list does not verify: a loser swapped in, or two winners swapped.
        let loser = try #require(drawn.entrants.first { id in !drawn.winners.contains { $0.userID == id } })
        var swappedIn = drawn
        swappedIn.winners[0].userID = loser
        #expect(!verifyPublished(swappedIn).isEmpty)
        var reordered = drawn
        reordered.winners[0].userID = drawn.winners[1].userID
        reordered.winners[1].userID = drawn.winners[0].userID
        #expect(!verifyPublished(reordered).isEmpty)
        var dropped = drawn
        dropped.winners.removeLast()
        #expect(!verifyPublished(dropped).isEmpty)
        var otherSeed = drawn
        otherSeed.seed = LotteryDraw.hex(LotteryDraw.makeSeed())
        #expect(!verifyPublished(otherSeed).isEmpty)

        // The proto3 JSON the gateway serves carries what `guild lottery verify` reads.
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("lottery-\(drawn.id).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(try drawn.jsonString().utf8).write(to: file)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
        for key in ["id", "seed", "commitment", "entrants", "winners", "prizes", "algorithm", "status"] {
            #expect(object[key] != nil, "\(key) is missing from the JSON")
        }
        #expect(object["algorithm"] as? String == LotteryDraw.algorithm)
        func integer(_ value: Any?) -> Int {
            if let number = value as? NSNumber { return number.intValue }
            return (value as? String).flatMap { Int($0) } ?? 0
        }
        let prizes = (object["prizes"] as? [[String: Any]] ?? []).map { LotteryDraw.Prize(name: $0["name"] as? String ?? "", count: integer($0["count"])) }
        // prizeIndex 0 is the proto3 default and is left out of the JSON: a reader takes it as 0.
        let winners = (object["winners"] as? [[String: Any]] ?? []).map {
            LotteryDraw.Winner(prize: $0["prize"] as? String ?? "", prizeIndex: integer($0["prizeIndex"]), position: integer($0["position"]),
                               userID: $0["userId"] as? String ?? "")
        }
        #expect(winners.count == 4)
        let problems = LotteryDraw.verify(
            seedHex: object["seed"] as? String ?? "", commitment: object["commitment"] as? String ?? "",
            entrants: object["entrants"] as? [String] ?? [], prizes: prizes, publishedWinners: winners)
        #expect(problems == [])
        // And the same JSON with a winner changed does not verify.
        let tampered = try ContentLottery(jsonString: try swappedIn.jsonString())
        #expect(!verifyPublished(tampered).isEmpty)
    }

    static func lotteryDrawnOnce(_ f: ContentFixture) async throws {
        let lottery = try await makeLottery(f, prizes: [("Swift book", 1), ("Sticker pack", 5)])
        let users = try await lotteryEntrants(f, lottery, 3)
        // Not before the draw time, and only by owners.
        let early = await thrownError { _ = try await lotteryDrawByHand(f, lottery) }
        #expect(early?.code == .failedPrecondition)
        #expect(early?.reason == "draw_time_not_reached")
        #expect(try await f.content.drawDueLotteries() == 0)
        f.clock.advance(by: 86_400)
        #expect(await thrownError { _ = try await lotteryDrawByHand(f, lottery, by: users[0]) }?.code == .permissionDenied)
        #expect(await thrownError { _ = try await lotteryDrawByHand(f, lottery, by: f.moderator) }?.code == .permissionDenied)

        // The owner and the scheduler at the same moment: one draw.
        async let manualDraw = thrownError { _ = try await lotteryDrawByHand(f, lottery) }
        async let schedulerDraw = (try? await f.content.drawDueLotteries()) ?? -1
        let (manual, scheduled) = await (manualDraw, schedulerDraw)
        #expect((manual == nil) != (scheduled == 1), "manual: \(String(describing: manual)), scheduler: \(scheduled)")
        #expect(manual == nil || manual?.reason == "already_drawn")
        let drawn = try await lotteryRead(f, lottery, as: f.owner)
        // Six places, three entrants: everyone wins something, the last places stay unawarded.
        #expect(drawn.winners.count == 3)
        #expect(Set(drawn.winners.map(\.userID)) == Set(users.map(\.rawValue)))
        #expect(verifyPublished(drawn) == [])
        let again = await thrownError { _ = try await lotteryDrawByHand(f, lottery) }
        #expect(again?.code == .failedPrecondition)
        #expect(again?.reason == "already_drawn")
        #expect(try await f.content.drawDueLotteries() == 0)
        let later = try await lotteryRead(f, lottery, as: nil)
        #expect(later.winners == drawn.winners)
        #expect(later.seed == drawn.seed)
        #expect(later.drawnAt == drawn.drawnAt)
        // Entering after the draw is refused.
        let latecomer = lotteryMember(9)
        try await f.join(latecomer)
        #expect(await thrownError { _ = try await lotteryEnter(f, lottery, latecomer) }?.reason == "entries_closed")

        // One won event per winner, with the prize; never a second round.
        let won = try await lotteryEvents(f, ContentService.InteractionTopic.lotteryWon)
        #expect(won.map(\.userID) == drawn.winners.map(\.userID))
        #expect(won.map(\.prize) == drawn.winners.map(\.prize))
        #expect(won.allSatisfy { $0.lotteryID == lottery.id && $0.communityID == f.community.id })

        // The scheduler draws what is due, once, and only that.
        let due = try await makeLottery(f, drawIn: 60)
        let notDue = try await makeLottery(f, drawIn: 3_600)
        _ = try await lotteryEnter(f, due, users[0])
        f.clock.advance(by: 120)
        #expect(try await f.content.drawDueLotteries() == 1)
        #expect(try await f.content.drawDueLotteries() == 0)
        #expect(try await lotteryRead(f, due, as: nil).winners.map(\.userID) == [users[0].rawValue])
        #expect(try await lotteryRead(f, notDue, as: nil).status == "open")
        #expect(await thrownError { _ = try await lotteryDrawByHand(f, due) }?.reason == "already_drawn")
        #expect(try await lotteryEvents(f, ContentService.InteractionTopic.lotteryWon).count == 4)
    }

    static func lotteryEntries(_ f: ContentFixture) async throws {
        let lottery = try await makeLottery(f, drawIn: 3_600)
        let (a, b) = (lotteryMember(1), lotteryMember(2))
        for user in [a, b] { try await f.join(user) }
        let first = try await lotteryEnter(f, lottery, a)
        #expect(first.entered)
        #expect(first.entrantCount == 1)
        let second = try await lotteryEnter(f, lottery, a)
        #expect(second.entered)
        #expect(second.entrantCount == 1)
        // The same member entering twice at once still makes one entry.
        async let once = lotteryEnter(f, lottery, b)
        async let twice = lotteryEnter(f, lottery, b)
        #expect(try await [once.entrantCount, twice.entrantCount].max() == 2)
        let forB = try await lotteryRead(f, lottery, as: b)
        #expect(forB.entrantCount == 2)
        #expect(forB.entered)
        #expect(!(try await lotteryRead(f, lottery, as: f.moderator)).entered)
        // Someone without a role in the community may read but not enter.
        #expect(await thrownError { _ = try await lotteryEnter(f, lottery, lotteryStranger) }?.code == .permissionDenied)
        #expect(try await lotteryRead(f, lottery, as: lotteryStranger).entrantCount == 2)
        // Staff may enter like any member.
        #expect(try await lotteryEnter(f, lottery, f.moderator).entrantCount == 3)

        // Entries close at the draw time, even before anyone draws.
        let c = lotteryMember(3)
        try await f.join(c)
        f.clock.advance(by: 3_600)
        let closed = await thrownError { _ = try await lotteryEnter(f, lottery, c) }
        #expect(closed?.code == .failedPrecondition)
        #expect(closed?.reason == "entries_closed")
        // Whoever entered already is told so, unchanged.
        #expect(try await lotteryEnter(f, lottery, a).entrantCount == 3)
        let entered = try await lotteryEvents(f, ContentService.InteractionTopic.lotteryEntered)
        #expect(entered.map(\.userID) == [a.rawValue, b.rawValue, f.moderator.rawValue])
        #expect(entered.allSatisfy { $0.lotteryID == lottery.id && $0.prize.isEmpty })

        let drawn = try await lotteryDrawByHand(f, lottery)
        #expect(drawn.entrants == [a.rawValue, b.rawValue, f.moderator.rawValue].sorted())
        #expect(!drawn.entrants.contains(c.rawValue))
    }

    static func lotteryCommenters(_ f: ContentFixture) async throws {
        let (talker, silent, held, elsewhere) = (lotteryMember(1), lotteryMember(2), lotteryMember(3), lotteryMember(4))
        for user in [talker, silent, held, elsewhere] { try await f.join(user) }
        let post = try await f.post("What are you building?", "Tell us in the comments.")
        let other = try await f.post("Another thread", "Not this one.")
        try await f.settings(keywords: ["casino"])
        _ = try await f.comment(post, "A SwiftUI app.", by: talker)
        let heldComment = try await f.comment(post, "Try my casino", by: held)
        #expect(heldComment.status == "held")
        _ = try await f.comment(other, "Wrong post.", by: elsewhere)

        let lottery = try await makeLottery(f, eligibility: "commenters", ref: post.id)
        #expect(lottery.eligibility == "commenters")
        #expect(lottery.eligibilityRef == post.id)
        #expect(try await lotteryEnter(f, lottery, talker).entered)
        for user in [silent, held, elsewhere] {
            let refused = await thrownError { _ = try await lotteryEnter(f, lottery, user) }
            #expect(refused?.code == .failedPrecondition)
            #expect(refused?.reason == "not_eligible")
            #expect(refused?.message.contains("What are you building?") == true)
        }
        // A comment makes a member eligible.
        _ = try await f.comment(post, "A server in Swift.", by: silent)
        #expect(try await lotteryEnter(f, lottery, silent).entrantCount == 2)
        // Only posts of this community qualify as the reference; a course is not a post.
        let (course, _) = try await f.course("Concurrency", chapters: 1, lessons: 1, free: 1)
        let error = await thrownError { _ = try await makeLottery(f, eligibility: "commenters", ref: course.id) }
        #expect(error?.fieldViolations.map(\.field) == ["eligibilityRef"])
        #expect(try await lotteryEvents(f, ContentService.InteractionTopic.lotteryEntered).count == 2)
    }

    static func lotteryFinishers(_ f: ContentFixture) async throws {
        let (finisher, quitter, outsider) = (lotteryMember(1), lotteryMember(2), lotteryMember(3))
        for user in [finisher, quitter, outsider] { try await f.join(user) }
        var create = ContentCreateChallengeRequest()
        create.communityID = f.community.id
        create.title = "Two-day sprint"
        create.startDate = "2026-01-01"
        create.days = 2
        create.timeZone = "UTC"
        let challenge = try await f.content.createChallenge(create, user: f.owner)
        var join = ContentJoinChallengeRequest()
        join.challengeID = challenge.id
        for user in [finisher, quitter] { _ = try await f.content.joinChallenge(join, user: user) }
        var checkIn = ContentCheckInRequest()
        checkIn.challengeID = challenge.id
        for user in [finisher, quitter] { _ = try await f.content.checkIn(checkIn, user: user) }
        f.clock.advance(by: 86_400)
        _ = try await f.content.checkIn(checkIn, user: finisher)

        let lottery = try await makeLottery(f, eligibility: "finishers", ref: challenge.id)
        #expect(try await lotteryEnter(f, lottery, finisher).entered)
        for user in [quitter, outsider] {
            let refused = await thrownError { _ = try await lotteryEnter(f, lottery, user) }
            #expect(refused?.reason == "not_eligible")
            #expect(refused?.message.contains("Two-day sprint") == true)
        }
        f.clock.advance(by: 86_400)
        #expect(try await f.content.drawDueLotteries() == 1)
        let drawn = try await lotteryRead(f, lottery, as: finisher)
        #expect(drawn.entrants == [finisher.rawValue])
        #expect(drawn.winners.map(\.userID) == [finisher.rawValue])
        #expect(verifyPublished(drawn) == [])
    }
}
