import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildSecurity
import GuildWire
import Hummingbird
import HTTPTypes
import Logging
import Mustache
import Synchronization
import NIOCore

/// The web front end for visitors and members, served by the gateway (``GatewayMount``): pages
/// rendered on the server from Mustache templates, plain CSS, a small script as enhancement
/// only. Pages reach the services through the gateway's clients and the same functions the
/// JSON routes use; the session lives in a sealed cookie, so the gateway keeps no state.
public final class WebFrontEnd: GatewayMount {
    let gateway: Gateway
    let sealer: SessionSealer
    let templates: MustacheLibrary
    let catalogues: [WebLocale: Catalogue]
    let assets: Assets
    let logger: Logger
    /// People's display names for a minute, so a page with comments asks auth once, not on
    /// every view.
    let displayNameCache = TimedCache<String>(lifetime: .seconds(60))
    /// A community as one person sees it (by slug and user), for ten seconds: reading page after
    /// page of one community asks membership once.
    let communityCache = TimedCache<MembershipCommunity>(lifetime: .seconds(10))
    /// Where "now" comes from (the gateway's clock, simulated in demos).
    var clock: any WallClock { gateway.configuration.clock }

    /// Loads the templates, catalogues and assets from the module's resources.
    public init(gateway: Gateway, sessionKey: SealingKey, logger: Logger) async throws {
        self.gateway = gateway
        self.sealer = SessionSealer(key: sessionKey)
        self.logger = logger
        guard let templatesURL = Bundle.module.url(forResource: "templates", withExtension: nil) else {
            throw GuildError(.failedPrecondition, "The web front end's templates are missing from its resources.")
        }
        self.templates = try await MustacheLibrary(directory: templatesURL.path)
        var catalogues: [WebLocale: Catalogue] = [:]
        for locale in WebLocale.allCases { catalogues[locale] = try Catalogue.load(locale) }
        self.catalogues = catalogues
        self.assets = try Assets.load()
    }

    public func mount(on router: Router<GatewayRequestContext>) {
        assets.mount(on: router)
        for page in WebPages.all {
            router.on(RouterPath(page.path), method: page.method) { request, context in
                try await self.serve(page, request: request, context: context)
            }
        }
    }

    /// A browser's request that no route answered gets the 404 page (and the API's clients their
    /// problem document).
    public func page(for problem: Problem, request: Request, context: GatewayRequestContext) -> Response? {
        guard !request.uri.path.hasPrefix("/api/"), Self.wantsHTML(request) else { return nil }
        let locale = Self.locale(of: request)
        var response = renderProblem(problem, detail: catalogue(locale).problemText(problem.reason) ?? problem.detail, locale: locale, requestID: context.requestID)
        Self.secure(&response)
        return response
    }

    func catalogue(_ locale: WebLocale) -> Catalogue { catalogues[locale]! }

    static func wantsHTML(_ request: Request) -> Bool {
        request.headers[values: .accept].contains { $0.lowercased().contains("text/html") }
    }

    static func locale(of request: Request, cookies: Cookies? = nil) -> WebLocale {
        WebLocale(name: (cookies ?? request.cookies)[Visit.languageCookie]?.value) ?? WebLocale.negotiate(request.headers[.acceptLanguage])
    }

    // MARK: Serving a page

    /// Runs `page` for one request: resolves the visit (language, session, its refresh), checks
    /// the CSRF token of a POST, turns errors into readable pages, and sets the cookies and the
    /// security headers on the answer.
    func serve(_ page: WebPage, request: Request, context: GatewayRequestContext) async throws -> Response {
        var visit = await Visit.start(web: self, request: request, context: context)
        var response: Response
        do {
            // A signed-in person's pages count against their account's limits, as API calls do.
            if let claims = visit.context.claims {
                try gateway.rateLimiter.admit(user: claims.userID, method: request.method, path: request.uri.path)
            }
            if request.method == .post {
                try await visit.readForm()
                guard sealer.isValid(csrf: visit.form["_csrf"], for: visit.session) else {
                    throw WebError.csrf
                }
            }
            if page.signIn == .required, !visit.isSignedIn {
                throw WebError.signInRequired
            }
            response = try await page.handler(self, &visit)
        } catch {
            response = errorResponse(error, visit: &visit)
        }
        visit.finish(&response)
        Self.secure(&response)
        return response
    }

    /// An error as a page: a sign-in that is needed sends the browser to `/login` and back; bad
    /// input the page did not handle, a refused CSRF token, a missing thing or a failure of the
    /// services is a readable page in the visitor's language.
    func errorResponse(_ error: any Error, visit: inout Visit) -> Response {
        switch error {
        case WebError.signInRequired:
            return visit.signInRedirect
        case WebError.csrf:
            return renderError(status: .forbidden, titleKey: "error_csrf_title", detail: visit.catalogue.text("error_csrf_body"), locale: visit.locale, requestID: visit.context.requestID)
        case WebError.notFound:
            return renderError(status: .notFound, titleKey: "error_not_found_title", detail: visit.catalogue.text("error_not_found_body"), locale: visit.locale, requestID: visit.context.requestID)
        case WebError.badForm:
            return renderError(status: .badRequest, titleKey: "error_title", detail: visit.catalogue.text("error_bad_form"), locale: visit.locale, requestID: visit.context.requestID)
        case let guildError as GuildError:
            if guildError.code == .unauthenticated {
                visit.signOut()
                return visit.signInRedirect
            }
            logger.debug("page answered an error", metadata: ["path": "\(visit.request.uri.path)", "error": "\(guildError)"])
            return renderProblem(Problem(guildError), detail: visit.message(for: guildError), locale: visit.locale, requestID: visit.context.requestID)
        default:
            logger.error("page failed", metadata: ["path": "\(visit.request.uri.path)", "error": "\(String(reflecting: error))"])
            return renderError(status: .internalServerError, titleKey: "error_title", detail: visit.catalogue.text("error_internal"), locale: visit.locale, requestID: visit.context.requestID)
        }
    }

    /// The error page (also for requests no page answered, which have no visit).
    /// A problem as a page: its status, the not-found words for a 404 and `detail` otherwise, and
    /// its `Retry-After` when it has one.
    func renderProblem(_ problem: Problem, detail: String, locale: WebLocale, requestID: String) -> Response {
        let notFound = problem.status == 404
        var response = renderError(status: HTTPResponse.Status(code: problem.status), titleKey: notFound ? "error_not_found_title" : "error_title",
                                   detail: notFound ? catalogue(locale).text("error_not_found_body") : detail, locale: locale, requestID: requestID)
        if let retryAfter = problem.retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }

    func renderError(status: HTTPResponse.Status, titleKey: String, detail: String, locale: WebLocale, requestID: String) -> Response {
        let catalogue = catalogue(locale)
        let values: [String: Any] = [
            "t": catalogue.texts, "lang": locale.tag, "assets": assets.paths,
            "title": catalogue.text(titleKey), "status": Int(status.code), "detail": detail, "requestID": requestID,
            "languages": Visit.languageLinks(current: locale, path: "/", catalogue: catalogue),
        ]
        let html = templates.render(values, withTemplate: "error") ?? "<!doctype html><title>\(status.code)</title>"
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// The headers every page carries: a policy that allows no inline script and no other
    /// origin, no framing, no MIME sniffing, and the origin only as referrer elsewhere.
    static func secure(_ response: inout Response) {
        response.headers[.contentSecurityPolicy] = contentSecurityPolicy
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[.referrerPolicy] = "strict-origin-when-cross-origin"
        response.headers[.xFrameOptions] = "DENY"
    }

    static let contentSecurityPolicy = [
        "default-src 'self'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:", "font-src 'self'",
        "connect-src 'self'", "object-src 'none'", "base-uri 'none'", "form-action 'self' https://checkout.stripe.com", "frame-ancestors 'none'",
    ].joined(separator: "; ")
}

/// Values by key, each kept for `lifetime` (read-mostly facts pages show: people's display
/// names, a community's name and slug), at most 10,000 at a time.
final class TimedCache<Value: Sendable>: Sendable {
    private let entries = Mutex<[String: (value: Value, until: ContinuousClock.Instant)]>([:])
    let lifetime: Duration
    static var capacity: Int { 10_000 }

    init(lifetime: Duration) { self.lifetime = lifetime }

    func values(_ keys: some Sequence<String>, now: ContinuousClock.Instant = .now) -> [String: Value] {
        entries.withLock { entries in
            var values: [String: Value] = [:]
            for key in keys { if let entry = entries[key], entry.until > now { values[key] = entry.value } }
            return values
        }
    }

    func value(_ key: String, now: ContinuousClock.Instant = .now) -> Value? { values([key], now: now)[key] }

    func store(_ values: [String: Value], now: ContinuousClock.Instant = .now) {
        entries.withLock { entries in
            if entries.count + values.count > Self.capacity { entries.removeAll(keepingCapacity: true) }
            for (key, value) in values { entries[key] = (value, now + lifetime) }
        }
    }
}

/// Errors a page throws to get a standard answer.
enum WebError: Error {
    /// The page needs a signed-in member: to `/login` and back.
    case signInRequired
    /// A POST without the session's CSRF token.
    case csrf
    case notFound
    /// A form that is not what the page expects (a field missing or malformed).
    case badForm
}

extension HTTPField.Name {
    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let xContentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let xFrameOptions = HTTPField.Name("X-Frame-Options")!
}
