import Foundation
import GuildCore
import GuildMessages
import GuildService
import GuildTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import GuildGateway

/// The interaction part of the HTTP API end to end: a member asks the owner a paid question with
/// an idempotency key, pays the charge at the checkout URL the answer names (the sandbox), and
/// once membership's news reached content the owner answers it; nobody else may read it. Also
/// the gateway's own checks of query parameters and the calendar route's errors.
@Suite("Gateway interaction end to end")
struct GatewayInteractionTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests
    static let contentDisposition = HTTPField.Name("Content-Disposition")!

    @Test("a paid question over HTTP on SQLite: ask with a key, pay the charge, answered")
    func paidQuestionSQLite() async throws {
        try await Self.paidQuestion(on: .sqlite)
    }

    @Test("a paid question over HTTP on PostgreSQL: ask with a key, pay the charge, answered",
          .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
    func paidQuestionPostgres() async throws {
        try await Self.paidQuestion(on: .postgres)
    }

    static func paidQuestion(on kind: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: kind) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let owner = try await M.register(client, "owner@example.com", "Owner")
                let community = try E2E.object(try await M.call(client, .post, "/api/v1/communities", token: owner.token,
                                                                body: ["slug": "swift-club", "name": "Swift Club", "currency": "CNY"]))
                let communityID = try #require(community["id"] as? String)
                _ = try await M.call(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
                let plan = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                                           body: ["name": "Monthly", "priceMinorUnits": 19_900, "period": "monthly"]))
                let planID = try #require(plan["id"] as? String)

                // A member joins with the sandbox provider.
                let member = try await M.register(client, "member@example.com", "Member")
                let order = try E2E.object(try await M.call(client, .post, "/api/v1/orders", token: member.token,
                                                            body: ["communityId": communityID, "planId": planID], idempotencyKey: "order-1"))
                let paymentID = try #require((order["payment"] as? [String: Any])?["id"] as? String)
                _ = try await M.call(client, .post, "/api/v1/payments/\(paymentID)/sandbox-confirm", token: member.token,
                                     body: ["outcome": "succeeded"], idempotencyKey: "pay-1")
                try await cluster.membershipEvents.deliverDue()

                // The owner takes questions at 50.00 CNY; a visitor sees the terms.
                let terms = try await M.call(client, .put, "/api/v1/communities/\(communityID)/answerer", token: owner.token,
                                             body: ["accepting": true, "priceMinorUnits": 5_000, "intro": "Ask me about actors."])
                #expect(terms.status == .ok)
                let answerers = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(communityID)/answerers", token: nil))
                let answerer = try #require((answerers["answerers"] as? [[String: Any]])?.first)
                #expect(answerer["userId"] as? String == owner.id)
                #expect((answerer["price"] as? [String: Any])?["minorUnits"] as? Int == 5_000)
                #expect((answerer["price"] as? [String: Any])?["currency"] as? String == "CNY")

                // Asking moves money: without an Idempotency-Key it is refused.
                let ask: [String: Any] = ["answererId": owner.id, "title": "Actors or locks?", "markdown": "When is an **actor** the wrong tool?"]
                let keyless = try await M.call(client, .post, "/api/v1/communities/\(communityID)/questions", token: member.token, body: ask)
                #expect(try E2E.expectProblem(keyless, status: .badRequest, code: "invalid_argument")["reason"] as? String == "idempotency_key_required")
                let asked = try await M.call(client, .post, "/api/v1/communities/\(communityID)/questions", token: member.token, body: ask, idempotencyKey: "ask-1")
                #expect(asked.status == .created)
                let question = try E2E.object(asked)
                let questionID = try #require(question["id"] as? String)
                #expect(question["status"] as? String == "awaiting_payment")
                #expect((question["price"] as? [String: Any])?["minorUnits"] as? Int == 5_000)
                let payment = try #require(question["payment"] as? [String: Any])
                let chargeID = try #require(payment["chargeId"] as? String)
                let checkoutURL = try #require(payment["checkoutUrl"] as? String)
                #expect(checkoutURL == "/api/v1/charges/\(chargeID)/sandbox-confirm")
                // The same key again is the same question; the same key for another question is refused.
                let again = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(communityID)/questions", token: member.token,
                                                            body: ask, idempotencyKey: "ask-1"))
                #expect(again["id"] as? String == questionID)
                var other = ask
                other["title"] = "Another question"
                let reused = try await M.call(client, .post, "/api/v1/communities/\(communityID)/questions", token: member.token, body: other, idempotencyKey: "ask-1")
                #expect(try E2E.expectProblem(reused, status: .conflict, code: "failed_precondition")["reason"] as? String == "idempotency_key_reused")

                // The charge waits for its payment; the member pays at the checkout URL.
                let pending = try E2E.object(try await M.call(client, .get, "/api/v1/charges/\(chargeID)", token: member.token))
                #expect(pending["status"] as? String == "pending")
                #expect((pending["amount"] as? [String: Any])?["minorUnits"] as? Int == 5_000)
                _ = try E2E.expectProblem(try await M.call(client, .post, checkoutURL, token: member.token), status: .badRequest, code: "invalid_argument")
                let paid = try await M.call(client, .post, checkoutURL, token: member.token, idempotencyKey: "pay-q-1")
                #expect(paid.status == .ok)
                #expect(try E2E.object(paid)["status"] as? String == "held")
                try await cluster.membershipEvents.deliverDue()  // membership tells content the question is paid
                let open = try E2E.object(try await M.call(client, .get, "/api/v1/questions/\(questionID)", token: member.token))
                #expect(open["status"] as? String == "open")
                #expect(open["answerBy"] as? String != nil)
                #expect(open["payment"] == nil)
                let mine = try E2E.object(try await M.call(client, .get, "/api/v1/communities/\(communityID)/questions?scope=mine&limit=10", token: member.token))
                #expect((mine["questions"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [questionID])

                // The owner answers; the held payment is paid out to them.
                let answered = try E2E.object(try await M.call(client, .post, "/api/v1/questions/\(questionID)/answer", token: owner.token,
                                                               body: ["markdown": "When the state is **shared** across processes."]))
                #expect(answered["status"] as? String == "answered")
                #expect((answered["answerHtml"] as? String)?.contains("<strong>shared</strong>") == true)
                let read = try E2E.object(try await M.call(client, .get, "/api/v1/questions/\(questionID)", token: member.token))
                #expect(read["status"] as? String == "answered")
                #expect(try E2E.object(try await M.call(client, .get, "/api/v1/charges/\(chargeID)", token: owner.token))["status"] as? String == "settled")

                // A private question is no one else's business: not even its existence.
                let stranger = try await M.register(client, "stranger@example.com", "Stranger")
                _ = try E2E.expectProblem(try await M.call(client, .get, "/api/v1/questions/\(questionID)", token: stranger.token), status: .notFound, code: "not_found")
                _ = try E2E.expectProblem(try await M.call(client, .get, "/api/v1/questions/\(questionID)", token: nil), status: .notFound, code: "not_found")
                _ = try E2E.expectProblem(try await M.call(client, .get, "/api/v1/charges/\(chargeID)", token: stranger.token), status: .notFound, code: "not_found")
            }
        }
    }

    @Test("query parameters that are not what they say are a 400 naming the parameter; a missing event's calendar is a problem, not a calendar")
    func gatewayChecks() async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let user = try await M.register(client, "ada@example.com", "Ada")
                for (uri, field) in [
                    ("/api/v1/communities/c/questions?limit=ten", "limit"),
                    ("/api/v1/communities/c/events?past=yes", "past"),
                    ("/api/v1/offerings/o/slots?from=tomorrow", "from"),
                    ("/api/v1/offerings/o/slots?from=2026-01-05T09:00:00Z&days=1.5", "days"),
                    ("/api/v1/challenges/c/board?limit=", "limit"),
                ] {
                    let problem = try E2E.expectProblem(try await M.call(client, .get, uri, token: user.token), status: .badRequest, code: "invalid_argument")
                    #expect((problem["errors"] as? [[String: Any]])?.first?["field"] as? String == field, "\(uri)")
                }
                let missing = try await M.call(client, .get, "/api/v1/events/x/calendar.ics", token: nil)
                _ = try E2E.expectProblem(missing, status: .notFound, code: "not_found")
                #expect(missing.headers[Self.contentDisposition] == nil)
                _ = try E2E.expectProblem(try await M.call(client, .get, "/api/v1/me/calendar.ics", token: nil), status: .unauthorized, code: "unauthenticated")
                // A private calendar address: made by its owner, read with no token, replaced on request.
                let made = try await M.call(client, .post, "/api/v1/me/calendar-feed", token: user.token)
                #expect(made.status == .created)
                let path = try #require((try JSONSerialization.jsonObject(with: Data(made.body.readableBytesView)) as? [String: Any])?["path"] as? String)
                let feed = try await M.call(client, .get, path, token: nil)
                #expect(feed.status == .ok && feed.headers[.contentType] == "text/calendar; charset=utf-8")
                #expect(String(buffer: feed.body).hasPrefix("BEGIN:VCALENDAR"))
                _ = try await M.call(client, .post, "/api/v1/me/calendar-feed", token: user.token)
                _ = try E2E.expectProblem(try await M.call(client, .get, path, token: nil), status: .notFound, code: "not_found")
            }
        }
    }

    @Test("a calendar is text/calendar, downloaded as <eventId>.ics with a name that cannot break the header")
    func calendarResponse() {
        var calendar = ContentCalendar()
        calendar.ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
        let response = Gateway.iCalendar(calendar, filename: "01HX-event_1")
        #expect(response.status == .ok)
        #expect(response.headers[.contentType] == "text/calendar; charset=utf-8")
        #expect(response.headers[Self.contentDisposition] == "attachment; filename=\"01HX-event_1.ics\"")
        #expect(response.headers[.cacheControl] == "private, no-store")
        #expect(Gateway.iCalendar(calendar, filename: "a\"; x=\"b\r\n").headers[Self.contentDisposition] == "attachment; filename=\"axb.ics\"")
        #expect(Gateway.iCalendar(calendar, filename: nil).headers[Self.contentDisposition] == nil)
    }

    @Test("the document describes every interaction route, with the Idempotency-Key where money moves")
    func documented() throws {
        let document = try OpenAPIDocumentTests.document()
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        for route in GatewayRoutes.interaction {
            let operation = paths[route.path]?[route.method.rawValue.lowercased()] as? [String: Any]
            #expect(operation != nil, "\(route.method) \(route.path) is not documented")
        }
        for (method, path) in [("post", "/api/v1/communities/{communityId}/questions"), ("post", "/api/v1/offerings/{offeringId}/bookings"),
                               ("post", "/api/v1/charges/{chargeId}/sandbox-confirm")] {
            let parameters = (paths[path]?[method] as? [String: Any])?["parameters"] as? [[String: Any]] ?? []
            #expect(parameters.contains { $0["name"] as? String == "Idempotency-Key" && $0["in"] as? String == "header" && $0["required"] as? Bool == true },
                    "\(method) \(path) does not require an Idempotency-Key")
        }
        let calendar = (paths["/api/v1/events/{eventId}/calendar.ics"]?["get"] as? [String: Any])?["responses"] as? [String: Any]
        #expect(((calendar?["200"] as? [String: Any])?["content"] as? [String: Any])?["text/calendar"] != nil)
    }
}
