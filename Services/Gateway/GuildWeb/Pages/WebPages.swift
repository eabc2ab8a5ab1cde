import Foundation
import GuildCore
import GuildMessages
import GuildWire
import SwiftProtobuf
import Hummingbird
import HTTPTypes

/// One page (or form target) of the web front end.
struct WebPage: Sendable {
    enum SignIn: Sendable {
        /// Visitors and members alike.
        case optional
        /// Members only: a visitor is sent to `/login` and back.
        case required
    }

    let method: HTTPRequest.Method
    /// The path in Hummingbird's form (`/c/:slug`).
    let path: String
    let signIn: SignIn
    let handler: @Sendable (WebFrontEnd, inout Visit) async throws -> Response

    init(_ method: HTTPRequest.Method, _ path: String, signIn: SignIn = .optional,
         _ handler: @escaping @Sendable (WebFrontEnd, inout Visit) async throws -> Response) {
        self.method = method
        self.path = path
        self.signIn = signIn
        self.handler = handler
    }
}

/// Every page, by area.
enum WebPages {
    static let all: [WebPage] = home + account + community + checkout + reading + interaction + growth + groupBuys + search + events + questions + consulting + reviewTasks + writing
}
