import GuildCore
import GuildMessages
import GuildStorage
import GuildSecurity
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
            // For referral (a points redemption) and the gateway's growth analytics; the
            // descriptors name the callers allowed.
            WireMethod(ContentAPI.grantItemAccess) { request, _ in try await self.grantItemAccess(request) },
            WireMethod(ContentAPI.getActivityStats) { request, context in try await self.activityStats(request, user: try context.requireUser()) },
            // The operator's: what the retry loops gave up on.
            WireMethod(OpsAPI.listDeadLetters(.content)) { request, _ in try await self.deadLetters.list(request) },
            WireMethod(OpsAPI.retryDeadLetter(.content)) { request, _ in try await self.deadLetters.retry(request) },
        ] + interactionMethods)
    }

    /// Paid questions, bookings, challenges, lotteries, events and review tasks.
    private var interactionMethods: [WireMethod] {
        [
            WireMethod(ContentAPI.setAnswerer) { request, context in try await self.setAnswerer(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.listAnswerers) { request, _ in try await self.answerers(request) },
            WireMethod(ContentAPI.askQuestion) { request, context in try await self.askQuestion(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getQuestion) { request, context in try await self.question(request.questionID, user: context.userID) },
            WireMethod(ContentAPI.listQuestions) { request, context in try await self.questions(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.answerQuestion) { request, context in try await self.answerQuestion(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.declineQuestion) { request, context in try await self.declineQuestion(request, user: try context.requireUser()) },

            WireMethod(ContentAPI.createOffering) { request, context in try await self.createOffering(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.retireOffering) { request, context in try await self.retireOffering(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.listOfferings) { request, context in try await self.offerings(request, user: context.userID) },
            WireMethod(ContentAPI.setAvailability) { request, context in try await self.setAvailability(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.listSlots) { request, context in try await self.slots(request, user: context.userID) },
            WireMethod(ContentAPI.book) { request, context in try await self.book(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getBooking) { request, context in try await self.booking(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.listBookings) { request, context in try await self.bookings(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.cancelBooking) { request, context in try await self.cancelBooking(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.writeSessionNotes) { request, context in try await self.writeSessionNotes(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.rateSession) { request, context in try await self.rateSession(request, user: try context.requireUser()) },

            WireMethod(ContentAPI.createChallenge) { request, context in try await self.createChallenge(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getChallenge) { request, context in try await self.challenge(request, user: context.userID) },
            WireMethod(ContentAPI.listChallenges) { request, context in try await self.challenges(request, user: context.userID) },
            WireMethod(ContentAPI.joinChallenge) { request, context in try await self.joinChallenge(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.checkIn) { request, context in try await self.checkIn(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.challengeBoard) { request, context in try await self.challengeBoard(request, user: context.userID) },

            WireMethod(ContentAPI.createLottery) { request, context in try await self.createLottery(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getLottery) { request, context in try await self.lottery(request, user: context.userID) },
            WireMethod(ContentAPI.listLotteries) { request, context in try await self.lotteries(request, user: context.userID) },
            WireMethod(ContentAPI.enterLottery) { request, context in try await self.enterLottery(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.drawLottery) { request, context in try await self.drawLottery(request, user: try context.requireUser()) },

            WireMethod(ContentAPI.createEvent) { request, context in try await self.createEvent(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getEvent) { request, context in try await self.event(request, user: context.userID) },
            WireMethod(ContentAPI.listEvents) { request, context in try await self.events(request, user: context.userID) },
            WireMethod(ContentAPI.rsvp) { request, context in try await self.rsvp(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.cancelRsvp) { request, context in try await self.cancelRsvp(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.cancelEvent) { request, context in try await self.cancelEvent(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.attachReplay) { request, context in try await self.attachReplay(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.joinEvent) { request, context in try await self.joinEvent(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.eventCalendar) { request, context in try await self.eventCalendar(request, user: context.userID) },
            WireMethod(ContentAPI.myCalendar) { request, context in try await self.myCalendar(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.rotateCalendarFeed) { _, context in try await self.rotateCalendarFeed(user: try context.requireUser()) },
            WireMethod(ContentAPI.feedCalendar) { request, _ in try await self.feedCalendar(request) },

            WireMethod(ContentAPI.createReviewTask) { request, context in try await self.createReviewTask(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.getReviewTask) { request, context in try await self.reviewTask(request, user: context.userID) },
            WireMethod(ContentAPI.listReviewTasks) { request, context in try await self.reviewTasks(request, user: context.userID) },
            WireMethod(ContentAPI.applyForReview) { request, context in try await self.applyForReview(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.listApplications) { request, context in try await self.applications(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.selectReviewers) { request, context in try await self.selectReviewers(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.submitReport) { request, context in try await self.submitReport(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.judgeReport) { request, context in try await self.judgeReport(request, user: try context.requireUser()) },
            WireMethod(ContentAPI.reviewSummary) { request, context in try await self.reviewSummary(request, user: context.userID) },
        ]
    }
}
