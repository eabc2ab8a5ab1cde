import ArgumentParser
import Foundation
import GuildCore
import GuildWire
import Logging
import Metrics
import Prometheus

@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "guild-wire-bench",
        abstract: "Calls per second and latency of Guild's wire protocol, grpc-swift 2 and a bare TLS echo.",
        subcommands: [Run.self, Serve.self, Profile.self],
        defaultSubcommand: Run.self)
}

/// The three things measured.
enum Kind: String, CaseIterable, ExpressibleByArgument, Sendable {
    case guild, grpc, echo

    var title: String {
        switch self {
        case .guild: "Guild"
        case .grpc: "gRPC"
        case .echo: "TLS echo"
        }
    }
}

extension Kind {
    /// A client of this kind's server over `connections` connections.
    func client(port: Int, connections: Int, certificates: String) async throws -> any EchoClient {
        var logger = Logger(label: "bench-client")
        logger.logLevel = .warning
        return switch self {
        case .guild: try GuildTarget.Client(port: port, connections: connections, certificates: certificates, logger: logger)
        case .grpc: try GRPCTarget.Client(port: port, connections: connections, certificates: certificates)
        case .echo: try await EchoTarget.Client(port: port, connections: connections, certificates: certificates)
        }
    }
}

/// A CA and the bench-server and bench-client certificates in a temporary directory, removed
/// when the value goes.
final class BenchCertificates {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("guild-bench-\(getpid())")
    var path: String { directory.path }

    init() throws {
        try CertificateStore.ensure(directory: directory, services: [GuildTarget.server, GuildTarget.client])
    }

    deinit { try? FileManager.default.removeItem(at: directory) }
}

/// The server side, in a process of its own: prints `port N`, serves until its stdin closes.
struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Serve one kind (started by `run`).")

    @Option var kind: Kind
    @Option(help: "Directory with ca.pem and the bench-server certificate.") var certificates: String

    func run() async throws {
        var logger = Logger(label: "bench-\(kind.rawValue)")
        logger.logLevel = .info
        // Metrics on: a real registry behind swift-metrics, as a deployment with /metrics has.
        MetricsSystem.bootstrap(PrometheusMetricsFactory())
        let (port, serve) = switch kind {
        case .guild: try await GuildTarget.serve(certificates: certificates, logger: logger)
        case .grpc: try await GRPCTarget.serve(certificates: certificates)
        case .echo: try await EchoTarget.serve(certificates: certificates)
        }
        say("port \(port)")
        // The parent holds our stdin; when it goes (or dies), so do we.
        Thread.detachNewThread {
            while FileHandle.standardInput.availableData.count > 0 {}
            Foundation.exit(0)
        }
        try await serve()
    }
}

/// Starts the servers, runs every workload against each, prints the table.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the benchmark (the default).")

    @Option(help: "Seconds measured per workload, kind and round.") var duration: Double = 3
    @Option(help: "Rounds per workload; the kinds take turns in each, and the median round counts (this machine is noisy).") var rounds = 5
    @Option(help: "Seconds of warm-up (not measured) before each.") var warmup: Double = 1
    @Option(parsing: .upToNextOption, help: "Kinds to run.") var kinds: [Kind] = Kind.allCases
    @Option(help: "Only workloads whose description contains this (e.g. '64 B').") var filter: String?

    func run() async throws {
        let certificates = try BenchCertificates()

        var servers: [Kind: ServerProcess] = [:]
        for kind in kinds {
            servers[kind] = try ServerProcess(kind: kind, certificates: certificates.path)
        }
        defer { for server in servers.values { server.stop() } }

        let workloads = Workload.matrix.filter { filter.map($0.description.contains) ?? true }
        printHeader()
        var rows: [(Workload, Cell)] = []
        for workload in workloads {
            var runs: [Kind: [Measurement]] = [:]
            for _ in 0..<max(1, rounds) {
                for kind in kinds {
                    let client = try await kind.client(port: servers[kind]!.port, connections: workload.connections, certificates: certificates.path)
                    runs[kind, default: []].append(await measure(client, workload: workload, warmup: .seconds(warmup), duration: .seconds(duration)))
                    await client.close()
                }
            }
            let cell = Cell(rounds: runs)
            printRow(workload, cell)
            rows.append((workload, cell))
        }
        printVerdict(rows)
    }

    func printHeader() {
        say("Guild wire benchmark: mutual TLS 1.3 over loopback, client and servers in separate processes")
        say("\(ProcessInfo.processInfo.activeProcessorCount) cores; per cell \(rounds) rounds of \(warmup) s warm-up + \(duration) s measured, the kinds taking turns;")
        say("calls/s: the median round; latency in µs (p50 / p99 / p999) over every call of every round;")
        say("×gRPC and ÷ceiling: the median over rounds of Guild's calls/s over the other kind's in the same round")
        say("")
        var header = "workload".padding(toLength: 32, withPad: " ", startingAt: 0)
        for kind in kinds { header += " | " + "\(kind.title) calls/s".leftPad(17) + " " + "p50/p99/p999".leftPad(21) }
        if kinds.contains(.guild) {
            if kinds.contains(.grpc) { header += " | ×gRPC" }
            if kinds.contains(.echo) { header += " | ÷ceiling" }
        }
        say(header)
        say(String(repeating: "-", count: header.count))
    }

    func printRow(_ workload: Workload, _ cell: Cell) {
        let results = cell.medians
        var line = workload.description.padding(toLength: 32, withPad: " ", startingAt: 0)
        for kind in kinds {
            let m = results[kind]!
            if let failure = m.failure {
                line += " | " + "FAILED: \(failure)".prefix(39).description.leftPad(39)
                continue
            }
            let latency = String(format: "%.0f / %.0f / %.0f", m.percentile(0.5), m.percentile(0.99), m.percentile(0.999))
            line += " | " + String(format: "%.0f", m.callsPerSecond).leftPad(17) + " " + latency.leftPad(21)
        }
        if let times = cell.guildOver(.grpc) { line += " | " + String(format: "%.1f", times).leftPad(5) }
        if let share = cell.guildOver(.echo) { line += " | " + String(format: "%.2f", share).leftPad(8) }
        say(line)
    }

    /// The targets: at least 5× gRPC's calls/s, at least half the ceiling, a lower p99 than gRPC.
    func printVerdict(_ rows: [(Workload, Cell)]) {
        guard kinds.count == Kind.allCases.count else { return }
        var misses: [String] = []
        for (workload, cell) in rows {
            let results = cell.medians
            let (guild, grpc) = (results[.guild]!, results[.grpc]!)
            if !(cell.guildOver(.grpc)! >= 5) { misses.append("\(workload): under 5× gRPC") }
            if !(cell.guildOver(.echo)! >= 0.5) { misses.append("\(workload): under half the ceiling") }
            if !(guild.percentile(0.99) < grpc.percentile(0.99)) { misses.append("\(workload): p99 not below gRPC's") }
        }
        say("")
        if misses.isEmpty {
            say("targets met on every workload: ≥5× gRPC, ≥½ ceiling, p99 below gRPC")
        } else {
            say("targets missed:")
            for miss in misses { say("  - \(miss)") }
        }
    }
}

/// The rounds of one workload, by kind.
struct Cell {
    let rounds: [Kind: [Measurement]]

    /// Each kind's rounds taken together (``Measurement/median(of:)``).
    var medians: [Kind: Measurement] { rounds.mapValues(Measurement.median) }

    /// Guild's calls/s over `other`'s, round by round, and the median of those ratios: the kinds
    /// take turns within a round, so a round's ratio compares the two under the same load on
    /// this shared machine, whose speed drifts between rounds (nil when either failed).
    func guildOver(_ other: Kind) -> Double? {
        guard let guild = rounds[.guild], let others = rounds[other], guild.count == others.count,
              !(guild + others).contains(where: { $0.failure != nil }) else { return nil }
        let ratios = zip(guild, others).map { $0.callsPerSecond / $1.callsPerSecond }.sorted()
        return ratios[ratios.count / 2]
    }
}

/// Prints a line at once (stdout may be a pipe).
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

extension String {
    func leftPad(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// Runs a fixed number of calls against one server, which may run under a profiler (`perf
/// record`, or valgrind where it can load the binary): the same work every time, for profiles
/// that compare. See docs/performance.md.
struct Profile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Make a fixed number of calls to one server, for a profiler.")

    @Option var kind: Kind = .guild
    @Option(help: "Calls to make after the warm-up.") var calls = 20_000
    @Option(help: "Calls to make first (connection set-up, caches).") var warmupCalls = 1_000
    @Option(help: "Body size in bytes.") var bodySize = 64
    @Option(help: "Calls in flight.") var inFlight = 1
    @Option(help: "Command the server runs under, e.g. 'perf record -e cpu-clock -g -o server.data'.") var wrapper: String?

    func run() async throws {
        let certificates = try BenchCertificates()
        let server = try ServerProcess(kind: kind, certificates: certificates.path, wrapper: wrapper?.split(separator: " ").map(String.init) ?? [])
        defer { server.stop() }
        let client = try await kind.client(port: server.port, connections: 1, certificates: certificates.path)
        let payload = Data(repeating: 0x5A, count: bodySize)
        for count in [warmupCalls, calls] {
            let started = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<inFlight {
                    group.addTask {
                        for _ in stride(from: worker, to: count, by: inFlight) { _ = try await client.echo(payload) }
                    }
                }
                try await group.waitForAll()
            }
            say("\(count) calls in \(ContinuousClock.now - started)")
        }
        await client.close()
    }
}

/// A `serve` child process.
final class ServerProcess {
    let process = Process()
    let input = Pipe()
    let port: Int

    init(kind: Kind, certificates: String, wrapper: [String] = []) throws {
        let output = Pipe()
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        let command = wrapper + [executable, "serve", "--kind", kind.rawValue, "--certificates", certificates]
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = command
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(UInt8(ascii: "\n")) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { throw ValidationError("the \(kind) server exited before listening") }
            line += chunk
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let port = Int(text.split(separator: "\n")[0].dropFirst("port ".count)) else {
            throw ValidationError("the \(kind) server said \(text)")
        }
        self.port = port
    }

    /// Closes the server's stdin, so that it exits on its own (a profiler then writes its
    /// figures); after ten seconds, terminates it.
    func stop() {
        try? input.fileHandleForWriting.close()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
    }
}
