/// What a client knows about one endpoint's health, as a plain value: when it may be tried
/// again after failures (jittered exponential backoff), and whether it is ejected from rotation
/// after failing repeatedly (then probed back in with a single call once the ejection ends).
public struct EndpointHealth: Sendable, Equatable {
    /// Tunables, shared by every endpoint of a client.
    public struct Policy: Sendable, Equatable {
        /// First reconnect delay; doubles per consecutive failure up to ``maximumBackoff``.
        public var initialBackoff: Duration = .milliseconds(100)
        public var maximumBackoff: Duration = .seconds(2)
        /// Consecutive failures that take an endpoint out of rotation.
        public var ejectionThreshold = 5
        /// How long the first ejection lasts; each further one doubles it up to ``maximumEjection``.
        public var baseEjection: Duration = .seconds(5)
        public var maximumEjection: Duration = .seconds(60)

        public init() {}
    }

    public enum State: Sendable, Equatable {
        /// In rotation.
        case healthy
        /// Out of rotation until the instant; then one probe call may go.
        case ejected(until: ContinuousClock.Instant)
        /// A probe call is in flight; others wait for its outcome.
        case probing
    }

    public private(set) var state: State = .healthy
    public private(set) var consecutiveFailures = 0
    /// Not before this instant may a new connection attempt or call go.
    public private(set) var retryNotBefore: ContinuousClock.Instant?
    public private(set) var ejections = 0

    public init() {}

    /// Whether a call may go to this endpoint now. A call to an ejected endpoint whose ejection
    /// has ended becomes the probe (`state` turns `.probing`).
    public mutating func admit(now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .probing:
            return false
        case .ejected(let until):
            guard now >= until else { return false }
            state = .probing
            return true
        case .healthy:
            if let notBefore = retryNotBefore, now < notBefore { return false }
            return true
        }
    }

    /// True when ``admit(now:)`` would say yes, without taking the probe.
    public func isAvailable(now: ContinuousClock.Instant) -> Bool {
        switch state {
        case .probing: false
        case .ejected(let until): now >= until
        case .healthy: retryNotBefore.map { now >= $0 } ?? true
        }
    }

    public mutating func recordSuccess() {
        state = .healthy
        consecutiveFailures = 0
        retryNotBefore = nil
        ejections = 0
    }

    /// Counts a failure. `jitter` in 0...1 picks where in the backoff window the next attempt
    /// may start (equal jitter: half fixed, half random). `mayEject` is false when ejecting this
    /// endpoint would leave the client without any.
    public mutating func recordFailure(now: ContinuousClock.Instant, policy: Policy, jitter: Double, mayEject: Bool) {
        consecutiveFailures += 1
        let exponent = min(consecutiveFailures - 1, 20)
        let backoff = min(policy.initialBackoff * (1 << exponent), policy.maximumBackoff)
        retryNotBefore = now + backoff / 2 + (backoff / 2) * max(0, min(1, jitter))
        // A failed probe, or too many failures in a row: out of rotation, a little longer each time.
        if state == .probing || (mayEject && consecutiveFailures >= policy.ejectionThreshold) {
            let length = min(policy.baseEjection * (1 << min(ejections, 10)), policy.maximumEjection)
            ejections += 1
            state = .ejected(until: now + length)
        }
    }

    /// True while out of rotation (ejected or being probed).
    public var isEjected: Bool { state != .healthy }
}

/// Caps retries at a fraction of the calls made, so a struggling service does not get a retry
/// storm: every first attempt deposits `ratio` of a token, every retry takes a whole one, and a
/// small reserve lets a quiet client still retry. Kept in thousandths of a token, so sums are exact.
public struct RetryBudget: Sendable, Equatable {
    public let ratio: Double
    private let depositMillis: Int
    private let capacityMillis: Int
    private var millis: Int

    public init(ratio: Double = 0.2, reserve: Double = 10, capacity: Double = 100) {
        self.ratio = ratio
        self.depositMillis = Int((ratio * 1000).rounded())
        self.capacityMillis = Int((capacity * 1000).rounded())
        self.millis = Int((reserve * 1000).rounded())
    }

    /// Tokens available now.
    public var tokens: Double { Double(millis) / 1000 }

    /// A first attempt was made.
    public mutating func deposit() {
        millis = min(capacityMillis, millis + depositMillis)
    }

    /// Takes a token for a retry; false when the budget is spent.
    public mutating func withdraw() -> Bool {
        guard millis >= 1000 else { return false }
        millis -= 1000
        return true
    }
}
