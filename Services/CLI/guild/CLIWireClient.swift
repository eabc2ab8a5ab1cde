import GuildCore
import GuildMessages
import GuildService
import GuildWire
import Logging

extension CommonOptions {
    /// A wire client to `service` at `endpoints`, presenting the cli certificate from the
    /// certificate directory: how every `guild` subcommand speaks to the services.
    func cliClient(_ service: ServiceName, endpoints: [WireEndpoint], label: String) throws -> WireClient {
        let tls = try WireTLS.load(directory: resolvedCertificatesDirectory, service: .cli)
        return try WireClient(service: service, endpoints: endpoints, tls: tls, logger: Logger(label: label))
    }
}

extension WireClient {
    /// Calls `method` once and closes the client, whether or not the call succeeded: the
    /// command-line tool's one-shot calls.
    func callOnce<Request, Response>(_ method: MethodDescriptor<Request, Response>, _ request: Request, timeout: Duration) async throws -> Response {
        do {
            let response = try await call(method, request, timeout: timeout)
            await close()
            return response
        } catch {
            await close()
            throw error
        }
    }
}
