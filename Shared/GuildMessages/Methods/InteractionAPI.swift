import GuildCore

/// The interaction methods of `guild-content`: paid questions, consulting bookings, check-in
/// challenges, lotteries, live sessions and events, product-review tasks. Every one is called by
/// the gateway on behalf of the user in the call's metadata (none for a visitor).
extension ContentAPI {
    private static func method<Request, Response>(_ name: String, idempotent: Bool) -> MethodDescriptor<Request, Response> {
        MethodDescriptor(name, idempotent: idempotent, allowedCallers: frontDoor)
    }

    // Paid Q&A
    public static let setAnswerer: MethodDescriptor<ContentSetAnswererRequest, ContentAnswerer> = method("content.SetAnswerer", idempotent: true)
    public static let listAnswerers: MethodDescriptor<ContentListAnswerersRequest, ContentAnswererList> = method("content.ListAnswerers", idempotent: true)
    /// Idempotent by its idempotency key: a retry returns the first question.
    public static let askQuestion: MethodDescriptor<ContentAskQuestionRequest, ContentQuestion> = method("content.AskQuestion", idempotent: true)
    public static let getQuestion: MethodDescriptor<ContentGetQuestionRequest, ContentQuestion> = method("content.GetQuestion", idempotent: true)
    public static let listQuestions: MethodDescriptor<ContentListQuestionsRequest, ContentQuestionList> = method("content.ListQuestions", idempotent: true)
    public static let answerQuestion: MethodDescriptor<ContentAnswerQuestionRequest, ContentQuestion> = method("content.AnswerQuestion", idempotent: false)
    public static let declineQuestion: MethodDescriptor<ContentDeclineQuestionRequest, ContentQuestion> = method("content.DeclineQuestion", idempotent: false)

    // Consulting bookings
    public static let createOffering: MethodDescriptor<ContentCreateOfferingRequest, ContentOffering> = method("content.CreateOffering", idempotent: false)
    public static let retireOffering: MethodDescriptor<ContentRetireOfferingRequest, ContentOffering> = method("content.RetireOffering", idempotent: true)
    public static let listOfferings: MethodDescriptor<ContentListOfferingsRequest, ContentOfferingList> = method("content.ListOfferings", idempotent: true)
    public static let setAvailability: MethodDescriptor<ContentSetAvailabilityRequest, ContentAvailability> = method("content.SetAvailability", idempotent: true)
    public static let listSlots: MethodDescriptor<ContentListSlotsRequest, ContentSlotList> = method("content.ListSlots", idempotent: true)
    /// Idempotent by its idempotency key: a retry returns the first booking.
    public static let book: MethodDescriptor<ContentBookRequest, ContentBooking> = method("content.Book", idempotent: true)
    public static let getBooking: MethodDescriptor<ContentGetBookingRequest, ContentBooking> = method("content.GetBooking", idempotent: true)
    public static let listBookings: MethodDescriptor<ContentListBookingsRequest, ContentBookingList> = method("content.ListBookings", idempotent: true)
    public static let cancelBooking: MethodDescriptor<ContentCancelBookingRequest, ContentBooking> = method("content.CancelBooking", idempotent: true)
    public static let writeSessionNotes: MethodDescriptor<ContentWriteSessionNotesRequest, ContentBooking> = method("content.WriteSessionNotes", idempotent: true)
    public static let rateSession: MethodDescriptor<ContentRateSessionRequest, ContentBooking> = method("content.RateSession", idempotent: true)

    // Check-in challenges
    public static let createChallenge: MethodDescriptor<ContentCreateChallengeRequest, ContentChallenge> = method("content.CreateChallenge", idempotent: false)
    public static let getChallenge: MethodDescriptor<ContentGetChallengeRequest, ContentChallenge> = method("content.GetChallenge", idempotent: true)
    public static let listChallenges: MethodDescriptor<ContentListChallengesRequest, ContentChallengeList> = method("content.ListChallenges", idempotent: true)
    public static let joinChallenge: MethodDescriptor<ContentJoinChallengeRequest, ContentChallenge> = method("content.JoinChallenge", idempotent: true)
    public static let checkIn: MethodDescriptor<ContentCheckInRequest, ContentCheckIn> = method("content.CheckIn", idempotent: false)
    public static let challengeBoard: MethodDescriptor<ContentChallengeBoardRequest, ContentChallengeBoardResponse> = method("content.ChallengeBoard", idempotent: true)

    // Lotteries
    public static let createLottery: MethodDescriptor<ContentCreateLotteryRequest, ContentLottery> = method("content.CreateLottery", idempotent: false)
    public static let getLottery: MethodDescriptor<ContentGetLotteryRequest, ContentLottery> = method("content.GetLottery", idempotent: true)
    public static let listLotteries: MethodDescriptor<ContentListLotteriesRequest, ContentLotteryList> = method("content.ListLotteries", idempotent: true)
    public static let enterLottery: MethodDescriptor<ContentEnterLotteryRequest, ContentLottery> = method("content.EnterLottery", idempotent: true)
    public static let drawLottery: MethodDescriptor<ContentDrawLotteryRequest, ContentLottery> = method("content.DrawLottery", idempotent: false)

    // Live sessions and events
    public static let createEvent: MethodDescriptor<ContentCreateEventRequest, ContentEvent> = method("content.CreateEvent", idempotent: false)
    public static let getEvent: MethodDescriptor<ContentGetEventRequest, ContentEvent> = method("content.GetEvent", idempotent: true)
    public static let listEvents: MethodDescriptor<ContentListEventsRequest, ContentEventList> = method("content.ListEvents", idempotent: true)
    public static let rsvp: MethodDescriptor<ContentRsvpRequest, ContentEvent> = method("content.Rsvp", idempotent: true)
    public static let cancelRsvp: MethodDescriptor<ContentCancelRsvpRequest, ContentEvent> = method("content.CancelRsvp", idempotent: true)
    public static let cancelEvent: MethodDescriptor<ContentCancelEventRequest, ContentEvent> = method("content.CancelEvent", idempotent: true)
    public static let attachReplay: MethodDescriptor<ContentAttachReplayRequest, ContentEvent> = method("content.AttachReplay", idempotent: true)
    public static let joinEvent: MethodDescriptor<ContentJoinEventRequest, ContentEvent> = method("content.JoinEvent", idempotent: true)
    public static let eventCalendar: MethodDescriptor<ContentEventCalendarRequest, ContentCalendar> = method("content.EventCalendar", idempotent: true)
    public static let myCalendar: MethodDescriptor<ContentMyCalendarRequest, ContentCalendar> = method("content.MyCalendar", idempotent: true)
    public static let rotateCalendarFeed: MethodDescriptor<ContentRotateCalendarFeedRequest, ContentCalendarFeed> = method("content.RotateCalendarFeed", idempotent: false)
    /// Answers without a user: the secret in the request is the credential.
    public static let feedCalendar: MethodDescriptor<ContentFeedCalendarRequest, ContentCalendar> = method("content.FeedCalendar", idempotent: true)

    // Product-review tasks
    public static let createReviewTask: MethodDescriptor<ContentCreateReviewTaskRequest, ContentReviewTask> = method("content.CreateReviewTask", idempotent: false)
    public static let getReviewTask: MethodDescriptor<ContentGetReviewTaskRequest, ContentReviewTask> = method("content.GetReviewTask", idempotent: true)
    public static let listReviewTasks: MethodDescriptor<ContentListReviewTasksRequest, ContentReviewTaskList> = method("content.ListReviewTasks", idempotent: true)
    public static let applyForReview: MethodDescriptor<ContentApplyForReviewRequest, ContentReviewApplication> = method("content.ApplyForReview", idempotent: false)
    public static let listApplications: MethodDescriptor<ContentListApplicationsRequest, ContentApplicationList> = method("content.ListApplications", idempotent: true)
    public static let selectReviewers: MethodDescriptor<ContentSelectReviewersRequest, ContentApplicationList> = method("content.SelectReviewers", idempotent: true)
    public static let submitReport: MethodDescriptor<ContentSubmitReportRequest, ContentReviewApplication> = method("content.SubmitReport", idempotent: true)
    public static let judgeReport: MethodDescriptor<ContentJudgeReportRequest, ContentReviewApplication> = method("content.JudgeReport", idempotent: false)
    public static let reviewSummary: MethodDescriptor<ContentReviewSummaryRequest, ContentReviewSummaryResponse> = method("content.ReviewSummary", idempotent: true)
}
