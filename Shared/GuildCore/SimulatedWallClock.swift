import Foundation
import Synchronization

/// A clock for development and demos: the real time moved by an offset read from a small file,
/// so that `guild demo` can build months of history in minutes while every process of the suite
/// agrees on "now".
///
/// The file holds the offset in milliseconds as text (`-15724800000`, negative for the past); a
/// missing or empty file means no offset. It is re-read at most every ``refreshInterval``, so a
/// change reaches every process within that long. Reading never fails: a file that cannot be read
/// or parsed (half written by a careless editor, say) keeps the last offset read. Writers should
/// use ``writeOffset(milliseconds:to:)``, which replaces the file atomically.
///
/// Production never uses it: only a process started with `--simulated-clock` (which `guild up`,
/// the development launcher, passes) reads the file, and only someone who can write the data
/// directory can move the clock.
public final class SimulatedWallClock: WallClock {
    /// The file the offset is read from.
    public let path: String
    /// The longest a read offset is reused before the file is read again.
    public let refreshInterval: Duration
    private let base: any WallClock
    private let cache = Mutex<(offsetMs: Int64, readAt: ContinuousClock.Instant?)>((0, nil))

    /// - Parameters:
    ///   - path: the offset file.
    ///   - refreshInterval: how long a read offset is reused (tests pass zero).
    ///   - base: the time the offset is added to (the real time; tests pass a manual clock).
    public init(path: String, refreshInterval: Duration = .milliseconds(50), base: any WallClock = SystemWallClock()) {
        self.path = path
        self.refreshInterval = refreshInterval
        self.base = base
    }

    public func now() -> Date {
        base.now().addingTimeInterval(Double(offsetMilliseconds()) / 1000)
    }

    /// The offset in effect, in milliseconds (re-read from the file when the cached one is older
    /// than ``refreshInterval``).
    public func offsetMilliseconds() -> Int64 {
        let instant = ContinuousClock.now
        let cached = cache.withLock { $0 }
        if let readAt = cached.readAt, instant - readAt < refreshInterval { return cached.offsetMs }
        // Read outside the lock: two threads may both read, and both store the same answer.
        let offset = Self.readOffset(at: path) ?? cached.offsetMs
        cache.withLock { $0 = (offset, instant) }
        return offset
    }

    /// The offset the file says: 0 when it is missing or empty, nil when it cannot be read or
    /// does not hold an integer.
    public static func readOffset(at path: String) -> Int64? {
        guard FileManager.default.fileExists(atPath: path) else { return 0 }
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else { return nil }
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.isEmpty { return 0 }
        return Int64(trimmed)
    }

    /// Replaces the file with `milliseconds` atomically (a temporary file renamed over it), so a
    /// reader sees the old offset or the new one, never half of one.
    public static func writeOffset(milliseconds: Int64, to path: String) throws {
        let url = URL(fileURLWithPath: path)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data("\(milliseconds)\n".utf8).write(to: url, options: .atomic)
    }
}
