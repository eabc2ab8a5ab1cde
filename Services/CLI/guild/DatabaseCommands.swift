import ArgumentParser
import Foundation
import GuildAuth
import GuildContent
import GuildCore
import GuildMembership
import GuildReferral
import GuildService
import GuildStorage
import Logging

/// The services that own a database, with their schemas.
enum ServiceDatabases {
    static let all: [(service: ServiceName, migrations: [Migration])] = [
        (.auth, AuthMigrations.all), (.membership, MembershipMigrations.all),
        (.content, ContentMigrations.all), (.referral, ReferralMigrations.all),
    ]

    /// The services named (all when none), in the order above.
    static func selected(_ names: [String]) throws -> [(service: ServiceName, migrations: [Migration])] {
        guard !names.isEmpty else { return all }
        return try names.map { name in
            guard let entry = all.first(where: { $0.service.rawValue == name }) else {
                throw ValidationError("no service '\(name)' with a database: auth, membership, content or referral")
            }
            return entry
        }
    }

    /// A service's database URL: from the template (`{service}` replaced), else as the service
    /// itself would choose (``ServiceRunner/databaseURL(service:given:options:)``).
    static func url(for service: ServiceName, template: String?, options: CommonOptions) -> String {
        ServiceRunner.databaseURL(service: service, given: template?.replacingOccurrences(of: "{service}", with: service.rawValue), options: options)
    }

    /// Where guild-content keeps attachments by default (beside its database).
    static func attachmentDirectory(_ options: CommonOptions) -> URL {
        URL(fileURLWithPath: options.dataDirectory).appendingPathComponent("content/attachments")
    }

    /// Runs `body` with the database at `configuration` open (PostgreSQL's pool running), and
    /// closes it however `body` ends.
    static func withDatabase<T: Sendable>(
        _ configuration: DatabaseConfiguration, logger: Logger, _ body: (Database) async throws -> T
    ) async throws -> T {
        let database = try await Database.open(configuration, logger: logger)
        let running = Task { try await database.run() }
        defer { running.cancel() }
        do {
            let result = try await body(database)
            await database.close()
            return result
        } catch {
            await database.close()
            throw error
        }
    }

    static func sqlitePath(_ url: String) throws -> String {
        guard case .sqlite(let path) = try DatabaseConfiguration(url: url) else {
            throw ValidationError("\(url) is not a SQLite database: back PostgreSQL up with pg_dump (docker/README.md)")
        }
        return path
    }
}

/// `guild migrate`: applies (or, with `--check`, lists) the migrations each service's database
/// lacks, without starting any service. Services apply theirs on start as well; this is for a
/// deployment that migrates first (an upgrade), and for a check before one.
struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Apply or check the services' database migrations without starting them.",
        discussion: "Exit status 1 with --check when a migration is pending. Safe beside running services: on PostgreSQL one migrator at a time holds an advisory lock.")

    @OptionGroup var common: CommonOptions

    @Flag(help: "Only say which migrations are pending; apply nothing.")
    var check = false

    @Option(name: .customLong("database-url-template"), help: "Each service's database URL with {service} for its name (default: the SQLite files under the data directory).")
    var databaseURLTemplate: String?

    @Argument(help: "Services to migrate: auth, membership, content, referral (default: all).")
    var services: [String] = []

    func run() async throws {
        common.bootstrapLogging()
        let logger = Logger(label: "guild-migrate")
        var pendingAnywhere = false
        for (service, migrations) in try ServiceDatabases.selected(services) {
            let url = ServiceDatabases.url(for: service, template: databaseURLTemplate, options: common)
            try await ServiceDatabases.withDatabase(try DatabaseConfiguration(url: url), logger: logger) { database in
                let pending = try await Migrator.pending(database, migrations: migrations)
                if check {
                    pendingAnywhere = pendingAnywhere || !pending.isEmpty
                    print(pending.isEmpty
                          ? "\(service): up to date (schema version \(migrations.count))"
                          : "\(service): \(pending.count) pending: " + pending.map { "\($0.version) \($0.name)" }.joined(separator: "; "))
                } else {
                    let applied = try await Migrator.migrate(database, migrations: migrations, logger: logger)
                    print(applied.isEmpty ? "\(service): up to date (schema version \(migrations.count))" : "\(service): applied \(applied.map(String.init).joined(separator: ", ")); now at schema version \(migrations.count)")
                }
            }
        }
        if pendingAnywhere { throw ExitCode.failure }
    }
}

/// `guild backup`: a consistent copy of each service's SQLite database, taken while the suite
/// runs (`VACUUM INTO`: one transaction's snapshot, compacted), into a new directory, with a
/// manifest of what it holds. Keys are not copied: keep `<certs-dir>` (above all
/// `signing-keys.kek`) apart from the backups, as a stolen backup should sign nothing.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Copy every service's SQLite database, consistently and while running, into a new directory.",
        discussion: "PostgreSQL deployments use pg_dump (docker/README.md). Restore with `guild restore`.")

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("to"), help: "The directory to create (default: <data-dir>/backups/<UTC time>).")
    var destination: String?

    func run() async throws {
        common.bootstrapLogging()
        let logger = Logger(label: "guild-backup")
        let stamp = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: false)).replacingOccurrences(of: ":", with: "")
        let directory = URL(fileURLWithPath: destination ?? (common.dataDirectory as NSString).appendingPathComponent("backups/\(stamp)"))
        guard !FileManager.default.fileExists(atPath: directory.path) else {
            throw ValidationError("\(directory.path) exists already: a backup goes into a new directory")
        }
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var manifest: [String: Any] = ["createdAt": Date().formatted(.iso8601)]
        var services: [String: Any] = [:]
        for (service, migrations) in ServiceDatabases.all {
            let path = try ServiceDatabases.sqlitePath(ServiceDatabases.url(for: service, template: nil, options: common))
            guard FileManager.default.fileExists(atPath: path) else {
                throw ValidationError("\(path) does not exist: nothing to back up for \(service) (has the suite run in this data directory?)")
            }
            let target = directory.appendingPathComponent("\(service.rawValue).sqlite").path
            let version = try await ServiceDatabases.withDatabase(.sqlite(path: path), logger: logger) { database in
                try await database.copy(to: target)
                return try await Migrator.appliedVersions(database).max() ?? 0
            }
            services[service.rawValue] = ["file": "\(service.rawValue).sqlite", "schemaVersion": version, "knownVersion": migrations.count]
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: target)
            let size = (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) ?? 0
            print("\(service): \(target) (\(size / 1024) KiB)")
        }
        manifest["services"] = services
        // Content's attachments live beside its database (files the database names).
        let attachments = ServiceDatabases.attachmentDirectory(common)
        if FileManager.default.fileExists(atPath: attachments.path) {
            try FileManager.default.copyItem(at: attachments, to: directory.appendingPathComponent("attachments"))
            manifest["attachments"] = "attachments"
            print("content attachments: \(directory.appendingPathComponent("attachments").path)")
        }
        let data = try JSONSerialization.data(withJSONObject: manifest, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: directory.appendingPathComponent("manifest.json"))
        print("guild backup: done, in \(directory.path)")
    }
}

/// `guild restore`: puts a backup's databases in place of the data directory's, with the suite
/// stopped (it refuses while any service holds its database).
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Replace every service's SQLite database with a backup's (the suite must be stopped).",
        discussion: "The databases it replaces are kept beside them as <file>.before-restore until the next restore.")

    @OptionGroup var common: CommonOptions

    @Option(name: .customLong("from"), help: "A directory `guild backup` wrote.")
    var source: String

    func run() async throws {
        common.bootstrapLogging()
        let logger = Logger(label: "guild-restore")
        let directory = URL(fileURLWithPath: source)
        let manifestData = try Data(contentsOf: directory.appendingPathComponent("manifest.json"))
        guard let manifest = try JSONSerialization.jsonObject(with: manifestData) as? [String: Any],
              let services = manifest["services"] as? [String: [String: Any]]
        else { throw ValidationError("\(directory.path)/manifest.json is not a backup's manifest") }
        // Check everything before touching anything.
        var plan: [(service: ServiceName, backup: String, path: String)] = []
        for (service, migrations) in ServiceDatabases.all {
            guard let entry = services[service.rawValue], let file = entry["file"] as? String else {
                throw ValidationError("the backup has no database of \(service)")
            }
            let backup = directory.appendingPathComponent(file).path
            guard FileManager.default.fileExists(atPath: backup) else { throw ValidationError("\(backup) is missing") }
            if let version = entry["schemaVersion"] as? Int, version > migrations.count {
                throw ValidationError("the backup of \(service) is at schema version \(version), newer than this build knows (\(migrations.count))")
            }
            let path = try ServiceDatabases.sqlitePath(ServiceDatabases.url(for: service, template: nil, options: common))
            guard SQLiteReplicaLock.isFree(databasePath: path) else {
                throw ValidationError("guild-\(service.rawValue) is running on \(path): stop the suite first")
            }
            plan.append((service, backup, path))
        }
        for (service, backup, path) in plan {
            try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
            let kept = try Self.replace(path, with: backup)
            // Open it once: a backup from this build is accepted by the service that will run on it.
            let version = try await ServiceDatabases.withDatabase(.sqlite(path: path), logger: logger) { try await Migrator.appliedVersions($0).max() ?? 0 }
            print("\(service): restored \(path) (schema version \(version)); the one it replaced is \(kept)")
        }
        if let folder = manifest["attachments"] as? String {
            let attachments = ServiceDatabases.attachmentDirectory(common)
            try Self.replace(attachments.path, with: directory.appendingPathComponent(folder).path)
            print("content attachments: restored \(attachments.path)")
        }
        print("guild restore: done; start the suite (guild up)")
    }

    /// Puts a copy of `source` (a file or a directory) at `target`, keeping what was there as
    /// `<target>.before-restore` (replacing the previous restore's). Returns that path.
    @discardableResult
    static func replace(_ target: String, with source: String) throws -> String {
        let manager = FileManager.default
        let kept = target + ".before-restore"
        try? manager.removeItem(atPath: kept)
        if manager.fileExists(atPath: target) { try manager.moveItem(atPath: target, toPath: kept) }
        try manager.copyItem(atPath: source, toPath: target)
        return kept
    }
}
