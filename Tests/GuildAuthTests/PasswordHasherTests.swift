import Foundation
import GuildCore
import GuildTesting
import Testing

@testable import GuildAuth

@Suite("Password hashing")
struct PasswordHasherTests {
    @Test("the default is scrypt at OWASP strength, in a self-describing string that verifies")
    func owaspDefault() throws {
        let hasher = PasswordHasher()
        #expect(hasher.parameters == PasswordHasher.Parameters(logN: 17, r: 8, p: 1))
        let encoded = try hasher.hash("correct horse battery")
        #expect(encoded.hasPrefix("$scrypt$ln=17,r=8,p=1$"))
        #expect(try hasher.verify("correct horse battery", against: encoded))
        #expect(try !hasher.verify("correct horse batterx", against: encoded))
        #expect(!hasher.needsRehash(encoded))
    }

    @Test("a known vector: scrypt('password', 'NaCl', N=1024, r=8, p=16) from RFC 7914")
    func rfc7914Vector() throws {
        let key = try PasswordHasher.derive("password", salt: Array("NaCl".utf8), parameters: .init(logN: 10, r: 8, p: 16))
        let hex = key.map { String(format: "%02x", $0) }.joined()
        #expect(hex == "fdbabe1c9d3472007856e7190d01e9fe7c6ad7cbc8237830e77376634b373162")
    }

    @Test("salts differ, so equal passwords hash differently")
    func saltsDiffer() throws {
        let hasher = PasswordHasher(parameters: .init(logN: 10, r: 8, p: 1))
        #expect(try hasher.hash("same password") != hasher.hash("same password"))
    }

    @Test("weaker old hashes still verify and ask to be rehashed")
    func parametersCanRise() throws {
        let old = try PasswordHasher(parameters: .init(logN: 10, r: 8, p: 1)).hash("s3cret-pass")
        let current = PasswordHasher(parameters: .init(logN: 12, r: 8, p: 1))
        #expect(try current.verify("s3cret-pass", against: old))
        #expect(current.needsRehash(old))
    }

    @Test("malformed stored hashes never match", arguments: [
        "", "plain", "$scrypt$ln=10,r=8$AAAA$AAAA", "$bcrypt$ln=10,r=8,p=1$AAAA$AAAA", "$scrypt$ln=99,r=8,p=1$c2FsdA$AAAA",
    ])
    func malformed(_ stored: String) throws {
        #expect(try !PasswordHasher(parameters: .init(logN: 10, r: 8, p: 1)).verify("anything", against: stored))
    }

    @Test("the hashing pool refuses work beyond its bound with unavailable and a retry-after")
    func poolBound() async throws {
        let pool = PasswordHashingPool(concurrency: 1, queueDepth: 1)
        let gate = ConditionGate()
        // Occupy the one thread and the one queue slot.
        let first = Task { try await pool.run { gate.wait(); return 1 } }
        let second = Task { try await pool.run { 2 } }
        while pool.load < 2 { try await Task.sleep(for: .milliseconds(5)) }
        let refused = await thrownError { _ = try await pool.run { 3 } }
        #expect(refused?.code == .unavailable)
        #expect(refused?.retryAfterSeconds == 1)
        gate.open()
        #expect(try await first.value == 1)
        #expect(try await second.value == 2)
        #expect(try await pool.run { 4 } == 4)
        await pool.shutdown()
    }

    @Test("work that could not finish before the request's deadline is refused at once, not queued")
    func deadlineAwareAdmission() async throws {
        let pool = PasswordHashingPool(concurrency: 1, queueDepth: 8)
        // Teach the pool that a job takes about 300 ms.
        _ = try await pool.run { Thread.sleep(forTimeInterval: 0.3); return 0 }
        let gate = ConditionGate()
        let busy = Task { try await pool.run { gate.wait(); return 1 } }
        while pool.load < 1 { try await Task.sleep(for: .milliseconds(5)) }
        let refused = await RequestDeadline.$current.withValue(ContinuousClock.now + .milliseconds(100)) {
            await thrownError { _ = try await pool.run { 2 } }
        }
        #expect(refused?.code == .unavailable)
        #expect(refused?.reason == "hashing_saturated")
        gate.open()
        #expect(try await busy.value == 1)
        // With time to spare, the same job is accepted.
        let accepted = try await RequestDeadline.$current.withValue(ContinuousClock.now + .seconds(10)) {
            try await pool.run { 3 }
        }
        #expect(accepted == 3)
        await pool.shutdown()
    }
}

/// A gate a thread-pool job waits on until the test opens it.
final class ConditionGate: Sendable {
    private let condition = NSCondition()
    nonisolated(unsafe) private var isOpen = false  // guarded by `condition`

    func wait() {
        condition.lock()
        while !isOpen { condition.wait() }
        condition.unlock()
    }

    func open() {
        condition.lock()
        isOpen = true
        condition.broadcast()
        condition.unlock()
    }
}
