import GuildCore

/// The methods of `guild-content`. Every one is called by the gateway on behalf of the user in
/// the call's metadata (none for a visitor).
public enum ContentAPI {
    static let frontDoor: Set<ServiceName> = [.gateway]

    /// The largest attachment: `content.AddAttachment` carries the file in one wire frame
    /// (1 MiB), with room for the rest of the message. The gateway refuses larger uploads itself.
    public static let maxAttachmentBytes = 960 * 1024

    // Items
    public static let createItem = MethodDescriptor<ContentCreateItemRequest, ContentItem>("content.CreateItem", idempotent: false, allowedCallers: frontDoor)
    public static let updateItem = MethodDescriptor<ContentUpdateItemRequest, ContentItem>("content.UpdateItem", idempotent: false, allowedCallers: frontDoor)
    public static let publishItem = MethodDescriptor<ContentPublishItemRequest, ContentItem>("content.PublishItem", idempotent: true, allowedCallers: frontDoor)
    public static let getItem = MethodDescriptor<ContentItemRequest, ContentItem>("content.GetItem", idempotent: true, allowedCallers: frontDoor)
    public static let listItems = MethodDescriptor<ContentListItemsRequest, ContentItemList>("content.ListItems", idempotent: true, allowedCallers: frontDoor)
    public static let listRevisions = MethodDescriptor<ContentItemRequest, ContentRevisionList>("content.ListRevisions", idempotent: true, allowedCallers: frontDoor)
    public static let deleteItem = MethodDescriptor<ContentItemRequest, ContentItem>("content.DeleteItem", idempotent: true, allowedCallers: frontDoor)
    public static let restoreItem = MethodDescriptor<ContentItemRequest, ContentItem>("content.RestoreItem", idempotent: true, allowedCallers: frontDoor)

    // Courses
    public static let addChapter = MethodDescriptor<ContentAddChapterRequest, ContentChapter>("content.AddChapter", idempotent: false, allowedCallers: frontDoor)
    public static let moveChapter = MethodDescriptor<ContentMoveChapterRequest, ContentChapter>("content.MoveChapter", idempotent: true, allowedCallers: frontDoor)
    public static let addLesson = MethodDescriptor<ContentAddLessonRequest, ContentLesson>("content.AddLesson", idempotent: false, allowedCallers: frontDoor)
    public static let updateLesson = MethodDescriptor<ContentUpdateLessonRequest, ContentLesson>("content.UpdateLesson", idempotent: true, allowedCallers: frontDoor)
    public static let moveLesson = MethodDescriptor<ContentMoveLessonRequest, ContentLesson>("content.MoveLesson", idempotent: true, allowedCallers: frontDoor)
    public static let getLesson = MethodDescriptor<ContentLessonRequest, ContentLesson>("content.GetLesson", idempotent: true, allowedCallers: frontDoor)
    public static let completeLesson = MethodDescriptor<ContentCompleteLessonRequest, ContentProgress>("content.CompleteLesson", idempotent: true, allowedCallers: frontDoor)
    public static let getProgress = MethodDescriptor<ContentGetProgressRequest, ContentProgress>("content.GetProgress", idempotent: true, allowedCallers: frontDoor)

    // Attachments
    public static let addAttachment = MethodDescriptor<ContentAddAttachmentRequest, ContentAttachment>("content.AddAttachment", idempotent: false, allowedCallers: frontDoor)
    public static let getAttachment = MethodDescriptor<ContentAttachmentRequest, ContentAttachmentData>("content.GetAttachment", idempotent: true, allowedCallers: frontDoor)

    // Discussion
    public static let addComment = MethodDescriptor<ContentAddCommentRequest, ContentComment>("content.AddComment", idempotent: false, allowedCallers: frontDoor)
    public static let listComments = MethodDescriptor<ContentListCommentsRequest, ContentCommentList>("content.ListComments", idempotent: true, allowedCallers: frontDoor)
    public static let react = MethodDescriptor<ContentReactRequest, ContentReactionList>("content.React", idempotent: true, allowedCallers: frontDoor)
    public static let mark = MethodDescriptor<ContentMarkRequest, ContentMarkResult>("content.Mark", idempotent: true, allowedCallers: frontDoor)
    public static let report = MethodDescriptor<ContentReportRequest, ContentQueueEntry>("content.Report", idempotent: false, allowedCallers: frontDoor)

    // Review and moderation
    public static let getSettings = MethodDescriptor<ContentGetSettingsRequest, ContentCommunitySettings>("content.GetSettings", idempotent: true, allowedCallers: frontDoor)
    public static let updateSettings = MethodDescriptor<ContentUpdateSettingsRequest, ContentCommunitySettings>("content.UpdateSettings", idempotent: true, allowedCallers: frontDoor)
    public static let listQueue = MethodDescriptor<ContentListQueueRequest, ContentQueueList>("content.ListQueue", idempotent: true, allowedCallers: frontDoor)
    public static let decide = MethodDescriptor<ContentDecideRequest, ContentQueueEntry>("content.Decide", idempotent: true, allowedCallers: frontDoor)
    public static let listAudit = MethodDescriptor<ContentListAuditRequest, ContentAuditList>("content.ListAudit", idempotent: true, allowedCallers: frontDoor)
    public static let assignExpert = MethodDescriptor<ContentAssignExpertRequest, ContentExpertReview>("content.AssignExpert", idempotent: true, allowedCallers: frontDoor)
    public static let submitExpertReview = MethodDescriptor<ContentSubmitExpertReviewRequest, ContentExpertReview>("content.SubmitExpertReview", idempotent: true, allowedCallers: frontDoor)

    // Ratings
    public static let rateCourse = MethodDescriptor<ContentRateCourseRequest, ContentRating>("content.RateCourse", idempotent: true, allowedCallers: frontDoor)
    public static let listRatings = MethodDescriptor<ContentListRatingsRequest, ContentRatingList>("content.ListRatings", idempotent: true, allowedCallers: frontDoor)
    public static let replyToRating = MethodDescriptor<ContentReplyToRatingRequest, ContentRating>("content.ReplyToRating", idempotent: true, allowedCallers: frontDoor)

    // Search and feed
    public static let search = MethodDescriptor<ContentSearchRequest, ContentSearchResults>("content.Search", idempotent: true, allowedCallers: frontDoor)
    public static let feed = MethodDescriptor<ContentFeedRequest, ContentFeed>("content.Feed", idempotent: true, allowedCallers: frontDoor)

    // For other services
    /// Called by referral for a points redemption. Idempotent by its key.
    public static let grantItemAccess = MethodDescriptor<ContentGrantItemAccessRequest, ContentItemGrant>("content.GrantItemAccess", idempotent: true, allowedCallers: [.referral])
    /// Active members, for the lifecycle funnel.
    public static let getActivityStats = MethodDescriptor<ContentActivityStatsRequest, ContentActivityStats>("content.GetActivityStats", idempotent: true, allowedCallers: frontDoor)
}
