import Logging
import NIOCore
import SQLKit
import Tracing

/// A database handle whose every statement runs in a client span of its own
/// (swift-distributed-tracing), named by the statement's verb, with the OpenTelemetry database
/// attributes: the system (`sqlite`, `postgresql`) and, when the span is recorded, the
/// statement's text (with placeholders: never the bound values, which may be personal data).
struct TracedSQLDatabase: SQLDatabase {
    let base: any SQLDatabase
    let system: String

    var logger: Logger { base.logger }
    var eventLoop: any EventLoop { base.eventLoop }
    var version: (any SQLDatabaseReportedVersion)? { base.version }
    var dialect: any SQLDialect { base.dialect }
    var queryLogLevel: Logger.Level? { base.queryLogLevel }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) -> EventLoopFuture<Void> {
        base.execute(sql: query, onRow)
    }

    func execute(sql query: any SQLExpression, _ onRow: @escaping @Sendable (any SQLRow) -> ()) async throws {
        try await withSpan("db.query", ofKind: .client) { span in
            if span.isRecording {
                let text = base.serialize(query).sql
                span.operationName = text.prefix { !$0.isWhitespace }.uppercased()
                span.attributes["db.system.name"] = system
                span.attributes["db.query.text"] = String(text.prefix(2_000))
            }
            try await base.execute(sql: query, onRow)
        }
    }

    func withSession<R>(_ closure: @escaping @Sendable (any SQLDatabase) async throws -> R) async throws -> R {
        try await base.withSession { try await closure(TracedSQLDatabase(base: $0, system: system)) }
    }
}
