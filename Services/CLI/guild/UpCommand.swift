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

    @Option(name: .customLong("bin-dir"), help: "Where the guild-* executables are (default: next to this one).")
    var binDirectory: String?

    func run() async throws {
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

        let authListen = "\(host):\(authPort)"
        let membershipListen = "\(host):\(membershipPort)"
        let contentListen = "\(host):\(contentPort)"
        let referralListen = "\(host):\(referralPort)"
        let gatewayListen = "\(host):\(httpPort)"
        // Every process reads "now" through the same file, so that `guild demo` can move the
        // whole suite's clock at once (absent file: the real time).
        let clockFile = common.simulatedClock ?? dataDirectory.appendingPathComponent("simulated-clock").path
        Self.warnIfClockMoved(clockFile)
        let clock = ["--simulated-clock", clockFile]
        let children = [
            ChildSpec(name: "guild-auth", arguments: ["--listen", authListen] + clock, readyPort: authPort),
            ChildSpec(name: "guild-membership", arguments: [
                "--listen", membershipListen, "--event-subscribers", "content=\(contentListen);referral=\(referralListen)",
            ] + clock, readyPort: membershipPort),
            ChildSpec(name: "guild-content", arguments: [
                "--listen", contentListen, "--membership", membershipListen, "--referral", referralListen,
                "--event-subscribers", "referral=\(referralListen)",
            ] + clock, readyPort: contentPort),
            ChildSpec(name: "guild-referral", arguments: [
                "--listen", referralListen, "--auth", authListen, "--membership", membershipListen, "--content", contentListen,
            ] + clock, readyPort: referralPort),
            ChildSpec(name: "guild-gateway", arguments: [
                "--listen", gatewayListen, "--auth", authListen, "--membership", membershipListen, "--content", contentListen,
                "--referral", referralListen,
            ] + clock, readyPort: httpPort),
        ]
        let supervisor = Supervisor(host: host)
        supervisor.installSignalHandlers()
        for child in children {
            let executable = binaries.appendingPathComponent(child.name)
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
        say("guild up: Guild is running at http://\(host):\(httpPort)  (data: \(dataDirectory.path); Ctrl-C stops)")
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
    let name: String
    let arguments: [String]
    let readyPort: Int
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
