import ArgumentParser
import Dispatch
import Foundation
import GuildCore
import GuildService
import GuildWire
import NIOCore
import NIOPosix

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
        var environment = ProcessInfo.processInfo.environment
        environment["GUILD_DATA_DIR"] = dataDirectory.path
        environment["GUILD_CERTS_DIR"] = certificates.path
        environment["GUILD_LOG_LEVEL"] = common.logLevel
        environment["GUILD_LOG_FORMAT"] = common.logFormat.rawValue
        if let otlpEndpoint { environment["GUILD_OTLP_ENDPOINT"] = otlpEndpoint }
        // A process's own --metrics-listen comes from here, not from the environment.
        environment["GUILD_METRICS_LISTEN"] = nil

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
            metricsPorts: metricsPortList, databaseURLTemplate: databaseURLTemplate, clockFile: clockFile)
        let supervisor = Supervisor(host: host)
        supervisor.installSignalHandlers()
        for child in children {
            let executable = binaries.appendingPathComponent(child.executable)
            guard FileManager.default.isExecutableFile(atPath: executable.path) else {
                supervisor.stopAll(reason: nil)
                throw ValidationError("\(executable.path) not found; build first with `swift build`")
            }
            say("guild up: starting \(child.name), waiting for it to listen on \(host):\(child.readyPort)")
            let started = ContinuousClock.now
            try supervisor.start(child, executable: executable, environment: environment)
            guard await supervisor.waitUntilListening(child, timeout: .seconds(60)) else {
                supervisor.stopAll(reason: "\(child.name) did not start listening on port \(child.readyPort)")
                throw ExitCode.failure
            }
            say("guild up: \(child.name) is listening (\(Supervisor.seconds(ContinuousClock.now - started)))")
        }
        let gateways = (0..<replicas).map { "http://\(host):\(httpPort + $0)" }.joined(separator: " and ")
        say("guild up: Guild is running at \(gateways)  (data: \(databaseURLTemplate == nil ? dataDirectory.path : dataDirectory.path + ", databases " + databaseURLTemplate!); Ctrl-C stops)")
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
        metricsPorts: [Int]?, databaseURLTemplate: String?, clockFile: String
    ) -> [ChildSpec] {
        func endpoints(_ port: Int) -> String { (0..<replicas).map { "\(host):\(port + 10 * $0)" }.joined(separator: ",") }
        let (auth, membership, content, referral) = (endpoints(ports.auth), endpoints(ports.membership), endpoints(ports.content), endpoints(ports.referral))
        let clock = ["--simulated-clock", clockFile]
        func service(_ name: String, index: Int, port: Int, metrics: Int, arguments: [String]) -> ChildSpec {
            var all = ["--listen", "\(host):\(port + 10 * index)"] + arguments + clock
            if let metricsPorts { all += ["--metrics-listen", "\(host):\(metricsPorts[metrics] + 10 * index)"] }
            if let databaseURLTemplate { all += ["--database-url", databaseURLTemplate.replacingOccurrences(of: "{service}", with: name)] }
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
/// each time), gives up when one keeps dying, and stops them all together.
final class Supervisor: @unchecked Sendable {
    /// A child that dies this many times within `crashWindow` is not started again: the suite stops.
    static let maxCrashes = 5
    static let crashWindow: Duration = .seconds(60)
    /// The pause before the first restart; it doubles with each death inside the window, up to `maxBackoff`.
    static let firstBackoff: Duration = .milliseconds(500)
    static let maxBackoff: Duration = .seconds(8)

    // Every mutable field is guarded by `lock`; the class is shared with signal and termination
    // handlers that run on other threads, which is why it is @unchecked Sendable.
    private let lock = NSLock()
    private var processes: [(ChildSpec, Process)] = []
    private var isStopping = false
    private var exitStatus: Int32 = 0
    private var waiters: [CheckedContinuation<Int32, Never>] = []
    private var signalSources: [any DispatchSourceSignal] = []
    /// How to start each child again, and when it died lately.
    private var launches: [String: (executable: URL, environment: [String: String])] = [:]
    private var deaths: [String: [ContinuousClock.Instant]] = [:]
    private let host: String

    init(host: String) {
        self.host = host
    }

    func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                let name = signalNumber == SIGINT ? "SIGINT" : "SIGTERM"
                say("\nguild up: \(name) received; stopping every process")
                self?.stopAll(reason: nil)
            }
            source.resume()
            signalSources.append(source)
        }
    }

    func start(_ spec: ChildSpec, executable: URL, environment: [String: String]) throws {
        let process = Process()
        process.executableURL = executable
        process.arguments = spec.arguments
        process.environment = environment
        process.terminationHandler = { [weak self] finished in
            self?.childExited(spec, process: finished)
        }
        try process.run()
        lock.withLock {
            launches[spec.name] = (executable, environment)
            if let index = processes.firstIndex(where: { $0.0.name == spec.name }) {
                processes[index] = (spec, process)
            } else {
                processes.append((spec, process))
            }
        }
    }

    /// A child died: unless the suite is stopping, it is started again after a pause, or, when
    /// it died `maxCrashes` times within `crashWindow`, the suite stops.
    private func childExited(_ spec: ChildSpec, process: Process) {
        let why = process.terminationReason == .uncaughtSignal
            ? "was killed by signal \(process.terminationStatus)"
            : "exited with status \(process.terminationStatus)"
        let now = ContinuousClock.now
        let attempt: Int? = lock.withLock {
            guard !isStopping else { return nil }
            let recent = (deaths[spec.name] ?? []).filter { now - $0 < Self.crashWindow } + [now]
            deaths[spec.name] = recent
            return recent.count
        }
        guard let attempt else { return finishIfAllExited() }
        guard attempt < Self.maxCrashes else {
            stopAll(reason: "\(spec.name) \(why), the \(Self.maxCrashes)th time within \(Self.seconds(Self.crashWindow)); giving up (see its log above)")
            return finishIfAllExited()
        }
        let backoff = min(Self.firstBackoff * (1 << (attempt - 1)), Self.maxBackoff)
        say("guild up: \(spec.name) \(why); restarting it in \(Self.seconds(backoff)) (attempt \(attempt) of \(Self.maxCrashes - 1) within \(Self.seconds(Self.crashWindow)); see its log above)")
        Task {
            try? await Task.sleep(for: backoff)
            await self.restart(spec, attempt: attempt)
        }
    }

    private func restart(_ spec: ChildSpec, attempt: Int) async {
        guard let launch = lock.withLock({ isStopping ? nil : launches[spec.name] }) else { return finishIfAllExited() }
        do {
            try start(spec, executable: launch.executable, environment: launch.environment)
        } catch {
            return stopAll(reason: "\(spec.name) could not be started again: \(error)")
        }
        if await waitUntilListening(spec, timeout: .seconds(60)) {
            say("guild up: \(spec.name) is back (attempt \(attempt))")
        }
    }

    static func seconds(_ duration: Duration) -> String {
        let value = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return value < 10 ? String(format: "%.1f s", value) : "\(Int(value.rounded())) s"
    }

    /// Stops every child: SIGTERM, then SIGKILL for any still running after 10 seconds.
    func stopAll(reason: String?) {
        let running: [(ChildSpec, Process)] = lock.withLock {
            if isStopping { return [] }
            isStopping = true
            if reason != nil { exitStatus = 1 }
            return processes
        }
        if let reason { say("guild up: \(reason); stopping the rest") }
        // Stop in reverse start order: the gateway first, so no new requests reach the services.
        for (_, process) in running.reversed() where process.isRunning {
            kill(process.processIdentifier, SIGTERM)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + 10) {
            for (spec, process) in running where process.isRunning {
                say("guild up: \(spec.name) did not stop within 10 s; killing it")
                kill(process.processIdentifier, SIGKILL)
            }
        }
        finishIfAllExited()
    }

    private func finishIfAllExited() {
        let resumed: ([CheckedContinuation<Int32, Never>], Int32) = lock.withLock {
            guard isStopping, processes.allSatisfy({ !$0.1.isRunning }) else { return ([], 0) }
            let list = waiters
            waiters = []
            return (list, exitStatus)
        }
        for waiter in resumed.0 { waiter.resume(returning: resumed.1) }
    }

    /// Waits until every child has exited after a stop; returns guild up's exit status.
    func waitForExit() async -> Int32 {
        await withCheckedContinuation { continuation in
            lock.withLock { waiters.append(continuation) }
            finishIfAllExited()
        }
    }

    /// Polls the child's port until it accepts a TCP connection, the child exits, or time runs out.
    func waitUntilListening(_ spec: ChildSpec, timeout: Duration) async -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let alive = lock.withLock { !isStopping && processes.contains { $0.0.name == spec.name && $0.1.isRunning } }
            guard alive else { return false }
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
