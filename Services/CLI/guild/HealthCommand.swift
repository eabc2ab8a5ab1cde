import ArgumentParser
import AsyncHTTPClient
import Foundation
import GuildCore
import GuildMessages
import GuildService
import GuildWire
import NIOCore
import NIOHTTP1

/// `guild health`: one readiness probe, for container health checks. An HTTP target is asked
/// with a GET and is healthy on a 2xx answer (the gateway's `/readyz`); a wire target is asked
/// `guild.Health` over mutual TLS with the cli certificate, so the probe proves the port, the
/// certificates and the service's request loop, not only that something listens.
struct HealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "health",
        abstract: "Probe one process: exit 0 when it answers, 1 when it does not.",
        discussion: """
            Targets: http://host:port/path (GET, healthy on 2xx), or <service>@host:port for a wire \
            service (auth, membership, content, referral), asked guild.Health with the cli certificate \
            from the certificate directory. Default: env GUILD_HEALTHCHECK.
            """
    )

    @OptionGroup var common: CommonOptions

    @Argument(help: "http://host:port/path or <service>@host:port (env GUILD_HEALTHCHECK).")
    var target: String = ConfigEnvironment().string("GUILD_HEALTHCHECK", default: "")

    @Option(name: .customLong("timeout-ms"), help: "How long to wait for the answer.")
    var timeoutMilliseconds: Int = 3000

    func validate() throws {
        guard Target(target) != nil else {
            throw ValidationError("name a target: http://host:port/path or <service>@host:port (or set GUILD_HEALTHCHECK)")
        }
        guard (100...60_000).contains(timeoutMilliseconds) else { throw ValidationError("--timeout-ms must be 100 to 60000") }
    }

    func run() async throws {
        let timeout = Duration.milliseconds(timeoutMilliseconds)
        do {
            switch Target(target)! {
            case .http(let url):
                let response = try await HTTPClient.shared.execute(HTTPClientRequest(url: url), timeout: .milliseconds(Int64(timeoutMilliseconds)))
                guard (200..<300).contains(response.status.code) else {
                    print("unhealthy: \(url) answered \(response.status.code)")
                    throw ExitCode.failure
                }
            case .wire(let service, let endpoint):
                let answer = try await common.cliClient(service, endpoints: [endpoint], label: "guild-health")
                    .callOnce(SystemAPI.health, WireHealthRequest(), timeout: timeout)
                guard answer.status == "serving" else {
                    print("unhealthy: \(service.rawValue) at \(endpoint) says \(answer.status)")
                    throw ExitCode.failure
                }
            }
        } catch let exit as ExitCode {
            throw exit
        } catch {
            print("unhealthy: \(target): \(error)")
            throw ExitCode.failure
        }
        print("healthy: \(target)")
    }

    enum Target {
        case http(String)
        case wire(ServiceName, WireEndpoint)

        init?(_ text: String) {
            if text.hasPrefix("http://") || text.hasPrefix("https://") {
                guard URL(string: text)?.host != nil else { return nil }
                self = .http(text)
                return
            }
            let parts = text.split(separator: "@", maxSplits: 1).map(String.init)
            guard parts.count == 2, let endpoint = WireEndpoint.list(parts[1])?.first else { return nil }
            let service = ServiceName(rawValue: parts[0])
            guard [ServiceName.auth, .membership, .content, .referral].contains(service) else { return nil }
            self = .wire(service, endpoint)
        }
    }
}
