/// The life of one server-side connection, as a plain value: what a frame means depends on the
/// state, and every transition is a `mutating func` that says what to do next. Tested without I/O.
public struct ServerConnectionState: Sendable {
    public enum State: Sendable, Equatable {
        /// Connected; the first frame must be HELLO.
        case awaitingHello
        /// Handshake done; calls may open.
        case open(version: UInt8)
        /// Going away: no new calls; closes once the last call finishes.
        case draining(version: UInt8)
        /// Closed.
        case closed
    }

    /// What the connection handler does with a frame.
    public enum Action: Sendable, Equatable {
        /// Answer the handshake with this version.
        case acceptHello(version: UInt8)
        /// Start the call on this stream.
        case startCall(streamID: UInt32)
        /// Refuse the call on this stream with "resource exhausted" (too many calls at once).
        case refuseCall(streamID: UInt32)
        /// Refuse the call on this stream with "unavailable" (the server is draining).
        case refuseDraining(streamID: UInt32)
        /// Cancel the call on this stream, if it still runs.
        case cancelCall(streamID: UInt32)
        /// Answer a ping.
        case pong
        /// Nothing to do.
        case ignore
        /// The peer broke the protocol: send this error on stream 0 and close.
        case fail(WireProtocolError)
    }

    public private(set) var state: State = .awaitingHello
    /// Stream ids of calls that are running.
    public private(set) var activeStreams: Set<UInt32> = []
    /// The highest stream id the peer has opened; new ones must be higher.
    public private(set) var highestStreamID: UInt32 = 0
    public let maxConcurrentCalls: Int
    public let supportedVersions: ClosedRange<UInt32>

    public init(maxConcurrentCalls: Int, supportedVersions: ClosedRange<UInt32> = 1...1) {
        self.maxConcurrentCalls = maxConcurrentCalls
        self.supportedVersions = supportedVersions
    }

    /// The peer's HELLO offered versions `min...max`.
    public mutating func receivedHello(minVersion: UInt32, maxVersion: UInt32) -> Action {
        guard case .awaitingHello = state else {
            return fail(.unexpectedFrame, "HELLO after the handshake")
        }
        guard minVersion <= maxVersion else {
            return fail(.unsupportedVersion, "HELLO offers an empty version range \(minVersion)...\(maxVersion)")
        }
        let chosen = min(maxVersion, supportedVersions.upperBound)
        guard chosen >= minVersion, chosen >= supportedVersions.lowerBound else {
            return fail(.unsupportedVersion, "no common protocol version: peer speaks \(minVersion)...\(maxVersion), this server \(supportedVersions.lowerBound)...\(supportedVersions.upperBound)")
        }
        state = .open(version: UInt8(chosen))
        return .acceptHello(version: UInt8(chosen))
    }

    /// A frame other than HELLO arrived.
    public mutating func receivedFrame(type: FrameType, streamID: UInt32) -> Action {
        switch state {
        case .closed:
            return .ignore
        case .awaitingHello:
            if type == .hello { return .ignore }  // handled by receivedHello
            return fail(.handshakeRequired, "\(type) before HELLO")
        case .open, .draining:
            break
        }
        switch type {
        case .request:
            guard streamID != 0, streamID > highestStreamID else {
                return fail(.invalidStreamID, "REQUEST on stream \(streamID); new streams must be above \(highestStreamID) and not 0")
            }
            highestStreamID = streamID
            if case .draining = state { return .refuseDraining(streamID: streamID) }
            guard activeStreams.count < maxConcurrentCalls else { return .refuseCall(streamID: streamID) }
            activeStreams.insert(streamID)
            return .startCall(streamID: streamID)
        case .cancel:
            guard activeStreams.contains(streamID) else { return .ignore }  // finished already: a race, not an error
            return .cancelCall(streamID: streamID)
        case .ping:
            return .pong
        case .pong, .goAway:
            return .ignore
        default:
            return fail(.unexpectedFrame, "a client does not send \(type)")
        }
    }

    /// A call finished (answered, failed or cancelled). Returns true when the connection should close now.
    public mutating func callFinished(streamID: UInt32) -> Bool {
        activeStreams.remove(streamID)
        if case .draining = state, activeStreams.isEmpty {
            state = .closed
            return true
        }
        return false
    }

    /// Stops taking new calls. Returns true when no call runs, so the connection can close now.
    public mutating func beginDraining() -> Bool {
        switch state {
        case .open(let version):
            state = .draining(version: version)
        case .awaitingHello:
            state = .closed
            return true
        case .draining, .closed:
            break
        }
        if activeStreams.isEmpty { state = .closed; return true }
        return false
    }

    public mutating func closed() {
        state = .closed
        activeStreams.removeAll()
    }

    private mutating func fail(_ reason: WireProtocolError.Reason, _ message: String) -> Action {
        state = .closed
        return .fail(WireProtocolError(reason, message))
    }
}
