import Foundation
import GuildCore
import Hummingbird
import HTTPTypes
import Synchronization

/// How many requests of each class one client address, and one account, may send in a window.
/// Each limit is a sliding window: the previous window's count is weighed by how much of it
/// still overlaps, so a burst at a window's edge does not get twice the allowance.
///
/// The limits are kept in each gateway's memory: with several gateways behind a balancer, a
/// client's allowance is per gateway (docs/operations.md says so). The JSON API and the web
/// front end share them.
public struct RateLimits: Sendable, Equatable {
    public struct Limit: Sendable, Equatable, CustomStringConvertible {
        public var requests: Int
        public var window: Duration

        public init(requests: Int, window: Duration) {
            self.requests = requests
            self.window = window
        }

        public var description: String { "\(requests)/\(window.components.seconds)s" }
    }

    /// What a request is, for its limits.
    public enum RouteClass: String, Sendable, CaseIterable {
        /// GET and HEAD.
        case read
        /// Anything else that is not money or signing up.
        case write
        /// Orders, payments, charges, refunds, group buys, redemptions, paid questions and bookings.
        case money
        /// Creating an account and signing in.
        case signup
    }

    public var perAddress: [RouteClass: Limit]
    public var perAccount: [RouteClass: Limit]
    /// Requests from the machine itself (loopback) are not limited by address: health checks,
    /// `guild demo`. Behind a proxy on the same machine, pass `--trust-forwarded-for`.
    public var exemptLoopback = true

    public init(perAddress: [RouteClass: Limit], perAccount: [RouteClass: Limit]) {
        self.perAddress = perAddress
        self.perAccount = perAccount
    }

    /// The defaults (docs/operations.md): per address 300 reads, 60 writes and 30 money requests
    /// in 10 seconds, and 20 sign-ups or sign-ins a minute; per account 600 reads, 120 writes and
    /// 20 money requests in 10 seconds.
    public static let defaults = RateLimits(
        perAddress: [
            .read: Limit(requests: 300, window: .seconds(10)),
            .write: Limit(requests: 60, window: .seconds(10)),
            .money: Limit(requests: 30, window: .seconds(10)),
            .signup: Limit(requests: 20, window: .seconds(60)),
        ],
        perAccount: [
            .read: Limit(requests: 600, window: .seconds(10)),
            .write: Limit(requests: 120, window: .seconds(10)),
            .money: Limit(requests: 20, window: .seconds(10)),
        ])

    /// No limits at all (benchmarks).
    public static let off = RateLimits(perAddress: [:], perAccount: [:])

    /// Parses `off`, or the defaults changed by `class=N/Ss` entries (`address.read=300/10s`,
    /// `account.money=20/10s`, `read=…` meaning the address limit), comma-separated.
    public init?(_ text: String) {
        let text = text.trimmingCharacters(in: .whitespaces)
        if text == "off" { self = .off; return }
        self = .defaults
        guard !text.isEmpty else { return }
        for entry in text.split(separator: ",") {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2 else { return nil }
            let name = parts[0].split(separator: ".").map(String.init)
            let (scope, className) = name.count == 2 ? (name[0], name[1]) : ("address", name.first ?? "")
            guard let routeClass = RouteClass(rawValue: className), ["address", "account"].contains(scope) else { return nil }
            let limit: Limit?
            if parts[1] == "off" {
                limit = nil
            } else {
                let value = parts[1].split(separator: "/").map(String.init)
                guard value.count == 2, let requests = Int(value[0]), requests > 0, value[1].hasSuffix("s"),
                      let seconds = Int(value[1].dropLast()), (1...86_400).contains(seconds) else { return nil }
                limit = Limit(requests: requests, window: .seconds(seconds))
            }
            if scope == "address" { perAddress[routeClass] = limit } else { perAccount[routeClass] = limit }
        }
    }

    /// The class of a request to `path`; nil for what is never limited (health, metrics, assets,
    /// and payment providers' webhooks, which come from the providers' own addresses).
    public static func routeClass(method: HTTPRequest.Method, path: String) -> RouteClass? {
        if path == "/healthz" || path == "/readyz" || path == "/metrics" || path.hasPrefix("/assets/") || path.hasSuffix("/webhook") {
            return nil
        }
        if method == .get || method == .head { return .read }
        if signupPaths.contains(path) { return .signup }
        if moneyPathParts.contains(where: { path.contains($0) }) { return .money }
        return .write
    }

    private static let signupPaths: Set<String> = ["/api/v1/auth/register", "/api/v1/auth/login", "/signup", "/login"]
    /// A path holding one of these moves money (API routes and the web front end's forms).
    private static let moneyPathParts = ["/orders", "/payments", "/charges", "/refund", "/groups", "/redeem", "/questions", "/bookings", "/join", "/checkout", "/quote"]
}

/// The counters behind ``RateLimits``: one sliding window per key, in memory.
package final class RateLimiter: Sendable {
    let limits: RateLimits
    private let windows = Mutex<[Key: Window]>([:])
    /// The gateway's clock (tests move it); a clock set back starts the windows afresh.
    private let clock: any WallClock
    /// Past this many keys, windows that have gone quiet are dropped.
    private static let pruneAbove = 50_000

    struct Key: Hashable {
        let scope: UInt8
        let routeClass: RateLimits.RouteClass
        let subject: String
    }

    struct Window {
        var started: Date
        var current: Int
        var previous: Int
    }

    /// How long a quiet window is kept when pruning: two of the longest window of any limit.
    private let keep: TimeInterval

    init(_ limits: RateLimits, clock: any WallClock = SystemWallClock()) {
        self.limits = limits
        self.clock = clock
        let longest = (Array(limits.perAddress.values) + Array(limits.perAccount.values)).map { Double($0.window.components.seconds) }.max() ?? 0
        self.keep = longest * 2
    }

    /// Counts one request by `address` and throws `resourceExhausted` (HTTP 429, with
    /// `Retry-After`) when it is past its class's limit.
    package func admit(address: String?, method: HTTPRequest.Method, path: String) throws {
        guard let address, let routeClass = RateLimits.routeClass(method: method, path: path),
              let limit = limits.perAddress[routeClass] else { return }
        if limits.exemptLoopback, ClientAddress.isLoopback(address) { return }
        try count(Key(scope: 0, routeClass: routeClass, subject: address), limit: limit)
    }

    /// Counts one request by the account `user` (once its token is verified).
    package func admit(user: UserID, method: HTTPRequest.Method, path: String) throws {
        guard let routeClass = RateLimits.routeClass(method: method, path: path), let limit = limits.perAccount[routeClass] else { return }
        try count(Key(scope: 1, routeClass: routeClass, subject: user.rawValue), limit: limit)
    }

    private func count(_ key: Key, limit: RateLimits.Limit) throws {
        let now = clock.now()
        let length = Double(limit.window.components.seconds)
        let retryAfter: Int? = windows.withLock { windows in
            if windows.count > Self.pruneAbove {
                windows = windows.filter { now.timeIntervalSince($0.value.started) < keep }
            }
            var window = windows[key] ?? Window(started: now, current: 0, previous: 0)
            // Move the window on: one step keeps the last count as the previous; more, none.
            let elapsed = now.timeIntervalSince(window.started)
            if elapsed >= length * 2 || elapsed < 0 {
                window = Window(started: now, current: 0, previous: 0)
            } else if elapsed >= length {
                window = Window(started: window.started.addingTimeInterval(length), current: 0, previous: window.current)
            }
            let intoWindow = now.timeIntervalSince(window.started) / length
            let weighted = Double(window.previous) * (1 - intoWindow) + Double(window.current)
            guard weighted < Double(limit.requests) else {
                windows[key] = window
                // When enough of the previous window will have slid out to admit one more, or
                // (this window full by itself) when it ends.
                let seconds = length
                let free = Double(limit.requests - window.current)
                let wait = window.previous > 0 && free > 0
                    ? seconds * max(0, 1 - free / Double(window.previous) - intoWindow)
                    : seconds * (1 - intoWindow)
                return max(1, Int(wait.rounded(.up)))
            }
            window.current += 1
            windows[key] = window
            return nil
        }
        if let retryAfter {
            throw GuildError(.resourceExhausted, "Too many requests: at most \(limit.requests) \(key.routeClass.rawValue) requests in \(limit.window.components.seconds) seconds. Try again in \(retryAfter) seconds.",
                             retryAfterSeconds: UInt32(retryAfter), reason: "rate_limited")
        }
    }
}

/// Counts each request against its client address's limits before anything else runs.
struct RateLimitMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let gateway: Gateway

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        try gateway.rateLimiter.admit(address: gateway.clientAddress(request: request, context: context), method: request.method, path: request.uri.path)
        return try await next(request, context)
    }
}
