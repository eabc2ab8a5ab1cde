import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import SwiftProtobuf

/// A member writes a post for the community (Markdown; held for the owner's approval when the
/// community asks for it). Coming from a review task (`?review=`), the new post's link goes back
/// into that task's report form.
extension WebPages {
    static let writing: [WebPage] = [
        WebPage(.get, "/c/:slug/write", signIn: .required) { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit, fresh: true)
            return web.writePage(community, visit: visit, errors: [:], form: ["review": visit.query("review")])
        },
        WebPage(.post, "/c/:slug/write", signIn: .required) { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            var request = ContentCreateItemRequest()
            request.communityID = community.id
            request.kind = "post"
            request.title = visit.form["title"] ?? ""
            request.markdown = visit.form["body"] ?? ""
            request.tags = (visit.form["tags"] ?? "").split(whereSeparator: { $0 == "," || $0 == "，" }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            request.publish = true
            do {
                let item = try await web.gateway.client(.content).call(ContentAPI.createItem, request, metadata: visit.metadata)
                visit.flash(item.status == "pending_review" ? "flash_post_pending" : "flash_post_published")
                let post = "/c/\(community.slug)/posts/\(item.id)"
                if let task = visit.form["review"], Gateway.isPlainToken(task) {
                    return Visit.redirect(to: "/c/\(community.slug)/review-tasks?task=\(task)&item=" + Visit.percentEncoded(visit.absoluteURL(post)) + "#task-\(task)")
                }
                return Visit.redirect(to: post)
            } catch let error as GuildError where [.invalidArgument, .failedPrecondition, .permissionDenied].contains(error.code) {
                return web.writePage(community, visit: visit, errors: visit.fieldErrors(error), form: visit.form, status: .badRequest)
            }
        },
    ]
}

extension WebFrontEnd {
    func writePage(_ community: MembershipCommunity, visit: Visit, errors: [String: String], form: [String: String],
                   status: HTTPResponse.Status = .ok) -> Response {
        visit.render("write", [
            "pageTitle": visit.catalogue.text("write_title", ["community": community.name]),
            "slug": community.slug, "community": community.name,
            // Members write; a signed-in visitor who has not joined is asked to join first.
            "canWrite": !community.callerRole.isEmpty, "joinFirst": community.callerRole.isEmpty ? "/c/\(community.slug)" : "",
            "errors": errors, "formTitle": form["title"] ?? "", "formBody": form["body"] ?? "", "formTags": form["tags"] ?? "",
            "review": form["review"].flatMap { Gateway.isPlainToken($0) ? $0 : nil } ?? "",
        ], status: status)
    }
}
