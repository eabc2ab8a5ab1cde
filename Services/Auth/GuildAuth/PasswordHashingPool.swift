import GuildCore
import NIOPosix
import Synchronization

/// Runs password hashing on its own threads, never on event loops or the cooperative pool, with a
/// hard bound: at most `concurrency` hashes run at once (each may take 128 MiB), at most
/// `queueDepth` more wait, and anything beyond is refused at once with `unavailable` and a
/// retry-after, so a burst of logins neither exhausts memory nor stalls other requests.
public final class PasswordHashingPool: Sendable {
    public let concurrency: Int
    public let queueDepth: Int
    private let threadPool: NIOThreadPool
    private let admitted = Atomic<Int>(0)
    /// Moving average of how long a job takes, in nanoseconds (0 until the first job ran).
    private let typicalNanoseconds = Atomic<Int64>(0)

    public init(concurrency: Int = System.coreCount, queueDepth: Int? = nil) {
        precondition(concurrency > 0)
        self.concurrency = concurrency
        self.queueDepth = queueDepth ?? concurrency * 2
        self.threadPool = NIOThreadPool(numberOfThreads: concurrency)
        threadPool.start()
    }

    /// The number of jobs running or waiting.
    public var load: Int { admitted.load(ordering: .relaxed) }

    /// Runs `work` on a hashing thread.
    ///
    /// Work is refused at once, rather than queued to fail later, when the pool is full or when
    /// the request's deadline (``RequestDeadline``) would pass before the job's turn came and it
    /// ran, judging by how long recent jobs took.
    /// - Throws: `unavailable` (reason `hashing_saturated`, retry after 1 s or more).
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let position = admitted.add(1, ordering: .acquiring).newValue
        defer { admitted.subtract(1, ordering: .releasing) }
        let typical = Duration.nanoseconds(typicalNanoseconds.load(ordering: .relaxed))
        // Jobs ahead of this one run `concurrency` at a time; then this one runs.
        let expectedWait = typical * ((position - 1) / concurrency + 1)
        let missesDeadline = RequestDeadline.remaining.map { expectedWait > $0 } ?? false
        guard position <= concurrency + queueDepth, !missesDeadline else {
            let seconds = max(1, Int((typical * max(1, (position - concurrency) / concurrency)).components.seconds) + 1)
            throw GuildError(.unavailable, "The server is busy checking passwords; try again shortly.",
                             retryAfterSeconds: UInt32(seconds), reason: "hashing_saturated")
        }
        let started = ContinuousClock.now
        let result = try await threadPool.runIfActive(work)
        record(ContinuousClock.now - started)
        return result
    }

    /// Keeps a moving average of job durations (weight 1/4 for the newest).
    private func record(_ duration: Duration) {
        let sample = duration.wholeNanoseconds
        let old = typicalNanoseconds.load(ordering: .relaxed)
        typicalNanoseconds.store(old == 0 ? sample : (old * 3 + sample) / 4, ordering: .relaxed)
    }

    /// Stops the threads.
    public func shutdown() async {
        try? await threadPool.shutdownGracefully()
    }
}
