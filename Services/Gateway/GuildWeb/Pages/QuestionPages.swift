import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import SwiftProtobuf

/// Paid Q&A (付费提问): who answers and at what price, asking (free, or paid through a charge
/// membership holds until the answer), the member's own questions, and the public answers.
extension WebPages {
    static let questions: [WebPage] = [
        WebPage(.get, "/c/:slug/questions") { web, visit in
            // Fresh: whether the viewer may ask depends on their role now.
            let community = try await web.community(slug: try visit.path("slug"), visit: visit, fresh: true)
            return try await web.questionsPage(community, visit: visit, errors: [:], form: [:])
        },
        WebPage(.post, "/c/:slug/questions", signIn: .required) { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            guard let nonce = visit.form["idem"], Gateway.isPlainToken(nonce) else { throw WebError.badForm }
            var request = ContentAskQuestionRequest()
            request.communityID = community.id
            request.answererID = visit.form["answerer"] ?? ""
            request.title = visit.form["title"] ?? ""
            request.markdown = visit.form["body"] ?? ""
            request.public = visit.form["public"] == "1"
            request.idempotencyKey = "web-question-" + nonce
            do {
                let question = try await web.gateway.client(.content).call(ContentAPI.askQuestion, request, metadata: visit.metadata)
                let back = "/c/\(community.slug)/questions"
                if question.hasPayment, !question.payment.chargeID.isEmpty {
                    return Visit.redirect(to: "/checkout/charges/\(question.payment.chargeID)?next=" + Visit.percentEncoded(back))
                }
                visit.flash("flash_question_asked")
                return Visit.redirect(to: back)
            } catch let error as GuildError where [.invalidArgument, .failedPrecondition, .permissionDenied].contains(error.code) {
                return try await web.questionsPage(community, visit: visit, errors: visit.fieldErrors(error), form: visit.form, status: .badRequest)
            }
        },
        // The sandbox provider's confirm page for a one-off charge (a question, a session).
        WebPage(.get, "/checkout/charges/:id", signIn: .required) { web, visit in
            var request = MembershipGetChargeRequest()
            request.chargeID = try visit.path("id")
            let charge = try await web.gateway.client(.membership).call(MembershipAPI.getCharge, request, metadata: visit.metadata)
            let next = Visit.safeNext(visit.query("next"))
            guard charge.payment.status == "pending" else { return Visit.redirect(to: next) }
            return visit.render("charge", [
                "pageTitle": visit.catalogue.text("sandbox_title"), "chargeID": charge.id, "next": next,
                "amount": visit.format.money(charge.amount.minorUnits, currency: charge.amount.currency),
                "description": charge.description_p, "nonce": WebSession.randomToken(),
            ])
        },
        WebPage(.post, "/checkout/charges/:id", signIn: .required) { web, visit in
            guard let nonce = visit.form["idem"], Gateway.isPlainToken(nonce) else { throw WebError.badForm }
            var request = MembershipConfirmSandboxChargeRequest()
            request.chargeID = try visit.path("id")
            request.fail = visit.form["outcome"] == "failed"
            if request.fail { request.failureReason = "card_declined" }
            request.idempotencyKey = "web-charge-" + nonce
            let charge = try await web.gateway.client(.membership).call(MembershipAPI.confirmSandboxCharge, request, metadata: visit.metadata)
            visit.flash(charge.payment.status == "succeeded" ? "flash_charge_paid" : "flash_charge_failed", kind: charge.payment.status == "succeeded" ? .success : .error)
            return Visit.redirect(to: Visit.safeNext(visit.form["next"] ?? "/"))
        },
    ]
}

extension WebFrontEnd {
    func questionsPage(_ community: MembershipCommunity, visit: Visit, errors: [String: String], form: [String: String],
                       status: HTTPResponse.Status = .ok) async throws -> Response {
        let metadata = visit.metadata
        var answerersRequest = ContentListAnswerersRequest()
        answerersRequest.communityID = community.id
        var publicRequest = ContentListQuestionsRequest()
        publicRequest.communityID = community.id
        publicRequest.scope = "public"
        publicRequest.limit = 20
        var mineRequest = publicRequest
        mineRequest.scope = "mine"
        async let answerers = gateway.client(.content).call(ContentAPI.listAnswerers, answerersRequest, metadata: metadata)
        async let publicQuestions = gateway.client(.content).call(ContentAPI.listQuestions, publicRequest, metadata: metadata)
        async let mine = visit.isSignedIn ? gateway.client(.content).call(ContentAPI.listQuestions, mineRequest, metadata: metadata) : ContentQuestionList()
        let people = try await answerers.answerers.filter(\.accepting)
        // Public answers are for members; a visitor or non-member sees none.
        let answered = (try? await publicQuestions.questions) ?? []
        let own = (try? await mine.questions) ?? []
        let names = await displayNames(Set(people.map(\.userID) + answered.map(\.answererID) + own.map(\.answererID)), metadata: metadata)
        let catalogue = visit.catalogue, format = visit.format
        func price(_ price: ContentPrice) -> String {
            price.minorUnits == 0 ? catalogue.text("question_free") : format.money(price.minorUnits, currency: price.currency)
        }
        func question(_ question: ContentQuestion) -> [String: Any] {
            [
                "title": question.title, "html": question.html, "answer": question.answerHtml,
                "answerer": names[question.answererID] ?? catalogue.text("comment_someone"),
                "state": catalogue.texts["question_\(question.status)"] ?? question.status,
                "price": price(question.price),
                "answerBy": question.status == "open" && question.hasAnswerBy
                    ? catalogue.text("question_answer_by", ["time": format.dateTime(milliseconds: Int64(question.answerBy.seconds) * 1000)]) : "",
                "declined": question.declineReason,
                "pay": question.status == "awaiting_payment" && question.hasPayment && !question.payment.chargeID.isEmpty
                    ? "/checkout/charges/\(question.payment.chargeID)?next=" + Visit.percentEncoded("/c/\(community.slug)/questions") : "",
            ]
        }
        return visit.render("questions", [
            "pageTitle": catalogue.text("questions_title", ["community": community.name]), "slug": community.slug, "community": community.name,
            "answerers": people.map { person in
                [
                    "id": person.userID, "name": names[person.userID] ?? catalogue.text("comment_someone"), "intro": person.intro,
                    "price": price(person.price), "selected": form["answerer"] == person.userID,
                ] as [String: Any]
            },
            "hasAnswerers": !people.isEmpty, "canAsk": visit.isSignedIn && !people.isEmpty && !community.callerRole.isEmpty,
            "joinToAsk": visit.isSignedIn && !people.isEmpty && community.callerRole.isEmpty ? "/c/\(community.slug)" : "",
            "mine": own.map(question), "hasMine": !own.isEmpty,
            "answered": answered.map(question), "hasAnswered": !answered.isEmpty,
            "errors": errors, "formTitle": form["title"] ?? "", "formBody": form["body"] ?? "",
            "nonce": WebSession.randomToken(),
            "signIn": visit.signInLink,
        ], status: status)
    }
}
