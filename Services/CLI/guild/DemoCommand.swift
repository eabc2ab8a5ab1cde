import ArgumentParser
import Foundation
import GuildCore
import GuildService
import UnixSignals

/// `guild demo`: fills a running suite with a community that has months of history, through
/// the gateway's HTTP API only, so that every screen and endpoint shows meaningful numbers.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Fill a running suite with a realistic community: months of visitors, sign-ups, trials, payments, refunds, referrals, posts, questions and check-ins.",
        discussion: """
            guild demo talks to the gateway's HTTP API only, as real clients do; it never touches a database. To make \
            months of history in minutes it moves the suite's simulated clock, the file <data-dir>/simulated-clock that \
            `guild up` makes every process read: --months months back first (six by default), then forward a few days at a time, and back to the \
            real time at the end, also when a step fails or it is interrupted. Run it against `guild up` with the same \
            --data-dir. Each run makes a new community (its own slug, owner and members).

            Example:  guild up --data-dir /tmp/guild &   then   guild demo --data-dir /tmp/guild
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "The gateway's base address.")
    var gateway = "http://127.0.0.1:8080"

    @Option(help: "Months of history to make, 2 to 12.")
    var months = 6

    @Option(help: "Seed for the random choices (default: a random one); the same seed makes the same kind of community.")
    var seed: UInt64?

    @Option(name: .customLong("settle-ms"), help: "Milliseconds to wait after each move of the clock, so the services' schedulers (every second under a simulated clock) run at the new time.")
    var settleMs = 2000

    func validate() throws {
        guard (2...12).contains(months) else { throw ValidationError("--months must be between 2 and 12") }
        guard (100...30_000).contains(settleMs) else { throw ValidationError("--settle-ms must be between 100 and 30000") }
        guard let url = URL(string: gateway), ["http", "https"].contains(url.scheme ?? "") else {
            throw ValidationError("--gateway must be an http:// or https:// address")
        }
    }

    func run() async throws {
        let path = common.simulatedClock ?? URL(fileURLWithPath: common.dataDirectory).standardizedFileURL.appendingPathComponent("simulated-clock").path
        let clock = DemoClock(path: path, settle: .milliseconds(settleMs))
        // Whatever happens, the suite goes back to the real time: on return, on error, on Ctrl-C.
        let restorer = await Self.restoreClockOnSignals(clock)
        defer {
            clock.reset()
            restorer.cancel()
        }
        let seed = self.seed ?? UInt64.random(in: 0...UInt64.max)
        let scenario = DemoScenario(api: DemoAPI(base: gateway, clock: clock), months: months, seed: seed, dataDirectory: common.dataDirectory)
        let complete: Bool
        do {
            complete = try await scenario.run()
        } catch {
            clock.reset()
            say("guild demo: stopped: \(error)")
            say("guild demo: the simulated clock is back to the real time")
            throw ExitCode.failure
        }
        if !complete { throw ExitCode.failure }
    }

    /// Ctrl-C or SIGTERM: put the clock back, then exit.
    static func restoreClockOnSignals(_ clock: DemoClock) async -> Task<Void, Never> {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm)
        return Task {
            for await _ in signals {
                clock.reset()
                say("\nguild demo: interrupted; the simulated clock is back to the real time")
                Foundation.exit(130)
            }
        }
    }
}

/// Random choices that a seed repeats (SplitMix64).
struct SeededRandom: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &self) < probability }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }

    mutating func pick<T>(_ items: [T]) -> T? { items.randomElement(using: &self) }

    /// A key of `weights` drawn in proportion to its weight.
    mutating func weighted(_ weights: [(String, Double)]) -> String {
        let total = weights.reduce(0) { $0 + $1.1 }
        var point = Double.random(in: 0..<max(total, .leastNonzeroMagnitude), using: &self)
        for (key, weight) in weights {
            if point < weight { return key }
            point -= weight
        }
        return weights.last?.0 ?? ""
    }
}
