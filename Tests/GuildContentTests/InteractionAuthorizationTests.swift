import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import SwiftProtobuf
import Testing

@testable import GuildContent

/// Every cell of the role × operation table of ``ContentService/interactionPolicy``, tried
/// through the service against a live membership service: each allowed cell must succeed and
/// each refused one must be refused. One cluster serves all cells.
@Suite("Interaction authorization table", .serialized)
struct InteractionAuthorizationTests {
    typealias Op = ContentService.InteractionOperation

    static let operations: [CommunityOperation] = [
        Op.answerQuestions, Op.askQuestions, Op.readAllQuestions, Op.offerConsulting, Op.bookConsulting,
        Op.manageChallenges, Op.joinChallenges, Op.manageLotteries, Op.enterLotteries, Op.hostEvents,
        Op.manageOthersEvents, Op.manageReviewTasks, Op.applyForReviews,
    ]

    @Test("the table names every operation the service checks")
    func tableIsComplete() {
        #expect(Set(Self.operations) == Set(ContentService.interactionPolicy.rules.keys))
    }

    /// Records every cell needs: a host (a guest expert) who answers questions, offers a free
    /// session, hosts an event per actor; a challenge, a lottery and a review task to take part in.
    struct Stage: Sendable {
        let host: UserID
        let offering: ContentOffering
        let slots: [Google_Protobuf_Timestamp]
        let challenge: ContentChallenge
        let lottery: ContentLottery
        let task: ContentReviewTask
    }

    @Test("every cell")
    func everyCell() async throws {
        try await ContentFixture.with(.sqlite) { f in
            let actors: [String: UserID] = [
                "owner": f.owner, "co_owner": UserID("co-owner-01"), "moderator": f.moderator, "guest_expert": f.expert,
                "member": UserID("member-0001"), "none": UserID("stranger-01"),
            ]
            try await f.assign(actors["co_owner"]!, "co_owner")
            try await f.join(actors["member"]!)
            let host = UserID("host-0000001")
            try await f.assign(host, "guest_expert")
            try await f.answerer(host, price: 0)
            _ = try await f.content.setAvailability(ContentSetAvailabilityRequest.with {
                $0.communityID = f.community.id
                $0.timeZone = "UTC"
                $0.windows = (1...7).map { day in ContentAvailabilityWindow.with { $0.weekday = Int32(day); $0.startMinute = 0; $0.endMinute = 1440 } }
            }, user: host)
            let offering = try await f.content.createOffering(ContentCreateOfferingRequest.with {
                $0.communityID = f.community.id
                $0.title = "Free chat"
                $0.durationMinutes = 15
            }, user: host)
            let slots = try await f.content.slots(ContentListSlotsRequest.with { $0.offeringID = offering.id; $0.days = 1 }, user: nil).slots.map(\.start)
            let challenge = try await f.content.createChallenge(ContentCreateChallengeRequest.with {
                $0.communityID = f.community.id
                $0.title = "Daily"
                $0.task = "One test"
                $0.startDate = "2026-01-01"
                $0.days = 7
                $0.timeZone = "UTC"
            }, user: f.owner)
            let lottery = try await f.content.createLottery(ContentCreateLotteryRequest.with {
                $0.communityID = f.community.id
                $0.title = "Book"
                $0.prizes = [ContentPrize.with { $0.name = "Book"; $0.count = 1 }]
                $0.eligibility = "members"
                $0.drawAt = f.clock.now().addingTimeInterval(86_400).timestamp
            }, user: f.owner)
            let task = try await f.content.createReviewTask(ContentCreateReviewTaskRequest.with {
                $0.communityID = f.community.id
                $0.product = "Keyboard"
                $0.brief = "Type on it"
                $0.places = 10
                $0.deadline = f.clock.now().addingTimeInterval(86_400).timestamp
            }, user: f.owner)
            let stage = Stage(host: host, offering: offering, slots: slots, challenge: challenge, lottery: lottery, task: task)

            var cells = 0
            for operation in Self.operations {
                for (index, (name, actor)) in actors.sorted(by: { $0.key < $1.key }).enumerated() {
                    let expected = ContentService.interactionPolicy.allows(operation, role: name == "none" ? nil : CommunityRole(rawValue: name))
                    let allowed: Bool
                    do {
                        try await Self.attempt(operation, actor: actor, index: index, f: f, stage: stage)
                        allowed = true
                    } catch let error as GuildError where [.permissionDenied, .unauthenticated, .notFound].contains(error.code) {
                        allowed = false
                    }
                    #expect(allowed == expected, "\(name) × \(operation): expected \(expected ? "allowed" : "refused")")
                    cells += 1
                }
            }
            #expect(cells == Self.operations.count * 6)
        }
    }

    /// Tries `operation` as `actor` on records of its own (`index` tells actors apart).
    static func attempt(_ operation: CommunityOperation, actor: UserID, index: Int, f: ContentFixture, stage: Stage) async throws {
        let community = f.community.id
        switch operation {
        case Op.answerQuestions:
            try await f.answerer(actor, price: 0)
        case Op.askQuestions:
            _ = try await f.ask(stage.host, "Question \(index)", key: Identifier.make(), by: actor)
        case Op.readAllQuestions:
            _ = try await f.content.questions(ContentListQuestionsRequest.with { $0.communityID = community; $0.scope = "all" }, user: actor)
        case Op.offerConsulting:
            _ = try await f.content.createOffering(ContentCreateOfferingRequest.with {
                $0.communityID = community
                $0.title = "Offering \(index)"
                $0.durationMinutes = 30
            }, user: actor)
        case Op.bookConsulting:
            _ = try await f.book(stage.offering, at: stage.slots[index + 4], by: actor)
        case Op.manageChallenges:
            _ = try await f.content.createChallenge(ContentCreateChallengeRequest.with {
                $0.communityID = community
                $0.title = "Challenge \(index)"
                $0.task = "Task"
                $0.startDate = "2026-01-02"
                $0.days = 3
                $0.timeZone = "UTC"
            }, user: actor)
        case Op.joinChallenges:
            _ = try await f.content.joinChallenge(ContentJoinChallengeRequest.with { $0.challengeID = stage.challenge.id }, user: actor)
        case Op.manageLotteries:
            _ = try await f.content.createLottery(ContentCreateLotteryRequest.with {
                $0.communityID = community
                $0.title = "Lottery \(index)"
                $0.prizes = [ContentPrize.with { $0.name = "Mug"; $0.count = 1 }]
                $0.eligibility = "members"
                $0.drawAt = f.clock.now().addingTimeInterval(3_600).timestamp
            }, user: actor)
        case Op.enterLotteries:
            _ = try await f.content.enterLottery(ContentEnterLotteryRequest.with { $0.lotteryID = stage.lottery.id }, user: actor)
        case Op.hostEvents:
            _ = try await Self.event(index, by: actor, f: f)
        case Op.manageOthersEvents:
            let event = try await Self.event(index, by: stage.host, f: f)
            _ = try await f.content.cancelEvent(ContentCancelEventRequest.with { $0.eventID = event.id; $0.reason = "weather" }, user: actor)
        case Op.manageReviewTasks:
            _ = try await f.content.createReviewTask(ContentCreateReviewTaskRequest.with {
                $0.communityID = community
                $0.product = "Product \(index)"
                $0.brief = "Try it"
                $0.places = 1
                $0.deadline = f.clock.now().addingTimeInterval(86_400).timestamp
            }, user: actor)
        case Op.applyForReviews:
            _ = try await f.content.applyForReview(ContentApplyForReviewRequest.with { $0.taskID = stage.task.id; $0.motivation = "I type a lot" }, user: actor)
        default:
            Issue.record("no attempt for \(operation)")
        }
    }

    static func event(_ index: Int, by user: UserID, f: ContentFixture) async throws -> ContentEvent {
        try await f.content.createEvent(ContentCreateEventRequest.with {
            $0.communityID = f.community.id
            $0.kind = "offline"
            $0.title = "Meetup \(index)"
            $0.start = f.clock.now().addingTimeInterval(86_400).timestamp
            $0.durationMinutes = 90
            $0.timeZone = "Asia/Shanghai"
            $0.location = "Shanghai"
            $0.accessMode = "members"
        }, user: user)
    }
}
