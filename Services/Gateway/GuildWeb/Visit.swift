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
import NIOCore

/// One request to a page: who asks (the session, its access token refreshed when it ran out),
/// in which language and time zone, the form it posted, and the cookies to set on the answer.
struct Visit {
    static let languageCookie = "guild_lang"
    static let timeZoneCookie = "guild_tz"
    static let flashCookie = "guild_flash"
    /// The time zone pages use until the browser's script names the viewer's.
    static let defaultTimeZone = TimeZone(identifier: "Asia/Shanghai")!
    /// A form body holds at most this many bytes (a comment or a question fits).
    static let maxFormBytes = 64 * 1024

    let web: WebFrontEnd
    let request: Request
    /// The gateway's context, with the member's claims once the session's token is verified.
    var context: GatewayRequestContext
    var session: WebSession
    /// The session cookie must be written again (a sign-in, a refresh, a sign-out).
    var sessionChanged = false
    let locale: WebLocale
    let catalogue: Catalogue
    let format: Formatting
    /// The request came over HTTPS (directly or through a proxy that says so), so cookies are `Secure`.
    let isHTTPS: Bool
    /// What the previous POST said (read once, then cleared).
    let flash: Flash?
    var form: [String: String] = [:]
    var cookies: [String] = []

    var isSignedIn: Bool { session.isSignedIn && context.claims != nil }
    var metadata: [String: String] { web.gateway.metadata(context, request: request) }
    var csrfToken: String { web.sealer.csrfToken(for: session) }
    var now: Date { web.clock.now() }

    /// The visit of `request`: its session opened and, when signed in, its access token
    /// verified, refreshed first when it is about to run out (or refused). A session whose
    /// refresh fails is signed out.
    static func start(web: WebFrontEnd, request: Request, context: GatewayRequestContext) async -> Visit {
        // Hummingbird parses the Cookie header on each `request.cookies`: once here.
        let cookies = request.cookies
        let locale = WebFrontEnd.locale(of: request, cookies: cookies)
        let zone = cookies[timeZoneCookie]?.value.removingPercentEncoding.flatMap { TimeZone(identifier: $0) } ?? defaultTimeZone
        let opened = cookies[SessionSealer.cookieName].flatMap { web.sealer.open($0.value) }
        let forwardedProto = request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased()
        var visit = Visit(
            web: web, request: request, context: context, session: opened ?? .visitor(), sessionChanged: opened == nil,
            locale: locale, catalogue: web.catalogue(locale), format: Formatting(locale: locale, timeZone: zone),
            isHTTPS: request.head.scheme == "https" || (web.gateway.configuration.trustForwardedFor && forwardedProto == "https"),
            flash: Flash(cookie: cookies[flashCookie]?.value, catalogue: web.catalogue(locale)))
        if visit.flash != nil { visit.cookies.append("\(flashCookie)=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax") }
        if visit.session.isSignedIn { await visit.authenticate() }
        return visit
    }

    /// Verifies the session's access token, refreshing it first when it runs out within 30 s or
    /// when it is refused; signs the person out when the refresh fails.
    private mutating func authenticate() async {
        let nowMs = Int64(now.timeIntervalSince1970 * 1000)
        if let expires = session.accessExpiresAtMs, expires - 30_000 > nowMs, let token = session.accessToken,
           let claims = try? await web.gateway.verifier.verify(token) {
            context.claims = claims
            return
        }
        guard let refreshToken = session.refreshToken else { return signOut() }
        do {
            var message = AuthRefreshRequest()
            message.refreshToken = refreshToken
            let renewed = try await web.gateway.client(.auth).call(AuthAPI.refresh, message, metadata: metadata)
            signIn(renewed)
            context.claims = try await web.gateway.verifier.verify(renewed.tokens.accessToken)
        } catch {
            web.logger.info("web session ended: refresh failed", metadata: ["error": "\(error)"])
            signOut()
        }
    }

    /// Keeps `session`'s tokens in the cookie; a new sign-in gets a new CSRF secret.
    mutating func signIn(_ authSession: AuthSession) {
        let same = session.userID == authSession.user.id
        session = WebSession(
            csrfSecret: same ? session.csrfSecret : WebSession.randomToken(),
            accessToken: authSession.tokens.accessToken, refreshToken: authSession.tokens.refreshToken,
            accessExpiresAtMs: authSession.tokens.accessExpiresAtMs, userID: authSession.user.id,
            displayName: authSession.user.displayName)
        sessionChanged = true
    }

    mutating func signOut() {
        session = .visitor()
        context.claims = nil
        sessionChanged = true
    }

    /// Reads an `application/x-www-form-urlencoded` body into ``form``.
    mutating func readForm() async throws {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: Self.maxFormBytes)
        } catch {
            throw WebError.badForm
        }
        form = Self.parseForm(String(buffer: buffer))
    }

    static func parseForm(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (part: Substring) in String(part).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            guard let name = parts.first.map(decode), !name.isEmpty else { continue }
            fields[name] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }

    /// A query parameter, or "" when absent.
    func query(_ name: String) -> String { request.uri.queryParameters.get(name) ?? "" }

    /// A path parameter the route guarantees.
    func path(_ name: String) throws -> String {
        guard let value = context.parameters.get(name) else { throw WebError.notFound }
        return value
    }

    /// Where a visitor signs in and comes back to this page; "" when signed in already.
    var signInLink: String { isSignedIn ? "" : "/login?next=" + Self.percentEncoded(currentPath) }

    /// The answer when a page needs a signed-in member: to `/login`, and back to this page, or
    /// for a form to the page it was sent from (a GET of a form's target would not be a page).
    var signInRedirect: Response {
        let back = request.method == .post ? refererPath ?? "/" : currentPath
        return Self.redirect(to: "/login?next=" + Self.percentEncoded(back))
    }

    /// The signed-in member's id.
    func userID() throws -> String {
        guard let claims = context.claims else { throw WebError.signInRequired }
        return claims.userID.rawValue
    }

    // MARK: Answers

    /// Sets the cookies this visit changed on `response`.
    func finish(_ response: inout Response) {
        var cookies = self.cookies
        if sessionChanged, let sealed = try? web.sealer.seal(session) {
            cookies.append(cookie(SessionSealer.cookieName, sealed, maxAge: SessionSealer.maxAge))
        }
        for cookie in cookies { response.headers.append(HTTPField(name: .setCookie, value: cookie)) }
    }

    /// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, and `Secure` over HTTPS.
    func cookie(_ name: String, _ value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/; Max-Age=\(maxAge); HttpOnly; SameSite=Lax" + (isHTTPS ? "; Secure" : "")
    }

    /// A flash message for the page the browser lands on next.
    mutating func flash(_ key: String, kind: Flash.Kind = .success) {
        cookies.append(cookie(Self.flashCookie, kind.rawValue + "." + key, maxAge: 120))
    }

    /// 303 See Other: where a POST sends the browser.
    static func redirect(to location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    /// The page `template` rendered with `values` and what every page shows (the header, the
    /// language switch, the flash message, the CSRF token for its forms).
    func render(_ template: String, _ values: [String: Any], status: HTTPResponse.Status = .ok) -> Response {
        // Mustache takes "" as true; an empty text is left out instead, so `{{#x}}` means "x is there".
        var all = Self.withoutEmptyTexts(values)
        all["t"] = catalogue.texts
        all["lang"] = locale.tag
        all["assets"] = web.assets.paths
        all["csrf"] = csrfToken
        all["signedIn"] = isSignedIn
        all["viewerName"] = session.displayName ?? ""
        all["languages"] = Self.languageLinks(current: locale, path: currentPath, catalogue: catalogue)
        all["currentPath"] = currentPath
        // Signing in from the sign-in page itself returns to where that page would.
        let returnPath = ["/login", "/signup"].contains(request.uri.path) ? Self.safeNext(query("next")) : currentPath
        all["currentPathParam"] = Self.percentEncoded(returnPath)
        if let next = values["next"] as? String { all["nextParam"] = Self.percentEncoded(next) }
        if let flash { all["flash"] = ["message": flash.message, "error": flash.kind == .error] }
        let html = web.templates.render(all, withTemplate: template) ?? ""
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "private, no-store"],
                        body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    /// `path` on this site as a whole URL, for links people share (from the request's Host).
    func absoluteURL(_ path: String) -> String {
        let host = request.head.authority ?? ""
        guard !host.isEmpty, host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "\\") }) else { return path }
        return (isHTTPS ? "https://" : "http://") + host + path
    }

    /// The path of the `Referer` when it is a page of this site.
    var refererPath: String? {
        guard let referer = request.headers[.referer], let url = URL(string: referer), url.host == request.head.authority?.split(separator: ":").first.map(String.init)
        else { return nil }
        return Self.safeNext(url.path + (url.query.map { "?" + $0 } ?? ""))
    }

    static func withoutEmptyTexts(_ values: [String: Any]) -> [String: Any] {
        var result: [String: Any] = [:]
        for (key, value) in values {
            switch value {
            case let text as String where text.isEmpty: continue
            case let nested as [String: Any]: result[key] = withoutEmptyTexts(nested)
            case let list as [[String: Any]]: result[key] = list.map(withoutEmptyTexts)
            default: result[key] = value
            }
        }
        return result
    }

    var currentPath: String { request.uri.path + (request.uri.query.map { "?" + $0 } ?? "") }

    static func languageLinks(current: WebLocale, path: String, catalogue: Catalogue) -> [[String: Any]] {
        WebLocale.allCases.map { locale in
            ["href": "/lang/\(locale.tag)?next=" + percentEncoded(path), "label": catalogue.text("language_\(locale == .zhCN ? "zh" : "en")"),
             "current": locale == current, "tag": locale.tag]
        }
    }

    /// A message for an error from a service, in the page's language where the catalogue has
    /// one for its reason, otherwise the service's own words.
    func message(for error: GuildError) -> String {
        catalogue.problemText(error.reason) ?? error.message
    }

    /// The field errors of a refused form, each in the page's language: the catalogue's text for
    /// the error's reason (`problem_<reason>`) or for the field (`field_<name>_invalid`), else the
    /// service's own words.
    func fieldErrors(_ error: GuildError) -> [String: String] {
        var errors: [String: String] = [:]
        let reasonText = catalogue.problemText(error.reason)
        for violation in error.fieldViolations {
            errors[violation.field] = reasonText ?? catalogue.texts["field_\(violation.field)_invalid"] ?? violation.description
        }
        if errors.isEmpty { errors["_form"] = message(for: error) }
        return errors
    }

    static func percentEncoded(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~/"))) ?? "/"
    }

    /// A `next=` target: a path on this site only (no scheme, no host, no `//`), else `/`.
    static func safeNext(_ next: String) -> String {
        guard next.hasPrefix("/"), !next.hasPrefix("//"), !next.hasPrefix("/\\"),
              !next.unicodeScalars.contains(where: { $0.value < 0x20 || $0 == "\\" || $0.value == 0x7F })
        else { return "/" }
        return next
    }
}

/// A message shown once after a POST and its redirect, named by its catalogue key (`flash_…`),
/// so a cookie can never put text of its own on the page.
struct Flash {
    enum Kind: String { case success, error }
    let kind: Kind
    let message: String

    init?(cookie: String?, catalogue: Catalogue) {
        guard let cookie, let dot = cookie.firstIndex(of: "."), let kind = Kind(rawValue: String(cookie[..<dot])) else { return nil }
        let key = String(cookie[cookie.index(after: dot)...])
        guard key.hasPrefix("flash_"), let message = catalogue.texts[key] else { return nil }
        self.kind = kind
        self.message = message
    }
}
