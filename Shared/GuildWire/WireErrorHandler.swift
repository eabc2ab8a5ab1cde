import GuildCore
import Logging
import NIOCore

/// Ends a connection whose peer broke the protocol: on a ``WireProtocolError`` it writes an
/// ERROR frame on stream 0 that says what was wrong, flushes it, and closes the channel. Any other
/// error closes the channel too. Sits right after the frame codec.
public final class WireErrorHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = Frame
    public typealias InboundOut = Frame
    public typealias OutboundOut = Frame

    private let logger: Logger
    private var isClosing = false

    public init(logger: Logger) {
        self.logger = logger
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !isClosing else { return }  // drop what arrives after a fatal error
        context.fireChannelRead(data)
    }

    public func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard !isClosing else { return }
        isClosing = true
        if let violation = error as? WireProtocolError {
            Self.closeConnection(context: context, violation: violation, logger: logger)
        } else {
            logger.debug("closing connection after error", metadata: ["error": "\(error)"])
            context.close(promise: nil)
        }
        context.fireErrorCaught(error)
    }

    /// Tells the peer what it did wrong (an ERROR frame on stream 0), then closes the connection
    /// once that frame is written. Handlers after the codec call this for violations they detect.
    static func closeConnection(context: ChannelHandlerContext, violation: WireProtocolError, logger: Logger) {
        logger.notice("closing connection: peer broke the protocol", metadata: [
            "reason": "\(violation.reason.rawValue)", "detail": "\(violation.message)",
            "peer": "\(context.remoteAddress.map { "\($0)" } ?? "?")",
        ])
        let frame = Frame.error(violation.guildError, streamID: 0)
        context.writeAndFlush(NIOAny(frame))
            .assumeIsolated()
            .whenComplete { _ in context.close(promise: nil) }
    }
}
