import GuildCore

/// Runs `operation` and gives up when `deadline` passes: the operation's task is cancelled and
/// the call fails with `deadlineExceeded`.
public func withDeadline<T: Sendable>(
    _ deadline: ContinuousClock.Instant,
    operation: @escaping @Sendable () async throws -> T
) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(until: deadline, clock: .continuous)
            return nil
        }
        defer { group.cancelAll() }
        // The first child to finish decides; a nil is the timer.
        guard let first = try await group.next(), let value = first else {
            throw GuildError(.deadlineExceeded, "The deadline passed before the call completed.")
        }
        return value
    }
}
