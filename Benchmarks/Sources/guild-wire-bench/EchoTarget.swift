import Foundation
import GuildWire
import NIOCore
import NIOFoundationCompat
import NIOPosix
import NIOSSL
import Synchronization

/// The ceiling: a bare length-prefixed echo over the same TLS 1.3 mutual authentication as Guild
/// (the same `WireTLS` contexts), with nothing else: no header, no protobuf, no routing, no
/// tasks on the server. The server answers each frame as it is decoded and flushes once per read.
enum EchoTarget {
    /// Splits a byte stream into bodies prefixed by a 4-byte big-endian length.
    struct LengthPrefixDecoder: ByteToMessageDecoder {
        typealias InboundOut = ByteBuffer

        mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
            guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self),
                  buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
            buffer.moveReaderIndex(forwardBy: 4)
            context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
            return .continue
        }
    }

    final class ServerHandler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var body = unwrapInboundIn(data)
            var out = context.channel.allocator.buffer(capacity: 4 + body.readableBytes)
            out.writeInteger(UInt32(body.readableBytes))
            out.writeBuffer(&body)
            context.write(wrapOutboundOut(out), promise: nil)
        }

        func channelReadComplete(context: ChannelHandlerContext) {
            context.flush()
        }
    }

    static func serve(certificates: String) async throws -> (port: Int, run: @Sendable () async throws -> Void) {
        let tls = try WireTLS.load(directory: certificates, service: GuildTarget.server)
        let sslContext = try tls.makeServerContext()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let sync = channel.pipeline.syncOperations
                    try sync.addHandler(NIOSSLServerHandler(context: sslContext))
                    try sync.addHandler(ByteToMessageHandler(LengthPrefixDecoder()))
                    try sync.addHandler(ServerHandler())
                }
            }
            .bind(host: "127.0.0.1", port: 0)
            .get()
        return (channel.localAddress!.port!, { try await channel.closeFuture.get() })
    }

    /// A call to write: the body and the promise its echo completes.
    struct Call {
        let body: ByteBuffer
        let promise: EventLoopPromise<Int>
    }

    /// Writes calls and completes their promises in order (the server answers in order).
    final class ClientHandler: ChannelDuplexHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundIn = Call
        typealias OutboundOut = ByteBuffer

        private var waiting = CircularBuffer<EventLoopPromise<Int>>()

        func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
            let call = unwrapOutboundIn(data)
            var body = call.body
            var out = context.channel.allocator.buffer(capacity: 4 + body.readableBytes)
            out.writeInteger(UInt32(body.readableBytes))
            out.writeBuffer(&body)
            waiting.append(call.promise)
            context.write(wrapOutboundOut(out), promise: promise)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let body = unwrapInboundIn(data)
            waiting.popFirst()?.succeed(body.readableBytes)
        }

        func channelInactive(context: ChannelHandlerContext) {
            while let promise = waiting.popFirst() { promise.fail(ChannelError.ioOnClosedChannel) }
            context.fireChannelInactive()
        }
    }

    /// Connections used round robin.
    final class Client: EchoClient {
        let channels: [any Channel]
        let next = Atomic<Int>(0)

        init(port: Int, connections: Int, certificates: String) async throws {
            let tls = try WireTLS.load(directory: certificates, service: GuildTarget.client)
            let sslContext = try tls.makeClientContext()
            var channels: [any Channel] = []
            for _ in 0..<connections {
                channels.append(try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelOption(.socketOption(.tcp_nodelay), value: 1)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let sync = channel.pipeline.syncOperations
                            try sync.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: nil))
                            try sync.addHandler(ByteToMessageHandler(LengthPrefixDecoder()))
                            try sync.addHandler(ClientHandler())
                        }
                    }
                    .connect(host: "127.0.0.1", port: port)
                    .get())
            }
            self.channels = channels
        }

        func echo(_ payload: Data) async throws -> Int {
            let channel = channels[next.add(1, ordering: .relaxed).oldValue % channels.count]
            let promise = channel.eventLoop.makePromise(of: Int.self)
            channel.writeAndFlush(Call(body: ByteBuffer(data: payload), promise: promise), promise: nil)
            return try await promise.futureResult.get()
        }

        func close() async {
            for channel in channels { try? await channel.close() }
        }
    }
}
