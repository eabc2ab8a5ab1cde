import GuildCore
import Synchronization

/// Runs calls at the same moment, for tests of limits under concurrency: every call starts in
/// its own task, and none runs its body until all of them have started (a starting gate), so
/// they reach the service together and, on PostgreSQL, take separate connections of its pool.
public enum Race {
    /// Runs `body(0..<count)` at once and returns each call's outcome, in index order.
    public static func run<T: Sendable>(
        _ count: Int, _ body: @escaping @Sendable (Int) async throws -> T
    ) async -> [Result<T, any Error>] {
        let gate = StartingGate(count: count)
        return await withTaskGroup(of: (Int, Result<T, any Error>).self) { group in
            for index in 0..<count {
                group.addTask {
                    await gate.arrive()
                    do { return (index, .success(try await body(index))) } catch { return (index, .failure(error)) }
                }
            }
            var results = [Result<T, any Error>?](repeating: nil, count: count)
            for await (index, result) in group { results[index] = result }
            return results.map { $0! }
        }
    }
}

extension Array {
    /// The values of the calls that succeeded.
    public func successes<T, E>() -> [T] where Element == Result<T, E> {
        compactMap { if case .success(let value) = $0 { value } else { nil } }
    }

    /// The errors of the calls that failed.
    public func failures<T, E>() -> [E] where Element == Result<T, E> {
        compactMap { if case .failure(let error) = $0 { error } else { nil } }
    }

    /// How the failed calls were answered: "code/reason" for each Guild error (the reason may
    /// be empty), the error's description for anything else; sorted.
    public func refusals<T>() -> [String] where Element == Result<T, any Error> {
        failures().map { error in
            if let guild = error as? GuildError { "\(guild.code)/\(guild.reason ?? "")" } else { String(describing: error) }
        }.sorted()
    }
}

/// Holds every arriving task until `count` have arrived, then lets them all go.
final class StartingGate: Sendable {
    private let state: Mutex<(arrived: Int, waiting: [CheckedContinuation<Void, Never>])>
    private let count: Int

    init(count: Int) {
        self.count = count
        self.state = Mutex((0, []))
    }

    func arrive() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let release = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.arrived += 1
                state.waiting.append(continuation)
                guard state.arrived == count else { return [] }
                defer { state.waiting = [] }
                return state.waiting
            }
            for waiter in release { waiter.resume() }
        }
    }
}
