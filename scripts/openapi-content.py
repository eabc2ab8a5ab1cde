#!/usr/bin/env python3
"""Writes the content part of docs/openapi.json from
Shared/GuildMessages/Protos/guild/content/v1/content.proto and interaction.proto (and, for the
charges that pay for questions and bookings, membership.proto) and the route table below.

The content API's JSON is the proto3 JSON mapping of guild.content.v1 (lowerCamelCase names,
timestamps as RFC 3339 strings, int64 as numbers, fields at their default value omitted), so
its schemas are derived from the .proto files rather than written by hand. The charge routes
speak the same mapping of guild.membership.v1; their messages are named "membership.<Message>"
in the table and their schemas "Membership<Message>". The referral, points and analytics routes
(guild-referral, and the funnel and forecast the gateway assembles) speak the mapping of
guild.referral.v1: "referral.<Message>", schemas "Referral<Message>". It also keeps the two
hand-written membership schemas that referral extended (RegisterRequest's visitorId,
SandboxConfirmRequest's cardFingerprint). Run it after changing a proto, ContentRoutes.swift,
InteractionRoutes.swift, ReferralRoutes.swift or AnalyticsRoutes.swift; the gateway's tests
check that the document and the served routes agree.
"""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "Shared/GuildMessages/Protos/guild"
# schema name prefix -> (proto package, its .proto files)
PACKAGES = {
    "Content": ("guild.content.v1", [PROTOS / "content/v1/content.proto", PROTOS / "content/v1/interaction.proto"]),
    "Membership": ("guild.membership.v1", [PROTOS / "membership/v1/membership.proto"]),
    "Referral": ("guild.referral.v1", [PROTOS / "referral/v1/referral.proto"]),
}
# docs/openapi.json is a link to the gateway's bundled copy.
DOCS = [ROOT / "Services/Gateway/GuildGateway/Resources/openapi.json"]

# method, path, operationId, summary, request message (None: no body; RAW: the body is a file),
# response message (FILE: a file; ICS: an iCalendar document), success status, caller ("user" or
# "anyone"), query parameters [(name, type, description)], tag. A message of guild.membership.v1
# is written "membership.<Message>", one of guild.referral.v1 "referral.<Message>".
ROUTES = [
    ("post", "/api/v1/communities/{communityId}/items", "createItem", "Write a post or a course (a draft, or published with publish: true).", "CreateItemRequest", "Item", 201, "user", [], "content"),
    ("get", "/api/v1/communities/{communityId}/items", "listItems", "A community's items, newest first, without bodies (each with the excerpt the caller may read).", None, "ItemList", 200, "anyone",
     [("kind", "string", "post or course"), ("status", "string", "published (default), mine, or for staff draft, scheduled, pending_review, rejected, removed, deleted"),
      ("tag", "string", "only items with this tag"), ("cursor", "string", "nextCursor of the previous page"), ("limit", "integer", "1 to 100, default 20")], "content"),
    ("get", "/api/v1/items/{itemId}", "getItem", "An item: the whole body for those who may read it, else the free part and the paywall with the plans that open it.", None, "Item", 200, "anyone", [], "content"),
    ("patch", "/api/v1/items/{itemId}", "updateItem", "Edit an item (its author or the owners); each change of title or text keeps the previous version.", "UpdateItemRequest", "Item", 200, "user", [], "content"),
    ("delete", "/api/v1/items/{itemId}", "deleteItem", "Delete an item (soft: its author or a moderator may restore it for 30 days).", None, "Item", 200, "user", [], "content"),
    ("post", "/api/v1/items/{itemId}/publish", "publishItem", "Publish now or at publishAt; held for review when the keyword filter matches or the community approves members' posts.", "PublishItemRequest", "Item", 200, "user", [], "content"),
    ("post", "/api/v1/items/{itemId}/restore", "restoreItem", "Restore a deleted item within 30 days.", None, "Item", 200, "user", [], "content"),
    ("get", "/api/v1/items/{itemId}/revisions", "listRevisions", "An item's edit history, newest first (its author and staff).", None, "RevisionList", 200, "user", [], "content"),
    ("post", "/api/v1/items/{itemId}/chapters", "addChapter", "Add a chapter to a course.", "AddChapterRequest", "Chapter", 201, "user", [], "courses"),
    ("post", "/api/v1/chapters/{chapterId}/move", "moveChapter", "Move a chapter after another (or first); one row changes.", "MoveChapterRequest", "Chapter", 200, "user", [], "courses"),
    ("post", "/api/v1/chapters/{chapterId}/lessons", "addLesson", "Add a lesson to a chapter.", "AddLessonRequest", "Lesson", 201, "user", [], "courses"),
    ("get", "/api/v1/lessons/{lessonId}", "getLesson", "A lesson: its body when free or the caller may read the course, else the paywall.", None, "Lesson", 200, "anyone", [], "courses"),
    ("patch", "/api/v1/lessons/{lessonId}", "updateLesson", "Edit a lesson.", "UpdateLessonRequest", "Lesson", 200, "user", [], "courses"),
    ("post", "/api/v1/lessons/{lessonId}/move", "moveLesson", "Move a lesson within its course; one row changes.", "MoveLessonRequest", "Lesson", 200, "user", [], "courses"),
    ("post", "/api/v1/lessons/{lessonId}/progress", "recordProgress", "Record the caller's position in a lesson and, with completed, mark it done.", "CompleteLessonRequest", "Progress", 200, "user", [], "courses"),
    ("get", "/api/v1/items/{itemId}/progress", "getProgress", "The caller's progress in a course.", None, "Progress", 200, "user", [], "courses"),
    ("post", "/api/v1/items/{itemId}/attachments", "addAttachment", "Attach a file: the body is the file, Content-Type its type (images, PDF, ZIP, text, CSV, JSON), at most 960 KiB.", "RAW", "Attachment", 201, "user",
     [("filename", "string", "the file's name")], "content"),
    ("get", "/api/v1/attachments/{attachmentId}", "getAttachment", "An attachment's bytes with its type, to callers who may read the whole item.", None, "FILE", 200, "anyone", [], "content"),
    ("post", "/api/v1/items/{itemId}/comments", "addComment", "Comment on an item or one of its lessons (lessonId), or answer a comment (parentId). @<userId> mentions a member.", "AddCommentRequest", "Comment", 201, "user", [], "discussion"),
    ("get", "/api/v1/items/{itemId}/comments", "listComments", "The threads of an item or lesson: pinned first, answers nested.", None, "CommentList", 200, "anyone",
     [("lessonId", "string", "a lesson of the course")], "discussion"),
    ("post", "/api/v1/reactions", "react", "Add (or with remove: true, take back) a reaction on an item or comment.", "ReactRequest", "ReactionList", 200, "user", [], "discussion"),
    ("post", "/api/v1/marks", "mark", "Pin or mark as essence (精华) an item or comment (owner and moderators).", "MarkRequest", "MarkResult", 200, "user", [], "discussion"),
    ("post", "/api/v1/reports", "report", "Report an item or comment to the moderators.", "ReportRequest", "QueueEntry", 201, "user", [], "moderation"),
    ("get", "/api/v1/communities/{communityId}/content-settings", "getContentSettings", "The community's rules (everyone) and keyword list and approval option (staff).", None, "CommunitySettings", 200, "anyone", [], "moderation"),
    ("patch", "/api/v1/communities/{communityId}/content-settings", "updateContentSettings", "Edit the rules, the keyword list (with replaceKeywords: true) and the approval option.", "UpdateSettingsRequest", "CommunitySettings", 200, "user", [], "moderation"),
    ("get", "/api/v1/communities/{communityId}/moderation-queue", "listModerationQueue", "The moderation queue (moderators).", None, "QueueList", 200, "user",
     [("status", "string", "pending (default), approved, rejected, removed or all")], "moderation"),
    ("post", "/api/v1/moderation-queue/{entryId}/decision", "decide", "Approve, reject (with a reason the author sees) or remove.", "DecideRequest", "QueueEntry", 200, "user", [], "moderation"),
    ("get", "/api/v1/communities/{communityId}/moderation-audit", "listModerationAudit", "Who decided what, newest first (moderators).", None, "AuditList", 200, "user",
     [("limit", "integer", "1 to 500, default 100")], "moderation"),
    ("put", "/api/v1/items/{itemId}/expert-review", "assignExpert", "Ask a guest expert to review a draft; it is published only once they approve.", "AssignExpertRequest", "ExpertReview", 200, "user", [], "moderation"),
    ("post", "/api/v1/items/{itemId}/expert-review/verdict", "submitExpertReview", "The assigned expert's verdict (approved or changes_requested) and comments.", "SubmitExpertReviewRequest", "ExpertReview", 200, "user", [], "moderation"),
    ("put", "/api/v1/items/{itemId}/ratings/mine", "rateCourse", "Rate a course 1–5 with a review (members who may read it; again to edit).", "RateCourseRequest", "Rating", 200, "user", [], "ratings"),
    ("get", "/api/v1/items/{itemId}/ratings", "listRatings", "A course's ratings with their average, count and distribution.", None, "RatingList", 200, "anyone", [], "ratings"),
    ("put", "/api/v1/items/{itemId}/ratings/{userId}/reply", "replyToRating", "The owner answers a review.", "ReplyToRatingRequest", "Rating", 200, "user", [], "ratings"),
    ("get", "/api/v1/search", "search", "Full-text search (English and Chinese) over what the caller may read, ranked, with <mark> snippets.", None, "SearchResults", 200, "anyone",
     [("q", "string", "1 to 200 characters"), ("communityId", "string", "only this community"), ("limit", "integer", "1 to 50, default 20")], "discovery"),
    ("get", "/api/v1/feed", "feed", "The caller's home feed across their communities, newest first, with what is new since the last visit.", None, "Feed", 200, "user",
     [("cursor", "string", "nextCursor of the previous page"), ("limit", "integer", "1 to 100, default 20"), ("communityId", "string", "only this community")], "discovery"),
    # Paid questions (付费提问)
    ("put", "/api/v1/communities/{communityId}/answerer", "setAnswerer", "Say whether the caller takes questions, at what price (0: free) and with what introduction (owners, co-owners, guest experts).", "SetAnswererRequest", "Answerer", 200, "user", [], "questions"),
    ("get", "/api/v1/communities/{communityId}/answerers", "listAnswerers", "Who takes questions in the community now, with their price.", None, "AnswererList", 200, "anyone", [], "questions"),
    ("post", "/api/v1/communities/{communityId}/questions", "askQuestion", "Ask someone who takes questions. A paid question waits for its payment (payment.checkoutUrl); a free one is open at once.", "AskQuestionRequest", "Question", 201, "user", [], "questions"),
    ("get", "/api/v1/communities/{communityId}/questions", "listQuestions", "A community's questions, newest first.", None, "QuestionList", 200, "user",
     [("scope", "string", "mine (default: asked by the caller), inbox (addressed to the caller), public (answered public questions, members) or all (staff)"),
      ("status", "string", "awaiting_payment, open, answered, declined, expired or cancelled"), ("limit", "integer", "1 to 100, default 20"),
      ("cursor", "string", "nextCursor of the previous page")], "questions"),
    ("get", "/api/v1/questions/{questionId}", "getQuestion", "A question: to its asker, its answerer and staff; to other members once it is answered and public.", None, "Question", 200, "anyone", [], "questions"),
    ("post", "/api/v1/questions/{questionId}/answer", "answerQuestion", "The answerer answers an open question; the held payment is paid out to them, minus the platform fee.", "AnswerQuestionRequest", "Question", 200, "user", [], "questions"),
    ("post", "/api/v1/questions/{questionId}/decline", "declineQuestion", "The answerer declines an open question with a reason; the asker is refunded at once.", "DeclineQuestionRequest", "Question", 200, "user", [], "questions"),
    # Charges (guild-membership): how questions and bookings are paid
    ("post", "/api/v1/charges/{chargeId}/sandbox-confirm", "confirmSandboxCharge", "The sandbox provider: the payer paid the charge (or, with fail: true, the payment failed). A sandbox charge's checkoutUrl is this route.", "membership.ConfirmSandboxChargeRequest", "membership.Charge", 200, "user", [], "charges"),
    ("get", "/api/v1/charges/{chargeId}", "getCharge", "A charge: to its payer, its payee and the community's owners.", None, "membership.Charge", 200, "user", [], "charges"),
    # Consulting bookings (技术咨询)
    ("post", "/api/v1/communities/{communityId}/offerings", "createOffering", "Offer consulting sessions: title, scope, duration, price and cancellation cut-off (owners, co-owners, guest experts).", "CreateOfferingRequest", "Offering", 201, "user", [], "bookings"),
    ("get", "/api/v1/communities/{communityId}/offerings", "listOfferings", "A community's active offerings (the expert and staff also see retired ones).", None, "OfferingList", 200, "anyone",
     [("expertId", "string", "only this expert's offerings")], "bookings"),
    ("post", "/api/v1/offerings/{offeringId}/retire", "retireOffering", "Retire an offering: no new bookings; booked sessions stay.", None, "Offering", 200, "user", [], "bookings"),
    ("put", "/api/v1/communities/{communityId}/availability", "setAvailability", "The caller's weekly hours in their time zone (replaces the previous ones).", "SetAvailabilityRequest", "Availability", 200, "user", [], "bookings"),
    ("get", "/api/v1/offerings/{offeringId}/slots", "listSlots", "An offering's free slots, with their start in the expert's time zone.", None, "SlotList", 200, "anyone",
     [("from", "date-time", "RFC 3339, default now"), ("days", "integer", "1 to 60, default 14")], "bookings"),
    ("post", "/api/v1/offerings/{offeringId}/bookings", "book", "Book a slot ({\"start\": RFC 3339}). A paid booking waits for its payment (payment.checkoutUrl); of two members booking one slot at once, the second gets 409 slot_taken.", "BookRequest", "Booking", 201, "user", [], "bookings"),
    ("get", "/api/v1/bookings/{bookingId}", "getBooking", "A booking: to its member, its expert and staff.", None, "Booking", 200, "user", [], "bookings"),
    ("get", "/api/v1/communities/{communityId}/bookings", "listBookings", "The caller's bookings in a community.", None, "BookingList", 200, "user",
     [("scope", "string", "mine (default: as the member) or expert (as the expert)")], "bookings"),
    ("post", "/api/v1/bookings/{bookingId}/cancel", "cancelBooking", "Cancel a booking: the expert always refunds in full; the member is refunded in full before the offering's cut-off, not after.", "CancelBookingRequest", "Booking", 200, "user", [], "bookings"),
    ("put", "/api/v1/bookings/{bookingId}/notes", "writeSessionNotes", "The expert's follow-up notes in Markdown, once the session has started.", "WriteSessionNotesRequest", "Booking", 200, "user", [], "bookings"),
    ("post", "/api/v1/bookings/{bookingId}/rating", "rateSession", "The member rates a session 1–5 with a review once it has ended (again to edit).", "RateSessionRequest", "Booking", 200, "user", [], "bookings"),
    # Check-in challenges (打卡)
    ("post", "/api/v1/communities/{communityId}/challenges", "createChallenge", "Start a check-in challenge: a daily task for a number of days from a local start date (owners, co-owners).", "CreateChallengeRequest", "Challenge", 201, "user", [], "challenges"),
    ("get", "/api/v1/communities/{communityId}/challenges", "listChallenges", "A community's challenges.", None, "ChallengeList", 200, "anyone", [], "challenges"),
    ("get", "/api/v1/challenges/{challengeId}", "getChallenge", "A challenge, with the caller's standing once they joined.", None, "Challenge", 200, "anyone", [], "challenges"),
    ("post", "/api/v1/challenges/{challengeId}/join", "joinChallenge", "Join a challenge (members).", None, "Challenge", 200, "user", [], "challenges"),
    ("post", "/api/v1/challenges/{challengeId}/checkins", "checkIn", "Check in for the challenge's current local day, at most once a day (409 already_checked_in).", "CheckInRequest", "CheckIn", 201, "user", [], "challenges"),
    ("get", "/api/v1/challenges/{challengeId}/board", "challengeBoard", "The leaderboard (most check-ins, then the longer current streak, then the earlier check-in on the latest day) and who is behind.", None, "ChallengeBoardResponse", 200, "anyone",
     [("limit", "integer", "how many leaders")], "challenges"),
    # Lotteries (抽奖)
    ("post", "/api/v1/communities/{communityId}/lotteries", "createLottery", "Create a lottery: prizes, who may enter and when it is drawn; its commitment (SHA-256 of the seed) is published at once (owners, co-owners).", "CreateLotteryRequest", "Lottery", 201, "user", [], "lotteries"),
    ("get", "/api/v1/communities/{communityId}/lotteries", "listLotteries", "A community's lotteries.", None, "LotteryList", 200, "anyone", [], "lotteries"),
    ("get", "/api/v1/lotteries/{lotteryId}", "getLottery", "A lottery; once drawn, with its seed, sorted entrants and winners, so that anyone can re-run the draw.", None, "Lottery", 200, "anyone", [], "lotteries"),
    ("post", "/api/v1/lotteries/{lotteryId}/entries", "enterLottery", "Enter a lottery: once per eligible member, before the draw time.", None, "Lottery", 200, "user", [], "lotteries"),
    ("post", "/api/v1/lotteries/{lotteryId}/draw", "drawLottery", "Draw a lottery once its draw time has come (owners); a second draw is refused (409 already_drawn).", None, "Lottery", 200, "user", [], "lotteries"),
    # Live sessions and events (直播 / 活动)
    ("post", "/api/v1/communities/{communityId}/events", "createEvent", "Schedule a live session or an online or offline event (owners, co-owners, guest experts).", "CreateEventRequest", "Event", 201, "user", [], "events"),
    ("get", "/api/v1/communities/{communityId}/events", "listEvents", "A community's events, upcoming first (or past ones).", None, "EventList", 200, "anyone",
     [("past", "boolean", "true: past events instead of upcoming ones")], "events"),
    ("get", "/api/v1/events/{eventId}", "getEvent", "An event; its join URL only to those who may attend (for a live session from 15 minutes before the start).", None, "Event", 200, "anyone", [], "events"),
    ("post", "/api/v1/events/{eventId}/rsvp", "rsvp", "RSVP: going, or on the waiting list when the event is full.", None, "Event", 200, "user", [], "events"),
    ("delete", "/api/v1/events/{eventId}/rsvp", "cancelRsvp", "Take an RSVP back; the first on the waiting list takes the place.", None, "Event", 200, "user", [], "events"),
    ("post", "/api/v1/events/{eventId}/cancel", "cancelEvent", "Cancel an event (its creator, owners).", "CancelEventRequest", "Event", 200, "user", [], "events"),
    ("post", "/api/v1/events/{eventId}/replay", "attachReplay", "Attach the replay after the start: a post or an attachment of the community.", "AttachReplayRequest", "Event", 200, "user", [], "events"),
    ("post", "/api/v1/events/{eventId}/join", "joinEvent", "Attend: the event with its join URL; the attendance is recorded once.", None, "Event", 200, "user", [], "events"),
    ("get", "/api/v1/events/{eventId}/calendar.ics", "eventCalendar", "One event as iCalendar, to import into a calendar application.", None, "ICS", 200, "anyone", [], "events"),
    ("get", "/api/v1/me/calendar.ics", "myCalendar", "The events the caller is going to, in every community, as iCalendar.", None, "ICS", 200, "user", [], "events"),
    ("post", "/api/v1/me/calendar-feed", "rotateCalendarFeed", "A new private address of the caller's calendar for calendar applications to subscribe to without a token; the previous one stops working.", None, "CalendarFeed", 201, "user", [], "events"),
    ("get", "/api/v1/calendar-feeds/{secret}/calendar.ics", "feedCalendar", "The calendar behind a private address (no token: the secret is the credential).", None, "ICS", 200, "anyone", [], "events"),
    # Product-review tasks (产品评测)
    ("post", "/api/v1/communities/{communityId}/review-tasks", "createReviewTask", "Open a product-review task: the product, a brief in Markdown, places, a deadline and reward points (owners, co-owners).", "CreateReviewTaskRequest", "ReviewTask", 201, "user", [], "review tasks"),
    ("get", "/api/v1/communities/{communityId}/review-tasks", "listReviewTasks", "A community's review tasks.", None, "ReviewTaskList", 200, "user", [], "review tasks"),
    ("get", "/api/v1/review-tasks/{taskId}", "getReviewTask", "A review task, with the caller's application if any.", None, "ReviewTask", 200, "user", [], "review tasks"),
    ("post", "/api/v1/review-tasks/{taskId}/applications", "applyForReview", "Apply to review the product (members, once, before the deadline).", "ApplyForReviewRequest", "ReviewApplication", 201, "user", [], "review tasks"),
    ("get", "/api/v1/review-tasks/{taskId}/applications", "listApplications", "The applications to a task (staff).", None, "ApplicationList", 200, "user", [], "review tasks"),
    ("post", "/api/v1/review-tasks/{taskId}/selections", "selectReviewers", "Select applicants as reviewers, up to the task's places.", "SelectReviewersRequest", "ApplicationList", 200, "user", [], "review tasks"),
    ("post", "/api/v1/review-tasks/{taskId}/report", "submitReport", "A selected reviewer names their post (the report) and gives a structured verdict; again after changes were asked for.", "SubmitReportRequest", "ReviewApplication", 200, "user", [], "review tasks"),
    ("post", "/api/v1/review-tasks/{taskId}/applications/{userId}/judgement", "judgeReport", "Accept a report (the reward is earned) or ask for changes, with feedback.", "JudgeReportRequest", "ReviewApplication", 200, "user", [], "review tasks"),
    ("get", "/api/v1/review-tasks/{taskId}/summary", "reviewSummary", "Every accepted verdict of a task: average score, distribution, recommendations, the pros and cons named most often.", None, "ReviewSummaryResponse", 200, "user", [], "review tasks"),
    # Referral links and attribution (guild-referral)
    ("get", "/r/{code}", "followReferralLink", "A referral link: records the visit (with utm_source and utm_campaign), keeps the visitor's id in the guild_visitor cookie (HttpOnly, SameSite=Lax, 90 days) and redirects to /?community=<communityId>&ref=<code>&by=<referrerId> (the web front end greets the visitor with the referrer's name); with Accept: application/json it answers the visit instead. An unknown code is a 404.", None, "referral.Visit", 302, "anyone",
     [("utm_source", "string", "the campaign's source"), ("utm_campaign", "string", "the campaign")], "referral"),
    ("post", "/api/v1/referral/visits", "recordVisit", "Record a visit the front end saw: through a code, or with a campaign source (utm). The visitor id is made when none is given (or taken from the guild_visitor cookie).", "referral.RecordVisitRequest", "referral.Visit", 201, "anyone", [], "referral"),
    ("post", "/api/v1/referral/signup", "recordSignup", "An existing account claims a visitor's touches ({\"visitorId\"}, or the guild_visitor cookie): each community touched within its attribution window attributes the caller to the first touch. New accounts do this at registration (visitorId).", "referral.RecordSignupRequest", "referral.SignupResponse", 200, "user", [], "referral"),
    ("get", "/api/v1/communities/{communityId}/referral/link", "getMyReferralLink", "The caller's referral link in a community (made on first ask; members).", None, "referral.Link", 200, "user", [], "referral"),
    ("get", "/api/v1/communities/{communityId}/referral/me", "getMyReferrals", "The caller's referrals: visits, sign-ups, conversions, and pending, payable and clawed-back commission.", None, "referral.ReferralSummary", 200, "user", [], "referral"),
    ("get", "/api/v1/communities/{communityId}/referral/program", "getReferralProgram", "The community's referral programme: commission, newcomer reward, attribution window, burst rule, clawback.", None, "referral.Program", 200, "anyone", [], "referral"),
    ("put", "/api/v1/communities/{communityId}/referral/program", "updateReferralProgram", "Set the referral programme (owners, co-owners). The body is the Program.", "referral.Program", "referral.Program", 200, "user", [], "referral"),
    ("get", "/api/v1/communities/{communityId}/referral/held", "listHeldAttributions", "Sign-ups held for review (bursts through one link from one network), with the reason (owners, co-owners, moderators).", None, "referral.AttributionList", 200, "user", [], "referral"),
    ("post", "/api/v1/referral/attributions/{attributionId}/review", "reviewAttribution", "Approve a held sign-up (its commissions become pending) or reject it (they become void) ({\"approve\", \"note\"}; owners, co-owners).", "referral.ReviewAttributionRequest", "referral.Attribution", 200, "user", [], "referral"),
    # Points, levels, redemption, leaderboards
    ("get", "/api/v1/communities/{communityId}/points/rules", "getPointsRules", "What earns points in the community, with daily caps.", None, "referral.PointsRules", 200, "anyone", [], "points"),
    ("put", "/api/v1/communities/{communityId}/points/rules", "updatePointsRules", "Edit earning rules ({\"rules\": [...]}; each replaces the rule of its kind; owners, co-owners).", "referral.UpdatePointsRulesRequest", "referral.PointsRules", 200, "user", [], "points"),
    ("get", "/api/v1/communities/{communityId}/points/me", "getMyPoints", "The caller's points: balance, points earned, level, the next level and recent entries.", None, "referral.PointsAccount", 200, "user", [], "points"),
    ("get", "/api/v1/communities/{communityId}/points/members/{userId}", "getMemberPoints", "A member's points (owners, co-owners, moderators).", None, "referral.PointsAccount", 200, "user", [], "points"),
    ("get", "/api/v1/communities/{communityId}/levels", "getLevels", "The community's level ladder (等级).", None, "referral.LevelLadder", 200, "anyone", [], "points"),
    ("put", "/api/v1/communities/{communityId}/levels", "updateLevels", "Replace the level ladder ({\"levels\": [...]}, thresholds rising from 0; owners, co-owners).", "referral.UpdateLevelsRequest", "referral.LevelLadder", 200, "user", [], "points"),
    ("get", "/api/v1/communities/{communityId}/rewards", "listRewards", "The rewards catalogue (积分兑换): what points buy.", None, "referral.Catalogue", 200, "anyone", [], "points"),
    ("post", "/api/v1/communities/{communityId}/rewards", "createReward", "Add a catalogue entry: a renewal coupon, a discount or the unlock of an item (owners, co-owners). The body is the CatalogueEntry.", "referral.CatalogueEntry", "referral.CatalogueEntry", 201, "user", [], "points"),
    ("patch", "/api/v1/rewards/{entryId}", "updateReward", "Edit a catalogue entry's title, cost, stock or active flag (owners, co-owners).", "referral.CatalogueEntry", "referral.CatalogueEntry", 200, "user", [], "points"),
    ("post", "/api/v1/rewards/{entryId}/redeem", "redeemReward", "Spend points on a catalogue entry: the points are debited and the coupon issued (or the item unlocked) together, or neither. The body may be empty.", "referral.RedeemRequest", "referral.Redemption", 201, "user", [], "points"),
    ("get", "/api/v1/communities/{communityId}/redemptions/me", "listMyRedemptions", "The caller's redemptions, newest first: pending ones with their attempts and when the next is due; failed ones with failureReason (delivery_gave_up when the reward could not be delivered within the attempts allowed) and pointsReturned.", None, "referral.RedemptionList", 200, "user", [], "points"),
    ("get", "/api/v1/communities/{communityId}/redemptions", "listRedemptions", "The community's redemptions, newest first (owners and co-owners): what members redeemed, what is still being delivered, and what failed and why (the points given back).", None, "referral.RedemptionList", 200, "user",
     [("status", "string", "pending, completed or failed (default: all)"), ("limit", "integer", "at most 500 (default 100)")], "points"),
    ("get", "/api/v1/communities/{communityId}/leaderboards/{board}", "getLeaderboard", "A leaderboard: points_week, points_month, points_all, referrals or streaks, with the caller's own row and the tie rule.", None, "referral.Leaderboard", 200, "user",
     [("limit", "integer", "1 to 100, default 20")], "points"),
    ("put", "/api/v1/communities/{communityId}/leaderboards/visibility", "setBoardVisibility", "Hide the caller from the leaderboards, or show them again ({\"hidden\": true}).", "referral.SetBoardVisibilityRequest", "referral.PointsAccount", 200, "user", [], "points"),
    # Analytics (assembled by the gateway)
    ("get", "/api/v1/communities/{communityId}/analytics/funnel", "getFunnel", "The lifecycle funnel for a range [from, to), as a cohort: each stage is a part of the one its rate is over (rateBase), so every rate lies in [0, 1]. People are counted by visitor id. visitors (referral): those who visited in the range, and those whose sign-up in the range came from an earlier touch. signups: of the visitors, those who signed up in the range (rate over visitors). trials: of the sign-ups, those whose first trial started in the range (rate over signups); paid: of the sign-ups, those whose first payment fell in the range (rate over signups, not over trials: paying without a trial is a path of its own); trialToPaid and trialToPaidRate: of the trials, those who paid at or after the trial began (rate over trials). active_30d (content): everyone who interacted in the 30 days to the range's end, members and staff alike: a level, with no rate; active_7d: those of them active in the last 7 days (rate over active_30d). retained (membership): members live at both the range's start and its end, with its rate over membersAtStart (the members live at the start), not over the stage before it. referrers: distinct referrers of the range's attributed sign-ups, a level. bySource repeats visitors, signups, trials and paid per source. membersAtStart, membersAtEnd, trialsStarted and firstPayments are membership's figures for the whole community in the range. The monthly cohort table: retention over each cohort's size. Owners and co-owners only. Membership, content and referral are asked in parallel within the request's deadline; a service that does not answer leaves its stages available: false, and the answer says partial: true with the missing services.", None, "referral.Funnel", 200, "user",
     [("from", "date-time", "RFC 3339, default 30 days before to"), ("to", "date-time", "RFC 3339, default now; after from, at most 366 days later")], "analytics"),
    ("get", "/api/v1/communities/{communityId}/analytics/forecast", "getForecast", "The growth forecast: member counts per period with the period-over-period rate, the growth rate r fitted by least squares on ln(members) with its 95% interval and R², and U(t) = C·(1+r)^t with its band for the next periods. With fewer than 3 periods with members: enoughHistory false and a message, no figures (owners, co-owners).", None, "referral.Forecast", 200, "user",
     [("period", "string", "month (default) or week"), ("periods", "integer", "periods of history, 3 to 60, default 12"), ("horizon", "integer", "periods to forecast, 1 to 24, default 6")], "analytics"),
]

# Operations that move money: they take an Idempotency-Key header.
IDEMPOTENT = {"askQuestion", "book", "confirmSandboxCharge", "redeemReward"}
# A redirect that answers JSON on request (Accept: application/json).
REDIRECTS = {"followReferralLink"}

TAGS = [
    ("content", "Posts and courses behind the paywall (guild-content)."), ("courses", "Chapters, lessons and progress."),
    ("discussion", "Comments, reactions, pins and essence."), ("moderation", "Rules, keyword filter, moderation queue, audit log, expert review."),
    ("ratings", "Course ratings and reviews."), ("discovery", "Search and the home feed."),
    ("questions", "Paid questions (付费提问): the answerer is paid when they answer; unanswered or declined questions are refunded."),
    ("charges", "What a question or a booking costs, paid to the platform and held until it is settled or refunded (guild-membership)."),
    ("bookings", "Consulting sessions (技术咨询): offerings, weekly availability, slots, bookings, notes and ratings."),
    ("challenges", "Check-in challenges (打卡): daily check-ins, streaks and the leaderboard."),
    ("lotteries", "Lotteries (抽奖) with a published commitment and a draw anyone can verify."),
    ("events", "Live sessions and online or offline events: RSVPs, waiting list, replays, iCalendar."),
    ("review tasks", "Product-review tasks (产品评测): applications, selection, reports and their summary."),
    ("referral", "Referral links, visits and attribution, the referral programme, commissions and their review (guild-referral)."),
    ("points", "Points (积分), levels (等级), the rewards catalogue and redemption (积分兑换), leaderboards."),
    ("analytics", "The lifecycle funnel and cohorts, and the growth forecast, for owners and co-owners (assembled by the gateway)."),
]

# Hand-written membership schemas with fields referral added: (schema, property, definition).
EXTRA_PROPERTIES = [
    ("RegisterRequest", "visitorId", {"type": "string", "maxLength": 128, "description": "The visitor id of a referral link's guild_visitor cookie (the cookie itself is read too): once the account is made, the sign-up is attributed to the visitor's first touch. Attribution never fails the sign-up."}),
    ("SandboxConfirmRequest", "cardFingerprint", {"type": "string", "maxLength": 128, "description": "The card's fingerprint as a provider would report it (the same card gives the same value); referral's fraud checks compare it."}),
]

SCALARS = {
    "string": {"type": "string"}, "bool": {"type": "boolean"}, "int32": {"type": "integer", "format": "int32"},
    "int64": {"type": "integer", "format": "int64"}, "double": {"type": "number", "format": "double"},
    "bytes": {"type": "string", "format": "byte"},
    "google.protobuf.Timestamp": {"type": "string", "format": "date-time"},
}


def camel(name):
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def parse(text):
    """message name -> (description, [(json name, type, repeated, description)])"""
    messages = {}
    comment = []
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("//"):
            comment.append(line[2:].strip())
            continue
        match = re.match(r"message (\w+) \{(\})?", line)
        if match:
            current = match.group(1)
            messages[current] = (" ".join(comment), [])
            comment = []
            if match.group(2):
                current = None
            continue
        match = re.match(r"(repeated |optional )?([\w.]+) (\w+) = \d+;", line)
        if match and current:
            messages[current][1].append((camel(match.group(3)), match.group(2), match.group(1) == "repeated ", " ".join(comment)))
        if line == "}":
            current = None
        comment = []
    return messages


def qualified(name):
    """A route's message name -> (schema prefix, message): "Item" is content's Item,
    "membership.Charge" membership's Charge."""
    package, _, message = name.rpartition(".")
    return (package.capitalize() or "Content"), message


def schema(messages, prefix, name):
    description, fields = messages[name]
    properties = {}
    for json_name, kind, repeated, doc in fields:
        item = dict(SCALARS[kind]) if kind in SCALARS else {"$ref": f"#/components/schemas/{prefix}{kind}"}
        prop = {"type": "array", "items": item} if repeated else item
        if doc:
            prop = {**prop, "description": doc} if "$ref" not in prop else {"allOf": [prop], "description": doc}
        properties[json_name] = prop
    result = {"type": "object", "properties": properties, "additionalProperties": False}
    if description:
        result["description"] = description
    return result


def render(value, indent=0):
    """JSON with two-space indentation, short objects and arrays kept on one line (the
    document's house style, stable from one run to the next)."""
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if not isinstance(value, (dict, list)) or len(flat) + indent <= 100:
        return flat
    pad = " " * (indent + 2)
    if isinstance(value, dict):
        items = [f"{pad}{json.dumps(key, ensure_ascii=False)}: {render(item, indent + 2)}" for key, item in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    items = [pad + render(item, indent + 2) for item in value]
    return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"


def main():
    # prefix -> message name -> (description, fields); a package's files share one namespace
    packages = {prefix: {name: message for path in paths for name, message in parse(path.read_text()).items()}
                for prefix, (_, paths) in PACKAGES.items()}
    used = set()

    def collect(prefix, name):
        messages = packages[prefix]
        if (prefix, name) in used or name not in messages:
            return
        used.add((prefix, name))
        for _, kind, _, _ in messages[name][1]:
            if kind not in SCALARS:
                collect(prefix, kind)

    for route in ROUTES:
        for name in (route[4], route[5]):
            if name not in (None, "RAW", "FILE", "ICS"):
                collect(*qualified(name))
    document = json.loads(DOCS[0].read_text())
    schemas = document["components"]["schemas"]
    # Content's schemas are all generated; membership's hand-written ones (Money, Payment, ...) stay.
    generated = {prefix + name for prefix, messages in packages.items() for name in messages}
    for key in [k for k in schemas if k.startswith("Content") or k in generated]:
        del schemas[key]
    for prefix, name in sorted(used):
        schemas[f"{prefix}{name}"] = schema(packages[prefix], prefix, name)
    for name, prop, definition in EXTRA_PROPERTIES:
        schemas[name]["properties"][prop] = definition
    paths = document["paths"]
    for path in list(paths):
        for method in list(paths[path]):
            if any(route[0] == method and route[1] == path for route in ROUTES):
                del paths[path][method]
        if not paths[path]:
            del paths[path]
    tags = {tag["name"] for tag in document.get("tags", [])}
    for tag, text in TAGS:
        if tag not in tags:
            document.setdefault("tags", []).append({"name": tag, "description": text})
    for method, path, operation_id, summary, request, response, status, caller, query, tag in ROUTES:
        parameters = [{"name": name[1:-1], "in": "path", "required": True, "schema": {"type": "string"}} for name in re.findall(r"\{\w+\}", path)]
        for name, kind, text in query:
            kind_schema = {"type": "string", "format": "date-time"} if kind == "date-time" else {"type": kind}
            parameters.append({"name": name, "in": "query", "required": name == "q", "schema": kind_schema, "description": text})
        if operation_id in IDEMPOTENT:
            parameters.append({"name": "Idempotency-Key", "in": "header", "required": True, "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                               "description": "New for each new request; the same key with the same body returns the first result, with another body is refused (409, reason idempotency_key_reused)."})
        package = PACKAGES[qualified(response)[0]][0]
        description = "iCalendar (RFC 5545), not JSON." if response == "ICS" else f"JSON in the proto3 JSON mapping of {package}."
        operation = {
            "tags": [tag], "operationId": operation_id, "summary": summary,
            "description": description + (" A visitor may call it without a token; with one, the answer is for that user." if caller == "anyone" else ""),
        }
        if parameters:
            operation["parameters"] = parameters
        if caller == "user":
            operation["security"] = [{"bearer": []}]
        else:
            operation["security"] = [{}, {"bearer": []}]
        if request == "RAW":
            operation["requestBody"] = {"required": True, "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
        elif request:
            prefix, name = qualified(request)
            operation["requestBody"] = {"required": False, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{prefix}{name}"}}}}
        if response == "FILE":
            ok = {"description": "The file, with its Content-Type, X-Content-Type-Options: nosniff and a sandboxing Content-Security-Policy.",
                  "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}
        elif response == "ICS":
            ok = {"description": "The calendar (text/calendar; charset=utf-8)" + (", as an attachment named <eventId>.ics." if "{eventId}" in path else "."),
                  "content": {"text/calendar": {"schema": {"type": "string"}}}}
        else:
            prefix, name = qualified(response)
            ok = {"description": packages[prefix][name][0] or name, "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{prefix}{name}"}}}}
        responses = {str(status): ok}
        if operation_id in REDIRECTS:
            responses = {
                "302": {"description": "To the community's landing page, with the visitor's cookie.",
                        "headers": {"Location": {"schema": {"type": "string"}, "description": "/?community=<communityId>&ref=<code>&by=<referrerId>"},
                                    "Set-Cookie": {"schema": {"type": "string"}, "description": "guild_visitor=<visitorId>; Path=/; Max-Age=7776000; HttpOnly; SameSite=Lax"}}},
                "200": {**ok, "description": "With Accept: application/json: the visit (and the same cookie)."},
            }
        responses["400"] = {"$ref": "#/components/responses/BadRequest"}
        responses["401"] = {"$ref": "#/components/responses/Unauthorized"}
        responses["403"] = {"$ref": "#/components/responses/Forbidden"}
        responses["404"] = {"$ref": "#/components/responses/NotFound"}
        if method != "get":
            responses["409"] = {"$ref": "#/components/responses/Conflict"}
        if request:
            responses["413"] = {"$ref": "#/components/responses/ContentTooLarge"}
        responses["503"] = {"$ref": "#/components/responses/Unavailable"}
        operation["responses"] = responses
        paths.setdefault(path, {})[method] = operation
    text = render(document)
    for target in DOCS:
        target.write_text(text + "\n")
    print(f"wrote {len(ROUTES)} content, interaction, referral and analytics operations and {len(used)} schemas to " + ", ".join(str(p.relative_to(ROOT)) for p in DOCS))


if __name__ == "__main__":
    main()
