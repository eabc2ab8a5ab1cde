import Foundation
import GuildCore
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import NIOCore
import SwiftProtobuf

/// Routes whose JSON is the proto3 JSON mapping of the service's messages (the content API):
/// the body becomes the request message, path and query parameters fill in the rest, and the
/// response message is answered as JSON. One function instead of a hand-written model per route.
extension Gateway {
    enum Caller {
        /// A signed-in user is required.
        case user
        /// A visitor may call it too; a token, when sent, is verified and used.
        case anyone
    }

    static let jsonEncoding: JSONEncodingOptions = {
        var options = JSONEncodingOptions()
        options.alwaysPrintInt64sAsNumbers = true
        options.useDeterministicOrdering = true
        return options
    }()

    /// Calls `method` of `service` with the message built from the request.
    /// - Parameters:
    ///   - body: the request has a JSON body to decode into the message first.
    ///   - bodyLimit: its largest size (default: the context's upload limit, 64 KiB).
    ///   - fill: sets the fields that come from the path and the query (after the body, so the
    ///     path wins over anything the body says).
    func forward<Message, Answer>(
        _ service: ServiceName, _ method: MethodDescriptor<Message, Answer>, _ request: Request, _ context: GatewayRequestContext,
        caller: Caller = .user, body: Bool = false, bodyLimit: Int? = nil, status: HTTPResponse.Status = .ok,
        fill: (inout Message, Request, GatewayRequestContext) throws -> Void = { _, _, _ in }
    ) async throws -> Response {
        let context = caller == .user ? try await authenticate(request, context: context) : try await authenticateIfPresent(request, context: context)
        var message = body ? try await decodeMessage(Message.self, from: request, context: context, limit: bodyLimit) : Message()
        try fill(&message, request, context)
        let answer = try await client(service).call(method, message, metadata: metadata(context, request: request))
        return try protoJSON(answer, status: status)
    }

    /// A JSON body in the proto3 JSON mapping; unknown fields are refused.
    func decodeMessage<Message: SwiftProtobuf.Message>(_ type: Message.Type, from request: Request, context: GatewayRequestContext, limit: Int? = nil) async throws -> Message {
        let buffer = try await jsonBody(request, context: context, limit: limit)
        if buffer.readableBytes == 0 { return Message() }
        do {
            return try Message(jsonUTF8Bytes: Array(buffer.readableBytesView))
        } catch {
            throw Problem(status: .badRequest, code: "invalid_argument", title: "Invalid request",
                          detail: "The body is not the JSON object this operation expects (\(error)).", reason: "malformed_json")
        }
    }

    /// A message as JSON (proto3 mapping, int64 as numbers).
    func protoJSON(_ message: some SwiftProtobuf.Message, status: HTTPResponse.Status = .ok) throws -> Response {
        let bytes: [UInt8] = try message.jsonUTF8Bytes(options: Self.jsonEncoding)
        return Response(status: status, headers: [.contentType: "application/json", .cacheControl: "no-store"], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}

extension Parameters {
    /// A path parameter that the route guarantees.
    func path(_ name: String) throws -> String { try require(name) }
}

extension Request {
    /// A query parameter, or "" when absent.
    func query(_ name: String) -> String { uri.queryParameters.get(name) ?? "" }

    /// An integer query parameter (0 when absent); a malformed one is a 400.
    func intQuery(_ name: String) throws -> Int32 {
        guard let text = uri.queryParameters.get(name) else { return 0 }
        guard let value = Int32(text) else { throw GuildError.invalid([.init(field: name, description: "An integer.")]) }
        return value
    }
}
