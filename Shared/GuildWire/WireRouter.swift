import Foundation
import GuildCore
import GuildMessages
import NIOCore
import SwiftProtobuf

/// One method a server answers: its descriptor data and a handler over raw bytes (the payload
/// as a slice of the received frame in, the serialized answer with room for its frame out).
public struct WireMethod: Sendable {
    public let name: String
    public let allowedCallers: Set<ServiceName>
    public let isIdempotent: Bool
    /// Its place in the router, set when registered (per-method state is kept by this index).
    var index = -1
    let invoke: @Sendable (ByteBuffer, CallContext) async throws -> WirePayload

    /// Binds a typed handler to a method descriptor. The payload is decoded as the descriptor's
    /// request type (a malformed payload is `invalidArgument`) and the response encoded.
    public init<Request, Response>(
        _ descriptor: MethodDescriptor<Request, Response>,
        handler: @escaping @Sendable (Request, CallContext) async throws -> Response
    ) {
        self.name = descriptor.name
        self.allowedCallers = descriptor.allowedCallers
        self.isIdempotent = descriptor.isIdempotent
        self.invoke = { bytes, context in
            let request: Request
            do {
                request = try Request(payload: bytes)
            } catch {
                throw GuildError(.invalidArgument, "The request payload is not a valid \(Request.protoMessageName).")
            }
            return try await handler(request, context).serializedBytes()
        }
    }
}

/// The methods of one server, by name.
public struct WireRouter: Sendable {
    private var methods: [String: WireMethod] = [:]

    public init(_ methods: [WireMethod] = []) {
        for method in methods { register(method) }
    }

    /// Adds a method. Registering a name twice is a programming error.
    public mutating func register(_ method: WireMethod) {
        precondition(methods[method.name] == nil, "method \(method.name) registered twice")
        var method = method
        method.index = methods.count
        methods[method.name] = method
    }

    /// How many methods are registered; their indexes are `0..<count`.
    public var count: Int { methods.count }

    public func method(named name: String) -> WireMethod? { methods[name] }

    /// The names of every registered method.
    public var methodNames: [String] { methods.keys.sorted() }
}
