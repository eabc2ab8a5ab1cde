import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import SwiftProtobuf
import Hummingbird
import HTTPTypes

/// Reading a post: the part the reader may read (content decides: the whole body, or the free
/// part and a paywall box naming the plans that open the rest), and its discussion.
extension WebPages {
    static let reading: [WebPage] = posts + courses

    static let posts: [WebPage] = [
        WebPage(.get, "/c/:slug/posts/:id") { web, visit in
            let slug = try visit.path("slug"), itemID = try visit.path("id")
            let metadata = visit.metadata
            var itemRequest = ContentItemRequest()
            itemRequest.itemID = itemID
            var commentsRequest = ContentListCommentsRequest()
            commentsRequest.itemID = itemID
            async let community = web.community(slug: slug, visit: visit)
            async let comments = web.gateway.client(.content).call(ContentAPI.listComments, commentsRequest, metadata: metadata)
            let item = try await web.gateway.client(.content).call(ContentAPI.getItem, itemRequest, metadata: metadata)
            let owner = try await community
            // An item of another community is not found here, whatever its id.
            guard item.communityID == owner.id, item.kind == "post" else { throw WebError.notFound }
            // Comments are for readers; a visitor or a non-member is told so instead.
            let thread = (try? await comments.comments) ?? []
            let names = await web.displayNames(Set([item.authorID] + thread.flatMap { [$0.authorID] + $0.replies.map(\.authorID) }), metadata: metadata)
            var values: [String: Any] = [
                "pageTitle": item.title, "slug": owner.slug, "community": owner.name, "itemID": item.id,
                "title": item.title, "html": item.html, "locked": item.locked,
                "essence": item.essence, "pinned": item.pinned,
                "byline": visit.catalogue.text("item_byline", [
                    "author": names[item.authorID] ?? "",
                    "date": visit.format.date(milliseconds: Int64(item.publishedAt.seconds) * 1000),
                    "comments": visit.catalogue.plural("item_comments", count: Int64(item.commentCount)),
                ]),
                "tags": item.tags,
            ]
            if item.locked { values["paywall"] = PaywallBox(item.paywall, slug: owner.slug, visit: visit).values }
            values.merge(web.discussionValues(thread, names: names, visit: visit, page: "/c/\(owner.slug)/posts/\(item.id)", locked: item.locked)) { _, new in new }
            return visit.render("post", values)
        },
        WebPage(.post, "/c/:slug/reactions", signIn: .required) { web, visit in
            var request = ContentReactRequest()
            request.targetKind = visit.form["kind"] == "item" ? "item" : "comment"
            request.targetID = visit.form["target"] ?? ""
            request.emoji = visit.form["emoji"] ?? ""
            request.remove = visit.form["remove"] == "1"
            _ = try await web.gateway.client(.content).call(ContentAPI.react, request, metadata: visit.metadata)
            return Visit.redirect(to: Visit.safeNext(visit.form["back"] ?? "/") + "#comment-\(Visit.percentEncoded(request.targetID))")
        },
        WebPage(.post, "/c/:slug/reports", signIn: .required) { web, visit in
            var request = ContentReportRequest()
            request.targetKind = visit.form["kind"] == "item" ? "item" : "comment"
            request.targetID = visit.form["target"] ?? ""
            request.reason = visit.form["reason"] ?? ""
            do {
                _ = try await web.gateway.client(.content).call(ContentAPI.report, request, metadata: visit.metadata)
                visit.flash("flash_reported")
            } catch let error as GuildError where [.invalidArgument, .alreadyExists, .failedPrecondition].contains(error.code) {
                visit.flash("flash_report_refused", kind: .error)
            }
            return Visit.redirect(to: Visit.safeNext(visit.form["back"] ?? "/"))
        },
        WebPage(.post, "/c/:slug/posts/:id/comments", signIn: .required) { web, visit in
            var message = ContentAddCommentRequest()
            message.itemID = try visit.path("id")
            return try await web.addComment(message, visit: &visit, page: "/c/\(Visit.percentEncoded(try visit.path("slug")))/posts/\(Visit.percentEncoded(message.itemID))")
        },
    ]
}

extension WebFrontEnd {
    /// The display names of `ids`: from the cache of the last minute, the rest asked of auth in
    /// parallel (at most 50; a name that cannot be had is left out).
    func displayNames(_ ids: Set<String>, metadata: [String: String]) async -> [String: String] {
        var names = displayNameCache.values(ids.filter { !$0.isEmpty })
        let missing = ids.filter { !$0.isEmpty && names[$0] == nil }.prefix(50)
        guard !missing.isEmpty else { return names }
        let fetched = await withTaskGroup(of: (String, String?).self) { group in
            for id in missing {
                group.addTask {
                    var request = AuthGetUserRequest()
                    request.userID = id
                    return (id, try? await self.gateway.client(.auth).call(AuthAPI.getUser, request, metadata: metadata).displayName)
                }
            }
            var fetched: [String: String] = [:]
            for await (id, name) in group { if let name { fetched[id] = name } }
            return fetched
        }
        displayNameCache.store(fetched)
        names.merge(fetched) { first, _ in first }
        return names
    }

    /// The discussion under a post or lesson at `page`: its threads, and the comment form for a
    /// signed-in reader. Comments are for readers: on a locked page they are hidden, and said so.
    func discussionValues(_ thread: [ContentComment], names: [String: String], visit: Visit, page: String, locked: Bool) -> [String: Any] {
        let canAct = visit.isSignedIn && !locked
        return [
            "canComment": canAct, "commentAction": page + "/comments",
            "comments": thread.map { commentValues($0, names: names, visit: visit, back: page, canAct: canAct) },
            "commentsHidden": locked, "commentsEmpty": thread.isEmpty && !locked,
        ]
    }

    /// Adds the comment (or reply: the form's `parent`) the form carries to the post or lesson
    /// `message` names, and goes back to its discussion at `page`.
    func addComment(_ message: ContentAddCommentRequest, visit: inout Visit, page: String) async throws -> Response {
        var message = message
        message.parentID = visit.form["parent"] ?? ""
        message.markdown = visit.form["body"] ?? ""
        do {
            let comment = try await gateway.client(.content).call(ContentAPI.addComment, message, metadata: visit.metadata)
            visit.flash(comment.status == "held" ? "flash_comment_held" : "flash_comment_added")
        } catch let error as GuildError where error.code == .invalidArgument {
            visit.flash("flash_comment_invalid", kind: .error)
        }
        return Visit.redirect(to: page + "#comments")
    }

    /// The reactions a comment offers as buttons (content accepts a few more through the API).
    static let reactionButtons = ["👍", "❤️", "🎉", "🤔"]

    func commentValues(_ comment: ContentComment, names: [String: String], visit: Visit, back: String, canAct: Bool) -> [String: Any] {
        let counts = Dictionary(comment.reactions.map { ($0.emoji, $0) }, uniquingKeysWith: { first, _ in first })
        return [
            "back": back, "canAct": canAct, "isTopLevel": comment.parentID.isEmpty,
            "reactions": Self.reactionButtons.map { emoji -> [String: Any] in
                let reaction = counts[emoji]
                return ["emoji": emoji, "count": Int(reaction?.count ?? 0), "mine": reaction?.mine ?? false,
                        "label": visit.catalogue.text(reaction?.mine == true ? "reaction_remove" : "reaction_add", ["emoji": emoji])]
            },
            "id": comment.id, "author": names[comment.authorID] ?? visit.catalogue.text("comment_someone"),
            "html": comment.html, "held": comment.status == "held", "pinned": comment.pinned, "essence": comment.essence,
            "date": visit.format.dateTime(milliseconds: Int64(comment.createdAt.seconds) * 1000),
            "replies": comment.replies.map { commentValues($0, names: names, visit: visit, back: back, canAct: canAct) },
            "hasReplies": !comment.replies.isEmpty,
        ]
    }
}

/// The paywall box: what is locked, the plans that open it with their prices and one button
/// each, and a sign-in link for a member who is not signed in.
struct PaywallBox {
    let values: [String: Any]

    init(_ paywall: ContentPaywall, slug: String, visit: Visit, locked: String = "") {
        let reason = paywall.reason.isEmpty ? "membership_required" : paywall.reason
        values = [
            "title": visit.catalogue.text(reason == "sign_in" ? "paywall_title_visitor" : "paywall_title_\(reason)"),
            "locked": locked,
            "plans": paywall.plans.map { plan in
                [
                    "name": plan.name, "price": visit.format.money(plan.priceMinorUnits, currency: plan.currency),
                    "href": "/c/\(slug)/join?plan=\(plan.id)",
                ] as [String: Any]
            },
            "signIn": visit.signInLink,
        ]
    }
}
