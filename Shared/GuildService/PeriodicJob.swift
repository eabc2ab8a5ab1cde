import CoreMetrics
import Foundation
import GuildCore
import GuildStorage
import Logging
import ServiceLifecycle

/// Runs a piece of work every `interval` until graceful shutdown: sweeps, expiries, outbox
/// relays. A failing run is logged and retried at the next tick; it never stops the process.
///
/// With a ``JobLease`` (a service with replicas over one database), the job ticks every
/// ``leaseRenewal`` (or its interval, when shorter): each tick takes or renews the lease, and
/// the holder runs the work once the interval since the job's last run (by any replica) is over.
/// The others stand by; one takes over within the lease's 15 seconds when the holder dies, and
/// the lease is given up on graceful shutdown.
///
/// Each run is counted (`guild_job_runs_total{job, outcome="ok"|"error"}`) and timed
/// (`guild_job_duration_seconds{job}`); `guild_job_lease_held{job}` says whether this process
/// runs the job (1) or stands by (0).
public struct PeriodicJob: Service {
    public let name: String
    public let interval: Duration
    let logger: Logger
    let work: @Sendable () async throws -> Void
    private let succeeded: Counter
    private let failed: Counter
    private let duration: CoreMetrics.Timer
    private let lease: JobLease?
    private let leaseHeld: Gauge

    public init(
        name: String, every interval: Duration, lease: JobLease? = nil, logger: Logger, metrics factory: any MetricsFactory = MetricsSystem.factory,
        work: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.lease = lease
        leaseHeld = Gauge(label: "guild_job_lease_held", dimensions: [("job", name)], factory: factory)
        self.interval = interval
        self.logger = logger
        self.work = work
        succeeded = Counter(label: "guild_job_runs_total", dimensions: [("job", name), ("outcome", "ok")], factory: factory)
        failed = Counter(label: "guild_job_runs_total", dimensions: [("job", name), ("outcome", "error")], factory: factory)
        duration = CoreMetrics.Timer(label: "guild_job_duration_seconds", dimensions: [("job", name)], preferredDisplayUnit: .seconds, factory: factory)
    }

    /// A job one replica at a time runs, under a lease in `database` (its `job_leases` table).
    public static func leased(
        name: String, every interval: Duration, database: Database, logger: Logger, work: @escaping @Sendable () async throws -> Void
    ) -> PeriodicJob {
        let lease = JobLease(database: database, name: name, duration: leaseDuration)
        return PeriodicJob(name: name, every: interval, lease: lease, logger: logger, work: work)
    }

    /// How often a leased job renews its lease, and how long the lease holds unrenewed.
    public static let leaseRenewal: Duration = .seconds(5)
    public static let leaseDuration: Duration = .seconds(15)

    /// The time between two ticks.
    var tick: Duration { lease == nil ? interval : min(interval, Self.leaseRenewal) }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await runOnce()
                try await Task.sleep(for: tick)
            }
        }
        if let lease { try? await lease.release() }
    }

    /// One tick: under a lease, take or renew it and run the work if this process holds it and
    /// the interval since the last run is over; otherwise run the work. Returns whether the work
    /// ran and succeeded; a cancelled run throws `CancellationError` (and counts as neither).
    @discardableResult
    public func runOnce() async throws -> Bool {
        if let lease {
            do {
                let lastRun = try await lease.acquire()
                leaseHeld.record(lastRun == nil ? 0 : 1)
                guard let lastRun, Date().millisecondsSince1970 - lastRun >= interval.wholeMilliseconds else { return false }
                try await lease.recordRun()
            } catch let error as CancellationError {
                throw error
            } catch {
                failed.increment()
                logger.error("periodic job could not take its lease", metadata: ["job": "\(name)", "error": "\(error)"])
                return false
            }
        }
        let started = ContinuousClock.now
        do {
            try await work()
            duration.recordNanoseconds((ContinuousClock.now - started).wholeNanoseconds)
            succeeded.increment()
            return true
        } catch let error as CancellationError {
            throw error
        } catch {
            duration.recordNanoseconds((ContinuousClock.now - started).wholeNanoseconds)
            failed.increment()
            logger.error("periodic job failed", metadata: ["job": "\(name)", "error": "\(error)"])
            return false
        }
    }
}
