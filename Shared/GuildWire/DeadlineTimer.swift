import NIOCore

/// One event-loop timer for the deadlines of every call on a connection.
///
/// It is armed for the earliest deadline and re-armed, when it fires, for the earliest one
/// left. A call that finishes leaves the timer alone: if the timer then fires for nothing, the
/// owner finds no call due and re-arms. Calls with similar timeouts thus cost one timer per
/// timeout period, not one per call. Confined to the owner's event loop.
struct DeadlineTimer {
    private var armed: (at: NIODeadline, callback: NIOScheduledCallback)?

    /// Makes sure the timer fires no later than `deadline`.
    mutating func arm(at deadline: NIODeadline, on eventLoop: any EventLoop, handler: some NIOScheduledCallbackHandler & Sendable) {
        if let armed, armed.at <= deadline { return }
        armed?.callback.cancel()
        armed = (try? eventLoop.scheduleCallback(at: deadline, handler: handler)).map { (deadline, $0) }
    }

    /// Call when the timer has fired, before re-arming.
    mutating func fired() {
        armed = nil
    }

    mutating func cancel() {
        armed?.callback.cancel()
        armed = nil
    }
}
