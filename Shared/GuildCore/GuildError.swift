/// The one error model of Guild: it crosses the wire unchanged and the gateway maps it to an
/// RFC 9457 problem document.
///
/// The code is an extensible struct rather than an enum, so adding a code never breaks callers
/// that switch over the ones they know.
public struct GuildError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, numbered error category. The numbers are part of the wire protocol.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The number sent on the wire.
        public let rawValue: UInt32

        /// Creates a code from its wire number; unknown numbers are kept as they are.
        public init(rawValue: UInt32) { self.rawValue = rawValue }

        /// The caller cancelled the call.
        public static let cancelled = Code(rawValue: 1)
        /// An error with no better category.
        public static let unknown = Code(rawValue: 2)
        /// The request is malformed or a field is invalid; `fieldViolations` names which.
        public static let invalidArgument = Code(rawValue: 3)
        /// The deadline passed before the call completed.
        public static let deadlineExceeded = Code(rawValue: 4)
        /// The thing asked for does not exist.
        public static let notFound = Code(rawValue: 5)
        /// The thing to create exists already.
        public static let alreadyExists = Code(rawValue: 6)
        /// The caller is known but may not do this.
        public static let permissionDenied = Code(rawValue: 7)
        /// A limit was reached (too many attempts, too many calls); `retryAfterSeconds` says when to come back.
        public static let resourceExhausted = Code(rawValue: 8)
        /// The system is not in a state where this can be done.
        public static let failedPrecondition = Code(rawValue: 9)
        /// The operation was aborted by a conflict (for example a concurrent change).
        public static let aborted = Code(rawValue: 10)
        /// The method does not exist on this server.
        public static let unimplemented = Code(rawValue: 12)
        /// An invariant broke inside the server.
        public static let `internal` = Code(rawValue: 13)
        /// The service cannot answer now; try again later.
        public static let unavailable = Code(rawValue: 14)
        /// The caller is not authenticated (missing, expired or invalid credentials).
        public static let unauthenticated = Code(rawValue: 16)
        /// The peer broke the wire protocol (bad frame, wrong version, frame too large).
        public static let protocolViolation = Code(rawValue: 32)

        /// A short, stable name of the code (`invalid_argument`, ...).
        public var name: String {
            switch self {
            case .cancelled: "cancelled"
            case .unknown: "unknown"
            case .invalidArgument: "invalid_argument"
            case .deadlineExceeded: "deadline_exceeded"
            case .notFound: "not_found"
            case .alreadyExists: "already_exists"
            case .permissionDenied: "permission_denied"
            case .resourceExhausted: "resource_exhausted"
            case .failedPrecondition: "failed_precondition"
            case .aborted: "aborted"
            case .unimplemented: "unimplemented"
            case .internal: "internal"
            case .unavailable: "unavailable"
            case .unauthenticated: "unauthenticated"
            case .protocolViolation: "protocol_violation"
            default: "code_\(rawValue)"
            }
        }

        public var description: String { name }
    }

    /// One invalid field of a request and why.
    public struct FieldViolation: Error, Sendable, Hashable {
        /// The field's name as the caller spelled it (`email`, `password`).
        public var field: String
        /// What is wrong with it, in words a user can act on.
        public var description: String

        public init(field: String, description: String) {
            self.field = field
            self.description = description
        }
    }

    public var code: Code
    /// A message safe to show to the caller. Never holds secrets.
    public var message: String
    /// The invalid fields, for `invalidArgument`.
    public var fieldViolations: [FieldViolation]
    /// When set, the caller may retry after this many seconds.
    public var retryAfterSeconds: UInt32?
    /// A machine-readable reason within the code (`too_many_attempts`, `refresh_token_reused`).
    public var reason: String?

    public init(
        _ code: Code,
        _ message: String,
        fieldViolations: [FieldViolation] = [],
        retryAfterSeconds: UInt32? = nil,
        reason: String? = nil
    ) {
        self.code = code
        self.message = message
        self.fieldViolations = fieldViolations
        self.retryAfterSeconds = retryAfterSeconds
        self.reason = reason
    }

    public var description: String {
        var text = "\(code.name): \(message)"
        if !fieldViolations.isEmpty {
            text += " [" + fieldViolations.map { "\($0.field): \($0.description)" }.joined(separator: "; ") + "]"
        }
        return text
    }
}

extension GuildError {
    /// A request whose fields are invalid, each named.
    public static func invalid(_ violations: [FieldViolation]) -> GuildError {
        GuildError(.invalidArgument, "The request has invalid fields.", fieldViolations: violations)
    }
}
