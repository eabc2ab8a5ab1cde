import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import SwiftProtobuf

/// Product-review tasks (产品评测): the community's tasks with their places, reward and
/// deadline; applying with a motivation; a selected member's report (one of their posts and a
/// structured verdict); and what the accepted reports say together.
extension WebPages {
    static let reviewTasks: [WebPage] = [
        WebPage(.get, "/c/:slug/review-tasks") { web, visit in
            // Fresh: whether the viewer may see the tasks depends on their role now.
            let community = try await web.community(slug: try visit.path("slug"), visit: visit, fresh: true)
            var form: [String: String] = [:]
            if !visit.query("task").isEmpty { form["item"] = visit.query("item") }
            return try await web.reviewTasksPage(community, visit: visit, failed: visit.query("task"), errors: [:], form: form)
        },
        WebPage(.post, "/c/:slug/review-tasks/:id/apply", signIn: .required) { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            var request = ContentApplyForReviewRequest()
            request.taskID = try visit.path("id")
            request.motivation = visit.form["motivation"] ?? ""
            return try await web.reviewTaskForm(community, task: request.taskID, visit: &visit, flash: "flash_review_applied") { metadata in
                _ = try await web.gateway.client(.content).call(ContentAPI.applyForReview, request, metadata: metadata)
            }
        },
        WebPage(.post, "/c/:slug/review-tasks/:id/report", signIn: .required) { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            var request = ContentSubmitReportRequest()
            request.taskID = try visit.path("id")
            request.itemID = Self.itemID(fromLink: visit.form["item"] ?? "")
            request.verdict.score = Int32(visit.form["score"] ?? "") ?? 0
            request.verdict.pros = Self.lines(visit.form["pros"])
            request.verdict.cons = Self.lines(visit.form["cons"])
            request.verdict.recommend = visit.form["recommend"] == "1"
            request.verdict.summary = visit.form["summary"] ?? ""
            return try await web.reviewTaskForm(community, task: request.taskID, visit: &visit, flash: "flash_review_reported") { metadata in
                _ = try await web.gateway.client(.content).call(ContentAPI.submitReport, request, metadata: metadata)
            }
        },
        WebPage(.get, "/c/:slug/review-tasks/:id") { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit, fresh: true)
            guard visit.isSignedIn, !community.callerRole.isEmpty else {
                return try await web.reviewTasksPage(community, visit: visit, failed: "", errors: [:], form: [:])
            }
            var request = ContentReviewSummaryRequest()
            request.taskID = try visit.path("id")
            let summary = try await web.gateway.client(.content).call(ContentAPI.reviewSummary, request, metadata: visit.metadata)
            guard summary.task.communityID == community.id else { throw WebError.notFound }
            return await web.reviewSummaryPage(summary, community: community, visit: visit)
        },
    ]

    /// A report's post, from its link (`…/posts/{id}`, with or without the host) or its bare id.
    static func itemID(fromLink text: String) -> String {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let path = trimmed.split(separator: "#", maxSplits: 1).first.map(String.init) ?? ""
        let withoutQuery = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? ""
        guard let range = withoutQuery.range(of: "/posts/", options: .backwards) else { return withoutQuery }
        return String(withoutQuery[range.upperBound...].prefix { $0 != "/" })
    }

    /// The non-empty lines of a textarea, trimmed.
    static func lines(_ text: String?) -> [String] {
        (text ?? "").split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// A refused form's errors keyed for the template: `verdict.score` becomes `verdict_score`
    /// (a dot would be a path in Mustache), `itemId` becomes `item`.
    static func formErrors(_ error: GuildError, visit: Visit) -> [String: String] {
        var errors: [String: String] = [:]
        for (field, text) in visit.fieldErrors(error) {
            errors[field == "itemId" ? "item" : field.replacingOccurrences(of: ".", with: "_")] = text
        }
        return errors
    }
}

extension WebFrontEnd {
    /// A task's form sent: `call` asks content; done, back to the task with `flash`; refused,
    /// the tasks page again with the errors beside that task's fields and what was typed.
    func reviewTaskForm(_ community: MembershipCommunity, task: String, visit: inout Visit, flash: String,
                        _ call: ([String: String]) async throws -> Void) async throws -> Response {
        do {
            try await call(visit.metadata)
            visit.flash(flash)
            return Visit.redirect(to: "/c/\(community.slug)/review-tasks#task-\(Visit.percentEncoded(task))")
        } catch let error as GuildError where [.invalidArgument, .failedPrecondition, .permissionDenied].contains(error.code) {
            return try await reviewTasksPage(community, visit: visit, failed: task, errors: WebPages.formErrors(error, visit: visit),
                                             form: visit.form, status: .badRequest)
        }
    }

    /// The tasks page. `failed` names the task whose form was refused: its errors and what the
    /// member typed are shown there, the other forms start empty.
    func reviewTasksPage(_ community: MembershipCommunity, visit: Visit, failed: String, errors: [String: String],
                         form: [String: String], status: HTTPResponse.Status = .ok) async throws -> Response {
        let catalogue = visit.catalogue, format = visit.format
        var values: [String: Any] = [
            "pageTitle": catalogue.text("review_tasks_title", ["community": community.name]),
            "slug": community.slug, "community": community.name, "signIn": visit.signInLink,
        ]
        // Tasks are for members: a visitor is asked to sign in, a non-member to join.
        guard visit.isSignedIn, !community.callerRole.isEmpty else {
            values["joinFirst"] = visit.isSignedIn ? "/c/\(community.slug)" : ""
            return visit.render("review_tasks", values, status: status)
        }
        var request = ContentListReviewTasksRequest()
        request.communityID = community.id
        let tasks = try await gateway.client(.content).call(ContentAPI.listReviewTasks, request, metadata: visit.metadata).tasks
        let nowMs = visit.now.millisecondsSince1970
        values["tasks"] = tasks.map { task -> [String: Any] in
            let deadline = Int64(task.deadline.seconds) * 1000
            let open = task.status == "open" && deadline > nowMs
            let mine = task.hasMine && !task.mine.userID.isEmpty ? task.mine : nil
            let here = task.id == failed
            var entry: [String: Any] = [
                "id": task.id, "product": task.product, "brief": task.briefHtml,
                "places": catalogue.text("review_places", ["selected": String(task.selected), "places": String(task.places)]),
                "applicants": catalogue.plural("review_applicants", count: Int64(task.applicants)),
                "reward": task.rewardPoints > 0 ? catalogue.plural("review_reward", count: task.rewardPoints) : "",
                "deadline": open
                    ? catalogue.text("review_deadline", ["time": format.dateTime(milliseconds: deadline)])
                    : catalogue.text("review_closed"),
                "summaryHref": "/c/\(community.slug)/review-tasks/\(task.id)",
                "canApply": open && mine == nil,
                "errors": here ? errors : [:],
                "formMotivation": here ? form["motivation"] ?? "" : "",
            ]
            if let mine {
                entry["mine"] = catalogue.texts["review_state_\(mine.status)"] ?? mine.status
                entry["feedback"] = mine.feedback
                if ["selected", "changes_requested", "submitted"].contains(mine.status) {
                    let verdict = mine.verdict
                    let typed = here ? form : [:]
                    let score = typed["score"].flatMap { Int32($0) } ?? verdict.score
                    entry["report"] = [
                        "item": typed["item"] ?? (mine.reportItemID.isEmpty ? "" : visit.absoluteURL("/c/\(community.slug)/posts/\(mine.reportItemID)")),
                        "scores": (1...5).map { ["value": $0, "selected": $0 == score] as [String: Any] },
                        "pros": typed["pros"] ?? verdict.pros.joined(separator: "\n"),
                        "cons": typed["cons"] ?? verdict.cons.joined(separator: "\n"),
                        "recommend": typed.isEmpty ? verdict.recommend : typed["recommend"] == "1",
                        "summary": typed["summary"] ?? verdict.summary,
                        "again": mine.status != "selected",
                        "writeHref": "/c/\(community.slug)/write?review=\(task.id)",
                    ] as [String: Any]
                }
            }
            return entry
        }
        values["hasTasks"] = !tasks.isEmpty
        return visit.render("review_tasks", values, status: status)
    }

    /// What the accepted reports of a task say together, and each report with its post.
    func reviewSummaryPage(_ summary: ContentReviewSummaryResponse, community: MembershipCommunity, visit: Visit) async -> Response {
        let catalogue = visit.catalogue
        let names = await displayNames(Set(summary.accepted.map(\.userID)), metadata: visit.metadata)
        let most = max(1, summary.scoreDistribution.max() ?? 1)
        return visit.render("review_summary", [
            "pageTitle": summary.task.product, "slug": community.slug, "community": community.name,
            "product": summary.task.product, "brief": summary.task.briefHtml,
            "reports": catalogue.plural("review_reports", count: Int64(summary.reports)),
            "hasReports": summary.reports > 0,
            "average": String(format: "%.1f", summary.averageScore),
            "recommend": catalogue.text("review_recommend_count", ["count": String(summary.recommend), "reports": String(summary.reports)]),
            // Five stars first, each bar as wide as its share of the most given score.
            "distribution": summary.scoreDistribution.enumerated().reversed().map { index, count in
                ["stars": catalogue.plural("review_stars", count: Int64(index + 1)), "count": count, "max": most] as [String: Any]
            },
            "pros": summary.topPros.map { ["term": $0.term, "count": $0.count] as [String: Any] },
            "cons": summary.topCons.map { ["term": $0.term, "count": $0.count] as [String: Any] },
            "accepted": summary.accepted.map { report in
                [
                    "name": names[report.userID] ?? catalogue.text("comment_someone"),
                    "score": catalogue.plural("review_stars", count: Int64(report.verdict.score)),
                    "recommends": report.verdict.recommend, "summary": report.verdict.summary,
                    "href": "/c/\(community.slug)/posts/\(report.reportItemID)",
                ] as [String: Any]
            },
        ])
    }
}
