import NIOCore

/// Flushes a channel once the event loop has run what is queued now, however many writes ask
/// for it meanwhile: answers or requests written in one turn of the loop leave in one TLS
/// record and one system call. Owned by a handler, confined to its event loop.
final class CoalescedFlush {
    private var isPending = false

    func request(context: ChannelHandlerContext) {
        guard !isPending else { return }
        isPending = true
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        context.eventLoop.execute {
            let (flush, context) = bound.value
            flush.isPending = false
            context.flush()
        }
    }
}
