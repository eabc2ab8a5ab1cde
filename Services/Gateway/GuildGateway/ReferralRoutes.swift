import Foundation
import GuildCore
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import SwiftProtobuf

/// Routes of `guild-referral`: referral links, visits and attribution, the referral programme,
/// points, levels, the rewards catalogue and redemption, and leaderboards. Their JSON is the
/// proto3 JSON mapping of `guild.referral.v1` (see ``Gateway/forward``). A visitor may read a
/// community's programme, levels, earning rules and catalogue, and record a visit; everything
/// else acts for the signed-in user. Redeeming spends points, so it takes an `Idempotency-Key`.
extension GatewayRoutes {
    static let referral: [GatewayRoute] = referralLinks + points

    /// Referral bodies are small (a programme, a few rules or levels, one catalogue entry).
    static let referralBodyLimit = 16 * 1024

    static let referralLinks: [GatewayRoute] = [
        // The link a member shares. No token needed: the visitor has none.
        GatewayRoute(method: .get, path: "/r/{code}") { gateway, request, context in
            let context = try await gateway.authenticateIfPresent(request, context: context)
            var message = ReferralRecordVisitRequest()
            message.code = try context.parameters.path("code")
            message.utmSource = request.query("utm_source")
            message.utmCampaign = request.query("utm_campaign")
            message.visitorID = Gateway.visitorCookie(request) ?? ""
            let visit = try await gateway.client(.referral).call(ReferralAPI.recordVisit, message, metadata: gateway.metadata(context, request: request))
            var response: Response
            if Gateway.acceptsJSON(request) {
                response = try gateway.protoJSON(visit)
            } else {
                response = Response(status: .found, headers: [
                    .location: Gateway.landingPath(communityID: visit.communityID, code: message.code, referrer: visit.referrerID),
                    .cacheControl: "no-store",
                ])
            }
            if let cookie = Gateway.visitorSetCookie(visit.visitorID) { response.headers[.setCookie] = cookie }
            return response
        },
        // A visit the web front end records itself (a campaign landing without a link).
        GatewayRoute(method: .post, path: "/api/v1/referral/visits") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.recordVisit, request, context, caller: .anyone, body: true, bodyLimit: referralBodyLimit, status: .created) { message, request, _ in
                if message.visitorID.isEmpty, let cookie = Gateway.visitorCookie(request) { message.visitorID = cookie }
            }
        },
        // An existing account claims a visitor's touches (new accounts do so at registration).
        GatewayRoute(method: .post, path: "/api/v1/referral/signup") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.recordSignup, request, context, body: true, bodyLimit: referralBodyLimit) { message, request, _ in
                if message.visitorID.isEmpty, let cookie = Gateway.visitorCookie(request) { message.visitorID = cookie }
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/referral/link") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.getMyLink, request, context) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/referral/me") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.getMyReferrals, request, context) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/referral/program") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.getProgram, request, context, caller: .anyone) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        // The body is the Program itself.
        GatewayRoute(method: .put, path: "/api/v1/communities/{communityId}/referral/program") { gateway, request, context in
            try await gateway.forwardWrapped(.referral, ReferralAPI.updateProgram, request, context) { (program: ReferralProgram, _, context) in
                var program = program
                program.communityID = try context.parameters.path("communityId")
                return ReferralUpdateProgramRequest.with { $0.program = program }
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/referral/held") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.listHeld, request, context) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .post, path: "/api/v1/referral/attributions/{attributionId}/review") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.reviewAttribution, request, context, body: true, bodyLimit: referralBodyLimit) { message, _, context in
                message.attributionID = try context.parameters.path("attributionId")
            }
        },
    ]

    static let points: [GatewayRoute] = [
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/points/rules") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.getPointsRules, request, context, caller: .anyone) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .put, path: "/api/v1/communities/{communityId}/points/rules") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.updatePointsRules, request, context, body: true, bodyLimit: referralBodyLimit) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/points/me") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.getPoints, request, context) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/points/members/{userId}") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.getPoints, request, context) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
                message.userID = try context.parameters.path("userId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/levels") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.getLevels, request, context, caller: .anyone) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .put, path: "/api/v1/communities/{communityId}/levels") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.updateLevels, request, context, body: true, bodyLimit: referralBodyLimit) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/rewards") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.listCatalogue, request, context, caller: .anyone) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        // The body is the CatalogueEntry itself.
        GatewayRoute(method: .post, path: "/api/v1/communities/{communityId}/rewards") { gateway, request, context in
            try await gateway.forwardWrapped(.referral, ReferralAPI.createCatalogueEntry, request, context, status: .created) { (entry: ReferralCatalogueEntry, _, context) in
                var entry = entry
                entry.communityID = try context.parameters.path("communityId")
                return ReferralCreateCatalogueEntryRequest.with { $0.entry = entry }
            }
        },
        GatewayRoute(method: .patch, path: "/api/v1/rewards/{entryId}") { gateway, request, context in
            try await gateway.forwardWrapped(.referral, ReferralAPI.updateCatalogueEntry, request, context) { (entry: ReferralCatalogueEntry, _, context) in
                var entry = entry
                entry.id = try context.parameters.path("entryId")
                return ReferralUpdateCatalogueEntryRequest.with { $0.entry = entry }
            }
        },
        // Spends points: the key makes a retry the same redemption. The body may name the
        // community ({"communityId": ...}); the entry's id is enough.
        GatewayRoute(method: .post, path: "/api/v1/rewards/{entryId}/redeem") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.redeem, request, context, body: true, bodyLimit: referralBodyLimit, status: .created) { message, request, context in
                message.entryID = try context.parameters.path("entryId")
                message.idempotencyKey = try gateway.idempotencyKey(request)
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/redemptions") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.listRedemptions, request, context) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.status = request.query("status")
                message.limit = try request.intQuery("limit")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/redemptions/me") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.listMyRedemptions, request, context) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/leaderboards/{board}") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.getLeaderboard, request, context) { message, request, context in
                message.communityID = try context.parameters.path("communityId")
                message.board = try context.parameters.path("board")
                message.limit = try request.intQuery("limit")
                guard (0...100).contains(message.limit) else {
                    throw GuildError.invalid([.init(field: "limit", description: "1 to 100 (default 20).")])
                }
            }
        },
        GatewayRoute(method: .put, path: "/api/v1/communities/{communityId}/leaderboards/visibility") { gateway, request, context in
            try await gateway.forward(.referral, ReferralAPI.setBoardVisibility, request, context, body: true, bodyLimit: referralBodyLimit) { message, _, context in
                message.communityID = try context.parameters.path("communityId")
            }
        },
    ]
}

extension Gateway {
    /// The cookie that keeps a visitor's id between their visit and their sign-up.
    static let visitorCookieName = "guild_visitor"
    /// 90 days: longer than any attribution window the programme allows by default.
    static let visitorCookieMaxAge = 90 * 24 * 3600

    /// The longest a sign-up waits for referral to attribute it.
    static let signupAttributionTimeout: Duration = .seconds(2)

    /// Tells referral that `user` just signed up as `visitorID`. Attribution is a bonus to the
    /// sign-up, never a condition of it: any failure (a malformed id, referral down or slow) is
    /// logged and the sign-up answered as usual.
    package func recordSignup(visitorID: String, user: String, request: Request, context: GatewayRequestContext) async {
        guard Self.isPlainToken(visitorID) else {
            context.logger.warning("sign-up attribution skipped: malformed visitor id")
            return
        }
        var metadata = metadata(context, request: request)
        metadata[MetadataKey.userID] = user
        do {
            _ = try await client(.referral).call(
                ReferralAPI.recordSignup, ReferralRecordSignupRequest.with { $0.visitorID = visitorID },
                metadata: metadata, timeout: Self.signupAttributionTimeout)
        } catch {
            context.logger.warning("sign-up attribution failed", metadata: ["user": "\(user)", "error": "\(error)"])
        }
    }

    /// Like ``forward``, for the routes whose body is one message that the request message holds
    /// (`PUT .../referral/program` takes a Program, not `{"program": {...}}`).
    func forwardWrapped<Body: SwiftProtobuf.Message, Message, Answer>(
        _ service: ServiceName, _ method: MethodDescriptor<Message, Answer>, _ request: Request, _ context: GatewayRequestContext,
        bodyLimit: Int = GatewayRoutes.referralBodyLimit, status: HTTPResponse.Status = .ok,
        wrap: (Body, Request, GatewayRequestContext) throws -> Message
    ) async throws -> Response {
        let context = try await authenticate(request, context: context)
        let body = try await decodeMessage(Body.self, from: request, context: context, limit: bodyLimit)
        let message = try wrap(body, request, context)
        let answer = try await client(service).call(method, message, metadata: metadata(context, request: request))
        return try protoJSON(answer, status: status)
    }

    /// The visitor id from the `guild_visitor` cookie; nil when absent or not a plain token.
    package static func visitorCookie(_ request: Request) -> String? {
        guard let value = request.cookies[visitorCookieName]?.value, isPlainToken(value) else { return nil }
        return value
    }

    /// The `Set-Cookie` value that keeps `visitorID`; nil when there is none or it is not a plain
    /// token (it is never quoted or escaped into a header).
    package static func visitorSetCookie(_ visitorID: String) -> String? {
        guard isPlainToken(visitorID) else { return nil }
        return "\(visitorCookieName)=\(visitorID); Path=/; Max-Age=\(visitorCookieMaxAge); HttpOnly; SameSite=Lax"
    }

    /// 1 to 128 letters, digits, `-`, `_` or `.`: what a visitor id may be.
    package static func isPlainToken(_ value: String) -> Bool {
        (1...128).contains(value.utf8.count)
            && value.utf8.allSatisfy { $0 == 45 || $0 == 95 || $0 == 46 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) }
    }

    /// Where a referral link lands: the web front end's home with the community, the code and
    /// who shared it (the page greets the visitor with their name).
    static func landingPath(communityID: String, code: String, referrer: String = "") -> String {
        // Everything outside the unreserved set is percent-encoded, so the header holds no surprise.
        let encode = { (text: String) in text.addingPercentEncoding(withAllowedCharacters: .urlUnreservedCharacters) ?? "" }
        return "/?community=\(encode(communityID))&ref=\(encode(code))" + (referrer.isEmpty ? "" : "&by=\(encode(referrer))")
    }

    /// True when the client asked for JSON rather than a page (`Accept: application/json`).
    static func acceptsJSON(_ request: Request) -> Bool {
        request.headers[values: .accept].contains { $0.lowercased().contains("application/json") }
    }
}

extension CharacterSet {
    /// RFC 3986's unreserved characters: letters, digits, `-`, `.`, `_`, `~`.
    static let urlUnreservedCharacters = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
}
