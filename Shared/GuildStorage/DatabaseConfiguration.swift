import Foundation
import GuildCore

/// Where a service keeps its data: an SQLite file (the default) or a PostgreSQL server.
public enum DatabaseConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// An SQLite database file; created with its directory when missing.
    case sqlite(path: String)
    /// A PostgreSQL server.
    case postgres(PostgresSettings)

    /// Connection settings parsed from a `postgres://user:password@host:port/database` URL.
    public struct PostgresSettings: Sendable, Equatable {
        public var host: String
        public var port: Int
        public var username: String
        public var password: String?
        public var database: String
        /// `sslmode=require` in the URL asks for TLS.
        public var requireTLS: Bool
    }

    /// Parses a database URL: `sqlite:///path/to/file.sqlite`, `sqlite:relative/path.sqlite`, or
    /// `postgres://user:password@host:5432/database[?sslmode=require]` (also `postgresql://`).
    public init(url text: String) throws {
        if text.hasPrefix("sqlite:") {
            var path = String(text.dropFirst("sqlite:".count))
            if path.hasPrefix("//") { path = String(path.dropFirst(2)) }
            guard !path.isEmpty else { throw GuildError(.invalidArgument, "The SQLite URL names no file.") }
            self = .sqlite(path: path)
            return
        }
        guard let components = URLComponents(string: text),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme),
              let host = components.host, !host.isEmpty
        else {
            throw GuildError(.invalidArgument, "Unsupported database URL (expected sqlite: or postgres://).")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        let username = components.user ?? "postgres"
        let sslMode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value
        self = .postgres(PostgresSettings(
            host: host,
            port: components.port ?? 5432,
            username: username,
            password: components.password?.removingPercentEncoding ?? components.password,
            database: database.isEmpty ? username : database,
            requireTLS: sslMode == "require" || sslMode == "verify-full"
        ))
    }

    /// A description that never shows the password.
    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite:\(path)"
        case .postgres(let settings): "postgres://\(settings.username)@\(settings.host):\(settings.port)/\(settings.database)"
        }
    }
}
