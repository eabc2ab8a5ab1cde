import CoreMetrics
import GuildCore
import GuildWire
import Prometheus

/// How the gateway is set up.
public struct GatewayConfiguration: Sendable {
    /// Address the HTTP server listens on.
    public var host = "127.0.0.1"
    public var port = 8080
    /// The endpoints of each service the gateway talks to.
    public var services: [ServiceName: [WireEndpoint]] = [
        .auth: [WireEndpoint(host: "127.0.0.1", port: 7101)],
        .membership: [WireEndpoint(host: "127.0.0.1", port: 7102)],
        .content: [WireEndpoint(host: "127.0.0.1", port: 7103)],
        .referral: [WireEndpoint(host: "127.0.0.1", port: 7104)],
    ]
    /// The longest the gateway waits for services on behalf of one request.
    public var requestTimeout: Duration = .seconds(5)
    /// Use the first `X-Forwarded-For` address as the client address (only behind a trusted proxy).
    public var trustForwardedFor = false
    /// Where "now" comes from when a request leaves a date out (the funnel's default range).
    public var clock: any WallClock = SystemWallClock()
    /// Requests per client address and per account, by route class.
    public var rateLimits = RateLimits.defaults
    /// The registry `GET /metrics` prints (nil: no metrics route). A process bootstraps
    /// swift-metrics with it; tests give a registry of their own and ``metricsFactory``.
    public var metricsRegistry: PrometheusCollectorRegistry?
    /// Where the gateway's own metrics go; nil means swift-metrics' global factory.
    public var metricsFactory: (any MetricsFactory)?

    public init() {}
}
