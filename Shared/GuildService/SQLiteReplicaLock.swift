import ArgumentParser
import Foundation
import GuildCore
import GuildStorage

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One replica per SQLite database: a service process holds an exclusive lock on
/// `<database>.replica-lock` while it runs, and a second process started on the same file says
/// why it cannot start instead of sharing it (SQLite has one writer and no cross-process
/// leases here; replicas need PostgreSQL). The lock goes with the process, however it ends.
public enum SQLiteReplicaLock {
    /// Locks the replica file of `configuration` when it is SQLite; keeps the descriptor open
    /// for the life of the process. Throws when another process holds it.
    static func acquire(_ configuration: DatabaseConfiguration, service: ServiceName) throws {
        guard case .sqlite(let path) = configuration else { return }
        let lockPath = path + ".replica-lock"
        try FileManager.default.createDirectory(atPath: (lockPath as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw ValidationError("cannot open \(lockPath): \(String(cString: strerror(errno)))")
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw ValidationError("""
                another guild-\(service.rawValue) already serves \(path): SQLite allows one replica per database. \
                To run several replicas, give each the same PostgreSQL database (--database-url postgres://…).
                """)
        }
        // Held until the process exits: the descriptor is deliberately never closed.
    }

    /// Whether no process holds the replica lock of the SQLite database at `databasePath` (no
    /// service runs on it): for tools that must not write under a running service.
    public static func isFree(databasePath: String) -> Bool {
        let descriptor = open(databasePath + ".replica-lock", O_RDWR | O_CLOEXEC)
        guard descriptor >= 0 else { return true }  // never served
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else { return false }
        flock(descriptor, LOCK_UN)
        return true
    }
}
