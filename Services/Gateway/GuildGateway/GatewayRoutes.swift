import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildWire
import Hummingbird
import HTTPTypes

/// One route of the HTTP API. The table ``GatewayRoutes/all`` is what the router serves and what
/// the tests compare with the OpenAPI document, so the two cannot drift apart.
public struct GatewayRoute: Sendable {
    public let method: HTTPRequest.Method
    /// The path in OpenAPI form (`/api/v1/things/{id}`).
    public let path: String
    let handler: @Sendable (Gateway, Request, GatewayRequestContext) async throws -> Response

    /// The path in Hummingbird's form (`/api/v1/things/:id`).
    var hummingbirdPath: String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { segment in
            segment.hasPrefix("{") && segment.hasSuffix("}") ? ":" + segment.dropFirst().dropLast() : String(segment)
        }.joined(separator: "/")
    }
}

/// Every route of the gateway.
public enum GatewayRoutes {
    public static let all: [GatewayRoute] = system + auth + membership + content + interaction + referral + analytics

    static let system: [GatewayRoute] = [
        GatewayRoute(method: .get, path: "/healthz") { gateway, _, _ in
            try gateway.json(API.Health(status: "ok"))
        },
        GatewayRoute(method: .get, path: "/readyz") { gateway, _, _ in
            let states = await gateway.readiness()
            let ready = states.values.allSatisfy { $0 == "ready" }
            var response = try gateway.json(API.Health(status: ready ? "ready" : "unavailable", services: states), status: ready ? .ok : .serviceUnavailable)
            if !ready { response.headers[.retryAfter] = "1" }
            return response
        },
        GatewayRoute(method: .get, path: "/metrics") { gateway, request, context in
            try gateway.metricsExposition(request, context: context)
        },
        GatewayRoute(method: .get, path: "/api/v1/openapi.json") { _, _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: OpenAPIDocument.bytes)))
        },
    ]

    static let auth: [GatewayRoute] = [
        GatewayRoute(method: .post, path: "/api/v1/auth/register") { gateway, request, context in
            let body = try await gateway.decode(API.RegisterBody.self, from: request, context: context)
            var message = AuthRegisterRequest()
            message.email = body.email ?? ""
            message.password = body.password ?? ""
            message.displayName = body.displayName ?? ""
            let session = try await gateway.client(.auth).call(AuthAPI.register, message, metadata: gateway.metadata(context, request: request))
            // A visitor who came through a referral link (or a campaign) is attributed now.
            if let visitorID = body.visitorId.flatMap({ $0.isEmpty ? nil : $0 }) ?? Gateway.visitorCookie(request) {
                await gateway.recordSignup(visitorID: visitorID, user: session.user.id, request: request, context: context)
            }
            return try gateway.json(API.Session(session, now: gateway.configuration.clock.now()), status: .created)
        },
        GatewayRoute(method: .post, path: "/api/v1/auth/login") { gateway, request, context in
            let body = try await gateway.decode(API.LoginBody.self, from: request, context: context)
            var message = AuthLoginRequest()
            message.email = body.email ?? ""
            message.password = body.password ?? ""
            let session = try await gateway.client(.auth).call(AuthAPI.login, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Session(session, now: gateway.configuration.clock.now()))
        },
        GatewayRoute(method: .post, path: "/api/v1/auth/refresh") { gateway, request, context in
            let body = try await gateway.decode(API.RefreshTokenBody.self, from: request, context: context)
            var message = AuthRefreshRequest()
            message.refreshToken = body.refreshToken ?? ""
            let session = try await gateway.client(.auth).call(AuthAPI.refresh, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Session(session, now: gateway.configuration.clock.now()))
        },
        GatewayRoute(method: .post, path: "/api/v1/auth/logout") { gateway, request, context in
            let body = try await gateway.decode(API.RefreshTokenBody.self, from: request, context: context)
            var message = AuthLogoutRequest()
            message.refreshToken = body.refreshToken ?? ""
            _ = try await gateway.client(.auth).call(AuthAPI.logout, message, metadata: gateway.metadata(context, request: request))
            return Response(status: .noContent)
        },
        GatewayRoute(method: .get, path: "/api/v1/me") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = AuthGetUserRequest()
            message.userID = context.claims!.userID.rawValue
            let user = try await gateway.client(.auth).call(AuthAPI.getUser, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.User(user))
        },
        GatewayRoute(method: .patch, path: "/api/v1/me") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.ProfileBody.self, from: request, context: context)
            guard let name = body.displayName else {
                throw GuildError.invalid([.init(field: "displayName", description: "The display name to set (1 to 64 characters).")])
            }
            var message = AuthUpdateProfileRequest()
            message.displayName = name
            let user = try await gateway.client(.auth).call(AuthAPI.updateProfile, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.User(user))
        },
        GatewayRoute(method: .post, path: "/api/v1/auth/logout-everywhere") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            _ = try await gateway.client(.auth).call(AuthAPI.logoutEverywhere, AuthLogoutEverywhereRequest(), metadata: gateway.metadata(context, request: request))
            return Response(status: .noContent)
        },
        GatewayRoute(method: .post, path: "/api/v1/me/password") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let body = try await gateway.decode(API.ChangePasswordBody.self, from: request, context: context)
            var message = AuthChangePasswordRequest()
            message.currentPassword = body.currentPassword ?? ""
            message.newPassword = body.newPassword ?? ""
            let session = try await gateway.client(.auth).call(AuthAPI.changePassword, message, metadata: gateway.metadata(context, request: request))
            return try gateway.json(API.Session(session, now: gateway.configuration.clock.now()))
        },
    ]
}

/// The OpenAPI 3.1 document of the HTTP API (`docs/openapi.json`, bundled).
public enum OpenAPIDocument {
    public static let bytes: [UInt8] = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "json"),
              let data = try? Data(contentsOf: url)
        else { return Array(#"{"openapi":"3.1.0","info":{"title":"missing","version":"0"},"paths":{}}"#.utf8) }
        return Array(data)
    }()
}
