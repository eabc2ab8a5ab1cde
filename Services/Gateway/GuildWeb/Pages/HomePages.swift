import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import SwiftProtobuf
import Hummingbird
import HTTPTypes

/// `/`: the directory of communities for a visitor, the home feed for a member; and the places
/// Guild itself sends browsers to (a referral link's landing, a payment provider's return).
extension WebPages {
    static let home: [WebPage] = [
        WebPage(.get, "/") { web, visit in
            // A referral link lands here with the community's id and the code.
            let communityID = visit.query("community")
            if !communityID.isEmpty {
                var message = MembershipGetCommunityRequest()
                message.community = communityID
                let community = try await web.gateway.client(.membership).call(MembershipAPI.getCommunity, message, metadata: visit.metadata)
                var target = "/c/\(Visit.percentEncoded(community.slug))"
                let code = visit.query("ref"), by = visit.query("by")
                if Gateway.isPlainToken(code) { target += "?ref=\(code)" + (Gateway.isPlainToken(by) ? "&by=\(by)" : "") }
                return Visit.redirect(to: target)
            }
            // Stripe's return pages.
            let payment = visit.query("payment")
            if !payment.isEmpty { return Visit.redirect(to: "/checkout/return?payment=" + Visit.percentEncoded(payment)) }

            let query = visit.query("q"), cursor = visit.query("cursor")
            let metadata = visit.metadata, request = visit.request, context = visit.context
            async let directory = web.gateway.communityDirectory(query: query, cursor: cursor, limit: 12, request: request, context: context)
            var values: [String: Any] = ["query": query, "pageTitle": visit.catalogue.text("home_title")]
            if visit.isSignedIn {
                // Older items page by cursor (`?feed=`); only the first page counts what is new.
                let feedCursor = visit.query("feed")
                let feed = try await web.gateway.homeFeed(cursor: feedCursor, limit: 20, community: "", metadata: metadata)
                let slugs = Dictionary(feed.communities.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
                values["feed"] = feed.items.map { item in
                    ItemRow(item, community: slugs[item.communityID].map { ($0.slug, $0.name) }, visit: visit).values
                }
                values["feedEmpty"] = feed.items.isEmpty
                values["newSince"] = feed.newSinceLastVisit > 0 && feedCursor.isEmpty
                    ? visit.catalogue.plural("home_new_since", count: Int64(feed.newSinceLastVisit)) : ""
                if !feed.nextCursor.isEmpty { values["moreFeed"] = "/?feed=" + Visit.percentEncoded(feed.nextCursor) }
                values["myCommunities"] = feed.communities.map { ["slug": $0.slug, "name": $0.name] }
                values["hasMyCommunities"] = !feed.communities.isEmpty
            }
            let page = try await directory
            values["communities"] = page.communities.map { entry in
                [
                    "slug": entry.community.slug, "name": entry.community.name, "description": entry.community.description_p,
                    "initial": String(entry.community.name.prefix(1)),
                    "members": visit.catalogue.plural("community_members", count: entry.members, formatted: visit.format.number(entry.members)),
                ] as [String: Any]
            }
            values["directoryEmpty"] = page.communities.isEmpty
            if !page.nextCursor.isEmpty {
                values["nextPage"] = "/?q=" + Visit.percentEncoded(query) + "&cursor=" + Visit.percentEncoded(page.nextCursor)
            }
            return visit.render("home", values)
        },
        // The language switch: remembered in a cookie, then back to the page.
        WebPage(.get, "/lang/:tag") { _, visit in
            guard let locale = WebLocale(name: try visit.path("tag")) else { throw WebError.notFound }
            visit.cookies.append(visit.cookie(Visit.languageCookie, locale.tag, maxAge: 365 * 24 * 3600))
            return Visit.redirect(to: Visit.safeNext(visit.query("next")))
        },
    ]
}

/// An item as a row of a list: title, kind, access badge, marks, date and comment count.
struct ItemRow {
    let values: [String: Any]

    init(_ item: ContentItem, community: (slug: String, name: String)?, visit: Visit) {
        let catalogue = visit.catalogue
        let slug = community?.slug ?? ""
        let published = item.hasPublishedAt ? Int64(item.publishedAt.seconds) * 1000 : Int64(item.createdAt.seconds) * 1000
        var values: [String: Any] = [
            "title": item.title,
            "href": item.kind == "course" ? "/c/\(slug)/courses/\(item.id)" : "/c/\(slug)/posts/\(item.id)",
            "kind": catalogue.text("kind_\(item.kind)"),
            "badge": catalogue.text("access_\(item.access.mode.isEmpty ? "public" : item.access.mode)"),
            "essence": item.essence, "pinned": item.pinned,
            "date": visit.format.date(milliseconds: published),
            "comments": catalogue.plural("item_comments", count: Int64(item.commentCount)),
            "excerpt": item.excerpt,
        ]
        if let name = community?.name, !name.isEmpty { values["community"] = name }
        self.values = values
    }
}
