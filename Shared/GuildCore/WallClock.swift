import Foundation
import Synchronization

/// Where services read the current time. Production uses ``SystemWallClock``; tests use
/// ``ManualWallClock`` to move time on purpose.
public protocol WallClock: Sendable {
    /// The current instant.
    func now() -> Date
}

/// The machine's real time.
public struct SystemWallClock: WallClock {
    public init() {}
    public func now() -> Date { Date() }
}

/// A clock that only moves when told to, for tests of expiry and windows.
public final class ManualWallClock: WallClock {
    private let current: Mutex<Date>

    public init(_ start: Date = Date(timeIntervalSince1970: 1_767_225_600)) {
        self.current = Mutex(start)
    }

    public func now() -> Date { current.withLock { $0 } }

    /// Moves the clock forward by the given number of seconds.
    public func advance(by seconds: TimeInterval) {
        current.withLock { $0 = $0.addingTimeInterval(seconds) }
    }

    /// Moves the clock to `date` (forward or back).
    public func set(_ date: Date) {
        current.withLock { $0 = date }
    }
}
