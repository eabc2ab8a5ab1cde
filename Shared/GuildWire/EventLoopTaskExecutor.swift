import NIOCore

/// Runs a task's jobs on one NIO event loop.
///
/// A server runs each call's handler as a task that prefers the connection's event loop: the
/// request is decoded, the handler runs and the response is written on the same thread, with no
/// hop to the global executor and back. Work a handler awaits elsewhere (an actor, a database
/// driver, the password-hashing pool) still runs where it lives; the task comes back to the loop
/// afterwards. Handlers must therefore not block: CPU-heavy work belongs on a pool of its own
/// (as password hashing is), or the server can be told to use the global executor
/// (``WireServer/Configuration/runsHandlersOnEventLoop``).
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute {
            job.runSynchronously(on: self.asUnownedTaskExecutor())
        }
    }
}
