import Foundation
import GuildCore
import GuildStorage
import Logging
import SQLKit

/// Keeps the attachment directory and the attachments table in step.
extension ContentService {
    /// What one sweep did.
    public struct AttachmentSweep: Sendable, Equatable {
        /// Files with no row, older than ``ContentService/orphanFileAge``, removed.
        public var orphansRemoved = 0
        /// Uploads whose row committed but whose file kept its temporary name (a crash between
        /// the two), renamed.
        public var uploadsFinished = 0
        /// Attachments of items deleted longer ago than the restore window, rows and files removed.
        public var purged = 0
    }

    /// How old a file with no row must be before a sweep removes it: an upload in progress
    /// writes its file before its row, and takes far less.
    public static let orphanFileAge: TimeInterval = 3600

    /// Removes files no row names (older than ``orphanFileAge``), finishes uploads interrupted
    /// after their commit, and purges the attachments of items deleted longer ago than the
    /// restore window (such an item can no longer be restored). Run by the scheduler.
    @discardableResult
    public func sweepAttachments() async throws -> AttachmentSweep {
        var sweep = AttachmentSweep()
        let now = clock.now()
        let cutoff = now.addingTimeInterval(-configuration.restoreWindow).millisecondsSince1970
        let purgeable = try await database.withConnection { sql in
            try await sql.raw("""
                SELECT a.id AS id FROM attachments a JOIN items i ON i.id = a.item_id
                WHERE i.deleted_at_ms IS NOT NULL AND i.deleted_at_ms < \(bind: cutoff)
                """).all().map { try $0.decode(column: "id", as: String.self) }
        }
        for id in purgeable {
            try await database.withConnection { sql in
                try await sql.raw("DELETE FROM attachments WHERE id = \(bind: id)").run()
            }
            try? FileManager.default.removeItem(at: attachmentURL(id))
            try? FileManager.default.removeItem(at: uploadURL(id))
            sweep.purged += 1
        }
        let known = Set(try await database.withConnection { sql in
            try await sql.raw("SELECT id FROM attachments").all().map { try $0.decode(column: "id", as: String.self) }
        })
        let directory = configuration.attachmentDirectory
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        for name in names {
            let isUpload = name.hasPrefix(Self.uploadPrefix)
            let id = isUpload ? String(name.dropFirst(Self.uploadPrefix.count)) : name
            let url = directory.appendingPathComponent(name)
            if known.contains(id) {
                guard isUpload else { continue }
                if FileManager.default.fileExists(atPath: attachmentURL(id).path) {
                    try? FileManager.default.removeItem(at: url)
                } else {
                    try FileManager.default.moveItem(at: url, to: attachmentURL(id))
                    sweep.uploadsFinished += 1
                }
                continue
            }
            let modified = (try? FileManager.default.attributesOfItem(atPath: url.path)[.modificationDate] as? Date) ?? .distantPast
            guard now.timeIntervalSince(modified) > Self.orphanFileAge else { continue }
            try? FileManager.default.removeItem(at: url)
            sweep.orphansRemoved += 1
        }
        if sweep != AttachmentSweep() {
            logger.info("attachments swept", metadata: [
                "orphans": "\(sweep.orphansRemoved)", "finished": "\(sweep.uploadsFinished)", "purged": "\(sweep.purged)",
            ])
        }
        return sweep
    }
}
