import Crypto

/// The documented, deterministic draw "guild-lottery-v1": the winners are a pure function of a
/// secret seed, the entrant list and the prizes, so anyone holding the published data can
/// recompute them (`guild lottery verify`, or the independent `scripts/lottery-verify.py`).
///
/// Protocol:
/// 1. Before entries close the organiser draws a 32-byte seed from the system's CSPRNG
///    (``makeSeed()``) and publishes only its commitment, the lowercase hex SHA-256 of the seed
///    (``commitment(toSeed:)``). Nobody, the organiser included, can change the seed afterwards
///    without the commitment showing it.
/// 2. When entries close the seed is revealed and the winners are computed as below.
///
/// Algorithm (byte-exact; any conforming implementation gives the same winners):
/// - **Entrants.** The entrant ids are deduplicated (by their UTF-8 bytes) and sorted ascending
///   by their UTF-8 bytes, compared lexicographically: the list `a[0..m-1]`. The order in which
///   people entered, and entering twice, make no difference.
/// - **Random stream.** Block `i` (`i` = 0, 1, 2, …) is
///   `HMAC-SHA256(key: seed, message: ASCII "guild-lottery-v1" ‖ i as an 8-byte big-endian
///   unsigned integer)`. Each 32-byte block gives four 64-bit unsigned integers, read
///   big-endian in order; the stream is those integers, block after block.
/// - **uniform(n)**, for `n ≥ 1`: take the next integer `x` of the stream; if
///   `x ≥ 2^64 − (2^64 mod n)` reject it and take the next; the result is `x mod n`. (Rejection
///   removes the modulo bias, so every value in `0..<n` is equally likely.)
/// - **Shuffle** (Fisher–Yates): for `i` from `m − 1` down to 1, `j = uniform(i + 1)`, swap
///   `a[i]` and `a[j]`. One stream serves the whole shuffle.
/// - **Winners.** The prizes are taken in the given order; prize `k` (its index in the prize
///   list, from 0) takes the next `count` entrants of the shuffled list, and positions are
///   numbered from 1 across all prizes. A prize with `count ≤ 0` takes nobody; when the
///   entrants run out the draw stops, so later prizes (or the rest of one) stay unawarded.
///
/// Known-answer vector: seed = bytes 0x00, 0x01, …, 0x1f; entrants "u1" … "u10"; prizes
/// [first × 1, second × 2] → #1 first: u5, #2 second: u10, #3 second: u4.
public enum LotteryDraw {
    /// The name of this algorithm, published with every lottery so verifiers know what to run.
    public static let algorithm = "guild-lottery-v1"

    /// A prize of the lottery: `count` winners get one each.
    public struct Prize: Sendable, Equatable {
        /// The prize's name as published.
        public var name: String
        /// How many entrants win it; zero or less means none.
        public var count: Int

        /// A prize won by `count` entrants.
        public init(name: String, count: Int) {
            self.name = name
            self.count = count
        }
    }

    /// One winner of the draw.
    public struct Winner: Sendable, Equatable {
        /// The name of the prize won.
        public var prize: String
        /// The index of that prize in the lottery's prize list, from 0.
        public var prizeIndex: Int
        /// The winner's place in the draw, from 1 across all prizes.
        public var position: Int
        /// The entrant who won.
        public var userID: String

        /// A winner as published.
        public init(prize: String, prizeIndex: Int, position: Int, userID: String) {
            self.prize = prize
            self.prizeIndex = prizeIndex
            self.position = position
            self.userID = userID
        }
    }

    /// 32 random bytes from the system's CSPRNG.
    public static func makeSeed() -> [UInt8] {
        Bytes.random(32)
    }

    /// Lowercase hex SHA-256 of the seed: what is published before entries close.
    public static func commitment(toSeed seed: [UInt8]) -> String {
        hex(Array(SHA256.hash(data: seed)))
    }

    /// The entrant list as the draw uses it: deduplicated and sorted by UTF-8 bytes ascending.
    ///
    /// Two ids are the same entrant only when their UTF-8 bytes are equal (Swift's `String`
    /// equality, which treats canonically equivalent Unicode as equal, is not used).
    public static func canonicalEntrants(_ entrants: [String]) -> [String] {
        let sorted = entrants.map { Array($0.utf8) }.sorted { $0.lexicographicallyPrecedes($1) }
        var result: [String] = []
        var previous: [UInt8]?
        for bytes in sorted where bytes != previous {
            result.append(String(decoding: bytes, as: UTF8.self))
            previous = bytes
        }
        return result
    }

    /// The winners: a pure function of the seed, the entrants (canonicalized here) and the prizes.
    public static func winners(seed: [UInt8], entrants: [String], prizes: [Prize]) -> [Winner] {
        var shuffled = canonicalEntrants(entrants)
        var stream = RandomStream(seed: seed)
        if shuffled.count > 1 {
            for i in stride(from: shuffled.count - 1, through: 1, by: -1) {
                let j = Int(stream.uniform(UInt64(i + 1)))
                shuffled.swapAt(i, j)
            }
        }
        var winners: [Winner] = []
        var next = 0
        for (index, prize) in prizes.enumerated() {
            for _ in 0..<max(prize.count, 0) {
                guard next < shuffled.count else { return winners }
                winners.append(Winner(prize: prize.name, prizeIndex: index, position: next + 1, userID: shuffled[next]))
                next += 1
            }
        }
        return winners
    }

    /// Checks published data: the seed matches the commitment and the published winners are
    /// exactly `winners(...)`. Returns a list of problems (empty = verified).
    ///
    /// The published winners are compared in order of their position, so a correct list
    /// verifies whatever order it is published in; ids are compared by their UTF-8 bytes.
    public static func verify(
        seedHex: String, commitment: String, entrants: [String], prizes: [Prize], publishedWinners: [Winner]
    ) -> [String] {
        guard !seedHex.isEmpty else {
            return ["no seed is published: the lottery has not been drawn yet"]
        }
        guard let seed = bytes(hex: seedHex), !seed.isEmpty else {
            return ["the seed is not hexadecimal: \"\(seedHex)\""]
        }
        var problems: [String] = []
        let actual = self.commitment(toSeed: seed)
        if actual != commitment.lowercased() {
            problems.append("the seed does not match the commitment \"\(commitment)\" (SHA-256 of the seed is \(actual))")
        }
        let expected = winners(seed: seed, entrants: entrants, prizes: prizes)
        let published = publishedWinners.enumerated()
            .sorted { ($0.element.position, $0.offset) < ($1.element.position, $1.offset) }
            .map(\.element)
        for n in 0..<max(expected.count, published.count) {
            if n >= published.count {
                let e = expected[n]
                problems.append("winner #\(e.position) (\(e.userID) for \(e.prize)) is missing from the published winners")
            } else if n >= expected.count {
                let p = published[n]
                problems.append("published winner \(p.userID) at position \(p.position) is not drawn by the seed")
            } else if !sameWinner(published[n], expected[n]) {
                let (p, e) = (published[n], expected[n])
                problems.append(
                    "winner #\(e.position): published \(p.userID) for \(p.prize) (prize \(p.prizeIndex), position \(p.position)), "
                        + "the draw gives \(e.userID) for \(e.prize) (prize \(e.prizeIndex))"
                )
            }
        }
        return problems
    }

    /// The bytes as lowercase hexadecimal, two digits each.
    public static func hex(_ bytes: [UInt8]) -> String {
        bytes.hexString
    }

    /// The bytes spelled by `hex` (upper- or lowercase digits, two per byte); nil when it is not
    /// an even number of hexadecimal digits.
    public static func bytes(hex: String) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count.isMultiple(of: 2) else { return nil }
        var result: [UInt8] = []
        result.reserveCapacity(digits.count / 2)
        var index = 0
        while index < digits.count {
            guard let high = nibble(digits[index]), let low = nibble(digits[index + 1]) else { return nil }
            result.append(high << 4 | low)
            index += 2
        }
        return result
    }

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    private static func sameWinner(_ a: Winner, _ b: Winner) -> Bool {
        a.prize.utf8.elementsEqual(b.prize.utf8) && a.prizeIndex == b.prizeIndex && a.position == b.position
            && a.userID.utf8.elementsEqual(b.userID.utf8)
    }

    /// The draw's stream of 64-bit integers and the unbiased `uniform(n)` taken from it.
    struct RandomStream {
        private let key: SymmetricKey
        private var block: UInt64 = 0
        private var words: [UInt64] = []
        private var nextWord = 0

        init(seed: [UInt8]) {
            key = SymmetricKey(data: seed)
        }

        /// The next integer of the stream.
        mutating func next() -> UInt64 {
            if nextWord == words.count {
                var message = Array(LotteryDraw.algorithm.utf8)
                withUnsafeBytes(of: block.bigEndian) { message.append(contentsOf: $0) }
                let mac = Array(HMAC<SHA256>.authenticationCode(for: message, using: key))
                words = stride(from: 0, to: 32, by: 8).map { start in
                    mac[start..<start + 8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
                }
                nextWord = 0
                block += 1
            }
            defer { nextWord += 1 }
            return words[nextWord]
        }

        /// A uniformly distributed integer in `0..<n` (`n ≥ 1`), by rejection of the last,
        /// incomplete run of `n` values below 2^64.
        mutating func uniform(_ n: UInt64) -> UInt64 {
            precondition(n >= 1, "uniform(n) needs n ≥ 1")
            let rem = (UInt64.max % n + 1) % n  // 2^64 mod n, without overflow
            while true {
                let x = next()
                if rem == 0 || x < UInt64.max - rem + 1 {  // x < 2^64 − rem
                    return x % n
                }
            }
        }
    }
}
