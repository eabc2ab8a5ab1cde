import Foundation
import GuildCore
import Hummingbird
import HTTPTypes
import Logging
import Tracing

/// The outermost middleware: gives every request an id (a well-formed incoming `X-Request-Id`
/// is kept, otherwise a new one is made) and a deadline that every service call it makes
/// shares, turns every error into a problem document, puts the id on every response, and logs
/// each request.
struct GatewayMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    /// How long one HTTP request may wait for services, across every call it makes.
    let requestTimeout: Duration
    /// Asked for a page instead of a problem document (the web front end's 404).
    let mounts: [any GatewayMount]

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var context = context
        let requestID = Self.acceptedRequestID(request.headers[.requestID]) ?? Identifier.make()
        context.requestID = requestID
        context.traceparent = Self.acceptedTraceparent(request.headers[.traceparent])
        context.logger[metadataKey: "request-id"] = "\(requestID)"
        if let trace = context.traceparent { context.logger[metadataKey: "traceparent"] = "\(trace)" }
        let started = ContinuousClock.now
        var response: Response
        do {
            // What this request calls, logs and writes to an outbox carries its id.
            var serviceContext = ServiceContext.current ?? .topLevel
            serviceContext.requestID = requestID
            response = try await ServiceContext.withValue(serviceContext) {
                try await RequestDeadline.$current.withValue(started + requestTimeout) {
                    try await next(request, context)
                }
            }
        } catch {
            let problem = Self.problem(for: error, request: request, context: context)
            response = mounts.lazy.compactMap { $0.page(for: problem, request: request, context: context) }.first ?? problem.response(requestID: requestID)
        }
        response.headers[.requestID] = requestID
        let elapsed = ContinuousClock.now - started
        context.logger.info("request", metadata: [
            "method": "\(request.method)", "path": "\(request.uri.path)", "status": "\(response.status.code)",
            "ms": "\(elapsed.wholeMilliseconds)",
        ])
        return response
    }

    static func problem(for error: any Error, request: Request, context: Context) -> Problem {
        var problem: Problem
        switch error {
        case let problemError as Problem:
            problem = problemError
        case let guildError as GuildError:
            problem = Problem(guildError)
        case let httpError as HTTPError:
            problem = problemForHTTPError(httpError)
        default:
            context.logger.error("unhandled error", metadata: ["error": "\(String(reflecting: error))"])
            problem = Problem(GuildError(.internal, "Internal error."))
        }
        problem.instance = request.uri.path
        return problem
    }

    static func problemForHTTPError(_ error: HTTPError) -> Problem {
        switch error.status {
        case .notFound:
            return Problem(status: .notFound, code: "not_found", title: "Not found", detail: "No such resource.")
        case .methodNotAllowed:
            return Problem(status: .methodNotAllowed, code: "method_not_allowed", title: "Method not allowed", detail: "This resource does not support that method.")
        case .contentTooLarge:
            return Problem(status: .contentTooLarge, code: "content_too_large", title: "Content too large", detail: "The request body is larger than the limit.")
        case .badRequest:
            return Problem(status: .badRequest, code: "invalid_argument", title: "Invalid request", detail: error.body ?? "The request is malformed.")
        default:
            return Problem(status: error.status, code: "http_\(error.status.code)", title: error.status.reasonPhrase, detail: error.body ?? error.status.reasonPhrase)
        }
    }

    /// An incoming request id is kept only when it is short and plain.
    static func acceptedRequestID(_ value: String?) -> String? {
        guard let value, (1...128).contains(value.utf8.count),
              value.utf8.allSatisfy({ $0 == 45 || $0 == 95 || $0 == 46 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0) })
        else { return nil }
        return value
    }

    /// A `traceparent` header is passed on only when well-formed (version 00 layout).
    static func acceptedTraceparent(_ value: String?) -> String? {
        guard let value, value.utf8.count == 55 else { return nil }
        let parts = value.split(separator: "-")
        guard parts.count == 4, parts[0].count == 2, parts[1].count == 32, parts[2].count == 16, parts[3].count == 2,
              parts.allSatisfy({ $0.allSatisfy(\.isHexDigit) })
        else { return nil }
        return value.lowercased()
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
    static let traceparent = HTTPField.Name("traceparent")!
}
