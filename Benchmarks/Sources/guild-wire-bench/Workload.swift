import Foundation

/// One cell of the benchmark matrix.
struct Workload: Sendable, CustomStringConvertible {
    var bodySize: Int
    var inFlight: Int
    var connections: Int

    var description: String {
        let size = bodySize >= 1024 ? "\(bodySize / 1024) KiB" : "\(bodySize) B"
        return "\(size), \(inFlight) in flight, \(connections) conn"
    }

    /// 64 B and 16 KiB bodies, 1 and 64 calls in flight, 1 and 4 connections.
    static let matrix: [Workload] = [64, 16 * 1024].flatMap { size in
        [1, 64].flatMap { inFlight in
            [1, 4].map { Workload(bodySize: size, inFlight: inFlight, connections: $0) }
        }
    }
}

/// A client of one of the three servers, over some connections: sends `payload`, returns the
/// echoed bytes' count.
protocol EchoClient: Sendable {
    func echo(_ payload: Data) async throws -> Int
    func close() async
}

/// What one workload measured.
struct Measurement: Sendable {
    var calls: Int
    var seconds: Double
    /// Latencies in nanoseconds, sorted.
    var latencies: [UInt64]
    var failure: String?

    var callsPerSecond: Double { seconds > 0 ? Double(calls) / seconds : 0 }

    /// Rounds of one cell taken together: the median round's rate, every round's latencies. A
    /// failed round fails the cell.
    static func median(of rounds: [Measurement]) -> Measurement {
        if let failed = rounds.first(where: { $0.failure != nil }) { return failed }
        let middle = rounds.sorted { $0.callsPerSecond < $1.callsPerSecond }[rounds.count / 2]
        return Measurement(
            calls: middle.calls, seconds: middle.seconds,
            latencies: rounds.flatMap(\.latencies).sorted())
    }

    func percentile(_ p: Double) -> Double {
        guard !latencies.isEmpty else { return .nan }
        let index = min(latencies.count - 1, Int((Double(latencies.count) * p).rounded(.up)) - 1)
        return Double(latencies[max(0, index)]) / 1000  // microseconds
    }
}

struct LengthMismatch: Error, CustomStringConvertible {
    let sent: Int
    let received: Int
    var description: String { "sent \(sent) bytes, got \(received) back" }
}

/// Runs `workload.inFlight` loops that each call, wait for the answer, and call again, for
/// `warmup` (not recorded) and then `duration` (recorded).
func measure(_ client: any EchoClient, workload: Workload, warmup: Duration, duration: Duration) async -> Measurement {
    var generator = SystemRandomNumberGenerator()
    // Random bytes: nothing along the way can shrink them.
    let payload = Data((0..<workload.bodySize).map { _ in UInt8.random(in: 0...255, using: &generator) })
    let clock = ContinuousClock()
    let start = clock.now
    let recordFrom = start + warmup
    let end = recordFrom + duration
    do {
        let samples = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for _ in 0..<workload.inFlight {
                group.addTask {
                    var samples: [UInt64] = []
                    samples.reserveCapacity(1 << 16)
                    while true {
                        let before = clock.now
                        if before >= end { break }
                        let received = try await client.echo(payload)
                        guard received == payload.count else { throw LengthMismatch(sent: payload.count, received: received) }
                        if before >= recordFrom {
                            let (seconds, attoseconds) = (before.duration(to: clock.now)).components
                            samples.append(UInt64(seconds) * 1_000_000_000 + UInt64(attoseconds / 1_000_000_000))
                        }
                    }
                    return samples
                }
            }
            var all: [UInt64] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = recordFrom.duration(to: clock.now).components
        let seconds = Double(elapsed.seconds) + Double(elapsed.attoseconds) / 1e18
        return Measurement(calls: samples.count, seconds: seconds, latencies: samples.sorted())
    } catch {
        return Measurement(calls: 0, seconds: 0, latencies: [], failure: "\(error)")
    }
}
