import ArgumentParser
import Foundation
import GuildCore
import GuildMessages
import GuildService
import GuildWire

/// `guild ledger-check`: asks the membership service to check every invariant of its money
/// ledger, prints the result, and exits non-zero when one is violated or the check cannot run.
struct LedgerCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger-check",
        abstract: "Check every invariant of the membership ledger (exit status 1 on a violation).",
        discussion: "Speaks the wire protocol to guild-membership with the cli certificate from the certificate directory."
    )

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("membership"), help: "Membership service endpoints, comma-separated host:port (env GUILD_MEMBERSHIP_ENDPOINTS).")
    var membershipEndpoints: String = ConfigEnvironment().string("GUILD_MEMBERSHIP_ENDPOINTS", default: "127.0.0.1:7102")

    func run() async throws {
        guard let endpoints = WireEndpoint.list(membershipEndpoints) else { throw ValidationError("--membership must be host:port[,host:port...]") }
        let client = try common.cliClient(.membership, endpoints: endpoints, label: "guild-ledger-check")
        let check: MembershipLedgerCheck
        do {
            check = try await client.callOnce(MembershipAPI.checkLedger, MembershipCheckLedgerRequest(), timeout: .seconds(60))
        } catch {
            print("guild ledger-check: the check could not run: \(error)")
            throw ExitCode(2)
        }
        print("ledger: \(check.transactions) transactions, \(check.entries) entries")
        if check.violations.isEmpty {
            print("every invariant holds")
            return
        }
        print("\(check.violations.count) violation(s):")
        for violation in check.violations { print("  - \(violation)") }
        throw ExitCode.failure
    }
}
