import CoreMetrics
import Foundation
import GuildCore
import GuildMessages
import GuildSecurity
import GuildWire
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import ServiceLifecycle

/// The HTTP/JSON front door: routes requests to the services over the wire protocol, verifies
/// bearer tokens locally, and answers errors as problem documents.
public final class Gateway: Sendable {
    public let configuration: GatewayConfiguration
    let clients: [ServiceName: WireClient]
    package let verifier: AccessTokenVerifier
    package let rateLimiter: RateLimiter
    let httpMetrics: HTTPMetrics
    let logger: Logger

    public init(configuration: GatewayConfiguration, tls: WireTLS, logger: Logger) throws {
        self.configuration = configuration
        self.logger = logger
        let metricsFactory = configuration.metricsFactory ?? MetricsSystem.factory
        self.httpMetrics = HTTPMetrics(factory: metricsFactory)
        var clients: [ServiceName: WireClient] = [:]
        for (service, endpoints) in configuration.services {
            var clientConfiguration = WireClient.Configuration()
            clientConfiguration.defaultTimeout = configuration.requestTimeout
            clientConfiguration.metricsFactory = metricsFactory
            clients[service] = try WireClient(service: service, endpoints: endpoints, tls: tls, configuration: clientConfiguration, logger: logger)
        }
        self.clients = clients
        guard let auth = clients[.auth] else {
            throw GuildError(.failedPrecondition, "The gateway needs the auth service's endpoints.")
        }
        self.verifier = AccessTokenVerifier(authClient: auth, clock: configuration.clock, logger: logger, metrics: metricsFactory)
        self.rateLimiter = RateLimiter(configuration.rateLimits, clock: configuration.clock)
    }

    /// The client of `service`.
    package func client(_ service: ServiceName) throws -> WireClient {
        guard let client = clients[service] else {
            throw GuildError(.unavailable, "The \(service) service is not configured.", retryAfterSeconds: 30)
        }
        return client
    }

    /// The Hummingbird router with every route of ``GatewayRoutes``, and what each of `mounts`
    /// adds (the web front end).
    public func makeRouter(mounting mounts: [any GatewayMount] = []) -> Router<GatewayRequestContext> {
        let router = Router(context: GatewayRequestContext.self)
        router.middlewares.add(HTTPMetricsMiddleware(metrics: httpMetrics))
        // A server span per request, named by its route, continuing an incoming traceparent.
        router.middlewares.add(TracingMiddleware(recordingHeaders: [.requestID, .userAgent]))
        router.middlewares.add(GatewayMiddleware(requestTimeout: configuration.requestTimeout, mounts: mounts))
        router.middlewares.add(RateLimitMiddleware(gateway: self))
        for route in GatewayRoutes.all {
            let handler = route.handler
            router.on(RouterPath(route.hummingbirdPath), method: route.method) { request, context in
                try await handler(self, request, context)
            }
        }
        for mount in mounts { mount.mount(on: router) }
        return router
    }

    /// A Hummingbird application serving the gateway (and `mounts`).
    public func makeApplication(
        mounting mounts: [any GatewayMount] = [], services: [any Service] = [],
        onServerRunning: @escaping @Sendable (any Channel) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: makeRouter(mounting: mounts),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "guild-gateway"),
            services: services,
            onServerRunning: onServerRunning,
            logger: logger
        )
    }

    // MARK: Helpers for handlers

    /// Metadata for a call made on behalf of this request.
    package func metadata(_ context: GatewayRequestContext, request: Request) -> [String: String] {
        var metadata = [MetadataKey.requestID: context.requestID]
        if let trace = context.traceparent { metadata[MetadataKey.traceparent] = trace }
        if let claims = context.claims { metadata[MetadataKey.userID] = claims.userID.rawValue }
        if let address = clientAddress(request: request, context: context) { metadata[MetadataKey.clientAddress] = address }
        return metadata
    }

    package func clientAddress(request: Request, context: GatewayRequestContext) -> String? {
        if configuration.trustForwardedFor, let forwarded = request.headers[.xForwardedFor] {
            let first = forwarded.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
            if let first, !first.isEmpty { return first }
        }
        return context.remoteAddress?.ipAddress
    }

    /// Verifies the bearer token and returns the context with the caller's claims.
    func authenticate(_ request: Request, context: GatewayRequestContext) async throws -> GatewayRequestContext {
        guard let header = request.headers[.authorization] else {
            throw GuildError(.unauthenticated, "This request needs an access token (Authorization: Bearer <token>).", reason: "missing_token")
        }
        let prefix = "bearer "
        guard header.count > prefix.count, header.lowercased().hasPrefix(prefix) else {
            throw GuildError(.unauthenticated, "The Authorization header must be 'Bearer <token>'.", reason: "invalid_token")
        }
        let token = String(header.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces)
        var context = context
        let claims = try await verifier.verify(token)
        context.claims = claims
        context.logger[metadataKey: "user"] = "\(claims.userID)"
        try rateLimiter.admit(user: claims.userID, method: request.method, path: request.uri.path)
        return context
    }

    /// Verifies the bearer token when there is one: for routes a visitor may call too, which
    /// then answer for that user.
    func authenticateIfPresent(_ request: Request, context: GatewayRequestContext) async throws -> GatewayRequestContext {
        request.headers[.authorization] == nil ? context : try await authenticate(request, context: context)
    }

    /// The `Idempotency-Key` header every request that moves money must carry.
    func idempotencyKey(_ request: Request) throws -> String {
        guard let key = request.headers[.idempotencyKey], (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (33...126).contains($0) }) else {
            throw Problem(
                status: .badRequest, code: "invalid_argument", title: "Invalid request",
                detail: "This request moves money: send an Idempotency-Key header (1 to 255 printable characters, new for each new request; the same to repeat one safely).",
                reason: "idempotency_key_required")
        }
        return key
    }

    /// Milliseconds since 1970 from an RFC 3339 field.
    func instant(_ value: String?, field: String) throws -> Int64 {
        guard let value, let ms = milliseconds(rfc3339: value) else {
            throw GuildError.invalid([.init(field: field, description: "An RFC 3339 timestamp, such as 2026-12-01T00:00:00Z.")])
        }
        return ms
    }

    /// Decodes a JSON body (at most the context's upload limit).
    func decode<Body: Decodable>(_ type: Body.Type, from request: Request, context: GatewayRequestContext) async throws -> Body {
        let buffer = try await jsonBody(request, context: context)
        do {
            return try JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView))
        } catch {
            throw Problem(status: .badRequest, code: "invalid_argument", title: "Invalid request", detail: "The body is not the JSON object this operation expects.", reason: "malformed_json")
        }
    }

    /// The bytes of a JSON body: refused unless it is JSON and at most `limit` bytes (default:
    /// the context's upload limit).
    func jsonBody(_ request: Request, context: GatewayRequestContext, limit: Int? = nil) async throws -> ByteBuffer {
        if let contentType = request.headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw Problem(status: .unsupportedMediaType, code: "unsupported_media_type", title: "Unsupported media type", detail: "Send the body as application/json.")
        }
        let limit = limit ?? context.maxUploadSize
        do {
            return try await request.body.collect(upTo: limit)
        } catch {
            throw Problem(status: .contentTooLarge, code: "content_too_large", title: "Content too large", detail: "The request body is larger than \(limit) bytes.")
        }
    }

    /// A JSON response.
    func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// Checks every configured service over the wire, in parallel.
    func readiness() async -> [String: String] {
        await withTaskGroup(of: (String, String).self) { group in
            for (service, client) in clients {
                group.addTask {
                    do {
                        let answer = try await client.call(SystemAPI.health, WireHealthRequest(), timeout: .seconds(1))
                        return (service.rawValue, answer.status == "serving" ? "ready" : answer.status)
                    } catch {
                        return (service.rawValue, "unavailable")
                    }
                }
            }
            var states: [String: String] = [:]
            for await (service, state) in group { states[service] = state }
            return states
        }
    }
}

/// Something more the gateway serves beside the JSON API: the web front end (`GuildWeb`).
public protocol GatewayMount: Sendable {
    /// Adds its routes to the gateway's router.
    func mount(on router: Router<GatewayRequestContext>)
    /// The page to answer instead of `problem` for a request no route of the API answered
    /// (a browser's 404), or nil to answer the problem document.
    func page(for problem: Problem, request: Request, context: GatewayRequestContext) -> Response?
}

extension HTTPField.Name {
    static let xForwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let idempotencyKey = HTTPField.Name("Idempotency-Key")!
}
