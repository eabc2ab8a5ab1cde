import Foundation
import GuildCore
import Hummingbird
import HTTPTypes

/// An RFC 9457 problem document, the body of every error the gateway returns
/// (`application/problem+json`).
public struct Problem: Error, Codable, Sendable, Equatable {
    public struct FieldError: Codable, Sendable, Equatable {
        public var field: String
        public var detail: String
    }

    /// A URI naming the kind of problem: `urn:guild:problem:<code>`.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    /// The request path.
    public var instance: String?
    /// Guild's error code name (`invalid_argument`, `unauthenticated`, ...).
    public var code: String
    /// A finer, stable reason (`too_many_attempts`, `refresh_token_reused`).
    public var reason: String?
    public var requestId: String?
    /// For invalid input: every invalid field and why.
    public var errors: [FieldError]?
    /// Seconds after which a retry may succeed (also sent as `Retry-After`).
    public var retryAfter: UInt32?

    public init(status: HTTPResponse.Status, code: String, title: String, detail: String, reason: String? = nil, errors: [FieldError]? = nil, retryAfter: UInt32? = nil) {
        self.type = "urn:guild:problem:\(code)"
        self.title = title
        self.status = status.code
        self.detail = detail
        self.code = code
        self.reason = reason
        self.errors = errors
        self.retryAfter = retryAfter
    }

    /// The problem for a Guild error.
    public init(_ error: GuildError) {
        let (status, title) = Self.status(for: error.code)
        self.init(
            status: status,
            code: error.code.name,
            title: title,
            detail: error.message,
            reason: error.reason,
            errors: error.fieldViolations.isEmpty ? nil : error.fieldViolations.map { FieldError(field: $0.field, detail: $0.description) },
            retryAfter: error.retryAfterSeconds ?? ([.unavailable, .resourceExhausted, .deadlineExceeded].contains(error.code) ? 1 : nil)
        )
    }

    /// The HTTP status and title for each Guild error code.
    public static func status(for code: GuildError.Code) -> (HTTPResponse.Status, String) {
        switch code {
        case .invalidArgument: (.badRequest, "Invalid request")
        case .unauthenticated: (.unauthorized, "Authentication required")
        case .permissionDenied: (.forbidden, "Forbidden")
        case .notFound: (.notFound, "Not found")
        case .alreadyExists: (.conflict, "Already exists")
        case .failedPrecondition, .aborted: (.conflict, "Conflict")
        case .resourceExhausted: (.tooManyRequests, "Too many requests")
        case .unavailable, .cancelled: (.serviceUnavailable, "Service unavailable")
        case .deadlineExceeded: (.gatewayTimeout, "Gateway timeout")
        case .unimplemented: (.notImplemented, "Not implemented")
        case .protocolViolation: (.badGateway, "Bad gateway")
        default: (.internalServerError, "Internal error")
        }
    }

    /// The problem as an HTTP response, with `Retry-After` and `WWW-Authenticate` where they apply.
    public func response(requestID: String?) -> Response {
        var problem = self
        problem.requestId = requestID
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let body = (try? encoder.encode(problem)) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if status == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"guild\"" }
        return Response(
            status: HTTPResponse.Status(code: status),
            headers: headers,
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: body))
        )
    }
}
