import Foundation
import GuildCore
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import NIOCore
import SwiftProtobuf

/// Routes of the interaction features served by `guild-content`: paid questions, consulting
/// bookings, check-in challenges, lotteries, live sessions and events, product-review tasks; and
/// the two routes of `guild-membership` through which their charges are paid and read. Their JSON
/// is the proto3 JSON mapping of `guild.content.v1` (and `guild.membership.v1` for charges), see
/// ``Gateway/forward``. Requests that move money (asking, booking, confirming a charge) take an
/// `Idempotency-Key` header.
extension GatewayRoutes {
    static let interaction: [GatewayRoute] = questions + charges + bookings + challenges + lotteries + events + reviewTasks

    static let questions: [GatewayRoute] = [
        GatewayRoute(method: .put, path: "/api/v1/communities/{communityId}/answerer") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.setAnswerer, request, context, body: true) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/answerers") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listAnswerers, request, context, caller: .anyone) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/questions") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.askQuestion, request, context, body: true, bodyLimit: ContentConfigurationLimits.maxTextBodyBytes, status: .created) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.idempotencyKey = try gateway.idempotencyKey(request)
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/questions") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listQuestions, request, context) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.scope = request.query("scope")
                message.status = request.query("status")
                message.limit = try request.intQuery("limit")
                message.cursor = request.query("cursor")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/questions/{questionId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getQuestion, request, context, caller: .anyone) { message, _, context in
                message.questionID = try context.parameters.path("questionId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/questions/{questionId}/answer") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.answerQuestion, request, context, body: true, bodyLimit: ContentConfigurationLimits.maxTextBodyBytes) { message, _, context in
                message.questionID = try context.parameters.path("questionId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/questions/{questionId}/decline") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.declineQuestion, request, context, body: true) { message, _, context in
                message.questionID = try context.parameters.path("questionId")
            }
        },
    ]

    /// Membership's charges: what a question or a booking costs is paid here (a charge's
    /// sandbox checkout URL is its sandbox-confirm route).
    static let charges: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/charges/{chargeId}/sandbox-confirm") { gateway, request, context in
            try await gateway.forward(.membership, MembershipAPI.confirmSandboxCharge, request, context, body: true) { message, request, context in
                message.chargeID = try context.parameters.path("chargeId")
                message.idempotencyKey = try gateway.idempotencyKey(request)
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/charges/{chargeId}") { gateway, request, context in
            try await gateway.forward(.membership, MembershipAPI.getCharge, request, context) { message, _, context in
                message.chargeID = try context.parameters.path("chargeId")
            }
        },
    ]

    static let bookings: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/offerings") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.createOffering, request, context, body: true, status: .created) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/offerings") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listOfferings, request, context, caller: .anyone) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.expertID = request.query("expertId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/offerings/{offeringId}/retire") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.retireOffering, request, context) { message, _, context in
                message.offeringID = try context.parameters.path("offeringId")
            }
        },
        GatewayRoute(method: .put, path: "/api/v1/communities/{communityId}/availability") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.setAvailability, request, context, body: true) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/offerings/{offeringId}/slots") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listSlots, request, context, caller: .anyone) { message, request, context in
                message.offeringID = try context.parameters.path("offeringId")
                if let from = try request.timestampQuery("from") { message.from = from }
                message.days = try request.intQuery("days")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/offerings/{offeringId}/bookings") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.book, request, context, body: true, status: .created) { message, request, context in
                message.offeringID = try context.parameters.path("offeringId")
                message.idempotencyKey = try gateway.idempotencyKey(request)
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/bookings/{bookingId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getBooking, request, context) { message, _, context in
                message.bookingID = try context.parameters.path("bookingId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/bookings") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listBookings, request, context) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.scope = request.query("scope")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/bookings/{bookingId}/cancel") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.cancelBooking, request, context, body: true) { message, _, context in
                message.bookingID = try context.parameters.path("bookingId")
            }
        },
        GatewayRoute(method: .put, path: "/api/v1/bookings/{bookingId}/notes") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.writeSessionNotes, request, context, body: true, bodyLimit: ContentConfigurationLimits.maxTextBodyBytes) { message, _, context in
                message.bookingID = try context.parameters.path("bookingId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/bookings/{bookingId}/rating") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.rateSession, request, context, body: true) { message, _, context in
                message.bookingID = try context.parameters.path("bookingId")
            }
        },
    ]

    static let challenges: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/challenges") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.createChallenge, request, context, body: true, status: .created) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/challenges") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listChallenges, request, context, caller: .anyone) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/challenges/{challengeId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getChallenge, request, context, caller: .anyone) { message, _, context in
                message.challengeID = try context.parameters.path("challengeId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/challenges/{challengeId}/join") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.joinChallenge, request, context) { message, _, context in
                message.challengeID = try context.parameters.path("challengeId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/challenges/{challengeId}/checkins") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.checkIn, request, context, body: true, status: .created) { message, _, context in
                message.challengeID = try context.parameters.path("challengeId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/challenges/{challengeId}/board") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.challengeBoard, request, context, caller: .anyone) { message, request, context in
                message.challengeID = try context.parameters.path("challengeId")
                message.limit = try request.intQuery("limit")
            }
        },
    ]

    static let lotteries: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/lotteries") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.createLottery, request, context, body: true, status: .created) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/lotteries") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listLotteries, request, context, caller: .anyone) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/lotteries/{lotteryId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getLottery, request, context, caller: .anyone) { message, _, context in
                message.lotteryID = try context.parameters.path("lotteryId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/lotteries/{lotteryId}/entries") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.enterLottery, request, context) { message, _, context in
                message.lotteryID = try context.parameters.path("lotteryId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/lotteries/{lotteryId}/draw") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.drawLottery, request, context) { message, _, context in
                message.lotteryID = try context.parameters.path("lotteryId")
            }
        },
    ]

    static let events: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/events") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.createEvent, request, context, body: true, bodyLimit: ContentConfigurationLimits.maxTextBodyBytes, status: .created) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/events") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listEvents, request, context, caller: .anyone) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.past = try request.boolQuery("past")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/events/{eventId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getEvent, request, context, caller: .anyone) { message, _, context in
                message.eventID = try context.parameters.path("eventId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/events/{eventId}/rsvp") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.rsvp, request, context) { message, _, context in
                message.eventID = try context.parameters.path("eventId")
            }
        },
        GatewayRoute(method: .delete, path: "/api/v1/events/{eventId}/rsvp") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.cancelRsvp, request, context) { message, _, context in
                message.eventID = try context.parameters.path("eventId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/events/{eventId}/cancel") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.cancelEvent, request, context, body: true) { message, _, context in
                message.eventID = try context.parameters.path("eventId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/events/{eventId}/replay") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.attachReplay, request, context, body: true) { message, _, context in
                message.eventID = try context.parameters.path("eventId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/events/{eventId}/join") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.joinEvent, request, context) { message, _, context in
                message.eventID = try context.parameters.path("eventId")
            }
        },
        // iCalendar, not JSON: what calendar applications import.
        GatewayRoute(method: .get, path: "/api/v1/events/{eventId}/calendar.ics") { gateway, request, context in
            let context = try await gateway.authenticateIfPresent(request, context: context)
            var message = ContentEventCalendarRequest()
            message.eventID = try context.parameters.path("eventId")
            let calendar = try await gateway.client(.content).call(ContentAPI.eventCalendar, message, metadata: gateway.metadata(context, request: request))
            return Gateway.iCalendar(calendar, filename: message.eventID)
        },
        GatewayRoute(method: .get, path: "/api/v1/me/calendar.ics") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let calendar = try await gateway.client(.content).call(ContentAPI.myCalendar, ContentMyCalendarRequest(), metadata: gateway.metadata(context, request: request))
            return Gateway.iCalendar(calendar, filename: nil)
        },
        GatewayRoute(method: .post, path: "/api/v1/me/calendar-feed") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.rotateCalendarFeed, request, context, status: .created)
        },
        // No token: the secret in the path is the credential (calendar applications send none).
        GatewayRoute(method: .get, path: "/api/v1/calendar-feeds/{secret}/calendar.ics") { gateway, request, context in
            var message = ContentFeedCalendarRequest()
            message.secret = try context.parameters.path("secret")
            let calendar = try await gateway.client(.content).call(ContentAPI.feedCalendar, message, metadata: gateway.metadata(context, request: request))
            return Gateway.iCalendar(calendar, filename: nil)
        },
    ]

    static let reviewTasks: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/review-tasks") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.createReviewTask, request, context, body: true, bodyLimit: ContentConfigurationLimits.maxTextBodyBytes, status: .created) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/review-tasks") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listReviewTasks, request, context) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/review-tasks/{taskId}") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.getReviewTask, request, context) { message, _, context in
                message.taskID = try context.parameters.path("taskId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/review-tasks/{taskId}/applications") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.applyForReview, request, context, body: true, status: .created) { message, _, context in
                message.taskID = try context.parameters.path("taskId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/review-tasks/{taskId}/applications") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.listApplications, request, context) { message, _, context in
                message.taskID = try context.parameters.path("taskId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/review-tasks/{taskId}/selections") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.selectReviewers, request, context, body: true) { message, _, context in
                message.taskID = try context.parameters.path("taskId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/review-tasks/{taskId}/report") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.submitReport, request, context, body: true) { message, _, context in
                message.taskID = try context.parameters.path("taskId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/review-tasks/{taskId}/applications/{userId}/judgement") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.judgeReport, request, context, body: true) { message, _, context in
                message.taskID = try context.parameters.path("taskId")
                message.userID = try context.parameters.path("userId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/review-tasks/{taskId}/summary") { gateway, request, context in
            try await gateway.forward(.content, ContentAPI.reviewSummary, request, context) { message, _, context in
                message.taskID = try context.parameters.path("taskId")
            }
        },
    ]
}

extension Gateway {
    /// A calendar as `text/calendar` (RFC 5545), to download as `<filename>.ics` when a name is
    /// given. Never cached: what it holds depends on the caller.
    package static func iCalendar(_ calendar: ContentCalendar, filename: String?) -> Response {
        var headers: HTTPFields = [
            .contentType: "text/calendar; charset=utf-8",
            .cacheControl: "private, no-store",
            HTTPField.Name("X-Content-Type-Options")!: "nosniff",
        ]
        if let filename {
            // Ids are letters, digits and dashes; anything else is dropped rather than quoted.
            let safe = String(filename.unicodeScalars.filter { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_") })
            headers[.contentDisposition] = "attachment; filename=\"\(safe.isEmpty ? "event" : safe).ics\""
        }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: calendar.ics)))
    }
}

extension Request {
    /// A Boolean query parameter, `true` or `false` (false when absent); anything else is a 400.
    func boolQuery(_ name: String) throws -> Bool {
        switch uri.queryParameters.get(name) {
        case nil, "false"?: return false
        case "true"?: return true
        default: throw GuildError.invalid([.init(field: name, description: "true or false.")])
        }
    }

    /// An RFC 3339 timestamp query parameter (`2026-12-01T09:00:00+08:00`; nil when absent),
    /// read as the proto3 JSON mapping reads one in a body; a malformed one is a 400.
    func timestampQuery(_ name: String) throws -> Google_Protobuf_Timestamp? {
        guard let text = uri.queryParameters.get(name) else { return nil }
        // Only the characters of an RFC 3339 timestamp, so the text can be quoted as JSON as is.
        let isPlain = !text.isEmpty && text.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || ":.+-".unicodeScalars.contains($0)) }
        guard isPlain, let timestamp = try? Google_Protobuf_Timestamp(jsonString: "\"\(text)\"") else {
            throw GuildError.invalid([.init(field: name, description: "An RFC 3339 timestamp, such as 2026-12-01T09:00:00Z.")])
        }
        return timestamp
    }
}
