import CoreMetrics
import Foundation
import GuildCore
import Hummingbird
import HTTPTypes
import NIOCore
import Prometheus
import Synchronization

/// The gateway's HTTP metrics, through swift-metrics: requests by route template, method and
/// status (`guild_http_requests_total`), their latency by route template and method
/// (`guild_http_request_duration_seconds`), and requests in flight
/// (`guild_http_requests_in_flight`). The route is the template the router matched
/// (`/api/v1/items/{id}`, never the id), `unmatched` for a path no route has, so the series
/// stay bounded whatever paths clients send.
final class HTTPMetrics: Sendable {
    private struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
    }

    private final class Route: Sendable {
        let latency: CoreMetrics.Timer
        let statuses: Mutex<[Int: CoreMetrics.Counter]> = Mutex([:])
        let route: String
        let method: String

        init(route: String, method: String, factory: any MetricsFactory) {
            self.route = route
            self.method = method
            latency = CoreMetrics.Timer(
                label: "guild_http_request_duration_seconds", dimensions: [("route", route), ("method", method)],
                preferredDisplayUnit: .seconds, factory: factory)
        }

        func counter(status: Int, factory: any MetricsFactory) -> CoreMetrics.Counter {
            statuses.withLock { statuses in
                if let counter = statuses[status] { return counter }
                let made = CoreMetrics.Counter(
                    label: "guild_http_requests_total", dimensions: [("route", route), ("method", method), ("status", String(status))],
                    factory: factory)
                statuses[status] = made
                return made
            }
        }
    }

    private let factory: any MetricsFactory
    private let routes: Mutex<[Key: Route]> = Mutex([:])
    private let inFlight: Meter

    init(factory: any MetricsFactory) {
        self.factory = factory
        inFlight = Meter(label: "guild_http_requests_in_flight", dimensions: [], factory: factory)
    }

    func started() { inFlight.increment() }

    func finished(route: String?, method: HTTPRequest.Method, status: HTTPResponse.Status, duration: Duration) {
        inFlight.decrement()
        let route = route.flatMap { $0 == "NotFound" ? nil : $0 } ?? "unmatched"
        let key = Key(route: route, method: method)
        let metrics = routes.withLock { routes in
            if let known = routes[key] { return known }
            let made = Route(route: route, method: method.rawValue, factory: factory)
            routes[key] = made
            return made
        }
        metrics.latency.recordNanoseconds(duration.wholeNanoseconds)
        metrics.counter(status: Int(status.code), factory: factory).increment()
    }
}

/// The outermost middleware: counts and times every request, with the status the client got
/// (after errors became problem documents or pages).
struct HTTPMetricsMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let metrics: HTTPMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        metrics.started()
        do {
            let response = try await next(request, context)
            metrics.finished(route: context.endpointPath, method: request.method, status: response.status, duration: ContinuousClock.now - started)
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            metrics.finished(route: context.endpointPath, method: request.method, status: status, duration: ContinuousClock.now - started)
            throw error
        }
    }
}

extension Gateway {
    /// `GET /metrics`: the process's registry in Prometheus text format, for a scraper on
    /// loopback or a private network, reached directly. Anyone else (a public address, or any
    /// request that came through a proxy, which says so with `X-Forwarded-For` or `Forwarded`)
    /// gets the same 404 as for a path that does not exist.
    func metricsExposition(_ request: Request, context: GatewayRequestContext) throws -> Response {
        guard let registry = configuration.metricsRegistry, request.headers[.xForwardedFor] == nil, request.headers[.forwarded] == nil,
              let address = context.remoteAddress?.ipAddress, ClientAddress.isPrivate(address)
        else { throw HTTPError(.notFound) }
        var buffer = ByteBuffer()
        buffer.writeBytes(registry.emitToBuffer())
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
            body: .init(byteBuffer: buffer))
    }
}

extension HTTPField.Name {
    static let forwarded = HTTPField.Name("Forwarded")!
}
