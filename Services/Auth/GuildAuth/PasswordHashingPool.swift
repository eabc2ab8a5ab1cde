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
    /// - Throws: `unavailable` (reason `hashing_saturated`, retry after 1 s) when the pool is full.
    public func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        let now = admitted.add(1, ordering: .acquiring).newValue
        defer { admitted.subtract(1, ordering: .releasing) }
        guard now <= concurrency + queueDepth else {
            throw GuildError(.unavailable, "The server is busy checking passwords; try again shortly.", retryAfterSeconds: 1, reason: "hashing_saturated")
        }
        return try await threadPool.runIfActive(work)
    }

    /// Stops the threads.
    public func shutdown() async {
        try? await threadPool.shutdownGracefully()
    }
}
