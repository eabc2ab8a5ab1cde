import Foundation
import GuildCore
import GuildMessages
import SwiftProtobuf

/// What a service's retry loops gave up on, for its operator: dead outbox deliveries and dead
/// units of work (``WorkAttempts``), listed and retried through the service's
/// `ListDeadLetters` and `RetryDeadLetter` wire methods.
public struct DeadLetterOffice: Sendable {
    /// What a service's migration adds for its dead letters (after its outbox tables).
    public static let migrationStatements = [Outbox.deadLetterColumn, WorkAttempts.createTable]

    /// The kind of a dead outbox delivery; its id is `<event id>/<subscriber>`.
    public static let outboxDelivery = "outbox_delivery"

    let database: Database
    let hasOutbox: Bool
    /// A line for a person about a dead unit of work, by kind and id.
    let describe: @Sendable (String, String) -> String

    public init(database: Database, hasOutbox: Bool = true, describe: @escaping @Sendable (String, String) -> String = { kind, id in "\(kind) \(id)" }) {
        self.database = database
        self.hasOutbox = hasOutbox
        self.describe = describe
    }

    /// Every dead letter, oldest first (at most `limit`, 0: 100; at most 1000).
    public func list(_ request: OpsListDeadLettersRequest) async throws -> OpsDeadLetterList {
        guard (0...1000).contains(request.limit) else { throw GuildError.invalid([.init(field: "limit", description: "0 (100) to 1000.")]) }
        let limit = request.limit == 0 ? 100 : Int(request.limit)
        var letters: [OpsDeadLetter] = []
        if hasOutbox {
            letters += try await Outbox.deadDeliveries(database, limit: limit).map { dead in
                OpsDeadLetter.with {
                    $0.kind = Self.outboxDelivery
                    $0.id = "\(dead.event)/\(dead.subscriber)"
                    $0.description_p = "event \(dead.topic) to \(dead.subscriber)"
                    $0.attempts = Int32(dead.attempts)
                    $0.lastError = dead.lastError
                    $0.deadAtMs = dead.deadAtMs
                }
            }
        }
        letters += try await WorkAttempts.dead(database, limit: limit).map { dead in
            OpsDeadLetter.with {
                $0.kind = dead.kind
                $0.id = dead.id
                $0.description_p = describe(dead.kind, dead.id)
                $0.attempts = Int32(dead.attempts)
                $0.lastError = dead.lastError
                $0.deadAtMs = dead.deadAtMs
            }
        }
        var list = OpsDeadLetterList()
        list.deadLetters = Array(letters.sorted { ($0.deadAtMs, $0.kind, $0.id) < ($1.deadAtMs, $1.kind, $1.id) }.prefix(limit))
        return list
    }

    /// Makes one dead letter (or every one of the kind, when the id is empty) due again at once
    /// with a fresh allowance of attempts.
    public func retry(_ request: OpsRetryDeadLetterRequest) async throws -> OpsRetryDeadLetterResponse {
        guard !request.kind.isEmpty else { throw GuildError.invalid([.init(field: "kind", description: "The kind of dead letter (guild dead-letters list shows them).")]) }
        var response = OpsRetryDeadLetterResponse()
        if request.kind == Self.outboxDelivery {
            guard hasOutbox else { return response }
            if request.id.isEmpty {
                response.retried = Int32(try await Outbox.retryDead(database, event: nil, subscriber: nil))
            } else {
                let parts = request.id.split(separator: "/", maxSplits: 1).map(String.init)
                guard parts.count == 2 else { throw GuildError.invalid([.init(field: "id", description: "<event id>/<subscriber>.")]) }
                response.retried = Int32(try await Outbox.retryDead(database, event: parts[0], subscriber: parts[1]))
            }
        } else {
            response.retried = Int32(try await WorkAttempts.retry(database, kind: request.kind, id: request.id.isEmpty ? nil : request.id))
        }
        return response
    }
}
