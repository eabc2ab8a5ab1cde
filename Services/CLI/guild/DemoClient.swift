import AsyncHTTPClient
import Foundation
import GuildCore
import NIOCore
import NIOHTTP1
import Synchronization

// The pieces `guild demo` talks to the suite with: a small JSON value, the gateway's HTTP API,
// accounts that keep their tokens fresh at the simulated time, and the simulated clock's file.

/// A JSON value: what the gateway answers and what the demo sends, without a model per route.
enum JSON: Sendable, Equatable, Codable, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral,
    ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByFloatLiteral
{
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    init(dictionaryLiteral elements: (String, JSON)...) { self = .object(Dictionary(elements, uniquingKeysWith: { $1 })) }
    init(arrayLiteral elements: JSON...) { self = .array(elements) }
    init(stringLiteral value: String) { self = .string(value) }
    init(integerLiteral value: Int) { self = .number(Double(value)) }
    init(booleanLiteral value: Bool) { self = .bool(value) }
    init(floatLiteral value: Double) { self = .number(value) }

    /// An integer (minor units, counts, milliseconds) as a JSON number.
    static func int(_ value: some BinaryInteger) -> JSON { .number(Double(value)) }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSON].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSON].self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value):
            // Whole numbers as integers: proto3 JSON refuses 9900.0 for an int64.
            if value.rounded() == value, abs(value) < 9e15 { try container.encode(Int64(value)) } else { try container.encode(value) }
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    subscript(key: String) -> JSON {
        if case .object(let object) = self { return object[key] ?? .null }
        return .null
    }

    var string: String? { if case .string(let value) = self { value } else { nil } }
    /// Numbers, and int64 fields written as strings (the proto3 JSON default).
    var int: Int64? {
        switch self {
        case .number(let value): Int64(exactly: value.rounded())
        case .string(let value): Int64(value)
        default: nil
        }
    }
    var double: Double? {
        switch self {
        case .number(let value): value
        case .string(let value): Double(value)
        default: nil
        }
    }
    var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
    var array: [JSON] { if case .array(let value) = self { value } else { [] } }
    var isNull: Bool { self == .null }
}

/// A request the gateway refused, or could not be made.
struct DemoFailure: Error, CustomStringConvertible {
    let request: String
    let status: Int
    let detail: String

    var description: String {
        status == 0 ? "\(request): \(detail)" : "\(request): HTTP \(status) \(detail)"
    }
}

/// The simulated clock's file, as `guild demo` moves it. The services re-read it at most every
/// 50 ms; after a move the demo waits `settle` so that their schedulers (every second under a
/// simulated clock) have run at the new time before the next request.
final class DemoClock: Sendable {
    let path: String
    let settle: Duration
    private let offset = Mutex<Int64>(0)

    init(path: String, settle: Duration) {
        self.path = path
        self.settle = settle
    }

    /// The time the services see now.
    var now: Date { Date().addingTimeInterval(Double(offset.withLock { $0 }) / 1000) }

    var offsetMilliseconds: Int64 { offset.withLock { $0 } }

    /// Moves every service's clock to the real time plus `milliseconds`, then waits for them.
    func set(offsetMilliseconds milliseconds: Int64) async throws {
        try SimulatedWallClock.writeOffset(milliseconds: milliseconds, to: path)
        offset.withLock { $0 = milliseconds }
        try await Task.sleep(for: settle)
    }

    /// Puts the clock back to the real time (synchronous, for `defer` and signal handlers).
    func reset() {
        try? SimulatedWallClock.writeOffset(milliseconds: 0, to: path)
        offset.withLock { $0 = 0 }
    }
}

/// One account of the demo, with its tokens. Access tokens live 15 simulated minutes and
/// refresh tokens 30 simulated days, so each is renewed when the simulated time has passed it.
final class DemoAccount: @unchecked Sendable {
    // Only the demo's single task touches the mutable fields; @unchecked because it is handed
    // to the HTTP client's helpers, never shared between tasks.
    let email: String
    let password: String
    let name: String
    var id = ""
    var access = ""
    var accessExpires = Date.distantPast
    var refresh = ""
    var refreshExpires = Date.distantPast

    init(email: String, password: String, name: String) {
        self.email = email
        self.password = password
        self.name = name
    }

    /// Keeps the tokens of a session answer (`{"user": …, "tokens": …}`).
    func adopt(_ session: JSON) {
        if let id = session["user"]["id"].string { self.id = id }
        let tokens = session["tokens"]
        access = tokens["accessToken"].string ?? ""
        refresh = tokens["refreshToken"].string ?? ""
        accessExpires = DemoAPI.date(tokens["accessTokenExpiresAt"].string) ?? .distantPast
        refreshExpires = DemoAPI.date(tokens["refreshTokenExpiresAt"].string) ?? .distantPast
    }
}

/// The gateway's HTTP API, as `guild demo` uses it.
struct DemoAPI: Sendable {
    let base: String
    let clock: DemoClock
    let client = HTTPClient.shared
    private let counter = Counter()

    init(base: String, clock: DemoClock) {
        self.base = base.hasSuffix("/") ? String(base.dropLast()) : base
        self.clock = clock
    }

    /// A fresh idempotency key for a request that moves money or spends points.
    func key(_ label: String) -> String { "demo-\(label)-\(counter.next())-\(UUID().uuidString.prefix(8))" }

    /// One request; answers the status and the JSON body (null when there is none).
    func send(_ method: HTTPMethod, _ path: String, token: String? = nil, body: JSON? = nil, key: String? = nil, acceptJSON: Bool = false) async throws -> (status: Int, json: JSON) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let key { request.headers.add(name: "Idempotency-Key", value: key) }
        if acceptJSON { request.headers.add(name: "Accept", value: "application/json") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: Array(try JSONEncoder().encode(body))))
        }
        let response: HTTPClientResponse
        let data: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(30))
            data = try await response.body.collect(upTo: 8 << 20)
        } catch {
            throw DemoFailure(request: "\(method) \(path)", status: 0, detail: "\(error)")
        }
        let bytes = Data(data.readableBytesView)
        let json = bytes.isEmpty ? JSON.null : ((try? JSONDecoder().decode(JSON.self, from: bytes)) ?? .string(String(decoding: bytes, as: UTF8.self)))
        return (Int(response.status.code), json)
    }

    /// One request that must succeed (2xx); its JSON answer.
    @discardableResult
    func call(_ method: HTTPMethod, _ path: String, token: String? = nil, body: JSON? = nil, key: String? = nil, acceptJSON: Bool = false) async throws -> JSON {
        let (status, json) = try await send(method, path, token: token, body: body, key: key, acceptJSON: acceptJSON)
        guard (200..<300).contains(status) else { throw Self.failure(method, path, status: status, json: json) }
        return json
    }

    /// A request as `account`, with a token valid at the simulated time (refreshed, or a new
    /// sign-in, when it is not); a 401 refreshes once and tries again.
    @discardableResult
    func call(as account: DemoAccount, _ method: HTTPMethod, _ path: String, body: JSON? = nil, key: String? = nil, acceptJSON: Bool = false) async throws -> JSON {
        let token = try await freshToken(account)
        let (status, json) = try await send(method, path, token: token, body: body, key: key, acceptJSON: acceptJSON)
        if status == 401 {
            account.accessExpires = .distantPast
            return try await call(method, path, token: try await freshToken(account), body: body, key: key, acceptJSON: acceptJSON)
        }
        guard (200..<300).contains(status) else { throw Self.failure(method, path, status: status, json: json) }
        return json
    }

    /// Registers `account` (with the visitor id of its referral or campaign visit, if any).
    func register(_ account: DemoAccount, visitorID: String?) async throws {
        var body: [String: JSON] = ["email": .string(account.email), "password": .string(account.password), "displayName": .string(account.name)]
        if let visitorID { body["visitorId"] = .string(visitorID) }
        account.adopt(try await call(.POST, "/api/v1/auth/register", body: .object(body)))
    }

    /// An access token valid for at least another minute of simulated time.
    func freshToken(_ account: DemoAccount) async throws -> String {
        let now = clock.now
        if account.accessExpires > now.addingTimeInterval(60) { return account.access }
        if account.refreshExpires > now.addingTimeInterval(60) {
            let (status, json) = try await send(.POST, "/api/v1/auth/refresh", body: ["refreshToken": .string(account.refresh)])
            if (200..<300).contains(status) {
                account.adopt(json)
                return account.access
            }
        }
        account.adopt(try await call(.POST, "/api/v1/auth/login", body: ["email": .string(account.email), "password": .string(account.password)]))
        return account.access
    }

    static func failure(_ method: HTTPMethod, _ path: String, status: Int, json: JSON) -> DemoFailure {
        // Problem documents (RFC 9457): the detail and the machine-readable reason.
        var detail = json["detail"].string ?? json["title"].string ?? json.string ?? ""
        if let reason = json["reason"].string ?? json["code"].string { detail += " (\(reason))" }
        for error in json["errors"].array {
            if let field = error["field"].string { detail += " [\(field): \(error["detail"].string ?? "")]" }
        }
        return DemoFailure(request: "\(method) \(path)", status: status, detail: detail)
    }

    /// An RFC 3339 instant as the gateway writes them.
    static func date(_ text: String?) -> Date? {
        guard let text else { return nil }
        if let date = try? Date(text, strategy: Date.ISO8601FormatStyle(includingFractionalSeconds: true)) { return date }
        return try? Date(text, strategy: Date.ISO8601FormatStyle())
    }

    /// An instant in RFC 3339 (UTC, whole seconds).
    static func rfc3339(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle())
    }

    /// A calendar day (UTC) as YYYY-MM-DD.
    static func day(_ date: Date) -> String {
        String(rfc3339(date).prefix(10))
    }
}

/// Numbers for idempotency keys.
final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 += 1; return $0 } }
}
