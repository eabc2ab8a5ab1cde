import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildSecurity
import GuildStorage
import GuildTesting
import GuildWire
import Logging
import SwiftProtobuf
import Testing

@testable import GuildContent

/// A question's money that cannot be moved is retried with a backoff, then waits as a dead
/// letter for an operator, who retries it.
enum MoneyRetryScenarios {
    static func questionRefund(_ f: ContentFixture) async throws {
        let asker = UserID("asker-000001")
        try await f.join(asker)
        try await f.answerer(f.expert, price: 3_000)
        let question = try await f.ask(f.expert, "Will anyone answer?", key: Identifier.make(), by: asker)
        try await f.pay(charge: question.chargeID, by: asker)
        // The answer limit passes while membership cannot be reached.
        f.clock.advance(by: 49 * 3_600)
        var configuration = WireClient.Configuration()
        configuration.defaultTimeout = .seconds(2)
        configuration.connectTimeout = .milliseconds(500)
        let nowhere = try WireClient(service: .membership, endpoints: [WireEndpoint(host: "127.0.0.1", port: 9)],
                                     tls: try f.cluster.certificates.tls(for: .content), configuration: configuration, logger: Logger(label: "nowhere"))
        let directory = try TemporaryDirectory()
        let cut = ContentService(database: f.cluster.contentDatabase.database, access: MembershipAccess(client: nowhere, clock: f.clock),
                                 configuration: ContentConfiguration(attachmentDirectory: directory.url), clock: f.clock, logger: Logger(label: "cut-off"))
        for _ in 0..<WorkAttempts.maximumAttempts {
            f.clock.advance(by: WorkAttempts.maximumBackoff + 1)
            #expect(try await cut.expireQuestions() == 0)
        }
        await nowhere.close()
        directory.remove()
        // Dead: the scheduler leaves it alone, the operator sees it.
        let dead = try await f.content.deadLetters.list(.init()).deadLetters
        #expect(dead.map(\.kind) == ["question_money"] && dead.map(\.id) == [question.id])
        #expect(dead.first?.attempts == Int32(WorkAttempts.maximumAttempts))
        f.clock.advance(by: 86_400)
        #expect(try await f.content.expireQuestions() == 0)
        #expect(try await f.charge(question.chargeID).status == "held")
        // Retried: refunded once.
        #expect(try await f.content.deadLetters.retry(.with { $0.kind = "question_money" }).retried == 1)
        #expect(try await f.content.expireQuestions() == 1)
        #expect(try await f.charge(question.chargeID).status == "refunded")
        #expect(try await f.content.question(question.id, user: asker).status == "expired")
        #expect(try await f.content.deadLetters.list(.init()).deadLetters.isEmpty)
        #expect(try await f.membership.checkLedger().violations.isEmpty)
    }
}

@Suite("Money retries")
struct MoneyRetryTests {
    @Test("a question's refund that cannot reach membership is bounded, then a dead letter; retried, refunded once", arguments: TestDatabaseKind.available)
    func questionRefund(_ store: TestDatabaseKind) async throws {
        try await ContentFixture.with(store) { f in try await MoneyRetryScenarios.questionRefund(f) }
    }
}
