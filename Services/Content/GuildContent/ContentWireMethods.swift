import GuildCore
import GuildMessages
import GuildWire

extension ContentService {
    /// The wire methods of `guild-content`, bound to this service. Methods that act for a user
    /// take them from the call's metadata (set by the gateway after verifying the token).
    public var wireRouter: WireRouter {
        WireRouter([
            WireMethod(ContentAPI.createItem) { request, context in try await self.createItem(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.updateItem) { request, context in try await self.updateItem(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.publishItem) { request, context in try await self.publishItem(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getItem) { request, context in try await self.item(request.itemID, user: context.userID) },
            WireMethod(ContentAPI.listItems) { request, context in try await self.items(request, user: context.userID) },
            WireMethod(ContentAPI.listRevisions) { request, context in try await self.revisions(request.itemID, user: try context.requireUser()) },
            WireMethod(ContentAPI.deleteItem) { request, context in try await self.deleteItem(request.itemID, user: try context.requireUser()) },
            WireMethod(ContentAPI.restoreItem) { request, context in try await self.restoreItem(request.itemID, user: try context.requireUser()) },
            WireMethod(ContentAPI.addChapter) { request, context in try await self.addChapter(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.moveChapter) { request, context in try await self.moveChapter(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.addLesson) { request, context in try await self.addLesson(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.updateLesson) { request, context in try await self.updateLesson(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.moveLesson) { request, context in try await self.moveLesson(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getLesson) { request, context in try await self.lesson(request.lessonID, user: context.userID) },
            WireMethod(ContentAPI.completeLesson) { request, context in try await self.completeLesson(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getProgress) { request, context in try await self.progress(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.addAttachment) { request, context in try await self.addAttachment(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getAttachment) { request, context in try await self.attachmentData(request, user: context.userID) },
            WireMethod(ContentAPI.addComment) { request, context in try await self.addComment(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.listComments) { request, context in try await self.comments(request, user: context.userID) },
            WireMethod(ContentAPI.react) { request, context in try await self.react(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.mark) { request, context in try await self.mark(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.report) { request, context in try await self.report(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getSettings) { request, context in try await self.settings(request, user: context.userID) },
            WireMethod(ContentAPI.updateSettings) { request, context in try await self.updateSettings(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.listQueue) { request, context in try await self.queue(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.decide) { request, context in try await self.decide(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.listAudit) { request, context in try await self.auditLog(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.assignExpert) { request, context in try await self.assignExpert(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.submitExpertReview) { request, context in try await self.submitExpertReview(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.rateCourse) { request, context in try await self.rateCourse(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.listRatings) { request, context in try await self.ratings(request, user: context.userID) },
            WireMethod(ContentAPI.replyToRating) { request, context in try await self.replyToRating(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.search) { request, context in try await self.search(request, user: context.userID) },
            WireMethod(ContentAPI.feed) { request, context in try await self.feed(request, user: try context.requireUser()) },
            WireMethod(EventsAPI.deliver) { request, _ in try await self.deliver(request) },
        ])
    }
}
