import Foundation
import GuildCore
import GuildMessages
import GuildWire
import Logging
import SwiftProtobuf

/// Guild's protocol: a real method through the real `WireServer` (routing, the caller's
/// certificate checked against the method's allow-list, deadlines, per-method metrics) and the
/// real `WireClient` (pool, fewest outstanding, deadlines).
enum GuildTarget {
    static let server = ServiceName(rawValue: "bench-server")
    static let client = ServiceName(rawValue: "bench-client")

    /// The echo method: answers with the bytes it was sent.
    static let echo = MethodDescriptor<Google_Protobuf_BytesValue, Google_Protobuf_BytesValue>(
        "bench.Echo", idempotent: true, allowedCallers: [client])

    static func serve(certificates: String, logger: Logger) async throws -> (port: Int, run: @Sendable () async throws -> Void) {
        let tls = try WireTLS.load(directory: certificates, service: server)
        let router = WireRouter([WireMethod(echo) { request, _ in request }])
        var configuration = WireServer.Configuration()
        // Compression is off on both sides, as it is by default in grpc-swift: the bodies are
        // random bytes, which no compressor shrinks (docs/performance.md).
        configuration.compressionThreshold = nil
        let wire = try await WireServer.bind(
            host: "127.0.0.1", port: 0, serviceName: server, router: router, tls: tls,
            configuration: configuration, logger: logger)
        return (wire.port, { try await wire.run() })
    }

    struct Client: EchoClient {
        let wire: WireClient

        init(port: Int, connections: Int, certificates: String, logger: Logger) throws {
            var configuration = WireClient.Configuration()
            configuration.compressionThreshold = nil
            // One endpoint per connection: the pool keeps one connection to each.
            let endpoints = Array(repeating: WireEndpoint(host: "127.0.0.1", port: port), count: connections)
            wire = try WireClient(
                service: GuildTarget.server, endpoints: endpoints,
                tls: try WireTLS.load(directory: certificates, service: GuildTarget.client),
                configuration: configuration, logger: logger)
        }

        func echo(_ payload: Data) async throws -> Int {
            var request = Google_Protobuf_BytesValue()
            request.value = payload
            return try await wire.call(GuildTarget.echo, request).value.count
        }

        func close() async { await wire.close() }
    }
}
