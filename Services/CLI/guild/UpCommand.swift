import ArgumentParser
import Foundation
import GuildCore
import GuildService
import GuildWire
import NIOCore
import NIOPosix
import Subprocess
import Synchronization
import UnixSignals
#if canImport(System)
import System
#else
import SystemPackage
#endif

/// `guild up`: runs the whole suite on this machine as child processes.
struct UpCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "up",
        abstract: "Start every Guild process on this machine (SQLite data and certificates under the data directory).",
        discussion: """
            Ctrl-C or SIGTERM stops every process gracefully. If one process dies, guild up says which and why and starts it \
            again after a pause (0.5 s, doubling to 8 s); one that dies 5 times within a minute stops the suite.

            guild up is the development launcher: every process reads its clock through <data-dir>/simulated-clock (or \
            --simulated-clock), which `guild demo` moves to build months of history. Without the file the clock is the real \
            time. Production deployments start the guild-* executables themselves and never pass --simulated-clock.
            """
    )

    @OptionGroup var common: CommonOptions

    @Option(help: "Address every process listens on.")
    var host = "127.0.0.1"

    @Option(name: .customLong("http-port"), help: "Gateway HTTP port.")
    var httpPort = 8080

    @Option(name: .customLong("auth-port"), help: "Auth service wire port.")
    var authPort = 7101

    @Option(name: .customLong("membership-port"), help: "Membership service wire port.")
    var membershipPort = 7102

    @Option(name: .customLong("content-port"), help: "Content service wire port.")
    var contentPort = 7103

    @Option(name: .customLong("referral-port"), help: "Referral service wire port.")
    var referralPort = 7104

    @Option(name: .customLong("metrics-ports"), help: "The services' Prometheus metrics ports, auth,membership,content,referral, or off (the gateway serves /metrics on its HTTP port).")
    var metricsPorts = "9101,9102,9103,9104"

    @Option(name: .customLong("otlp-endpoint"), help: "Give every process this OTLP/HTTP collector for its trace spans (env GUILD_OTLP_ENDPOINT; default: none).")
    var otlpEndpoint: String? = ConfigEnvironment().string("GUILD_OTLP_ENDPOINT")

    @Option(help: "How many of each process to start (services and gateways). More than one needs PostgreSQL: --database-url-template.")
    var replicas = 1

    @Option(
        name: .customLong("database-url-template"),
        help: ArgumentHelp(
            "Each service's database URL, with {service} for its name, such as postgres://guild@127.0.0.1:5432/guild_{service} (default: SQLite files under the data directory).",
            discussion: "The databases must exist. Replica k (from 0) of a service listens on its port + 10·k, its metrics on its metrics port + 10·k, and gateway k on the HTTP port + k."))
    var databaseURLTemplate: String?

    @Option(name: .customLong("bin-dir"), help: "Where the guild-* executables are (default: next to this one).")
    var binDirectory: String?

    func run() async throws {
        guard (1...9).contains(replicas) else { throw ValidationError("--replicas must be 1 to 9") }
        if let template = databaseURLTemplate, !template.contains("{service}") {
            throw ValidationError("--database-url-template must contain {service}")
        }
        let onPostgres = databaseURLTemplate.map { $0.hasPrefix("postgres://") || $0.hasPrefix("postgresql://") } ?? false
        guard replicas == 1 || onPostgres else {
            throw ValidationError("SQLite allows one replica per database: --replicas \(replicas) needs PostgreSQL (--database-url-template postgres://…/guild_{service})")
        }
        let dataDirectory = URL(fileURLWithPath: common.dataDirectory).standardizedFileURL
        try FileManager.default.createDirectory(at: dataDirectory, withIntermediateDirectories: true)
        let certificates = URL(fileURLWithPath: common.resolvedCertificatesDirectory).standardizedFileURL
        let written = try CertificateStore.ensure(directory: certificates)
        if !written.isEmpty {
            say("guild up: created certificates in \(certificates.path)")
        }
        if try CertsCommand.ensureKeyEncryptionKey(in: certificates) {
            say("guild up: created the key that seals auth's signing keys in \(certificates.path)")
        }
        let binaries = URL(fileURLWithPath: binDirectory ?? Self.ownDirectory())
        // The children inherit guild up's environment, with these on top; a process's own
        // --metrics-listen comes from its arguments, not from the environment.
        var overrides: [Environment.Key: String?] = [
            "GUILD_DATA_DIR": dataDirectory.path,
            "GUILD_CERTS_DIR": certificates.path,
            "GUILD_LOG_LEVEL": common.logLevel,
            "GUILD_LOG_FORMAT": common.logFormat.rawValue,
            "GUILD_METRICS_LISTEN": nil,
        ]
        if let otlpEndpoint { overrides["GUILD_OTLP_ENDPOINT"] = otlpEndpoint }
        // Every process reads the same configuration file, and each service its database URL
        // from the environment, where a password does not show in `ps`.
        if let file = ConfigEnvironment.process.file {
            overrides["GUILD_CONFIG"] = URL(fileURLWithPath: file).standardizedFileURL.path
        }
        if let databaseURLTemplate {
            for service in [ServiceName.auth, .membership, .content, .referral] {
                overrides[Environment.Key(stringLiteral: ServiceRunner.databaseURLSetting(service))] = databaseURLTemplate.replacingOccurrences(of: "{service}", with: service.rawValue)
            }
        }
        let environment = Environment.inherit.updating(overrides)

        let metricsPortList = metricsPorts == "off" ? nil : metricsPorts.split(separator: ",").compactMap { Int($0) }
        guard metricsPortList == nil || metricsPortList?.count == 4 else {
            throw ValidationError("--metrics-ports must be four ports (auth,membership,content,referral) or off")
        }
        // Every process reads "now" through the same file, so that `guild demo` can move the
        // whole suite's clock at once (absent file: the real time).
        let clockFile = common.simulatedClock ?? dataDirectory.appendingPathComponent("simulated-clock").path
        Self.warnIfClockMoved(clockFile)
        let children = Self.children(
            host: host, replicas: replicas, httpPort: httpPort, ports: (authPort, membershipPort, contentPort, referralPort),
            metricsPorts: metricsPortList, clockFile: clockFile)
        for child in children where !FileManager.default.isExecutableFile(atPath: binaries.appendingPathComponent(child.executable).path) {
            throw ValidationError("\(binaries.appendingPathComponent(child.executable).path) not found; build first with `swift build`")
        }
        let supervisor = Supervisor(host: host)
        let signals = await supervisor.stopOnSignals()
        defer { signals.cancel() }
        for child in children {
            say("guild up: starting \(child.name), waiting for it to listen on \(host):\(child.readyPort)")
            let started = ContinuousClock.now
            supervisor.start(child, executable: binaries.appendingPathComponent(child.executable), environment: environment)
            guard await supervisor.waitUntilListening(child, timeout: .seconds(60)) else {
                if !supervisor.isStopping { supervisor.stop(reason: "\(child.name) did not start listening on port \(child.readyPort)") }
                break
            }
            say("guild up: \(child.name) is listening (\(Supervisor.seconds(ContinuousClock.now - started)))")
        }
        if !supervisor.isStopping {
            let gateways = (0..<replicas).map { "http://\(host):\(httpPort + $0)" }.joined(separator: " and ")
            say("guild up: Guild is running at \(gateways)  (data: \(databaseURLTemplate == nil ? dataDirectory.path : dataDirectory.path + ", databases " + Self.withoutPassword(databaseURLTemplate!)); Ctrl-C stops)")
        }
        let status = await supervisor.waitForExit()
        if status != 0 { throw ExitCode(status) }
    }

    /// Says so when the simulated clock file holds an offset (a `guild demo` that was killed
    /// before it could put the clock back): every process would start in the past or future.
    static func warnIfClockMoved(_ path: String) {
        guard let offset = SimulatedWallClock.readOffset(at: path), offset != 0 else { return }
        let days = Double(offset) / 86_400_000
        say("guild up: the simulated clock in \(path) is \(String(format: "%+.1f", days)) days off the real time; delete the file (or write 0 in it) to use the real time")
    }

    /// A database URL as it may be printed: `postgres://guild:secret@host/db` as `postgres://guild:***@host/db`.
    static func withoutPassword(_ url: String) -> String {
        url.replacing(/:\/\/([^:@\/]*):[^@\/]*@/) { "://\($0.1):***@" }
    }

    static func ownDirectory() -> String {
        let path = CommandLine.arguments[0]
        let resolved = path.contains("/") ? path : (Bundle.main.executablePath ?? path)
        return (URL(fileURLWithPath: resolved).resolvingSymlinksInPath().deletingLastPathComponent().path)
    }
}

struct ChildSpec: Sendable {
    /// How guild up names it: the executable, with the replica's number when there are several.
    let name: String
    let executable: String
    let arguments: [String]
    let readyPort: Int

    init(name: String, executable: String? = nil, arguments: [String], readyPort: Int) {
        self.name = name
        self.executable = executable ?? name
        self.arguments = arguments
        self.readyPort = readyPort
    }
}

extension UpCommand {
    /// The processes to start, in order: each service's replicas (auth, membership, content,
    /// referral), then the gateways; every process knows every replica of the services it calls
    /// or sends events to.
    static func children(
        host: String, replicas: Int, httpPort: Int, ports: (auth: Int, membership: Int, content: Int, referral: Int),
        metricsPorts: [Int]?, clockFile: String
    ) -> [ChildSpec] {
        func endpoints(_ port: Int) -> String { (0..<replicas).map { "\(host):\(port + 10 * $0)" }.joined(separator: ",") }
        let (auth, membership, content, referral) = (endpoints(ports.auth), endpoints(ports.membership), endpoints(ports.content), endpoints(ports.referral))
        let clock = ["--simulated-clock", clockFile]
        func service(_ name: String, index: Int, port: Int, metrics: Int, arguments: [String]) -> ChildSpec {
            var all = ["--listen", "\(host):\(port + 10 * index)"] + arguments + clock
            if let metricsPorts { all += ["--metrics-listen", "\(host):\(metricsPorts[metrics] + 10 * index)"] }
            return ChildSpec(name: replicas == 1 ? "guild-\(name)" : "guild-\(name)-\(index + 1)", executable: "guild-\(name)", arguments: all, readyPort: port + 10 * index)
        }
        var children: [ChildSpec] = []
        for index in 0..<replicas { children.append(service("auth", index: index, port: ports.auth, metrics: 0, arguments: [])) }
        for index in 0..<replicas {
            children.append(service("membership", index: index, port: ports.membership, metrics: 1, arguments: [
                "--event-subscribers", "content=\(content);referral=\(referral)",
            ]))
        }
        for index in 0..<replicas {
            children.append(service("content", index: index, port: ports.content, metrics: 2, arguments: [
                "--membership", membership, "--referral", referral, "--event-subscribers", "referral=\(referral)",
            ]))
        }
        for index in 0..<replicas {
            children.append(service("referral", index: index, port: ports.referral, metrics: 3, arguments: [
                "--auth", auth, "--membership", membership, "--content", content,
            ]))
        }
        for index in 0..<replicas {
            children.append(ChildSpec(
                name: replicas == 1 ? "guild-gateway" : "guild-gateway-\(index + 1)", executable: "guild-gateway",
                arguments: ["--listen", "\(host):\(httpPort + index)", "--auth", auth, "--membership", membership, "--content", content, "--referral", referral] + clock,
                readyPort: httpPort + index))
        }
        return children
    }
}

/// Starts child processes, watches them, restarts one that dies (after a pause that doubles
/// each time), gives up when one keeps dying, and stops them all together: the gateways first,
/// so that no new request reaches a service that is stopping, then the services.
///
/// Each child is supervised by a task of its own that runs it with swift-subprocess, again and
/// again while it dies; stopping a child is cancelling its task, which swift-subprocess answers
/// with the teardown below (SIGTERM, then SIGKILL after `stopTimeout`). Every child runs in a
/// process group of its own, so a Ctrl-C at the terminal reaches guild up alone, which then
/// stops the children in that order.
final class Supervisor: Sendable {
    /// A child that dies this many times within `crashWindow` is not started again: the suite stops.
    static let maxCrashes = 5
    static let crashWindow: Duration = .seconds(60)
    /// The pause before the first restart; it doubles with each death inside the window, up to `maxBackoff`.
    static let firstBackoff: Duration = .milliseconds(500)
    static let maxBackoff: Duration = .seconds(8)
    /// How long a child has to stop after SIGTERM before it gets SIGKILL.
    static let stopTimeout: Duration = .seconds(10)

    private enum ChildStatus {
        case starting, running, down
    }

    private struct State {
        var isStopping = false
        var failure: String?
        var status: [String: ChildStatus] = [:]
        var supervised: [(spec: ChildSpec, task: Task<Void, Never>)] = []
        var finished = false
        var waiters: [CheckedContinuation<Int32, Never>] = []
    }

    private let state = Mutex(State())
    private let host: String

    init(host: String) {
        self.host = host
    }

    /// Stops the suite on the first SIGINT, SIGTERM or SIGHUP (ServiceLifecycle's
    /// `UnixSignalsSequence`, which also keeps the signals from killing guild up itself). SIGHUP
    /// counts because the children, in groups of their own, no longer get the terminal's hang-up.
    func stopOnSignals() async -> Task<Void, Never> {
        let signals = await UnixSignalsSequence(trapping: .sigint, .sigterm, .sighup)
        return Task {
            for await signal in signals {
                say("\nguild up: \(signal) received; stopping every process")
                self.stop(reason: nil)
                return
            }
        }
    }

    /// Starts `spec` under supervision; it runs until the suite stops.
    func start(_ spec: ChildSpec, executable: URL, environment: Environment) {
        state.withLock { state in
            guard !state.isStopping else { return }
            state.status[spec.name] = .starting
            let task = Task { await self.supervise(spec, executable: executable, environment: environment) }
            state.supervised.append((spec, task))
        }
    }

    /// Runs the child, and runs it again each time it dies, until its task is cancelled or it
    /// died `maxCrashes` times within `crashWindow` (then the suite stops).
    private func supervise(_ spec: ChildSpec, executable: URL, environment: Environment) async {
        var deaths: [ContinuousClock.Instant] = []
        while true {
            let status: TerminationStatus
            state.withLock { $0.status[spec.name] = .starting }
            do {
                async let announced: Void = announceWhenBack(spec, attempt: deaths.count)
                status = try await runOnce(spec, executable: executable, environment: environment)
                await announced
            } catch {
                if !Task.isCancelled { stop(reason: "\(spec.name) could not be started: \(error)") }
                return
            }
            if Task.isCancelled || state.withLock({ $0.isStopping }) {
                if status == .signaled(SIGKILL) { say("guild up: \(spec.name) did not stop within \(Self.seconds(Self.stopTimeout)) of SIGTERM; it was killed") }
                return
            }
            let why = Self.describe(status)
            let now = ContinuousClock.now
            deaths = deaths.filter { now - $0 < Self.crashWindow } + [now]
            let attempt = deaths.count
            guard attempt < Self.maxCrashes else {
                return stop(reason: "\(spec.name) \(why), the \(Self.maxCrashes)th time within \(Self.seconds(Self.crashWindow)); giving up (see its log above)")
            }
            let backoff = min(Self.firstBackoff * (1 << (attempt - 1)), Self.maxBackoff)
            say("guild up: \(spec.name) \(why); restarting it in \(Self.seconds(backoff)) (attempt \(attempt) of \(Self.maxCrashes - 1) within \(Self.seconds(Self.crashWindow)); see its log above)")
            do { try await Task.sleep(for: backoff) } catch { return }
        }
    }

    /// One run of the child, from spawn to exit; cancelling the calling task stops it.
    private func runOnce(_ spec: ChildSpec, executable: URL, environment: Environment) async throws -> TerminationStatus {
        var options = PlatformOptions()
        options.processGroupID = 0
        options.teardownSequence = [.gracefulShutDown(allowedDurationToNextStep: Self.stopTimeout)]
        defer { state.withLock { $0.status[spec.name] = .down } }
        let result = try await Subprocess.run(
            .path(FilePath(executable.path)), arguments: Arguments(spec.arguments), environment: environment,
            platformOptions: options, input: .none, output: .currentStandardOutput, error: .currentStandardError
        ) { _ in
            self.state.withLock { $0.status[spec.name] = .running }
        }
        return result.terminationStatus
    }

    private func announceWhenBack(_ spec: ChildSpec, attempt: Int) async {
        guard attempt > 0 else { return }
        if await waitUntilListening(spec, timeout: .seconds(60)) {
            say("guild up: \(spec.name) is back (attempt \(attempt))")
        }
    }

    static func describe(_ status: TerminationStatus) -> String {
        switch status {
        case .signaled(let signal): "was killed by signal \(signal)"
        case .exited(let code): "exited with status \(code)"
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return value < 10 ? String(format: "%.1f s", value) : "\(Int(value.rounded())) s"
    }

    /// Stops the suite (once): the gateways, then the services; `reason` makes guild up exit 1.
    func stop(reason: String?) {
        let supervised: [(spec: ChildSpec, task: Task<Void, Never>)]? = state.withLock { state in
            guard !state.isStopping else { return nil }
            state.isStopping = true
            state.failure = reason
            return state.supervised
        }
        guard let supervised else { return }
        if let reason { say("guild up: \(reason); stopping the rest") }
        Task {
            let (gateways, services) = (supervised.filter { $0.spec.executable == "guild-gateway" }, supervised.filter { $0.spec.executable != "guild-gateway" })
            for group in [gateways, services] {
                for child in group { child.task.cancel() }
                for child in group { await child.task.value }
            }
            let (waiters, status) = state.withLock { state in
                state.finished = true
                defer { state.waiters = [] }
                return (state.waiters, Int32(state.failure == nil ? 0 : 1))
            }
            for waiter in waiters { waiter.resume(returning: status) }
        }
    }

    /// Waits until the suite has stopped and every child has exited; returns guild up's exit status.
    func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            let status: Int32? = state.withLock { state in
                guard state.finished else {
                    state.waiters.append(continuation)
                    return nil
                }
                return state.failure == nil ? 0 : 1
            }
            if let status { continuation.resume(returning: status) }
        }
    }

    var isStopping: Bool { state.withLock { $0.isStopping } }

    /// Polls the child's port until it accepts a TCP connection, the child exits, or time runs out.
    func waitUntilListening(_ spec: ChildSpec, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let alive = state.withLock { !$0.isStopping && $0.status[spec.name] != .down }
            guard alive, !Task.isCancelled else { return false }
            if let channel = try? await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .connectTimeout(.milliseconds(200))
                .connect(host: host, port: spec.readyPort).get() {
                // A port in the ephemeral range that nothing listens on yet can "accept" a
                // connection from itself (TCP simultaneous open: the kernel picked the same port
                // as the source). That is not the child listening.
                let selfConnected = channel.localAddress?.port == spec.readyPort && channel.remoteAddress?.port == spec.readyPort
                try? await channel.close()
                if !selfConnected { return true }
            }
            try? await Task.sleep(for: .milliseconds(100))
        }
        return false
    }
}

/// Writes a line to standard output at once (unbuffered), so it interleaves correctly with the
/// children's logs.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}
