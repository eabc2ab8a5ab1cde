import Foundation
import GuildCore
import GuildGateway
import GuildService
import GuildStorage
import GuildTesting
import GuildWire
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Prometheus
import SQLKit
import Synchronization
import Testing
import Tracing

/// What an operator sees of Guild running: the Prometheus metrics the gateway and the services
/// serve (scraped over HTTP and parsed), and one request followed by its request id and trace
/// id through the gateway, content and membership, and on through an outbox event.
@Suite("Observability: metrics, request ids and traces")
struct ObservabilityTests {
    typealias E2E = GatewayEndToEndTests
    typealias M = GatewayMembershipTests

    /// One sample of a scrape: its name, labels and value.
    struct Sample: Equatable {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    /// Parses the Prometheus text format (the subset registries write), checking each line as it goes.
    static func parse(_ text: String) throws -> (samples: [Sample], types: [String: String]) {
        var samples: [Sample] = []
        var types: [String: String] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                try #require(parts.count == 4, "a TYPE line names a metric and a type: \(line)")
                types[String(parts[2])] = String(parts[3])
                continue
            }
            if line.hasPrefix("#") { continue }
            let nameEnd = line.firstIndex { $0 == "{" || $0 == " " }!
            let name = String(line[..<nameEnd])
            var labels: [String: String] = [:]
            var rest = line[nameEnd...]
            if rest.first == "{" {
                let close = try #require(rest.lastIndex(of: "}"))
                for pair in rest[rest.index(after: rest.startIndex)..<close].split(separator: ",") {
                    let kv = pair.split(separator: "=", maxSplits: 1)
                    try #require(kv.count == 2 && kv[1].hasPrefix("\"") && kv[1].hasSuffix("\""), "a label is name=\"value\": \(line)")
                    labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
                }
                rest = rest[rest.index(after: close)...]
            }
            let value = try #require(Double(rest.trimmingCharacters(in: .whitespaces)), "a sample ends with its value: \(line)")
            samples.append(Sample(name: name, labels: labels, value: value))
        }
        return (samples, types)
    }

    static func value(_ samples: [Sample], _ name: String, _ labels: [String: String]) -> Double? {
        samples.first { sample in sample.name == name && labels.allSatisfy { sample.labels[$0.key] == $0.value } }?.value
    }

    /// Prometheus's conventions, for every family Guild defines: a `guild_` prefix, lowercase
    /// snake case, counters ending in `_total`, histograms of time in `_seconds`.
    static func expectConventions(_ types: [String: String]) {
        #expect(!types.isEmpty)
        for (name, type) in types {
            #expect(name.hasPrefix("guild_"), "\(name)")
            #expect(name.allSatisfy { $0.isLowercase || $0 == "_" || $0.isNumber }, "\(name)")
            if type == "counter" { #expect(name.hasSuffix("_total"), "\(name)") }
            if type == "histogram" { #expect(name.hasSuffix("_seconds"), "\(name)") }
        }
    }

    @Test("the gateway's /metrics counts requests by route template, method and status, times them, and counts wire calls and cache lookups; it is not served through a proxy")
    func gatewayMetrics() async throws {
        let registry = PrometheusCollectorRegistry()
        var configuration = GatewayConfiguration()
        configuration.metricsRegistry = registry
        configuration.metricsFactory = ProcessMetrics.makeFactory(registry: registry)
        try await TestCluster.withCluster(gatewayConfiguration: configuration) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                for _ in 0..<3 { #expect(try await client.execute(uri: "/api/v1/communities", method: .get).status == .ok) }
                let owner = try await M.register(client, "owner@example.com", "Owner")
                #expect(try await M.call(client, .get, "/api/v1/me", token: owner.token).status == .ok)
                #expect(try await M.call(client, .get, "/api/v1/me", token: owner.token).status == .ok)
                let missing = Identifier.make()
                #expect(try await client.execute(uri: "/api/v1/items/\(missing)", method: .get).status == .notFound)
                #expect(try await client.execute(uri: "/no/such/place", method: .get).status == .notFound)

                // Through a proxy (or from a public address) there is nothing here.
                let proxied = try await client.execute(uri: "/metrics", method: .get, headers: [HTTPField.Name("X-Forwarded-For")!: "203.0.113.9"])
                #expect(proxied.status == .notFound)
                let scrape = try await client.execute(uri: "/metrics", method: .get)
                #expect(scrape.status == .ok)
                #expect(scrape.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                let (samples, types) = try Self.parse(String(buffer: scrape.body))
                Self.expectConventions(types)
                #expect(types["guild_http_requests_total"] == "counter")
                #expect(types["guild_http_request_duration_seconds"] == "histogram")
                #expect(Self.value(samples, "guild_http_requests_total", ["route": "/api/v1/communities", "method": "GET", "status": "200"]) == 3)
                #expect(Self.value(samples, "guild_http_request_duration_seconds_count", ["route": "/api/v1/communities", "method": "GET"]) == 3)
                #expect(Self.value(samples, "guild_http_requests_total", ["route": "/api/v1/me", "method": "GET", "status": "200"]) == 2)
                // The template, never the id; a path no route has is one series, whatever it was.
                #expect(Self.value(samples, "guild_http_requests_total", ["route": "/api/v1/items/{itemId}", "method": "GET", "status": "404"]) == 1)
                #expect(Self.value(samples, "guild_http_requests_total", ["route": "unmatched", "method": "GET", "status": "404"]) == 1)
                #expect(!samples.contains { $0.labels["route"]?.contains(missing) == true || $0.labels["route"]?.contains("such") == true })
                #expect(Self.value(samples, "guild_http_requests_in_flight", [:]) == 1)  // the scrape itself
                // The wire calls behind them, by service, method and outcome; the token keys' cache.
                #expect((Self.value(samples, "guild_wire_client_calls_total", ["service": "membership", "code": "ok"]) ?? 0) >= 3)
                #expect((Self.value(samples, "guild_wire_client_calls_total", ["service": "auth", "method": "auth.Register", "code": "ok"]) ?? 0) == 1)
                #expect(types["guild_wire_client_call_duration_seconds"] == "histogram")
                #expect(Self.value(samples, "guild_cache_lookups_total", ["cache": "token_keys", "result": "miss"]) == 1)
                #expect(Self.value(samples, "guild_cache_lookups_total", ["cache": "token_keys", "result": "hit"]) == 1)
            }
        }
    }

    @Test("a service's metrics: wire calls served by method and outcome, the database pool, the outbox's depth, lag and deliveries, each job's runs and failures, the entitlement cache")
    func serviceMetrics() async throws {
        // Services record through swift-metrics' global factory, as in their processes.
        let registry = ProcessMetrics.bootstrap()
        try await TestCluster.withCluster { cluster in
            let job = PeriodicJob(name: "observability-test-job", every: .seconds(60), logger: Logger(label: "test")) {
                if Task.isCancelled { return }
                struct Boom: Error {}
                if try await cluster.contentDatabase.database.withConnection({ sql in try await sql.raw("SELECT 1 AS one").first() }) == nil { throw Boom() }
            }
            #expect(try await job.runOnce())
            let failing = PeriodicJob(name: "observability-failing-job", every: .seconds(60), logger: Logger(label: "test")) {
                throw GuildError(.unavailable, "down")
            }
            #expect(try await failing.runOnce() == false)
            #expect(try await failing.runOnce() == false)

            try await cluster.gateway.makeApplication().test(.live) { client in
                let owner = try await M.register(client, "owner@example.com", "Owner")
                let community = try E2E.object(try await M.call(client, .post, "/api/v1/communities", token: owner.token,
                                                                body: ["slug": "metrics-club", "name": "Metrics Club", "currency": "CNY"]))
                let communityID = try #require(community["id"] as? String)
                _ = try await M.call(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
                let post = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token, body: [
                    "kind": "post", "title": "Counted", "markdown": "Free.\n\n<!-- more -->\n\nPaid.", "access": ["mode": "preview"], "publish": true,
                ]))
                let postID = try #require(post["id"] as? String)
                #expect(try await M.call(client, .get, "/api/v1/items/\(postID)", token: owner.token).status == .ok)
            }
            // The membership events waiting for content, then delivered.
            try await cluster.membershipEvents.measureBacklog()
            var scrape = try await Self.scrape(registry)
            #expect((Self.value(scrape.samples, "guild_outbox_pending_events", ["subscriber": "content"]) ?? 0) >= 1)
            #expect((Self.value(scrape.samples, "guild_outbox_lag_seconds", ["subscriber": "content"]) ?? -1) >= 0)
            try await cluster.membershipEvents.deliverDue()
            try await cluster.membershipEvents.measureBacklog()
            scrape = try await Self.scrape(registry)
            Self.expectConventions(scrape.types)
            #expect((Self.value(scrape.samples, "guild_outbox_deliveries_total", ["subscriber": "content", "outcome": "delivered"]) ?? 0) >= 1)

            #expect(Self.value(scrape.samples, "guild_job_runs_total", ["job": "observability-test-job", "outcome": "ok"]) == 1)
            #expect(Self.value(scrape.samples, "guild_job_runs_total", ["job": "observability-failing-job", "outcome": "error"]) == 2)
            #expect(Self.value(scrape.samples, "guild_job_duration_seconds_count", ["job": "observability-failing-job"]) == 2)
            #expect((Self.value(scrape.samples, "guild_wire_server_calls_total", ["service": "content", "code": "ok"]) ?? 0) >= 1)
            #expect((Self.value(scrape.samples, "guild_wire_server_calls_total", ["service": "membership", "method": "membership.CreateCommunity", "code": "ok"]) ?? 0) >= 1)
            #expect(scrape.types["guild_wire_server_call_duration_seconds"] == "histogram")
            #expect((Self.value(scrape.samples, "guild_db_connection_wait_seconds_count", [:]) ?? 0) >= 1)
            #expect((Self.value(scrape.samples, "guild_db_connections_max", [:]) ?? 0) >= 1)
            #expect(Self.value(scrape.samples, "guild_db_connections_in_use", [:]) != nil)
            #expect((Self.value(scrape.samples, "guild_cache_lookups_total", ["cache": "entitlements"]) ?? 0) >= 1)
        }
    }

    /// Scrapes `registry` over HTTP, as Prometheus does a service's `--metrics-listen` port.
    static func scrape(_ registry: PrometheusCollectorRegistry) async throws -> (samples: [Sample], types: [String: String]) {
        let application = MetricsServer.application(registry: registry, endpoint: WireEndpoint(host: "127.0.0.1", port: 0), logger: Logger(label: "metrics"))
        return try await application.test(.live) { client in
            let response = try await client.execute(uri: "/metrics", method: .get)
            #expect(response.status == .ok)
            #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(try await client.execute(uri: "/", method: .get).status == .notFound)
            return try Self.parse(String(buffer: response.body))
        }
    }

    @Test("one request is followed by its ids: the request id and the W3C trace id it came with are in the gateway's, content's and membership's log lines, each hop a span of its own, and an outbox event carries them on to its delivery")
    func followOneRequest() async throws {
        _ = try ProcessTracing.bootstrap(service: "guild-tests", otlpEndpoint: nil)
        let capture = LogCapture()
        var logger = Logger(label: "traced") { label in capture.handler(label: label) }
        logger.logLevel = .debug
        try await TestCluster.withCluster(logger: logger) { cluster in
            try await cluster.gateway.makeApplication().test(.live) { client in
                let owner = try await M.register(client, "owner@example.com", "Owner")
                let community = try E2E.object(try await M.call(client, .post, "/api/v1/communities", token: owner.token,
                                                                body: ["slug": "traced-club", "name": "Traced Club", "currency": "CNY"]))
                let communityID = try #require(community["id"] as? String)
                _ = try await M.call(client, .patch, "/api/v1/communities/\(communityID)", token: owner.token, body: ["status": "active"])
                let plan = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(communityID)/plans", token: owner.token,
                                                           body: ["name": "Monthly", "priceMinorUnits": 9_900, "period": "monthly"]))
                let post = try E2E.object(try await M.call(client, .post, "/api/v1/communities/\(communityID)/items", token: owner.token, body: [
                    "kind": "post", "title": "Followed", "markdown": "Free.\n\n<!-- more -->\n\nPaid.", "access": ["mode": "preview"], "publish": true,
                ]))
                let postID = try #require(post["id"] as? String)
                let member = try await M.register(client, "member@example.com", "Member")
                let order = try E2E.object(try await M.call(client, .post, "/api/v1/orders", token: member.token,
                                                            body: ["communityId": communityID, "planId": try #require(plan["id"] as? String)], idempotencyKey: "order-1"))
                let paymentID = try #require((order["payment"] as? [String: Any])?["id"] as? String)

                // The payment, with a request id and a trace of the caller's: membership writes
                // its event under them, and the event's delivery to content continues both.
                let paymentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
                var headers: HTTPFields = E2E.jsonHeaders
                headers[.authorization] = "Bearer \(member.token)"
                headers[HTTPField.Name("Idempotency-Key")!] = "pay-1"
                headers[HTTPField.Name("X-Request-Id")!] = "pay-request-1"
                headers[HTTPField.Name("traceparent")!] = "00-\(paymentTrace)-00f067aa0ba902b7-01"
                let paid = try await client.execute(uri: "/api/v1/payments/\(paymentID)/sandbox-confirm", method: .post, headers: headers,
                                                    body: E2E.json(["outcome": "succeeded"]))
                #expect(paid.status == .ok)
                #expect(paid.headers[HTTPField.Name("X-Request-Id")!] == "pay-request-1")
                try await cluster.membershipEvents.deliverDue()
                let delivered = capture.entries(requestID: "pay-request-1").filter { $0.message == "call served" && $0.metadata["method"] == "events.Deliver" }
                #expect(!delivered.isEmpty, "content's delivery of the payment's event carries the payment's request id")
                #expect(delivered.allSatisfy { $0.metadata["trace-id"] == paymentTrace && $0.metadata["caller"] == "membership" })

                // The member reads the post: gateway → content → membership (the entitlement).
                let trace = "0af7651916cd43dd8448eb211c80319c"
                headers = [.authorization: "Bearer \(member.token)"]
                headers[HTTPField.Name("X-Request-Id")!] = "follow-me-1"
                headers[HTTPField.Name("traceparent")!] = "00-\(trace)-b7ad6b7169203331-01"
                let read = try await client.execute(uri: "/api/v1/items/\(postID)", method: .get, headers: headers)
                #expect(read.status == .ok)
                #expect((try E2E.object(read)["html"] as? String)?.contains("Paid.") == true)

                let followed = capture.entries(requestID: "follow-me-1")
                let gatewayLine = followed.first { $0.message == "request" }
                let contentLine = followed.first { $0.message == "call served" && $0.metadata["method"] == "content.GetItem" }
                let membershipLine = followed.first { $0.message == "call served" && $0.metadata["method"] == "membership.CheckEntitlement" }
                #expect(gatewayLine?.metadata["path"] == "/api/v1/items/\(postID)")
                #expect(contentLine?.metadata["caller"] == "gateway")
                #expect(membershipLine?.metadata["caller"] == "content")
                // One trace, the caller's; a span per hop.
                let lines = [gatewayLine, contentLine, membershipLine].compactMap { $0 }
                #expect(lines.count == 3)
                #expect(lines.allSatisfy { $0.metadata["trace-id"] == trace })
                let spans = Set(lines.compactMap { $0.metadata["span-id"] })
                #expect(spans.count == 3 && !spans.contains("b7ad6b7169203331"))
                // Nothing of another request is mixed in.
                #expect(capture.entries(requestID: "follow-me-1").allSatisfy { $0.metadata["trace-id"] == nil || $0.metadata["trace-id"] == trace })
            }
        }
    }
}

extension ObservabilityTests {
    @Test("--log-format json: one object per line, every string escaped, metadata flattened, reserved keys kept")
    func jsonLogLines() throws {
        let line = JSONLogHandler.line(
            label: "guild-content", level: .warning, message: "quote \" backslash \\ newline \n tab \t bell \u{07} 中文 🚀",
            metadata: ["request-id": "abc", "message": "not this", "nested": ["a": "b"], "zero": "\u{00}"], at: Date(timeIntervalSince1970: 1_764_770_692.42))
        #expect(line.hasSuffix("}\n") && line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object["time"] == "2025-12-03T14:04:52.420Z")
        #expect(object["level"] == "warning" && object["logger"] == "guild-content" && object["request-id"] == "abc")
        #expect(object["message"] == "quote \" backslash \\ newline \n tab \t bell \u{07} 中文 🚀")
        #expect(object["zero"] == "\u{00}")
        #expect(object["nested"] == "[\"a\": \"b\"]")  // nested values as their text
        #expect(Array(object.keys).sorted() == ["level", "logger", "message", "nested", "request-id", "time", "zero"])
    }
}

/// Keeps every log entry made through its handlers, with the metadata the line would carry
/// (the logger's, the entry's, and the process's provider: request id, trace and span ids).
final class LogCapture: Sendable {
    struct Entry: Sendable {
        let label: String
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let stored = Mutex<[Entry]>([])

    func entries(requestID: String) -> [Entry] {
        stored.withLock { $0.filter { $0.metadata["request-id"] == requestID } }
    }

    func handler(label: String) -> some LogHandler {
        Handler(label: label, capture: self, metadataProvider: ProcessTracing.loggingMetadataProvider)
    }

    fileprivate func append(_ entry: Entry) { stored.withLock { $0.append(entry) } }

    struct Handler: LogHandler {
        let label: String
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var metadataProvider: Logger.MetadataProvider?
        var logLevel: Logger.Level = .trace

        init(label: String, capture: LogCapture, metadataProvider: Logger.MetadataProvider?) {
            self.label = label
            self.capture = capture
            self.metadataProvider = metadataProvider
        }

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var all = metadata
            if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
            if let extra = event.metadata { all.merge(extra) { $1 } }
            capture.append(Entry(label: label, level: event.level, message: event.message.description, metadata: all.mapValues(\.description)))
        }
    }
}
