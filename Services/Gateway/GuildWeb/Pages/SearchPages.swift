import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes

/// Searching a community: content's search over what the reader may read, with the matches
/// marked in each snippet.
extension WebPages {
    static let search: [WebPage] = [
        WebPage(.get, "/c/:slug/search") { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            let query = visit.query("q").trimmingCharacters(in: .whitespaces)
            var values: [String: Any] = [
                "pageTitle": visit.catalogue.text("search_title", ["community": community.name]),
                "slug": community.slug, "community": community.name, "query": query,
            ]
            if !query.isEmpty {
                var request = ContentSearchRequest()
                request.query = String(query.prefix(200))
                request.communityID = community.id
                request.limit = 20
                let results = try await web.gateway.client(.content).call(ContentAPI.search, request, metadata: visit.metadata)
                values["hits"] = results.hits.map { hit -> [String: Any] in
                    var row = ItemRow(hit.item, community: (community.slug, ""), visit: visit).values
                    // content's snippet: text escaped, matches in <mark>, nothing else.
                    row["snippet"] = hit.snippet
                    return row
                }
                values["summary"] = visit.catalogue.plural("search_results", count: Int64(results.hits.count), ["query": query])
                values["empty"] = results.hits.isEmpty
            }
            return visit.render("search", values)
        },
    ]
}
