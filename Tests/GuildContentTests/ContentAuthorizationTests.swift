import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildTesting
import Testing

@testable import GuildContent

/// Every cell of the role × operation table of ``ContentService/policy``, tried through the
/// service against a live membership service: each allowed cell must succeed and each refused
/// one must be refused. One cluster serves all cells (each cell works on records of its own).
@Suite("Content authorization table", .serialized)
struct ContentAuthorizationTests {
    static let operations: [CommunityOperation] = [
        ContentService.Operation.writePost, ContentService.Operation.publishWithoutApproval, ContentService.Operation.writeCourse,
        ContentService.Operation.editOthersItems, ContentService.Operation.readUnpublished, ContentService.Operation.deleteOthersItems,
        ContentService.Operation.comment, ContentService.Operation.react, ContentService.Operation.report, ContentService.Operation.mark,
        ContentService.Operation.moderate, ContentService.Operation.editSettings, ContentService.Operation.assignExpert,
        ContentService.Operation.reviewAsExpert, ContentService.Operation.rate, ContentService.Operation.replyToRating,
        ContentService.Operation.readAudit,
    ]

    @Test("the table names every operation the service checks")
    func tableIsComplete() {
        #expect(Set(Self.operations) == Set(ContentService.policy.rules.keys))
    }

    @Test("every cell")
    func everyCell() async throws {
        try await ContentFixture.with(.sqlite) { f in
            let actors: [String: UserID] = [
                "owner": f.owner, "co_owner": UserID("co-owner-01"), "moderator": f.moderator, "guest_expert": f.expert,
                "member": UserID("member-0001"), "none": UserID("stranger-01"),
            ]
            let writer = UserID("writer-00001")
            let courseAuthor = UserID("co-owner-02")
            try await f.assign(actors["co_owner"]!, "co_owner")
            try await f.assign(courseAuthor, "co_owner")
            try await f.join(actors["member"]!)
            try await f.join(writer)
            try await f.settings(requireApproval: true)

            var cells = 0
            for operation in Self.operations {
                for (name, actor) in actors.sorted(by: { $0.key < $1.key }) {
                    let expected = ContentService.policy.allows(operation, role: name == "none" ? nil : CommunityRole(rawValue: name))
                    let allowed: Bool
                    do {
                        allowed = try await Self.attempt(operation, actor: actor, f: f, writer: writer, courseAuthor: courseAuthor)
                    } catch let error as GuildError where [.permissionDenied, .unauthenticated, .notFound].contains(error.code) {
                        allowed = false
                    }
                    #expect(allowed == expected, "\(name) × \(operation): expected \(expected ? "allowed" : "refused")")
                    cells += 1
                }
            }
            #expect(cells == Self.operations.count * 6)
        }
    }

    /// Tries `operation` as `actor`; true when the service let it happen.
    static func attempt(_ operation: CommunityOperation, actor: UserID, f: ContentFixture, writer: UserID, courseAuthor: UserID) async throws -> Bool {
        switch operation {
        case ContentService.Operation.writePost:
            _ = try await f.post("By \(actor)", "text", publish: false, by: actor)
        case ContentService.Operation.publishWithoutApproval:
            return try await f.post("Direct \(actor)", "text", by: actor).status == "published"
        case ContentService.Operation.writeCourse:
            var request = ContentCreateItemRequest()
            request.communityID = f.community.id
            request.kind = "course"
            request.title = "Course by \(actor)"
            _ = try await f.content.createItem(request, user: actor)
        case ContentService.Operation.editOthersItems:
            let item = try await f.post("Writer's", "text", publish: false, by: writer)
            var edit = ContentUpdateItemRequest()
            edit.itemID = item.id
            edit.title = "Edited"
            _ = try await f.content.updateItem(edit, user: actor)
        case ContentService.Operation.readUnpublished:
            let item = try await f.post("Writer's draft", "text", publish: false, by: writer)
            _ = try await f.content.item(item.id, user: actor)
        case ContentService.Operation.deleteOthersItems:
            let item = try await f.post("Writer's post", "text", by: f.owner)
            var edit = ContentUpdateItemRequest()
            edit.itemID = item.id
            _ = try await f.content.deleteItem(item.id, user: actor)
        case ContentService.Operation.comment:
            _ = try await f.comment(try await shared(f), "a comment", by: actor)
        case ContentService.Operation.react:
            var request = ContentReactRequest()
            request.targetKind = "item"
            request.targetID = try await shared(f).id
            request.emoji = "👀"
            _ = try await f.content.react(request, user: actor)
        case ContentService.Operation.report:
            var request = ContentReportRequest()
            request.targetKind = "item"
            request.targetID = try await shared(f).id
            request.reason = "check this"
            _ = try await f.content.report(request, user: actor)
        case ContentService.Operation.mark:
            var request = ContentMarkRequest()
            request.targetKind = "item"
            request.targetID = try await shared(f).id
            request.essence = true
            _ = try await f.content.mark(request, user: actor)
        case ContentService.Operation.moderate:
            var request = ContentListQueueRequest()
            request.communityID = f.community.id
            _ = try await f.content.queue(request, user: actor)
        case ContentService.Operation.editSettings:
            var request = ContentUpdateSettingsRequest()
            request.communityID = f.community.id
            request.rules = "Rules by \(actor)"
            _ = try await f.content.updateSettings(request, user: actor)
        case ContentService.Operation.assignExpert:
            let draft = try await f.post("For review", "text", publish: false)
            var request = ContentAssignExpertRequest()
            request.itemID = draft.id
            request.expertID = f.expert.rawValue
            _ = try await f.content.assignExpert(request, user: actor)
        case ContentService.Operation.reviewAsExpert:
            let draft = try await f.post("Reviewed", "text", publish: false)
            var assign = ContentAssignExpertRequest()
            assign.itemID = draft.id
            assign.expertID = f.expert.rawValue
            _ = try await f.content.assignExpert(assign, user: f.owner)
            var request = ContentSubmitExpertReviewRequest()
            request.itemID = draft.id
            request.verdict = "approved"
            _ = try await f.content.submitExpertReview(request, user: actor)
        case ContentService.Operation.rate, ContentService.Operation.replyToRating:
            var create = ContentCreateItemRequest()
            create.communityID = f.community.id
            create.kind = "course"
            create.title = "Rated course"
            create.access.mode = "members"
            create.publish = true
            let course = try await f.content.createItem(create, user: courseAuthor)
            var rate = ContentRateCourseRequest()
            rate.courseID = course.id
            rate.stars = 4
            if operation == ContentService.Operation.rate {
                _ = try await f.content.rateCourse(rate, user: actor)
            } else {
                _ = try await f.content.rateCourse(rate, user: writer)
                var reply = ContentReplyToRatingRequest()
                reply.courseID = course.id
                reply.userID = writer.rawValue
                reply.reply = "Thanks"
                _ = try await f.content.replyToRating(reply, user: actor)
            }
        case ContentService.Operation.readAudit:
            var request = ContentListAuditRequest()
            request.communityID = f.community.id
            _ = try await f.content.auditLog(request, user: actor)
        default:
            Issue.record("no attempt for \(operation)")
        }
        return true
    }

    /// A published members-only post by the owner, for discussion cells.
    static func shared(_ f: ContentFixture) async throws -> ContentItem {
        try await f.post("Shared", "Members read this.", mode: "members")
    }
}
