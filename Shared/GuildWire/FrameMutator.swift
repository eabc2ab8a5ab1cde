import NIOCore

/// Makes hostile byte streams for the wire protocol: valid frames, frames with a byte flipped,
/// wrong lengths, unknown types and flags, truncations, and plain noise. Deterministic for a
/// seed, so a failure can be replayed. Used by the randomized tests and the fuzz target's corpus.
public struct FrameMutator: Sendable {
    /// A small, fast, seedable generator (SplitMix64).
    public struct Generator: RandomNumberGenerator, Sendable {
        private var state: UInt64
        public init(seed: UInt64) { state = seed }
        public mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    public var generator: Generator

    public init(seed: UInt64) {
        generator = Generator(seed: seed)
    }

    /// The bytes of one frame.
    public static func bytes(of frame: Frame) -> [UInt8] {
        var buffer = ByteBuffer()
        FrameEncoder.encode(frame, into: &buffer)
        return Array(buffer.readableBytesView)
    }

    /// A plausible frame: a known type, a small stream id, a random short body.
    public mutating func validLookingFrame() -> [UInt8] {
        let types = Array(FrameType.known)
        let type = types[Int.random(in: 0..<types.count, using: &generator)]
        let body = (0..<Int.random(in: 0...48, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        return Self.bytes(of: Frame(type: type, streamID: UInt32.random(in: 0...8, using: &generator), body: ByteBuffer(bytes: body)))
    }

    /// One hostile chunk of bytes, starting from `valid` (a well-formed frame) or from nothing.
    public mutating func hostileChunk(from valid: [UInt8]) -> [UInt8] {
        var bytes = valid
        switch Int.random(in: 0..<9, using: &generator) {
        case 0:  // flip some bytes anywhere
            for _ in 0..<Int.random(in: 1...4, using: &generator) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &generator)] ^= UInt8.random(in: 1...255, using: &generator)
            }
        case 1:  // a length field that lies (too big, too small, huge)
            let lies: [UInt32] = [0, 1, 7, 8, UInt32(bytes.count), UInt32(bytes.count) + 100, 1 << 20, (1 << 20) + 1, .max]
            let length = lies[Int.random(in: 0..<lies.count, using: &generator)]
            if bytes.count >= 4 { bytes.replaceSubrange(0..<4, with: withUnsafeBytes(of: length.bigEndian, Array.init)) }
        case 2:  // an unknown type
            if bytes.count > 5 { bytes[5] = UInt8.random(in: 0x0A...0xFF, using: &generator) }
        case 3:  // flags set
            if bytes.count > 7 { bytes[6] = UInt8.random(in: 1...255, using: &generator) }
        case 4:  // another version
            if bytes.count > 4 { bytes[4] = UInt8.random(in: 2...255, using: &generator) }
        case 5:  // truncated
            bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &generator)))
        case 6:  // noise
            bytes = (0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        case 7:  // a frame of a random stream and type with a garbage body
            bytes = validLookingFrame()
        default:  // left intact
            break
        }
        return bytes
    }
}
