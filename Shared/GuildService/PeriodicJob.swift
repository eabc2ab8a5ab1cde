import Logging
import ServiceLifecycle

/// Runs a piece of work every `interval` until graceful shutdown: sweeps, expiries, outbox
/// relays. A failing run is logged and retried at the next tick; it never stops the process.
public struct PeriodicJob: Service {
    public let name: String
    public let interval: Duration
    let logger: Logger
    let work: @Sendable () async throws -> Void

    public init(name: String, every interval: Duration, logger: Logger, work: @escaping @Sendable () async throws -> Void) {
        self.name = name
        self.interval = interval
        self.logger = logger
        self.work = work
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await work()
                } catch is CancellationError {
                    return
                } catch {
                    logger.error("periodic job failed", metadata: ["job": "\(name)", "error": "\(error)"])
                }
                try await Task.sleep(for: interval)
            }
        }
    }
}
