import Foundation
import GuildAuth
import GuildCore
import GuildGateway
import GuildTesting
import GuildWire
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import NIOPosix
import Testing

/// The gateway and the auth service over real sockets: HTTP into the gateway, the wire protocol
/// with mutual TLS from the gateway to auth, a real SQLite file behind auth.
@Suite("Gateway end to end")
struct GatewayEndToEndTests {
    static func json(_ object: [String: Any]) -> ByteBuffer {
        ByteBuffer(bytes: try! JSONSerialization.data(withJSONObject: object))
    }

    static let jsonHeaders: HTTPFields = [.contentType: "application/json"]

    static func object(_ response: TestResponse) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.readableBytesView)) as? [String: Any])
    }

    static func tokens(_ response: TestResponse) throws -> (access: String, refresh: String) {
        let tokens = try #require(try object(response)["tokens"] as? [String: Any])
        return (try #require(tokens["accessToken"] as? String), try #require(tokens["refreshToken"] as? String))
    }

    static func expectProblem(_ response: TestResponse, status: HTTPResponse.Status, code: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [String: Any] {
        #expect(response.status == status, sourceLocation: sourceLocation)
        #expect(response.headers[.contentType] == "application/problem+json", sourceLocation: sourceLocation)
        let problem = try object(response)
        #expect(problem["code"] as? String == code, sourceLocation: sourceLocation)
        #expect(problem["status"] as? Int == status.code, sourceLocation: sourceLocation)
        #expect((problem["type"] as? String)?.hasPrefix("urn:guild:problem:") == true, sourceLocation: sourceLocation)
        #expect(problem["requestId"] as? String == response.headers[HTTPField.Name("X-Request-Id")!], sourceLocation: sourceLocation)
        return problem
    }

    @Test("register, log in, read me, refresh, read me again: the whole tour over HTTP")
    func tour() async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let registered = try await client.execute(
                    uri: "/api/v1/auth/register", method: .post, headers: Self.jsonHeaders,
                    body: Self.json(["email": "ada@example.com", "password": "correct horse battery", "displayName": "Ada"]))
                #expect(registered.status == .created)
                #expect(registered.headers[HTTPField.Name("X-Request-Id")!]?.isEmpty == false)

                let login = try await client.execute(
                    uri: "/api/v1/auth/login", method: .post, headers: Self.jsonHeaders,
                    body: Self.json(["email": "ada@example.com", "password": "correct horse battery"]))
                #expect(login.status == .ok)
                let first = try Self.tokens(login)

                let me = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(first.access)", HTTPField.Name("X-Request-Id")!: "tour-1"])
                #expect(me.status == .ok)
                #expect(me.headers[HTTPField.Name("X-Request-Id")!] == "tour-1")
                let user = try Self.object(me)
                #expect(user["email"] as? String == "ada@example.com")
                #expect(user["displayName"] as? String == "Ada")

                let refreshed = try await client.execute(
                    uri: "/api/v1/auth/refresh", method: .post, headers: Self.jsonHeaders, body: Self.json(["refreshToken": first.refresh]))
                #expect(refreshed.status == .ok)
                let second = try Self.tokens(refreshed)
                #expect(second.refresh != first.refresh)
                let meAgain = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer \(second.access)"])
                #expect(try Self.object(meAgain)["email"] as? String == "ada@example.com")

                // Reusing the first refresh token revokes the session.
                let reused = try await client.execute(
                    uri: "/api/v1/auth/refresh", method: .post, headers: Self.jsonHeaders, body: Self.json(["refreshToken": first.refresh]))
                #expect(try Self.expectProblem(reused, status: .unauthorized, code: "unauthenticated")["reason"] as? String == "refresh_token_reused")
                #expect(reused.headers[.wwwAuthenticate] != nil)

                let changed = try await client.execute(
                    uri: "/api/v1/me/password", method: .post,
                    headers: [.authorization: "Bearer \(second.access)", .contentType: "application/json"],
                    body: Self.json(["currentPassword": "correct horse battery", "newPassword": "an even better one"]))
                #expect(changed.status == .ok)

                let logout = try await client.execute(
                    uri: "/api/v1/auth/logout", method: .post, headers: Self.jsonHeaders, body: Self.json(["refreshToken": try Self.tokens(changed).refresh]))
                #expect(logout.status == .noContent)
            }
        }
    }

    @Test("bad input gets a problem document naming what is wrong")
    func badInput() async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let invalid = try await client.execute(
                    uri: "/api/v1/auth/register", method: .post, headers: Self.jsonHeaders,
                    body: Self.json(["email": "nope", "password": "short"]))
                let problem = try Self.expectProblem(invalid, status: .badRequest, code: "invalid_argument")
                let fields = (problem["errors"] as? [[String: Any]])?.compactMap { $0["field"] as? String }
                #expect(Set(fields ?? []) == ["email", "password", "displayName"])

                let malformed = try await client.execute(uri: "/api/v1/auth/login", method: .post, headers: Self.jsonHeaders, body: ByteBuffer(string: "{not json"))
                _ = try Self.expectProblem(malformed, status: .badRequest, code: "invalid_argument")

                let wrongType = try await client.execute(uri: "/api/v1/auth/login", method: .post, headers: [.contentType: "text/plain"], body: ByteBuffer(string: "hi"))
                _ = try Self.expectProblem(wrongType, status: .unsupportedMediaType, code: "unsupported_media_type")

                let huge = try await client.execute(
                    uri: "/api/v1/auth/login", method: .post, headers: Self.jsonHeaders,
                    body: ByteBuffer(string: "{\"email\":\"" + String(repeating: "a", count: 70_000) + "\"}"))
                _ = try Self.expectProblem(huge, status: .contentTooLarge, code: "content_too_large")

                let noToken = try await client.execute(uri: "/api/v1/me", method: .get)
                _ = try Self.expectProblem(noToken, status: .unauthorized, code: "unauthenticated")
                #expect(noToken.headers[.wwwAuthenticate] == "Bearer realm=\"guild\"")

                let forged = try await client.execute(uri: "/api/v1/me", method: .get, headers: [.authorization: "Bearer abc.def.ghi"])
                _ = try Self.expectProblem(forged, status: .unauthorized, code: "unauthenticated")

                let missing = try await client.execute(uri: "/api/v1/nothing-here", method: .get)
                _ = try Self.expectProblem(missing, status: .notFound, code: "not_found")
            }
        }
    }

    @Test("too many failed logins answer 429 with Retry-After")
    func throttled() async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                for _ in 0..<cluster.auth.configuration.maxFailuresPerAccount {
                    let failed = try await client.execute(
                        uri: "/api/v1/auth/login", method: .post, headers: Self.jsonHeaders,
                        body: Self.json(["email": "ada@example.com", "password": "guess-guess"]))
                    #expect(failed.status == .unauthorized)
                }
                let locked = try await client.execute(
                    uri: "/api/v1/auth/login", method: .post, headers: Self.jsonHeaders,
                    body: Self.json(["email": "ada@example.com", "password": "guess-guess"]))
                #expect(try Self.expectProblem(locked, status: .tooManyRequests, code: "resource_exhausted")["reason"] as? String == "too_many_attempts")
                #expect(Int(locked.headers[.retryAfter] ?? "") ?? 0 > 0)
            }
        }
    }

    @Test("with auth down: 503 with Retry-After at once, and /readyz says which service is missing")
    func authDown() async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                // The first check opens a connection to each service, within /readyz's 1 s per
                // service; on a loaded machine that can take longer, so the cluster gets a few
                // tries to be ready before auth goes down.
                var ready = try await client.execute(uri: "/readyz", method: .get)
                for _ in 0..<10 where ready.status != .ok {
                    try await Task.sleep(for: .milliseconds(500))
                    ready = try await client.execute(uri: "/readyz", method: .get)
                }
                #expect(ready.status == .ok)
                #expect(try (Self.object(ready)["services"] as? [String: String]) == ["auth": "ready", "membership": "ready", "content": "ready", "referral": "ready"])

                await cluster.authServer.close()

                let started = ContinuousClock.now
                let login = try await client.execute(
                    uri: "/api/v1/auth/login", method: .post, headers: Self.jsonHeaders,
                    body: Self.json(["email": "ada@example.com", "password": "correct horse battery"]))
                _ = try Self.expectProblem(login, status: .serviceUnavailable, code: "unavailable")
                #expect(login.headers[.retryAfter] != nil)
                #expect(ContinuousClock.now - started < .seconds(5))  // within the request deadline

                let notReady = try await client.execute(uri: "/readyz", method: .get)
                #expect(notReady.status == .serviceUnavailable)
                #expect(try (Self.object(notReady)["services"] as? [String: String]) == ["auth": "unavailable", "membership": "ready", "content": "ready", "referral": "ready"])
                let health = try await client.execute(uri: "/healthz", method: .get)
                #expect(health.status == .ok)
            }
        }
    }
}

/// A gateway whose auth endpoint accepts connections and never answers must still answer
/// within the request's deadline.
@Suite("Gateway with a silent backend")
struct SilentBackendTests {
    @Test("a backend that accepts but never answers gives 503 with Retry-After within the deadline")
    func silentBackend() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let certificates = try TestCertificates(directory: directory.url)
        // A TCP listener with nothing behind it: connections are accepted and then ignored.
        let blackHole = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in channel.eventLoop.makeSucceededVoidFuture() }
            .bind(host: "127.0.0.1", port: 0).get()
        var configuration = GatewayConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.requestTimeout = .milliseconds(800)
        configuration.services = [.auth: [WireEndpoint(host: "127.0.0.1", port: blackHole.localAddress!.port!)]]
        let gateway = try Gateway(configuration: configuration, tls: try certificates.tls(for: .gateway), logger: Logger(label: "test"))
        try await gateway.makeApplication().test(.live) { client in
            let started = ContinuousClock.now
            let response = try await client.execute(
                uri: "/api/v1/auth/login", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"email":"ada@example.com","password":"correct horse battery"}"#))
            #expect(response.status == .serviceUnavailable)
            #expect(response.headers[.retryAfter] != nil)
            #expect(ContinuousClock.now - started < .seconds(5))  // the deadline is 0.8 s; never a hang
        }
        try await blackHole.close()
    }
}

/// The OpenAPI document and the routes the gateway serves cannot drift apart.
@Suite("OpenAPI document")
struct OpenAPIDocumentTests {
    static func document() throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bytes)) as? [String: Any])
    }

    @Test("every route is documented and every documented operation is a route")
    func routesMatchDocument() throws {
        let document = try Self.document()
        #expect(document["openapi"] as? String == "3.1.0")
        let paths = try #require(document["paths"] as? [String: [String: Any]])
        let methods: Set<String> = ["get", "put", "post", "delete", "patch", "head", "options"]
        var documented = Set<String>()
        for (path, item) in paths {
            for (method, operation) in item where methods.contains(method) {
                documented.insert("\(method.uppercased()) \(path)")
                let responses = (operation as? [String: Any])?["responses"] as? [String: Any]
                #expect(responses?.isEmpty == false, "\(method) \(path) documents no responses")
                #expect((operation as? [String: Any])?["operationId"] is String, "\(method) \(path) has no operationId")
            }
        }
        let served = Set(GatewayRoutes.all.map { "\($0.method.rawValue) \($0.path)" })
        #expect(served == documented, "served but undocumented: \(served.subtracting(documented)); documented but not served: \(documented.subtracting(served))")
    }

    @Test("every $ref points at a component that exists")
    func referencesResolve() throws {
        let text = String(decoding: OpenAPIDocument.bytes, as: UTF8.self)
        let document = try Self.document()
        let components = try #require(document["components"] as? [String: [String: Any]])
        let pattern = try NSRegularExpression(pattern: "\"\\$ref\": *\"#/components/([A-Za-z]+)/([A-Za-z]+)\"")
        let matches = pattern.matches(in: text, range: NSRange(text.startIndex..., in: text))
        #expect(!matches.isEmpty)
        for match in matches {
            let kind = String(text[Range(match.range(at: 1), in: text)!])
            let name = String(text[Range(match.range(at: 2), in: text)!])
            #expect(components[kind]?[name] != nil, "dangling $ref #/components/\(kind)/\(name)")
        }
    }

    @Test("the gateway serves the document at /api/v1/openapi.json")
    func served() async throws {
        try await TestCluster.withCluster { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let response = try await client.execute(uri: "/api/v1/openapi.json", method: .get)
                #expect(response.status == .ok)
                #expect(Array(response.body.readableBytesView) == OpenAPIDocument.bytes)
            }
        }
    }
}
