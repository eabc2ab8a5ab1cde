import GuildCore
import Testing

/// The lottery draw "guild-lottery-v1": deterministic, independent of entry order, checkable
/// from published data, and fair.
@Suite("Lottery draw")
struct LotteryDrawTests {
    typealias Prize = LotteryDraw.Prize
    typealias Winner = LotteryDraw.Winner

    static let vectorSeed = (0..<32).map(UInt8.init)
    static let tenEntrants = (1...10).map { "u\($0)" }
    static let vectorPrizes = [Prize(name: "first", count: 1), Prize(name: "second", count: 2)]

    @Test("the same inputs draw the same winners")
    func deterministic() {
        let seed = LotteryDraw.makeSeed()
        let first = LotteryDraw.winners(seed: seed, entrants: Self.tenEntrants, prizes: Self.vectorPrizes)
        let second = LotteryDraw.winners(seed: seed, entrants: Self.tenEntrants, prizes: Self.vectorPrizes)
        #expect(first == second)
        #expect(first.count == 3)
    }

    @Test("the order of entry and entering twice make no difference")
    func entryOrderAndDuplicatesIgnored() {
        let seed = Self.vectorSeed
        let drawn = LotteryDraw.winners(seed: seed, entrants: Self.tenEntrants, prizes: Self.vectorPrizes)
        let reordered = LotteryDraw.winners(seed: seed, entrants: Self.tenEntrants.reversed(), prizes: Self.vectorPrizes)
        let doubled = LotteryDraw.winners(seed: seed, entrants: Self.tenEntrants + ["u3", "u7", "u1"], prizes: Self.vectorPrizes)
        #expect(reordered == drawn)
        #expect(doubled == drawn)
        #expect(LotteryDraw.canonicalEntrants(["b", "a", "b", "A", "a"]) == ["A", "a", "b"])
        // UTF-8 byte order: "u10" < "u2"; "é" (0xC3 0xA9) sorts after "z".
        #expect(LotteryDraw.canonicalEntrants(["u2", "é", "z", "u10"]) == ["u10", "u2", "z", "é"])
    }

    @Test("a different seed draws differently")
    func seedMatters() {
        var other = Self.vectorSeed
        other[0] ^= 1
        let prizes = [Prize(name: "all", count: 10)]
        #expect(
            LotteryDraw.winners(seed: other, entrants: Self.tenEntrants, prizes: prizes)
                != LotteryDraw.winners(seed: Self.vectorSeed, entrants: Self.tenEntrants, prizes: prizes)
        )
    }

    /// Expected values computed independently by scripts/lottery-verify.py (Python's hmac and
    /// hashlib, not this code):
    ///   scripts/lottery-verify.py --draw 000102…1e1f --prize first:1 --prize second:2 u1 u2 … u10
    @Test("known-answer vector")
    func knownAnswer() {
        #expect(
            LotteryDraw.commitment(toSeed: Self.vectorSeed)
                == "630dcd2966c4336691125448bbb25b4ff412a49c732db2c8abc1b8581bd710dd"
        )
        #expect(
            LotteryDraw.winners(seed: Self.vectorSeed, entrants: Self.tenEntrants, prizes: Self.vectorPrizes) == [
                Winner(prize: "first", prizeIndex: 0, position: 1, userID: "u5"),
                Winner(prize: "second", prizeIndex: 1, position: 2, userID: "u10"),
                Winner(prize: "second", prizeIndex: 1, position: 3, userID: "u4"),
            ]
        )
    }

    @Test("the commitment is the lowercase hex SHA-256 of the seed")
    func commitment() {
        // SHA-256 of the empty string and of 32 zero bytes, well-known values.
        #expect(LotteryDraw.commitment(toSeed: []) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(LotteryDraw.commitment(toSeed: [UInt8](repeating: 0, count: 32)) == "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925")
        let seed = LotteryDraw.makeSeed()
        #expect(seed.count == 32)
        #expect(LotteryDraw.makeSeed() != seed)
        #expect(LotteryDraw.bytes(hex: LotteryDraw.commitment(toSeed: seed))?.count == 32)
    }

    @Test("hex round trip; bad hex is nil")
    func hex() {
        #expect(LotteryDraw.hex([0x00, 0xAB, 0x7f]) == "00ab7f")
        #expect(LotteryDraw.bytes(hex: "00ab7F") == [0x00, 0xAB, 0x7f])
        #expect(LotteryDraw.bytes(hex: "") == [])
        #expect(LotteryDraw.bytes(hex: "abc") == nil)
        #expect(LotteryDraw.bytes(hex: "zz") == nil)
        #expect(LotteryDraw.bytes(hex: "0x12") == nil)
        #expect(LotteryDraw.bytes(hex: "éé") == nil)
    }

    @Test("verify accepts the honest draw, in any published order")
    func verifiesHonestDraw() {
        let seed = Self.vectorSeed
        let winners = LotteryDraw.winners(seed: seed, entrants: Self.tenEntrants, prizes: Self.vectorPrizes)
        let problems = LotteryDraw.verify(
            seedHex: LotteryDraw.hex(seed), commitment: LotteryDraw.commitment(toSeed: seed),
            entrants: Self.tenEntrants.shuffled(), prizes: Self.vectorPrizes, publishedWinners: winners.reversed()
        )
        #expect(problems == [])
    }

    @Test("verify reports a tampered winner")
    func tamperedWinner() {
        let seed = Self.vectorSeed
        var winners = LotteryDraw.winners(seed: seed, entrants: Self.tenEntrants, prizes: Self.vectorPrizes)
        winners[1].userID = "u1"
        let problems = LotteryDraw.verify(
            seedHex: LotteryDraw.hex(seed), commitment: LotteryDraw.commitment(toSeed: seed),
            entrants: Self.tenEntrants, prizes: Self.vectorPrizes, publishedWinners: winners
        )
        #expect(problems.count == 1)
        #expect(problems.first?.contains("u1") == true)

        let missing = LotteryDraw.verify(
            seedHex: LotteryDraw.hex(seed), commitment: LotteryDraw.commitment(toSeed: seed),
            entrants: Self.tenEntrants, prizes: Self.vectorPrizes, publishedWinners: Array(winners.prefix(2))
        )
        #expect(missing.count == 2)
    }

    @Test("verify reports a seed that does not match the commitment")
    func wrongSeed() {
        let seed = Self.vectorSeed
        var other = seed
        other[31] ^= 0xFF
        // Winners honestly drawn from the other seed: only the commitment betrays the swap.
        let winners = LotteryDraw.winners(seed: other, entrants: Self.tenEntrants, prizes: Self.vectorPrizes)
        let problems = LotteryDraw.verify(
            seedHex: LotteryDraw.hex(other), commitment: LotteryDraw.commitment(toSeed: seed),
            entrants: Self.tenEntrants, prizes: Self.vectorPrizes, publishedWinners: winners
        )
        #expect(problems.count == 1)
        #expect(problems.first?.contains("commitment") == true)

        let unpublished = LotteryDraw.verify(
            seedHex: "", commitment: LotteryDraw.commitment(toSeed: seed),
            entrants: Self.tenEntrants, prizes: Self.vectorPrizes, publishedWinners: []
        )
        #expect(unpublished.count == 1)
        let notHex = LotteryDraw.verify(
            seedHex: "xyz", commitment: LotteryDraw.commitment(toSeed: seed),
            entrants: Self.tenEntrants, prizes: Self.vectorPrizes, publishedWinners: []
        )
        #expect(notHex.count == 1)
    }

    @Test("fairness: 10 entrants, 20,000 seeds, every entrant wins about a tenth of the time")
    func fairness() {
        var wins: [String: Int] = [:]
        for n in 0..<20_000 {
            // Distinct, reproducible seeds: the counter in the first four bytes.
            var seed = [UInt8](repeating: 0x5A, count: 32)
            withUnsafeBytes(of: UInt32(n).bigEndian) { seed.replaceSubrange(0..<4, with: $0) }
            let winners = LotteryDraw.winners(seed: seed, entrants: Self.tenEntrants, prizes: [Prize(name: "only", count: 1)])
            #expect(winners.count == 1)
            if let winner = winners.first { wins[winner.userID, default: 0] += 1 }
        }
        #expect(Set(wins.keys) == Set(Self.tenEntrants))
        for entrant in Self.tenEntrants {
            #expect((1_700...2_300).contains(wins[entrant, default: 0]), "\(entrant) won \(wins[entrant, default: 0]) times")
        }
    }

    @Test("fewer entrants than prizes: the draw stops when the entrants run out")
    func fewerEntrantsThanPrizes() {
        let prizes = [Prize(name: "none", count: 0), Prize(name: "a", count: 1), Prize(name: "negative", count: -3), Prize(name: "b", count: 2), Prize(name: "c", count: 1)]
        let winners = LotteryDraw.winners(seed: Self.vectorSeed, entrants: ["x", "y"], prizes: prizes)
        #expect(winners.map(\.prize) == ["a", "b"])
        #expect(winners.map(\.prizeIndex) == [1, 3])
        #expect(winners.map(\.position) == [1, 2])
        #expect(Set(winners.map(\.userID)) == ["x", "y"])
    }

    @Test("zero entrants: no winners, and that verifies")
    func zeroEntrants() {
        let seed = Self.vectorSeed
        #expect(LotteryDraw.winners(seed: seed, entrants: [], prizes: Self.vectorPrizes) == [])
        #expect(
            LotteryDraw.verify(
                seedHex: LotteryDraw.hex(seed), commitment: LotteryDraw.commitment(toSeed: seed),
                entrants: [], prizes: Self.vectorPrizes, publishedWinners: []
            ) == []
        )
        #expect(LotteryDraw.winners(seed: seed, entrants: ["solo"], prizes: Self.vectorPrizes) == [
            Winner(prize: "first", prizeIndex: 0, position: 1, userID: "solo")
        ])
    }
}
