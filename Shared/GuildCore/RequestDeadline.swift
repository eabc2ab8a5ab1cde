/// The deadline of the request the current task is serving, if any.
///
/// The wire server sets it around every handler, so code deep inside a service can ask how much
/// time is left (to refuse work that cannot finish in time) and calls to other services pass on
/// only what remains: the deadline shrinks across hops.
public enum RequestDeadline {
    @TaskLocal public static var current: ContinuousClock.Instant?

    /// Time left before the current deadline; nil when there is none.
    public static var remaining: Duration? {
        current.map { $0 - ContinuousClock.now }
    }
}
