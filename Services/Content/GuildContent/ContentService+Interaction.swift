import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import GuildWire
import Logging
import SQLKit

/// What the interaction features (paid questions, bookings, challenges, lotteries, events,
/// review tasks) share: who may do what, the topics of their events, and money, which moves
/// through membership's charges over the wire (decision 18): content decides when a charge is
/// opened, settled or refunded; membership keeps the ledger and makes each transition once.
extension ContentService {
    /// Operations of the interaction features and who may do them. The interaction
    /// authorization test tries every cell.
    public enum InteractionOperation {
        public static let answerQuestions = CommunityOperation("answer_questions")
        public static let askQuestions = CommunityOperation("ask_questions")
        public static let readAllQuestions = CommunityOperation("read_all_questions")
        public static let offerConsulting = CommunityOperation("offer_consulting")
        public static let bookConsulting = CommunityOperation("book_consulting")
        public static let manageChallenges = CommunityOperation("manage_challenges")
        public static let joinChallenges = CommunityOperation("join_challenges")
        public static let manageLotteries = CommunityOperation("manage_lotteries")
        public static let enterLotteries = CommunityOperation("enter_lotteries")
        public static let hostEvents = CommunityOperation("host_events")
        public static let manageOthersEvents = CommunityOperation("manage_others_events")
        public static let manageReviewTasks = CommunityOperation("manage_review_tasks")
        public static let applyForReviews = CommunityOperation("apply_for_reviews")
    }

    static let hosts: Set<CommunityRole> = [.owner, .coOwner, .guestExpert]
    static let owners: Set<CommunityRole> = [.owner, .coOwner]

    public static let interactionPolicy = CommunityPolicy([
        InteractionOperation.answerQuestions: hosts,
        InteractionOperation.askQuestions: everyone,
        InteractionOperation.readAllQuestions: moderators,
        InteractionOperation.offerConsulting: hosts,
        InteractionOperation.bookConsulting: everyone,
        InteractionOperation.manageChallenges: owners,
        InteractionOperation.joinChallenges: everyone,
        InteractionOperation.manageLotteries: owners,
        InteractionOperation.enterLotteries: everyone,
        InteractionOperation.hostEvents: hosts,
        InteractionOperation.manageOthersEvents: owners,
        InteractionOperation.manageReviewTasks: owners,
        InteractionOperation.applyForReviews: everyone,
    ])

    /// Topics of the interaction events this service writes to its outbox.
    public enum InteractionTopic {
        public static let questionAsked = "content.question.asked"
        public static let questionAnswered = "content.question.answered"
        public static let questionRefunded = "content.question.refunded"
        public static let bookingBooked = "content.booking.booked"
        public static let bookingCancelled = "content.booking.cancelled"
        public static let bookingCompleted = "content.booking.completed"
        public static let checkedIn = "content.challenge.checked_in"
        public static let challengeFinished = "content.challenge.finished"
        public static let lotteryEntered = "content.lottery.entered"
        public static let lotteryWon = "content.lottery.won"
        public static let eventRsvp = "content.event.rsvp"
        public static let eventPromoted = "content.event.promoted"
        public static let eventReminder = "content.event.reminder"
        public static let eventAttended = "content.event.attended"
        public static let reviewAccepted = "content.review.accepted"
    }

    /// The caller's standing in `community`, refusing unless they may do `operation`.
    @discardableResult
    func authorize(_ operation: CommunityOperation, user: UserID, in community: CommunityID) async throws -> MembershipAccess.Standing {
        let standing = try await access.standing(of: user, in: community)
        try Self.interactionPolicy.authorize(operation, role: standing.role)
        return standing
    }

    /// The community's currency, asked of membership (prices are set in it).
    func currency(of community: CommunityID) async throws -> String {
        var request = MembershipGetCommunityRequest()
        request.community = community.rawValue
        return try await access.client.call(MembershipAPI.getCommunity, request).currency
    }

    // MARK: Charges

    /// Opens a charge for `payer` through membership. The idempotency key is derived from the
    /// caller's, so a retried request opens one charge.
    func openCharge(
        community: CommunityID, payer: UserID, payee: UserID, purpose: String, reference: String,
        description: String, amount: Int64, idempotencyKey: String
    ) async throws -> MembershipCharge {
        var request = MembershipCreateChargeRequest()
        request.communityID = community.rawValue
        request.payeeID = payee.rawValue
        request.purpose = purpose
        request.reference = reference
        request.description_p = description
        request.amountMinorUnits = amount
        request.idempotencyKey = "\(purpose):\(idempotencyKey)"
        return try await access.client.call(MembershipAPI.createCharge, request, metadata: [MetadataKey.userID: payer.rawValue])
    }

    /// What a charge pays for: a question or a booking, each a table with the same payment
    /// columns (`status`, `charge_id`, `payment_id`, `checkout_url`, `price_minor`, `title`).
    struct ChargedThing: Sendable {
        let purpose: String
        let table: String
        let payeeColumn: String
        let label: String

        static let question = ChargedThing(purpose: "question", table: "questions", payeeColumn: "answerer_id", label: "Question")
        static let booking = ChargedThing(purpose: "booking", table: "bookings", payeeColumn: "expert_id", label: "Consulting")
    }

    /// Opens the charge of a question or booking that waits for its payment and has none yet
    /// (the first try failed, or this is that try). The charge's key is the record's id, so it
    /// opens once however often this runs.
    func ensureCharge(_ thing: ChargedThing, id: String, payer: UserID) async throws {
        guard let row = try await database.withConnection({ sql in
            try await sql.raw("""
                SELECT * FROM \(unsafeRaw: thing.table) WHERE id = \(bind: id) AND status = 'awaiting_payment' AND charge_id IS NULL
                """).first()
        }) else { return }
        let charge = try await openCharge(
            community: CommunityID(try row.decode(column: "community_id", as: String.self)), payer: payer,
            payee: UserID(try row.decode(column: thing.payeeColumn, as: String.self)), purpose: thing.purpose, reference: id,
            description: "\(thing.label): \(try row.decode(column: "title", as: String.self))",
            amount: try row.decode(column: "price_minor", as: Int64.self), idempotencyKey: id)
        try await database.withConnection { sql in
            try await sql.raw("""
                UPDATE \(unsafeRaw: thing.table) SET charge_id = \(bind: charge.id), payment_id = \(bind: charge.payment.id),
                       checkout_url = \(bind: charge.payment.checkoutURL)
                WHERE id = \(bind: id) AND charge_id IS NULL
                """).run()
        }
    }

    /// Pays a held charge out to its payee (once, however often asked).
    func settleCharge(_ id: String) async throws -> MembershipCharge {
        var request = MembershipSettleChargeRequest()
        request.chargeID = id
        return try await access.client.call(MembershipAPI.settleCharge, request)
    }

    /// Gives a charge back: refunded when paid, cancelled when not (once, however often asked).
    @discardableResult
    func refundCharge(_ id: String, reason: String) async throws -> MembershipCharge {
        var request = MembershipRefundChargeRequest()
        request.chargeID = id
        request.reason = reason
        return try await access.client.call(MembershipAPI.refundCharge, request)
    }

    /// Applies what membership says happened to a charge (an event): a paid question opens, a
    /// paid booking is confirmed, an unpaid one is called off.
    func apply(_ sql: any SQLDatabase, charge: MembershipChargeEvent, now: Date) async throws {
        switch (charge.purpose, charge.status) {
        case ("question", "held"): try await questionPaid(sql, question: charge.reference, now: now)
        case ("question", "cancelled"): try await questionUnpaid(sql, question: charge.reference, now: now)
        case ("booking", "held"): try await bookingPaid(sql, booking: charge.reference, now: now)
        case ("booking", "cancelled"): try await bookingUnpaid(sql, booking: charge.reference, now: now)
        default: break
        }
    }

    /// What the retry loops gave up on: undelivered events, questions' and bookings' money.
    var deadLetters: DeadLetterOffice {
        DeadLetterOffice(database: database) { kind, id in
            switch kind {
            case Self.questionMoney: "the money of question \(id) (a refund or a payment to the answerer)"
            case Self.bookingMoney: "the money of booking \(id) (a refund or a payment to the expert)"
            default: "\(kind) \(id)"
            }
        }
    }

    /// The interaction scheduler's work, run every few seconds: refund unanswered questions,
    /// complete past sessions and give back unpaid slots, draw lotteries whose time has come,
    /// send event reminders. Each part runs even when another fails (the failure is logged and
    /// retried at the next run); returns what each part did.
    @discardableResult
    public func runInteractionJobs() async -> [String: Int] {
        var done: [String: Int] = [:]
        let jobs: [(String, @Sendable () async throws -> Int)] = [
            ("questions_ended", { try await self.expireQuestions() }),
            ("bookings_changed", { try await self.completeBookings() }),
            ("lotteries_drawn", { try await self.drawDueLotteries() }),
            ("reminders_sent", { try await self.sendEventReminders() }),
        ]
        for (name, job) in jobs {
            do {
                done[name] = try await job()
            } catch {
                logger.error("interaction job failed; retried at the next run", metadata: ["job": "\(name)", "error": "\(error)"])
            }
        }
        return done
    }

    static func price(_ minorUnits: Int64, _ currency: String) -> ContentPrice {
        var price = ContentPrice()
        price.minorUnits = minorUnits
        price.currency = currency
        return price
    }
}

extension SQLRow {
    /// What the payer of a question's or booking's row still has to pay (nil: no charge yet).
    func paymentDue() throws -> ContentPaymentDue? {
        guard let charge = try decode(column: "charge_id", as: String?.self) else { return nil }
        var due = ContentPaymentDue()
        due.chargeID = charge
        due.paymentID = try decode(column: "payment_id", as: String.self)
        due.checkoutURL = try decode(column: "checkout_url", as: String.self)
        due.amount = try price()
        return due
    }

    /// A price from its `<prefix>_minor` and `currency` columns.
    func price(_ column: String = "price_minor") throws -> ContentPrice {
        ContentService.price(try decode(column: column, as: Int64.self), try decode(column: "currency", as: String.self))
    }
}
