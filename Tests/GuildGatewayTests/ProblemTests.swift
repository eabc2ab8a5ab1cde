import Foundation
import GuildCore
import HTTPTypes
import Hummingbird
import Testing

@testable import GuildGateway

@Suite("Problem documents")
struct ProblemTests {
    @Test("each Guild error code maps to its HTTP status", arguments: [
        (GuildError.Code.invalidArgument, 400), (.unauthenticated, 401), (.permissionDenied, 403), (.notFound, 404),
        (.alreadyExists, 409), (.failedPrecondition, 409), (.resourceExhausted, 429), (.unavailable, 503),
        (.deadlineExceeded, 504), (.unimplemented, 501), (.internal, 500), (.protocolViolation, 502),
    ])
    func statusMapping(_ code: GuildError.Code, _ status: Int) {
        #expect(Problem.status(for: code).0.code == status)
    }

    @Test("a saturated service answers 503 with Retry-After; the message never leaks beyond the error's own")
    func unavailable() throws {
        let response = Problem(GuildError(.unavailable, "The server is busy checking passwords; try again shortly.", retryAfterSeconds: 1, reason: "hashing_saturated")).response(requestID: "r-1")
        #expect(response.status == .serviceUnavailable)
        #expect(response.headers[.retryAfter] == "1")
        #expect(response.headers[.contentType] == "application/problem+json")
    }
}

@Suite("API timestamps")
struct TimestampTests {
    @Test("timestamps are RFC 3339 in UTC with milliseconds", arguments: [
        (1_764_059_400_123, "2025-11-25T08:30:00.123Z"),
        (0, "1970-01-01T00:00:00.000Z"),
        (1_764_059_400_007, "2025-11-25T08:30:00.007Z"),
        (-1, "1969-12-31T23:59:59.999Z"),
    ] as [(Int64, String)])
    func format(milliseconds: Int64, expected: String) {
        #expect(timestamp(milliseconds: milliseconds) == expected)
    }
}
