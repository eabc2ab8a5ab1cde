import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildStorage
import Logging
import SQLKit

/// Paid Q&A (付费提问). The owner and guest experts set whether they take questions and at what
/// price. A member asks and pays through a membership charge; the platform holds the money until
/// the answer, when the answerer is paid (minus the platform fee). A question not answered
/// within the community's limit is refunded by ``expireQuestions()``, and a declined one at once.
///
/// A question's life: awaiting_payment → open → answered | declined | expired; awaiting_payment
/// → cancelled when the payment never comes. Every move is a guarded update of `status`, so
/// each happens once; the charge's own transitions in membership are guarded the same way, so a
/// refund asked twice (a crash between the two services, a restart) refunds once.
extension ContentService {
    /// How long an asker has to pay before the question is called off.
    static let questionPaymentWindow: TimeInterval = 3_600

    public func setAnswerer(_ request: ContentSetAnswererRequest, user: UserID) async throws -> ContentAnswerer {
        let community = CommunityID(request.communityID)
        try await authorize(InteractionOperation.answerQuestions, user: user, in: community)
        var violations: [GuildError.FieldViolation] = []
        if !request.hasAccepting { violations.append(.init(field: "accepting", description: "Required: true or false.")) }
        if !(0...100_000_000).contains(request.priceMinorUnits) { violations.append(.init(field: "priceMinorUnits", description: "0 to 100000000.")) }
        if request.intro.count > 2000 { violations.append(.init(field: "intro", description: "At most 2,000 characters.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let currency = try await currency(of: community)
        let now = clock.now()
        try await database.transaction { sql in
            try await sql.raw("""
                INSERT INTO answerers (community_id, user_id, accepting, price_minor, intro, updated_at_ms)
                VALUES (\(bind: community.rawValue), \(bind: user.rawValue), \(bind: request.accepting), \(bind: request.priceMinorUnits),
                        \(bind: request.intro), \(bind: now.millisecondsSince1970))
                ON CONFLICT (community_id, user_id) DO UPDATE SET accepting = excluded.accepting, price_minor = excluded.price_minor,
                    intro = excluded.intro, updated_at_ms = excluded.updated_at_ms
                """).run()
        }
        var answerer = ContentAnswerer()
        answerer.communityID = community.rawValue
        answerer.userID = user.rawValue
        answerer.accepting = request.accepting
        answerer.price = Self.price(request.priceMinorUnits, currency)
        answerer.intro = request.intro
        return answerer
    }

    /// Who takes questions now, with their price (in the community's currency).
    public func answerers(_ request: ContentListAnswerersRequest) async throws -> ContentAnswererList {
        let community = CommunityID(request.communityID)
        let rows = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT * FROM answerers WHERE community_id = \(bind: community.rawValue) AND accepting = \(bind: true) ORDER BY updated_at_ms
                """).all()
        }
        var list = ContentAnswererList()
        guard !rows.isEmpty else { return list }
        let currency = try await currency(of: community)
        for row in rows {
            var answerer = ContentAnswerer()
            answerer.communityID = community.rawValue
            answerer.userID = try row.decode(column: "user_id", as: String.self)
            answerer.accepting = true
            answerer.price = Self.price(try row.decode(column: "price_minor", as: Int64.self), currency)
            answerer.intro = try row.decode(column: "intro", as: String.self)
            list.answerers.append(answerer)
        }
        return list
    }

    /// Asks a question. A paid one waits for its payment (the answer carries what to pay); a
    /// free one is open at once. Repeating the request with the same key returns the question.
    public func askQuestion(_ request: ContentAskQuestionRequest, user: UserID) async throws -> ContentQuestion {
        try IdempotencyKeys.validate(request.idempotencyKey)
        let community = CommunityID(request.communityID)
        try await authorize(InteractionOperation.askQuestions, user: user, in: community)
        var violations: [GuildError.FieldViolation] = []
        let title = request.title.trimmingCharacters(in: .whitespacesAndNewlines)
        if title.isEmpty || title.count > configuration.maxTitleLength { violations.append(.init(field: "title", description: "1 to \(configuration.maxTitleLength) characters.")) }
        if request.markdown.utf8.count > configuration.maxCommentBytes { violations.append(.init(field: "markdown", description: "At most \(configuration.maxCommentBytes) bytes.")) }
        if request.answererID == user.rawValue { violations.append(.init(field: "answererId", description: "Ask someone else.")) }
        guard violations.isEmpty else { throw GuildError.invalid(violations) }
        let answererStanding = try await access.standing(of: UserID(request.answererID), in: community)
        let currency = try await currency(of: community)
        let now = clock.now()
        let id = try await IdempotencyKeys.run(
            database, scope: "ask_question:\(user)", key: request.idempotencyKey, fingerprint: try request.fingerprint, now: now,
            encode: { Array($0.utf8) }, decode: { String(decoding: $0, as: UTF8.self) }
        ) { sql in
            guard Self.interactionPolicy.allows(InteractionOperation.answerQuestions, role: answererStanding.role),
                  let terms = try await sql.raw("""
                      SELECT price_minor FROM answerers WHERE community_id = \(bind: community.rawValue) AND user_id = \(bind: request.answererID)
                        AND accepting = \(bind: true)
                      """).first() else {
                throw GuildError(.failedPrecondition, "They do not take questions now.", reason: "not_accepting_questions")
            }
            let price = try terms.decode(column: "price_minor", as: Int64.self)
            let minutes = try await self.settings(sql, community: community).questionLimitMinutes
            let id = Identifier.make(at: now)
            let isFree = price == 0
            try await sql.raw("""
                INSERT INTO questions (id, community_id, asker_id, answerer_id, title, markdown, html, price_minor, currency, status, is_public,
                                       payment_id, checkout_url, answer_markdown, answer_html, decline_reason, credit_minor,
                                       asked_at_ms, answer_by_ms, updated_at_ms)
                VALUES (\(bind: id), \(bind: community.rawValue), \(bind: user.rawValue), \(bind: request.answererID), \(bind: title),
                        \(bind: request.markdown), \(bind: Markdown.html(request.markdown)), \(bind: price), \(bind: currency),
                        \(bind: isFree ? "open" : "awaiting_payment"), \(bind: request.public), '', '', '', '', '', 0,
                        \(bind: now.millisecondsSince1970), \(bind: isFree ? now.addingTimeInterval(TimeInterval(minutes) * 60).millisecondsSince1970 : nil),
                        \(bind: now.millisecondsSince1970))
                """).run()
            if isFree { try await self.emitQuestion(sql, InteractionTopic.questionAsked, id: id, now: now) }
            return id
        }
        try await ensureCharge(.question, id: id, payer: user)
        return try await question(id, user: user)
    }

    /// The payment of a question arrived (membership's event): it is open from now for the
    /// community's limit.
    func questionPaid(_ sql: any SQLDatabase, question id: String, now: Date) async throws {
        guard let row = try await sql.raw("SELECT community_id FROM questions WHERE id = \(bind: id)").first() else { return }
        let minutes = try await settings(sql, community: CommunityID(try row.decode(column: "community_id", as: String.self))).questionLimitMinutes
        let opened = try await sql.raw("""
            UPDATE questions SET status = 'open', answer_by_ms = \(bind: now.addingTimeInterval(TimeInterval(minutes) * 60).millisecondsSince1970),
                   updated_at_ms = \(bind: now.millisecondsSince1970)
            WHERE id = \(bind: id) AND status = 'awaiting_payment' RETURNING id
            """).first() != nil
        if opened { try await emitQuestion(sql, InteractionTopic.questionAsked, id: id, now: now) }
    }

    /// The payment of a question never came: it is called off.
    func questionUnpaid(_ sql: any SQLDatabase, question id: String, now: Date) async throws {
        try await sql.raw("""
            UPDATE questions SET status = 'cancelled', updated_at_ms = \(bind: now.millisecondsSince1970) WHERE id = \(bind: id) AND status = 'awaiting_payment'
            """).run()
    }

    /// Answers an open question (its answerer only); the held payment is paid out to them.
    public func answerQuestion(_ request: ContentAnswerQuestionRequest, user: UserID) async throws -> ContentQuestion {
        let markdown = request.markdown.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !markdown.isEmpty, markdown.utf8.count <= configuration.maxMarkdownBytes else {
            throw GuildError.invalid([.init(field: "markdown", description: "1 to \(configuration.maxMarkdownBytes) bytes.")])
        }
        let row = try await questionRow(request.questionID)
        guard try row.decode(column: "answerer_id", as: String.self) == user.rawValue else {
            throw GuildError(.permissionDenied, "Only the person asked may answer.", reason: "not_the_answerer")
        }
        let now = clock.now()
        // Claim the question with its answer first, so that the expiry job cannot refund what is
        // being answered, and a crash before the end leaves what ``expireQuestions()`` finishes.
        let claimed = try await database.withConnection { sql in
            try await sql.raw("""
                UPDATE questions SET status = 'answering', answer_markdown = \(bind: markdown), answer_html = \(bind: Markdown.html(markdown)),
                       updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: request.questionID) AND status = 'open' AND answer_by_ms > \(bind: now.millisecondsSince1970) RETURNING id
                """).first() != nil
        }
        guard claimed else {
            let status = try await questionRow(request.questionID).decode(column: "status", as: String.self)
            throw GuildError(.failedPrecondition, status == "open" ? "The time to answer has passed; the question is being refunded." : "A question that is \(status.replacingOccurrences(of: "_", with: " ")) cannot be answered.", reason: "question_not_open")
        }
        do {
            try await finishAnswer(request.questionID)
        } catch {
            // Give the question back to the answerer, who may try again.
            try await database.withConnection { sql in
                try await sql.raw("UPDATE questions SET status = 'open' WHERE id = \(bind: request.questionID) AND status = 'answering'").run()
            }
            throw error
        }
        return try await question(request.questionID, user: user)
    }

    /// Ends a question claimed with its answer: the held payment is paid out to the answerer
    /// (once, however often asked), then the question is answered.
    private func finishAnswer(_ id: String) async throws {
        let row = try await questionRow(id)
        var earned: Int64 = 0
        if let charge = try row.decode(column: "charge_id", as: String?.self), try row.decode(column: "price_minor", as: Int64.self) > 0 {
            let settled = try await settleCharge(charge)
            earned = settled.amount.minorUnits - settled.fee.minorUnits
        }
        let credit = earned
        let now = clock.now()
        try await database.transaction { sql in
            let answered = try await sql.raw("""
                UPDATE questions SET status = 'answered', credit_minor = \(bind: credit), answered_at_ms = \(bind: now.millisecondsSince1970),
                       updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: id) AND status = 'answering' RETURNING id
                """).first() != nil
            if answered { try await self.emitQuestion(sql, InteractionTopic.questionAnswered, id: id, now: now) }
        }
    }

    /// The answerer declines an open question with a reason; it is refunded at once.
    public func declineQuestion(_ request: ContentDeclineQuestionRequest, user: UserID) async throws -> ContentQuestion {
        let reason = request.reason.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.count <= 500 else { throw GuildError.invalid([.init(field: "reason", description: "1 to 500 characters.")]) }
        let row = try await questionRow(request.questionID)
        guard try row.decode(column: "answerer_id", as: String.self) == user.rawValue else {
            throw GuildError(.permissionDenied, "Only the person asked may decline.", reason: "not_the_answerer")
        }
        guard try await give(back: request.questionID, from: ["open", "awaiting_payment"], to: "declined", reason: reason) else {
            let status = try await questionRow(request.questionID).decode(column: "status", as: String.self)
            throw GuildError(.failedPrecondition, "A question that is \(status.replacingOccurrences(of: "_", with: " ")) cannot be declined.", reason: "question_not_open")
        }
        return try await question(request.questionID, user: user)
    }

    /// Refunds open questions whose time to answer has passed, and calls off those left unpaid.
    /// The scheduler's work (and safe to run again after a crash: each refund happens once).
    /// Returns how many questions it ended.
    @discardableResult
    public func expireQuestions() async throws -> Int {
        let now = clock.now().millisecondsSince1970
        let due = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT id, status, decline_reason, answer_by_ms FROM questions
                WHERE (status = 'open' AND answer_by_ms <= \(bind: now))
                   OR (status = 'awaiting_payment' AND asked_at_ms <= \(bind: now - Int64(Self.questionPaymentWindow * 1000)))
                   OR (status IN ('answering', 'expiring') AND updated_at_ms <= \(bind: now - Self.interruptedAfterMs))
                ORDER BY asked_at_ms LIMIT 200
                """).all()
        }
        var ended = 0
        let attempts = try await WorkAttempts.states(database, kind: Self.questionMoney, now: clock.now())
        for row in due {
            let id = try row.decode(column: "id", as: String.self)
            guard !attempts.resting.contains(id) else { continue }
            do {
                switch try row.decode(column: "status", as: String.self) {
                case "awaiting_payment":
                    if try await give(back: id, from: ["awaiting_payment"], to: "cancelled", reason: "not paid within an hour") { ended += 1 }
                case "open":
                    if try await give(back: id, from: ["open"], to: "expired", reason: "not answered in time") { ended += 1 }
                case "answering":
                    // Interrupted between claiming the answer and recording it: finish it.
                    try await finishAnswer(id)
                default:
                    // Interrupted while being given back: finish that.
                    let declined = !(try row.decode(column: "decline_reason", as: String.self)).isEmpty
                    let paid = try row.decode(column: "answer_by_ms", as: Int64?.self) != nil
                    try await finishGivingBack(id, to: declined ? "declined" : paid ? "expired" : "cancelled", reason: "interrupted, resumed")
                    ended += 1
                }
                if attempts.failing.contains(id) { try await WorkAttempts.succeeded(database, kind: Self.questionMoney, id: id) }
            } catch {
                // Bounded: after WorkAttempts.maximumAttempts the question waits for an operator.
                let (count, isLast) = try await WorkAttempts.failed(database, kind: Self.questionMoney, id: id, error: error, now: clock.now())
                logger.error(isLast ? "question's money could not be moved; a dead letter until an operator retries it" : "question expiry failed; retried with backoff",
                             metadata: ["question": "\(id)", "attempts": "\(count)", "error": "\(error)"])
            }
        }
        return ended
    }

    /// The kind of work a question's money move is, in ``WorkAttempts``.
    static let questionMoney = "question_money"

    /// Ends a question that is in one of `from` with its money given back: first marked as
    /// being given back (`expiring`), then the charge refunded (once, whatever happens in
    /// between), then the final status. Returns false when the question had moved on.
    private func give(back id: String, from: [String], to final: String, reason: String) async throws -> Bool {
        let now = clock.now()
        let claimed = try await database.withConnection { sql in
            try await sql.raw("""
                UPDATE questions SET status = 'expiring', decline_reason = \(bind: final == "declined" ? reason : ""), updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: id) AND status IN \(unsafeRaw: "(" + from.map { "'\($0)'" }.joined(separator: ", ") + ")") RETURNING charge_id
                """).first()
        }
        guard claimed != nil else { return false }
        try await finishGivingBack(id, to: final, reason: reason)
        return true
    }

    /// Refunds the charge of a question being given back (a crash before the end leaves it
    /// `expiring`; the next run refunds again, which membership answers with the charge as it
    /// is), then records its final status.
    private func finishGivingBack(_ id: String, to final: String, reason: String) async throws {
        if let charge = try await questionRow(id).decode(column: "charge_id", as: String?.self) {
            try await refundCharge(charge, reason: reason)
        }
        let now = clock.now()
        try await database.transaction { sql in
            let ended = try await sql.raw("""
                UPDATE questions SET status = \(bind: final), updated_at_ms = \(bind: now.millisecondsSince1970)
                WHERE id = \(bind: id) AND status = 'expiring' RETURNING id
                """).first() != nil
            if ended, final != "cancelled" { try await self.emitQuestion(sql, InteractionTopic.questionRefunded, id: id, now: now) }
        }
        logger.info("question given back", metadata: ["question": "\(id)", "status": "\(final)"])
    }

    /// How long a question may stay between two steps (being answered, being given back) before
    /// the expiry job takes the process that started them for dead and finishes the work.
    static let interruptedAfterMs: Int64 = 60_000

    /// A question, for its asker, its answerer and staff; for other members once it is answered
    /// and public.
    public func question(_ id: String, user: UserID?) async throws -> ContentQuestion {
        let row = try await questionRow(id)
        let community = CommunityID(try row.decode(column: "community_id", as: String.self))
        let standing = try await access.standing(of: user, in: community)
        guard canRead(row, user: user, standing: standing) else { throw GuildError(.notFound, "No such question.") }
        return try questionMessage(row, user: user, standing: standing)
    }

    /// Questions of a community: mine (asked), inbox (to answer), public (answered and public),
    /// all (staff).
    public func questions(_ request: ContentListQuestionsRequest, user: UserID) async throws -> ContentQuestionList {
        let community = CommunityID(request.communityID)
        let standing = try await access.standing(of: user, in: community)
        let limit = Int(request.limit == 0 ? 20 : min(max(request.limit, 1), 100))
        var filter: SQLQueryString
        switch request.scope.isEmpty ? "mine" : request.scope {
        case "mine": filter = "asker_id = \(bind: user.rawValue)"
        case "inbox": filter = "answerer_id = \(bind: user.rawValue) AND status <> 'awaiting_payment'"
        case "public":
            guard standing.role != nil else { throw GuildError(.permissionDenied, "Join the community to read its questions.", reason: "membership_required") }
            filter = "is_public = \(bind: true) AND status = 'answered'"
        case "all":
            try Self.interactionPolicy.authorize(InteractionOperation.readAllQuestions, role: standing.role)
            filter = "1 = 1"
        default: throw GuildError.invalid([.init(field: "scope", description: "mine, inbox, public or all.")])
        }
        if !request.status.isEmpty { filter = filter + " AND status = \(bind: request.status)" }
        if !request.cursor.isEmpty { filter = filter + " AND id < \(bind: request.cursor)" }
        let query: SQLQueryString = "SELECT * FROM questions WHERE community_id = \(bind: community.rawValue) AND " + filter + " ORDER BY id DESC LIMIT \(unsafeRaw: String(limit + 1))"
        let rows = try await database.withConnection { sql in try await sql.raw(query).all() }
        var list = ContentQuestionList()
        for row in rows.prefix(limit) { list.questions.append(try questionMessage(row, user: user, standing: standing)) }
        if rows.count > limit, let last = list.questions.last { list.nextCursor = last.id }
        return list
    }

    private func questionRow(_ id: String) async throws -> any SQLRow {
        guard let row = try await database.withConnection({ sql in try await sql.raw("SELECT * FROM questions WHERE id = \(bind: id)").first() }) else {
            throw GuildError(.notFound, "No such question.")
        }
        return row
    }

    private func canRead(_ row: any SQLRow, user: UserID?, standing: MembershipAccess.Standing) -> Bool {
        guard let user else { return false }
        let asker = (try? row.decode(column: "asker_id", as: String.self)) ?? ""
        let answerer = (try? row.decode(column: "answerer_id", as: String.self)) ?? ""
        if user.rawValue == asker || user.rawValue == answerer { return true }
        if Self.interactionPolicy.allows(InteractionOperation.readAllQuestions, role: standing.role) { return true }
        let isPublic = (try? row.decode(column: "is_public", as: Bool.self)) ?? false
        let status = (try? row.decode(column: "status", as: String.self)) ?? ""
        return standing.role != nil && isPublic && status == "answered"
    }

    private func questionMessage(_ row: any SQLRow, user: UserID?, standing: MembershipAccess.Standing) throws -> ContentQuestion {
        var question = ContentQuestion()
        question.id = try row.decode(column: "id", as: String.self)
        question.communityID = try row.decode(column: "community_id", as: String.self)
        question.askerID = try row.decode(column: "asker_id", as: String.self)
        question.answererID = try row.decode(column: "answerer_id", as: String.self)
        question.title = try row.decode(column: "title", as: String.self)
        question.html = try row.decode(column: "html", as: String.self)
        question.price = try row.price()
        let status = try row.decode(column: "status", as: String.self)
        // Being answered or given back is a moment inside one request; outside it reads as open.
        question.status = ["answering", "expiring"].contains(status) ? "open" : status
        question.public = try row.decode(column: "is_public", as: Bool.self)
        question.answerHtml = try row.decode(column: "answer_html", as: String.self)
        question.declineReason = try row.decode(column: "decline_reason", as: String.self)
        if let by = try row.optionalTimestamp("answer_by_ms") { question.answerBy = by }
        question.askedAt = try row.timestamp("asked_at_ms")
        if let at = try row.optionalTimestamp("answered_at_ms") { question.answeredAt = at }
        let isParty = user?.rawValue == question.askerID || user?.rawValue == question.answererID || standing.isStaff
        if isParty {
            question.chargeID = try row.decode(column: "charge_id", as: String?.self) ?? ""
            if user?.rawValue == question.answererID || standing.isStaff {
                question.answererCredit = Self.price(try row.decode(column: "credit_minor", as: Int64.self), question.price.currency)
            }
        }
        if status == "awaiting_payment", user?.rawValue == question.askerID, let due = try row.paymentDue() { question.payment = due }
        return question
    }

    private func emitQuestion(_ sql: any SQLDatabase, _ topic: String, id: String, now: Date) async throws {
        guard let row = try await sql.raw("SELECT * FROM questions WHERE id = \(bind: id)").first() else { return }
        var event = ContentQuestionEvent()
        event.questionID = id
        event.communityID = try row.decode(column: "community_id", as: String.self)
        event.askerID = try row.decode(column: "asker_id", as: String.self)
        event.answererID = try row.decode(column: "answerer_id", as: String.self)
        event.price = try row.price()
        event.status = try row.decode(column: "status", as: String.self)
        event.occurredAtMs = now.millisecondsSince1970
        try await emit(sql, topic, event, at: now)
    }
}
