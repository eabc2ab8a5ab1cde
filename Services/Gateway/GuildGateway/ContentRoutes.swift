import Foundation
import GuildCore
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import NIOCore

/// Routes served by `guild-content`: posts and courses, lessons and progress, attachments,
/// comments and reactions, moderation, expert review, ratings, search and the feed. Their JSON
/// is the proto3 JSON mapping of `guild.content.v1` (see ``Gateway/forward``).
extension GatewayRoutes {
    static let content: [GatewayRoute] = items + courses + attachments + discussion + moderation + ratings + discovery

    static let items: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/items") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.createItem, request, context, body: true, bodyLimit: ContentConfigurationLimits.maxTextBodyBytes, status: .created) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/items") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listItems, request, context, caller: .anyone) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.kind = request.query("kind")
                message.status = request.query("status")
                message.tag = request.query("tag")
                message.cursor = request.query("cursor")
                message.limit = try request.intQuery("limit")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/items/{itemId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getItem, request, context, caller: .anyone) { message, _, context in
                message.itemID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .patch, path: "/api/v1/items/{itemId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.updateItem, request, context, body: true, bodyLimit: ContentConfigurationLimits.maxTextBodyBytes) { message, _, context in
                message.itemID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .delete, path: "/api/v1/items/{itemId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.deleteItem, request, context) { message, _, context in
                message.itemID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/items/{itemId}/publish") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.publishItem, request, context, body: true) { message, _, context in
                message.itemID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/items/{itemId}/restore") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.restoreItem, request, context) { message, _, context in
                message.itemID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/items/{itemId}/revisions") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listRevisions, request, context) { message, _, context in
                message.itemID = try context.parameters.path("itemId")
            }
        },
    ]

    static let courses: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/items/{itemId}/chapters") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.addChapter, request, context, body: true, status: .created) { message, _, context in
                message.courseID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/chapters/{chapterId}/move") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.moveChapter, request, context, body: true) { message, _, context in
                message.chapterID = try context.parameters.path("chapterId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/chapters/{chapterId}/lessons") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.addLesson, request, context, body: true, bodyLimit: ContentConfigurationLimits.maxTextBodyBytes, status: .created) { message, _, context in
                message.chapterID = try context.parameters.path("chapterId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/lessons/{lessonId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getLesson, request, context, caller: .anyone) { message, _, context in
                message.lessonID = try context.parameters.path("lessonId")
            }
        },
        GatewayRoute(method: .patch, path: "/api/v1/lessons/{lessonId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.updateLesson, request, context, body: true, bodyLimit: ContentConfigurationLimits.maxTextBodyBytes) { message, _, context in
                message.lessonID = try context.parameters.path("lessonId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/lessons/{lessonId}/move") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.moveLesson, request, context, body: true) { message, _, context in
                message.lessonID = try context.parameters.path("lessonId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/lessons/{lessonId}/progress") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.completeLesson, request, context, body: true) { message, _, context in
                message.lessonID = try context.parameters.path("lessonId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/items/{itemId}/progress") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getProgress, request, context) { message, _, context in
                message.courseID = try context.parameters.path("itemId")
            }
        },
    ]

    static let attachments: [GatewayRoute] = [
        // The body is the file itself; its type is the Content-Type header, its name ?filename=.
        GatewayRoute(method: .post, path: "/api/v1/items/{itemId}/attachments") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let limit = ContentAPI.maxAttachmentBytes
            let buffer: ByteBuffer
            do {
                buffer = try await request.body.collect(upTo: limit)
            } catch {
                throw Problem(status: .contentTooLarge, code: "content_too_large", title: "Content too large", detail: "An attachment holds at most \(limit) bytes.")
            }
            var message = ContentAddAttachmentRequest()
            message.itemID = try context.parameters.path("itemId")
            message.filename = request.query("filename")
            message.contentType = request.headers[.contentType] ?? ""
            message.data = Data(buffer.readableBytesView)
            let attachment = try await gateway.client(.content).call(ContentAPI.addAttachment, message, metadata: gateway.metadata(context, request: request))
            return try gateway.protoJSON(attachment, status: .created)
        },
        // The file, with its type, to callers who may read the whole item.
        GatewayRoute(method: .get, path: "/api/v1/attachments/{attachmentId}") { gateway, request, context in
            let context = try await gateway.authenticateIfPresent(request, context: context)
            var message = ContentAttachmentRequest()
            message.attachmentID = try context.parameters.path("attachmentId")
            let file = try await gateway.client(.content).call(ContentAPI.getAttachment, message, metadata: gateway.metadata(context, request: request))
            let inline = file.attachment.contentType.hasPrefix("image/") || file.attachment.contentType == "application/pdf"
            let name = file.attachment.filename.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "attachment"
            return Response(status: .ok, headers: [
                .contentType: file.attachment.contentType,
                .contentDisposition: "\(inline ? "inline" : "attachment"); filename*=UTF-8''\(name)",
                .cacheControl: "private, no-store",
                HTTPField.Name("X-Content-Type-Options")!: "nosniff",
                HTTPField.Name("Content-Security-Policy")!: "default-src 'none'; sandbox",
            ], body: ResponseBody(byteBuffer: ByteBuffer(bytes: file.data)))
        },
    ]

    static let discussion: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/items/{itemId}/comments") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.addComment, request, context, body: true, status: .created) { message, _, context in
                message.itemID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/items/{itemId}/comments") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listComments, request, context, caller: .anyone) { message, request, context in
                message.itemID = try context.parameters.path("itemId")
                message.lessonID = request.query("lessonId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/reactions") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.react, request, context, body: true)
        },
        GatewayRoute(method: .post, path: "/api/v1/marks") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.mark, request, context, body: true)
        },
        GatewayRoute(method: .post, path: "/api/v1/reports") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.report, request, context, body: true, status: .created)
        },
    ]

    static let moderation: [GatewayRoute] = [
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/content-settings") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getSettings, request, context, caller: .anyone) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .patch, path: "/api/v1/communities/{communityId}/content-settings") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.updateSettings, request, context, body: true) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/moderation-queue") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listQueue, request, context) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.status = request.query("status")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/moderation-queue/{entryId}/decision") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.decide, request, context, body: true) { message, _, context in
                message.entryID = try context.parameters.path("entryId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/moderation-audit") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listAudit, request, context) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.limit = try request.intQuery("limit")
            }
        },
        GatewayRoute(method: .put, path: "/api/v1/items/{itemId}/expert-review") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.assignExpert, request, context, body: true) { message, _, context in
                message.itemID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/items/{itemId}/expert-review/verdict") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.submitExpertReview, request, context, body: true) { message, _, context in
                message.itemID = try context.parameters.path("itemId")
            }
        },
    ]

    static let ratings: [GatewayRoute] = [
        GatewayRoute(method: .put, path: "/api/v1/items/{itemId}/ratings/mine") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.rateCourse, request, context, body: true) { message, _, context in
                message.courseID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/items/{itemId}/ratings") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listRatings, request, context, caller: .anyone) { message, _, context in
                message.courseID = try context.parameters.path("itemId")
            }
        },
        GatewayRoute(method: .put, path: "/api/v1/items/{itemId}/ratings/{userId}/reply") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.replyToRating, request, context, body: true) { message, _, context in
                message.courseID = try context.parameters.path("itemId")
                message.userID = try context.parameters.path("userId")
            }
        },
    ]

    static let discovery: [GatewayRoute] = [
        GatewayRoute(method: .get, path: "/api/v1/search") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.search, request, context, caller: .anyone) { message, request, _ in
                message.query = request.query("q")
                message.communityID = request.query("communityId")
                message.limit = try request.intQuery("limit")
            }
        },
        // The home feed: content's items and membership's communities, asked in parallel.
        GatewayRoute(method: .get, path: "/api/v1/feed") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let feed = try await gateway.homeFeed(
                cursor: request.query("cursor"), limit: try request.intQuery("limit"),
                community: request.query("communityId"), metadata: gateway.metadata(context, request: request))
            return try gateway.protoJSON(feed)
        },
    ]
}

extension Gateway {
    /// The signed-in caller's home feed across their communities (`GET /api/v1/feed`, and the
    /// web front end's `/`): content's items and membership's list of the caller's communities,
    /// asked in parallel.
    package func homeFeed(cursor: String, limit: Int32, community: String, metadata: [String: String]) async throws -> ContentFeed {
        var message = ContentFeedRequest()
        message.cursor = cursor
        message.limit = limit
        if !community.isEmpty { message.communityIds = [community] }
        let first = message
        async let feed = client(.content).call(ContentAPI.feed, first, metadata: metadata)
        async let memberships = client(.membership).call(MembershipAPI.listMyMemberships, MembershipListMembershipsRequest(), metadata: metadata)
        var answer = try await feed
        let mine = try await memberships.memberships
        // Content learns of a new membership from membership's events (within a second or so);
        // a membership it has not heard of yet is named explicitly in a second call.
        let known = Set(answer.communityIds)
        if message.communityIds.isEmpty, mine.contains(where: { !known.contains($0.community.id) }) {
            message.communityIds = Array(known.union(mine.map(\.community.id)))
            answer = try await client(.content).call(ContentAPI.feed, message, metadata: metadata)
        }
        answer.communities = mine.map { membership in
            var community = ContentFeedCommunity()
            community.id = membership.community.id
            community.slug = membership.community.slug
            community.name = membership.community.name
            community.role = membership.role
            return community
        }
        return answer
    }
}

/// Limits the gateway applies before content sees a request.
enum ContentConfigurationLimits {
    /// Bodies that carry a post or a lesson: room for content's 200,000-byte Markdown limit
    /// written as JSON (escapes make it longer); content checks the Markdown itself.
    static let maxTextBodyBytes = 512 * 1024
}

extension HTTPField.Name {
    static let contentDisposition = HTTPField.Name("Content-Disposition")!
}
