import ArgumentParser
import Foundation
import GuildCore
import GuildMessages
import GuildService
import GuildWire

/// `guild dead-letters`: what the services' retry loops gave up on, and trying it again.
struct DeadLettersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dead-letters",
        abstract: "List what the retry loops gave up on (undelivered events, money moves, redemptions), or retry it.",
        discussion: "Speaks the wire protocol to each service with the cli certificate from the certificate directory.",
        subcommands: [List.self, Retry.self],
        defaultSubcommand: List.self
    )

    /// Where each service listens.
    struct Endpoints: ParsableArguments {
        @Option(name: .customLong("membership"), help: "Membership endpoints (env GUILD_MEMBERSHIP_ENDPOINTS).")
        var membership: String = ConfigEnvironment().string("GUILD_MEMBERSHIP_ENDPOINTS", default: "127.0.0.1:7102")
        @Option(name: .customLong("content"), help: "Content endpoints (env GUILD_CONTENT_ENDPOINTS).")
        var content: String = ConfigEnvironment().string("GUILD_CONTENT_ENDPOINTS", default: "127.0.0.1:7103")
        @Option(name: .customLong("referral"), help: "Referral endpoints (env GUILD_REFERRAL_ENDPOINTS).")
        var referral: String = ConfigEnvironment().string("GUILD_REFERRAL_ENDPOINTS", default: "127.0.0.1:7104")

        func of(_ service: ServiceName) throws -> [WireEndpoint] {
            let text = switch service {
            case .membership: membership
            case .content: content
            default: referral
            }
            guard let endpoints = WireEndpoint.list(text) else { throw ValidationError("--\(service.rawValue) must be host:port[,host:port...]") }
            return endpoints
        }
    }

    static let services: [ServiceName] = [.membership, .content, .referral]

    static func client(_ service: ServiceName, _ endpoints: Endpoints, _ common: CommonOptions) throws -> WireClient {
        try common.cliClient(service, endpoints: try endpoints.of(service), label: "guild-dead-letters")
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List the dead letters of every service (exit status 1 when there are any).")
        @OptionGroup var common: CommonOptions
        @OptionGroup var endpoints: Endpoints

        func run() async throws {
            var total = 0
            var unreachable = false
            var request = OpsListDeadLettersRequest()
            request.limit = 1000
            for service in DeadLettersCommand.services {
                let client = try DeadLettersCommand.client(service, endpoints, common)
                do {
                    let list = try await client.callOnce(OpsAPI.listDeadLetters(service), request, timeout: .seconds(30))
                    for letter in list.deadLetters {
                        let when = Date(millisecondsSince1970: letter.deadAtMs).formatted(.iso8601)
                        print("\(service.rawValue)  \(letter.kind)  \(letter.id)  \(letter.attempts) attempts, dead since \(when)")
                        print("    \(letter.description_p); last error: \(letter.lastError)")
                    }
                    total += list.deadLetters.count
                } catch {
                    print("\(service.rawValue): could not ask: \(error)")
                    unreachable = true
                }
            }
            print(total == 0 ? "no dead letters" : "\(total) dead letter(s); `guild dead-letters retry --service <service> --kind <kind> [--id <id>]` tries again")
            if unreachable { throw ExitCode(2) }
            if total > 0 { throw ExitCode.failure }
        }
    }

    struct Retry: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "retry", abstract: "Make dead letters due again with a fresh allowance of attempts.")
        @OptionGroup var common: CommonOptions
        @OptionGroup var endpoints: Endpoints
        @Option(help: "membership, content or referral.") var service: String
        @Option(help: "The kind (as listed).") var kind: String
        @Option(help: "One dead letter's id (as listed); without it, every one of the kind.") var id: String = ""

        func run() async throws {
            guard let name = ServiceName(uri: "spiffe://guild/\(service)"), DeadLettersCommand.services.contains(name) else {
                throw ValidationError("--service: membership, content or referral")
            }
            var request = OpsRetryDeadLetterRequest()
            request.kind = kind
            request.id = id
            let client = try DeadLettersCommand.client(name, endpoints, common)
            let answer: OpsRetryDeadLetterResponse
            do {
                answer = try await client.callOnce(OpsAPI.retryDeadLetter(name), request, timeout: .seconds(30))
            } catch {
                print("guild dead-letters retry: \(error)")
                throw ExitCode(2)
            }
            print("\(answer.retried) dead letter(s) due again")
        }
    }
}
