import Foundation
import GuildCore
import GuildMessages
import GuildService
import GuildStorage
import GuildTesting
import Logging
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildContent
@testable import GuildMembership

extension InteractionScenarios {
    static let questionScenarios: [String: Scenario] = [
        "question: asked, paid, held, answered and the answerer credited": paidQuestion,
        "question: unanswered in time is refunded once, across a restart": questionTimeout,
        "question: declined, free, unpaid and refused questions": questionEdges,
    ]

    static let asker = UserID("asker-000001")
    static let reader = UserID("reader-00001")

    static func paidQuestion(_ f: ContentFixture) async throws {
        try await f.join(asker)
        try await f.join(reader)
        let terms = try await f.answerer(f.owner, price: 5_000)
        #expect(terms.price.minorUnits == 5_000 && terms.price.currency == "CNY")
        #expect(try await f.content.answerers(ContentListAnswerersRequest.with { $0.communityID = f.community.id }).answerers.map(\.userID) == [f.owner.rawValue])

        let key = Identifier.make()
        let asked = try await f.ask(f.owner, "How do I structure actors?", key: key, by: asker, public: true)
        #expect(asked.status == "awaiting_payment")
        #expect(asked.payment.amount.minorUnits == 5_000)
        #expect(asked.payment.checkoutURL == "/api/v1/charges/\(asked.payment.chargeID)/sandbox-confirm")
        // The same key is the same question and the same charge.
        let again = try await f.ask(f.owner, "How do I structure actors?", key: key, by: asker, public: true)
        #expect(again.id == asked.id && again.chargeID == asked.chargeID)
        // The answerer cannot answer before the payment arrives; nobody else sees it.
        #expect(await thrownError { _ = try await f.answer(asked, by: f.owner) }?.reason == "question_not_open")
        #expect(await thrownError { _ = try await f.content.question(asked.id, user: reader) }?.code == .notFound)

        try await f.pay(charge: asked.chargeID, by: asker)
        let open = try await f.content.question(asked.id, user: f.owner)
        #expect(open.status == "open")
        #expect(open.answerBy.date == f.clock.now().addingTimeInterval(48 * 3600))
        let held = try await f.charge(asked.chargeID)
        #expect(held.status == "held")
        #expect(try await f.ledgerBalance("charge_holding:\(f.community.id)") == -5_000)
        #expect(try await f.content.questions(ContentListQuestionsRequest.with { $0.communityID = f.community.id; $0.scope = "inbox" }, user: f.owner).questions.map(\.id) == [asked.id])
        // Not public until answered.
        #expect(await thrownError { _ = try await f.content.question(asked.id, user: reader) }?.code == .notFound)

        let answered = try await f.answer(asked, by: f.owner)
        #expect(answered.status == "answered")
        #expect(answered.answerHtml.contains("Use one actor per resource"))
        // 5 % platform fee: the answerer is owed 4,750.
        #expect(answered.answererCredit.minorUnits == 4_750)
        #expect(try await f.charge(asked.chargeID).status == "settled")
        #expect(try await f.ledgerBalance("payee_payable:\(f.community.id):\(f.owner)") == -4_750)
        #expect(try await f.ledgerBalance("charge_holding:\(f.community.id)") == 0)
        #expect(try await f.membership.checkLedger().violations.isEmpty)
        // Answering again is refused; the money moved once.
        #expect(await thrownError { _ = try await f.answer(asked, by: f.owner) }?.reason == "question_not_open")
        #expect(try await f.ledgerBalance("payee_payable:\(f.community.id):\(f.owner)") == -4_750)

        // Public and answered: other members read it; a visitor does not.
        #expect(try await f.content.question(asked.id, user: reader).answerHtml.contains("actor"))
        #expect(try await f.content.questions(ContentListQuestionsRequest.with { $0.communityID = f.community.id; $0.scope = "public" }, user: reader).questions.map(\.id) == [asked.id])
        #expect(await thrownError { _ = try await f.content.question(asked.id, user: nil) }?.code == .notFound)
        // What the reader sees carries no money detail.
        #expect(try await f.content.question(asked.id, user: reader).chargeID.isEmpty)

        let topics = try await f.outbox().map(\.0)
        #expect(topics.filter { $0 == "content.question.asked" }.count == 1)
        #expect(topics.filter { $0 == "content.question.answered" }.count == 1)
        // Delivered over the wire to a subscriber, as every content event is.
        try await f.withWireSubscriber { relay, consumer in
            #expect(try await relay.deliverDue() == topics.count)
            let delivered = try await consumer.applied()
            #expect(delivered.map(\.topic) == topics)
            let event = try ContentQuestionEvent(serializedBytes: try #require(delivered.last { $0.topic == "content.question.answered" }).payload)
            #expect(event.questionID == asked.id && event.answererID == f.owner.rawValue && event.price.minorUnits == 5_000)
        }
    }

    static func questionTimeout(_ f: ContentFixture) async throws {
        try await f.join(asker)
        try await f.answerer(f.expert, price: 2_000)
        var limit = ContentUpdateSettingsRequest()
        limit.communityID = f.community.id
        limit.questionLimitMinutes = 60
        _ = try await f.content.updateSettings(limit, user: f.owner)

        // One question times out and the job refunds it.
        let first = try await f.ask(f.expert, "Why is my task group slow?", key: Identifier.make(), by: asker)
        try await f.pay(charge: first.chargeID, by: asker)
        f.clock.advance(by: 59 * 60)
        #expect(try await f.content.expireQuestions() == 0)
        f.clock.advance(by: 61)
        #expect(try await f.content.expireQuestions() == 1)
        #expect(try await f.content.question(first.id, user: asker).status == "expired")
        #expect(try await f.charge(first.chargeID).status == "refunded")
        #expect(await thrownError { _ = try await f.answer(first, by: f.expert) }?.reason == "question_not_open")

        // Another: the process refunds it and dies before recording the end. A new process on
        // the same database finishes the work, and the money comes back once.
        let second = try await f.ask(f.expert, "Why does my actor deadlock?", key: Identifier.make(), by: asker)
        try await f.pay(charge: second.chargeID, by: asker)
        f.clock.advance(by: 61 * 60)
        try await f.content.database.withConnection { sql in
            try await sql.raw("UPDATE questions SET status = 'expiring', updated_at_ms = \(bind: f.clock.now().millisecondsSince1970) WHERE id = \(bind: second.id)").run()
        }
        _ = try await f.content.refundCharge(second.chargeID, reason: "not answered in time")
        let restarted = ContentService(database: f.content.database, access: f.content.access, configuration: f.content.configuration,
                                       clock: f.clock, logger: Logger(label: "restarted"))
        try await restarted.prepare()
        #expect(try await restarted.expireQuestions() == 0)  // too soon to take the other for dead
        f.clock.advance(by: 61)
        #expect(try await restarted.expireQuestions() == 1)
        #expect(try await restarted.expireQuestions() == 0)
        #expect(try await restarted.question(second.id, user: asker).status == "expired")
        let refunds = try await f.membership.database.withConnection { sql in
            try await sql.raw("SELECT COUNT(*) AS n FROM ledger_transactions WHERE kind = 'charge_refund' AND reference = \(bind: second.chargeID)").first()!
                .decode(column: "n", as: Int.self)
        }
        #expect(refunds == 1)
        #expect(try await f.ledgerBalance("charge_holding:\(f.community.id)") == 0)
        #expect(try await f.membership.checkLedger().violations.isEmpty)
        #expect(try await f.outbox().map(\.0).filter { $0 == "content.question.refunded" }.count == 2)
    }

    static func questionEdges(_ f: ContentFixture) async throws {
        try await f.join(asker)
        try await f.answerer(f.expert, price: 3_000)

        // Declined with a reason: refunded at once.
        let declined = try await f.ask(f.expert, "Can you review my whole app?", key: Identifier.make(), by: asker)
        try await f.pay(charge: declined.chargeID, by: asker)
        #expect(await thrownError { _ = try await f.content.declineQuestion(ContentDeclineQuestionRequest.with { $0.questionID = declined.id; $0.reason = "x" }, user: asker) }?.reason == "not_the_answerer")
        let answer = try await f.content.declineQuestion(ContentDeclineQuestionRequest.with { $0.questionID = declined.id; $0.reason = "Too broad for a question" }, user: f.expert)
        #expect(answer.status == "declined" && answer.declineReason == "Too broad for a question")
        #expect(try await f.charge(declined.chargeID).status == "refunded")

        // Unpaid for an hour: called off, and the charge with it.
        let unpaid = try await f.ask(f.expert, "What about Sendable?", key: Identifier.make(), by: asker)
        f.clock.advance(by: 3_601)
        #expect(try await f.content.expireQuestions() == 1)
        #expect(try await f.content.question(unpaid.id, user: asker).status == "cancelled")
        #expect(try await f.charge(unpaid.chargeID).status == "cancelled")

        // Free questions open at once, with no charge.
        try await f.answerer(f.owner, price: 0)
        let free = try await f.ask(f.owner, "Is this community for beginners?", key: Identifier.make(), by: asker)
        #expect(free.status == "open" && free.chargeID.isEmpty && !free.hasPayment)
        #expect(try await f.answer(free, by: f.owner).status == "answered")

        // Refused: asking oneself, someone who does not take questions, a stranger asking, no key.
        #expect(await thrownError { _ = try await f.ask(f.expert, "Me?", key: Identifier.make(), by: f.expert) }?.code == .invalidArgument)
        #expect(await thrownError { _ = try await f.ask(f.moderator, "You?", key: Identifier.make(), by: asker) }?.reason == "not_accepting_questions")
        #expect(await thrownError { _ = try await f.ask(f.owner, "Hi", key: Identifier.make(), by: UserID("stranger-0001")) }?.code == .permissionDenied)
        #expect(await thrownError { _ = try await f.ask(f.owner, "Hi", key: "", by: asker) }?.code == .invalidArgument)
        // A member may not set answerer terms.
        #expect(await thrownError { _ = try await f.answerer(asker, price: 100) }?.code == .permissionDenied)
        #expect(try await f.membership.checkLedger().violations.isEmpty)
    }
}

extension ContentFixture {
    @discardableResult
    func answerer(_ user: UserID, price: Int64, accepting: Bool = true) async throws -> ContentAnswerer {
        try await content.setAnswerer(ContentSetAnswererRequest.with {
            $0.communityID = community.id
            $0.accepting = accepting
            $0.priceMinorUnits = price
            $0.intro = "Ask me about Swift concurrency."
        }, user: user)
    }

    func ask(_ answerer: UserID, _ title: String, key: String, by user: UserID, public isPublic: Bool = false) async throws -> ContentQuestion {
        try await content.askQuestion(ContentAskQuestionRequest.with {
            $0.communityID = community.id
            $0.answererID = answerer.rawValue
            $0.title = title
            $0.markdown = "Details of **\(title)**"
            $0.public = isPublic
            $0.idempotencyKey = key
        }, user: user)
    }

    func answer(_ question: ContentQuestion, by user: UserID) async throws -> ContentQuestion {
        try await content.answerQuestion(ContentAnswerQuestionRequest.with {
            $0.questionID = question.id
            $0.markdown = "Use one actor per resource, and keep them small."
        }, user: user)
    }

    /// The payer confirms a charge's sandbox payment; membership's events reach content.
    func pay(charge: String, by user: UserID) async throws {
        _ = try await membership.confirmSandboxCharge(MembershipConfirmSandboxChargeRequest.with {
            $0.chargeID = charge
            $0.idempotencyKey = Identifier.make()
        }, user: user)
        try await cluster.membershipEvents.deliverDue()
    }

    func charge(_ id: String) async throws -> MembershipCharge {
        try await membership.charge(MembershipGetChargeRequest.with { $0.chargeID = id }, user: nil)
    }

    /// The balance of a ledger account in the community's currency (credits negative).
    func ledgerBalance(_ account: String) async throws -> Int64 {
        try await membership.database.withConnection { sql in
            try await Ledger.balance(sql, account: LedgerAccount(rawValue: account), currency: .cny).minorUnits
        }
    }
}
