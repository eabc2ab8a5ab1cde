import Foundation
import GuildAuth
import GuildCore
import GuildGateway
import GuildTesting
import GuildWeb
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

/// A person's browser over HummingbirdTesting: keeps cookies as a browser does, sends forms,
/// and reads the CSRF token and nonces out of the pages it got.
final class Browser: @unchecked Sendable {
    let client: any TestClientProtocol
    var cookies: [String: String] = [:]
    var language: String?
    var headers: HTTPFields = [:]
    /// The last page's body.
    private(set) var page = ""
    /// The CSRF token of the last page that had forms (a redirect's empty body has none).
    private(set) var csrf: String?

    init(_ client: any TestClientProtocol, language: String? = "zh-CN,zh;q=0.9") {
        self.client = client
        self.language = language
    }

    @discardableResult
    func get(_ path: String) async throws -> TestResponse {
        try await send(path, method: .get, body: nil)
    }

    /// POSTs `fields` as a form, adding the CSRF token of the last page unless `csrf` says otherwise.
    @discardableResult
    func post(_ path: String, _ fields: [String: String], csrf: String? = nil) async throws -> TestResponse {
        var fields = fields
        if fields["_csrf"] == nil, let token = csrf ?? self.csrf { fields["_csrf"] = token }
        let body = fields.map { Self.encode($0.key) + "=" + Self.encode($0.value) }.joined(separator: "&")
        return try await send(path, method: .post, body: body)
    }

    /// Follows a redirect (303/302) with a GET.
    @discardableResult
    func follow(_ response: TestResponse) async throws -> TestResponse {
        guard let location = response.headers[.location] else { return response }
        // A browser keeps the fragment to itself.
        return try await get(String(location.prefix { $0 != "#" }))
    }

    private func send(_ path: String, method: HTTPRequest.Method, body: String?) async throws -> TestResponse {
        var headers = self.headers
        headers[.accept] = "text/html"
        if let language { headers[.acceptLanguage] = language }
        if !cookies.isEmpty { headers[.cookie] = cookies.map { "\($0.key)=\($0.value)" }.joined(separator: "; ") }
        if body != nil { headers[.contentType] = "application/x-www-form-urlencoded" }
        let response = try await client.execute(uri: path, method: method, headers: headers, body: body.map { ByteBuffer(string: $0) })
        for value in response.headers[values: .setCookie] {
            let pair = value.split(separator: ";")[0].split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(pair[0]), cookieValue = pair.count > 1 ? String(pair[1]) : ""
            if value.contains("Max-Age=0") || cookieValue.isEmpty { cookies[name] = nil } else { cookies[name] = cookieValue }
        }
        page = String(buffer: response.body)
        if let token = field("_csrf") { self.csrf = token }
        return response
    }

    /// The value of the hidden input `name` on the last page.
    func field(_ name: String) -> String? {
        guard let range = page.range(of: "name=\"\(name)\" value=\"") else { return nil }
        let rest = page[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]).replacingOccurrences(of: "&#61;", with: "=") }
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }
}

/// A cluster with the web front end mounted on its gateway.
enum WebCluster {
    static func run(
        database: TestDatabaseKind = .sqlite, authConfiguration: AuthConfiguration = TestCluster.fastAuthConfiguration,
        gatewayConfiguration: GatewayConfiguration = GatewayConfiguration(),
        sessionKey: SealingKey = .generate(),
        _ body: @Sendable (TestCluster, any TestClientProtocol) async throws -> Void
    ) async throws {
        try await TestCluster.withCluster(database: database, authConfiguration: authConfiguration, gatewayConfiguration: gatewayConfiguration) { cluster in
            var logger = Logger(label: "web-test")
            logger.logLevel = .debug
            let web = try await WebFrontEnd(gateway: cluster.gateway, sessionKey: sessionKey, logger: logger)
            try await cluster.gateway.makeApplication(mounting: [web]).test(.live) { client in
                try await body(cluster, client)
            }
        }
    }

    /// Over the JSON API: an owner with an active community (slug `swift-club`), a monthly plan
    /// at ¥199, a 20 %-off coupon `WELCOME20` for one use per member, and a post whose second
    /// half is for members.
    static func seed(_ client: any TestClientProtocol, name: String = "Swift Club") async throws -> Seed {
        let owner = try await API.register(client, "owner@example.com", "Ada")
        let community = try await API.object(client, .post, "/api/v1/communities", token: owner.token,
                                             body: ["slug": "swift-club", "name": name, "description": "Server-side Swift, from tasks to actors", "currency": "CNY"])
        let communityID = try #require(community["id"] as? String)
        _ = try await API.object(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
        let plan = try await API.object(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                        body: ["name": "Monthly", "priceMinorUnits": 19_900, "period": "monthly"])
        _ = try await API.object(client, .post, "/api/v1/communities/\(communityID)/coupons", token: owner.token,
                                 body: ["code": "WELCOME20", "kind": "percent", "percentOffBp": 2000, "maxPerUser": 1])
        let post = try await API.object(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token, body: [
            "kind": "post", "title": "Why actors", "markdown": "Free: why actors.\n\n<!-- more -->\n\nPaid: how reentrancy bites.",
            "access": ["mode": "preview"], "publish": true,
        ])
        return Seed(ownerToken: owner.token, communityID: communityID, planID: try #require(plan["id"] as? String), postID: try #require(post["id"] as? String))
    }

    struct Seed {
        let ownerToken: String
        let communityID: String
        let planID: String
        let postID: String
    }
}

extension Browser {
    /// Signs up and joins `seed`'s plan through the pages, paying with the sandbox.
    func signUpAndJoin(_ seed: WebCluster.Seed, email: String, name: String) async throws {
        try await get("/signup")
        try await post("/signup", ["email": email, "password": "correct horse battery", "displayName": name])
        try await get("/c/swift-club/join?plan=\(seed.planID)")
        let ordered = try await post("/c/swift-club/join", ["plan": seed.planID, "action": "pay", "provider": "sandbox", "idem": try #require(field("idem"))])
        let sandbox = try #require(ordered.headers[.location])
        try await get(sandbox)
        let paid = try await post(String(sandbox.prefix { $0 != "?" }), ["order": try #require(field("order")), "idem": try #require(field("idem")), "outcome": "succeeded"])
        #expect(paid.status == .seeOther)
    }
}

/// JSON calls for setting things up.
enum API {
    static func register(_ client: any TestClientProtocol, _ email: String, _ name: String) async throws -> (token: String, id: String) {
        let body = try await object(client, .post, "/api/v1/auth/register", token: nil, body: ["email": email, "password": "correct horse battery", "displayName": name])
        let tokens = try #require(body["tokens"] as? [String: Any])
        let user = try #require(body["user"] as? [String: Any])
        return (try #require(tokens["accessToken"] as? String), try #require(user["id"] as? String))
    }

    static func object(_ client: any TestClientProtocol, _ method: HTTPRequest.Method, _ uri: String, token: String?, body: [String: Any]? = nil) async throws -> [String: Any] {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await client.execute(uri: uri, method: method, headers: headers,
                                                body: body.map { ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: $0)) })
        #expect(response.status.code < 300, "\(method) \(uri): \(response.status) \(String(buffer: response.body))")
        return (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any]) ?? [:]
    }
}
