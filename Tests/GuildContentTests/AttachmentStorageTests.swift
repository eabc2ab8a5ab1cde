import Foundation
import GuildCore
import GuildMessages
import GuildStorage
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildContent

/// Attachment files and rows stay in step: a failed insert leaves no file, and the sweep
/// removes files nobody names, finishes interrupted uploads and purges deleted items' files.
enum AttachmentStorageScenarios {
    typealias Scenario = @Sendable (ContentFixture) async throws -> Void

    static let all: [String: Scenario] = [
        "an upload whose row cannot be written leaves no file behind": failedInsert,
        "the sweep removes old files with no row, finishes renames, keeps the rest": sweep,
        "the sweep purges the attachments of items deleted longer ago than the restore window": purge,
    ]

    static var names: [String] { all.keys.sorted() }

    static func run(_ name: String, on kind: TestDatabaseKind) async throws {
        try await ContentFixture.with(kind) { fixture in try await all[name]!(fixture) }
    }

    static func upload(_ f: ContentFixture, _ item: ContentItem, _ name: String) async throws -> ContentAttachment {
        try await f.content.addAttachment(ContentAddAttachmentRequest.with {
            $0.itemID = item.id
            $0.filename = name
            $0.contentType = "text/plain"
            $0.data = Data("contents of \(name)".utf8)
        }, user: f.owner)
    }

    static func files(_ f: ContentFixture) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: f.content.configuration.attachmentDirectory.path).sorted()
    }

    static func failedInsert(_ f: ContentFixture) async throws {
        let post = try await f.post("Slides", "The slides.")
        let database = f.cluster.contentDatabase.database
        // A database that refuses the row, as a full disk or a lost connection would.
        try await database.withConnection { sql in
            if database.dialect == .sqlite {
                try await sql.raw("CREATE TRIGGER attachments_refuse BEFORE INSERT ON attachments BEGIN SELECT RAISE(ABORT, 'refused'); END").run()
            } else {
                try await sql.raw("CREATE FUNCTION attachments_refuse() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql").run()
                try await sql.raw("CREATE TRIGGER attachments_refuse BEFORE INSERT ON attachments FOR EACH ROW EXECUTE FUNCTION attachments_refuse()").run()
            }
        }
        #expect(await thrownError { _ = try await upload(f, post, "notes.txt") } != nil)
        #expect(try files(f) == [])
        try await database.withConnection { sql in
            try await sql.raw(database.dialect == .sqlite ? "DROP TRIGGER attachments_refuse" : "DROP TRIGGER attachments_refuse ON attachments").run()
        }
        let stored = try await upload(f, post, "notes.txt")
        #expect(try files(f) == [stored.id])
    }

    static func sweep(_ f: ContentFixture) async throws {
        let post = try await f.post("Slides", "The slides.")
        let kept = try await upload(f, post, "kept.txt")
        let directory = f.content.configuration.attachmentDirectory
        let old = f.clock.now().addingTimeInterval(-2 * 3600)
        // A file from an insert that failed before this version, two hours old; one written a
        // minute ago (an upload in progress); and an upload whose rename a crash interrupted.
        let orphan = directory.appendingPathComponent("019b0000-0000-7000-8000-000000000001")
        try Data("orphan".utf8).write(to: orphan)
        try FileManager.default.setAttributes([.modificationDate: old], ofItemAtPath: orphan.path)
        let fresh = directory.appendingPathComponent(ContentService.uploadPrefix + "019b0000-0000-7000-8000-000000000002")
        try Data("in progress".utf8).write(to: fresh)
        try FileManager.default.setAttributes([.modificationDate: f.clock.now().addingTimeInterval(-60)], ofItemAtPath: fresh.path)
        let interrupted = try await upload(f, post, "interrupted.txt")
        try FileManager.default.moveItem(at: f.content.attachmentURL(interrupted.id), to: f.content.uploadURL(interrupted.id))

        let sweep = try await f.content.sweepAttachments()
        #expect(sweep == ContentService.AttachmentSweep(orphansRemoved: 1, uploadsFinished: 1, purged: 0))
        #expect(try files(f) == [kept.id, interrupted.id, fresh.lastPathComponent].sorted())
        let read = try await f.content.attachmentData(ContentAttachmentRequest.with { $0.attachmentID = interrupted.id }, user: f.owner)
        #expect(String(decoding: read.data, as: UTF8.self) == "contents of interrupted.txt")
        // Nothing more to do the second time.
        #expect(try await f.content.sweepAttachments() == ContentService.AttachmentSweep())
    }

    static func purge(_ f: ContentFixture) async throws {
        let gone = try await f.post("Old", "Deleted long ago.")
        let recent = try await f.post("Recent", "Deleted lately.")
        let goneFile = try await upload(f, gone, "gone.txt")
        let recentFile = try await upload(f, recent, "recent.txt")
        _ = try await f.content.deleteItem(gone.id, user: f.owner)
        f.clock.advance(by: 2 * 86_400)
        _ = try await f.content.deleteItem(recent.id, user: f.owner)
        f.clock.advance(by: 29 * 86_400)  // gone: 31 days; recent: 29
        let sweep = try await f.content.sweepAttachments()
        #expect(sweep.purged == 1)
        #expect(try files(f) == [recentFile.id])
        let rows = try await f.cluster.contentDatabase.database.withConnection { sql in
            try await sql.raw("SELECT id FROM attachments ORDER BY id").all().map { try $0.decode(column: "id", as: String.self) }
        }
        #expect(rows == [recentFile.id])
        #expect(!rows.contains(goneFile.id))
        // The recent one can still be restored, with its file.
        _ = try await f.content.restoreItem(recent.id, user: f.owner)
        let read = try await f.content.attachmentData(ContentAttachmentRequest.with { $0.attachmentID = recentFile.id }, user: f.owner)
        #expect(!read.data.isEmpty)
    }
}

@Suite("Attachment storage on SQLite", .serialized)
struct AttachmentStorageOnSQLite {
    @Test("scenario", arguments: AttachmentStorageScenarios.names)
    func scenario(_ name: String) async throws { try await AttachmentStorageScenarios.run(name, on: .sqlite) }
}

@Suite("Attachment storage on PostgreSQL", .serialized, .enabled(if: TestDatabaseKind.isPostgresConfigured, Comment(rawValue: TestDatabaseKind.postgresSkipReason)))
struct AttachmentStorageOnPostgreSQL {
    @Test("scenario", arguments: AttachmentStorageScenarios.names)
    func scenario(_ name: String) async throws { try await AttachmentStorageScenarios.run(name, on: .postgres) }
}
