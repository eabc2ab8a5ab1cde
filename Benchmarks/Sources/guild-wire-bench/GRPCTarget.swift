import Foundation
import GRPCCore
import GuildCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import Logging
import SwiftProtobuf
import Synchronization

/// grpc-swift 2: unary calls over HTTP/2 with mutual TLS, the same protobuf message both ways.
/// The service is registered by hand, as `protoc-gen-grpc-swift` would generate it.
enum GRPCTarget {
    static let echo = GRPCCore.MethodDescriptor(
        service: ServiceDescriptor(fullyQualifiedService: "guild.bench.Echo"), method: "Echo", type: .unary)

    struct EchoService: RegistrableRPCService {
        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.registerHandler(
                forMethod: GRPCTarget.echo,
                deserializer: ProtobufDeserializer<Google_Protobuf_BytesValue>(),
                serializer: ProtobufSerializer<Google_Protobuf_BytesValue>()
            ) { request, _ in
                let single = try await ServerRequest(stream: request)
                return StreamingServerResponse(single: ServerResponse(message: single.message, metadata: [:]))
            }
        }
    }

    static func tlsFiles(_ certificates: String, _ name: String) -> (chain: [TLSConfig.CertificateSource], key: TLSConfig.PrivateKeySource, ca: TLSConfig.TrustRootsSource) {
        (
            [.file(path: "\(certificates)/\(name).pem", format: .pem)],
            .file(path: "\(certificates)/\(name)-key.pem", format: .pem),
            .certificates([.file(path: "\(certificates)/ca.pem", format: .pem)])
        )
    }

    static func serve(certificates: String) async throws -> (port: Int, run: @Sendable () async throws -> Void) {
        let files = tlsFiles(certificates, GuildTarget.server.rawValue)
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: 0),
            transportSecurity: .mTLS(certificateChain: files.chain, privateKey: files.key) { tls in
                tls.trustRoots = files.ca
            })
        let server = GRPCServer(transport: transport, services: [EchoService()])
        let task = Task { try await server.serve() }
        guard let address = try await server.listeningAddress?.ipv4 else {
            throw GRPCTargetError.noAddress
        }
        return (address.port, { try await task.value })
    }

    enum GRPCTargetError: Error { case noAddress }

    /// One `GRPCClient` per connection, calls spread round robin.
    final class Client: EchoClient {
        let clients: [GRPCClient<HTTP2ClientTransport.Posix>]
        let runners: [Task<Void, any Error>]
        let next = Atomic<Int>(0)

        init(port: Int, connections: Int, certificates: String) throws {
            let files = GRPCTarget.tlsFiles(certificates, GuildTarget.client.rawValue)
            var clients: [GRPCClient<HTTP2ClientTransport.Posix>] = []
            for _ in 0..<connections {
                let transport = try HTTP2ClientTransport.Posix(
                    target: .ipv4(address: "127.0.0.1", port: port),
                    transportSecurity: .mTLS(certificateChain: files.chain, privateKey: files.key) { tls in
                        tls.trustRoots = files.ca
                        tls.serverCertificateVerification = .noHostnameVerification
                    })
                clients.append(GRPCClient(transport: transport))
            }
            self.clients = clients
            self.runners = clients.map { client in Task { try await client.runConnections() } }
        }

        func echo(_ payload: Data) async throws -> Int {
            let client = clients[next.add(1, ordering: .relaxed).oldValue % clients.count]
            var request = Google_Protobuf_BytesValue()
            request.value = payload
            let response = try await client.unary(
                request: ClientRequest(message: request), descriptor: GRPCTarget.echo,
                serializer: ProtobufSerializer<Google_Protobuf_BytesValue>(),
                deserializer: ProtobufDeserializer<Google_Protobuf_BytesValue>(),
                options: .defaults
            ) { try $0.message }
            return response.value.count
        }

        func close() async {
            for client in clients { client.beginGracefulShutdown() }
            for runner in runners { _ = try? await runner.value }
        }
    }
}
