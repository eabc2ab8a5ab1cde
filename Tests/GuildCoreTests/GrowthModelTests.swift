import Foundation
import GuildCore
import Testing

/// The growth forecast's mathematics: the textbook case, figures checked against an independent
/// computation (SciPy 1.17: `scipy.stats.linregress` and `scipy.stats.t.ppf`), synthetic
/// communities with a known rate whose interval must be honest, and every refusal.
@Suite("Growth model")
struct GrowthModelTests {
    typealias Fit = GrowthModel.Fit

    // MARK: Textbook

    @Test("100 members growing 10% a month are about 133 after 3 months")
    func textbook() throws {
        let fit = try GrowthModel.fit([100, 110, 121, 133])
        #expect(abs(fit.r - 0.10) < 0.005)
        #expect(fit.periodsUsed == 4)
        #expect(fit.lastT == 3)
        #expect(abs(fit.predict(3) - 133) < 1)

        let byHand = Fit(r: 0.10, rLow: 0.10, rHigh: 0.10, rSquared: 1, c: 100, periodsUsed: 4, lastT: 3)
        #expect(abs(byHand.predict(3) - 133) < 1)
        #expect(abs(byHand.predict(3) - 133.1) < 1e-9)
        #expect(byHand.predict(0) == 100)

        let series = (0..<6).map { Int64((100 * pow(1.1, Double($0))).rounded()) }
        #expect(series == [100, 110, 121, 133, 146, 161])
        let six = try GrowthModel.fit(series)
        #expect(abs(six.r - 0.10) < 0.002)
        #expect(six.rSquared > 0.999)
        #expect(six.rLow < six.r && six.r < six.rHigh)
        #expect(six.rLow < 0.10 && 0.10 < six.rHigh)
    }

    @Test("the figures match an independent least-squares computation")
    func figuresByHand() throws {
        // SciPy: linregress(t, ln m) for m = [100, 120, 130, 170, 190], t.ppf(0.975, 3).
        let fit = try GrowthModel.fit([100, 120, 130, 170, 190])
        #expect(abs(fit.r - 0.1772738236839569) < 1e-9)
        #expect(abs(fit.rLow - 0.12452134877121962) < 1e-9)
        #expect(abs(fit.rHigh - 0.2325009724767942) < 1e-9)
        #expect(abs(fit.rSquared - 0.9771607665200734) < 1e-9)
        #expect(abs(fit.c - 99.70351023926384) < 1e-7)
        #expect(abs(fit.residualStandardError - 0.04555343470620608) < 1e-9)
        #expect(fit.meanT == 2)
        #expect(fit.sxx == 10)
        #expect(fit.periodsUsed == 5 && fit.lastT == 4)

        let points = GrowthModel.forecast(fit, horizon: 2)
        #expect(points.map(\.t) == [5, 6])
        let expected: [(members: Double, low: Double, high: Double)] = [
            (225.47473610859413, 182.7510160128904, 278.18645133909536),
            (265.4455047226956, 208.26807678474623, 338.32028924102144),
        ]
        for (point, want) in zip(points, expected) {
            #expect(abs(point.members - want.members) < 1e-6)
            #expect(abs(point.low - want.low) < 1e-6)
            #expect(abs(point.high - want.high) < 1e-6)
        }

        let wider = try GrowthModel.fit([100, 120, 130, 170, 190], confidence: 0.99)
        #expect(wider.r == fit.r)
        #expect(wider.rLow < fit.rLow && fit.rHigh < wider.rHigh)
        #expect(wider.confidence == 0.99)
    }

    @Test("a perfect fit has a zero-width interval and band, and no NaN")
    func perfectFit() throws {
        // Exactly 10% a period in whole numbers: 10⁴·1.1^t for t = 0…4.
        let exact = try GrowthModel.fit([10_000, 11_000, 12_100, 13_310, 14_641])
        #expect(abs(exact.r - 0.10) < 1e-12)
        #expect(exact.rLow == exact.r)
        #expect(exact.rHigh == exact.r)
        #expect(exact.rSquared == 1)
        #expect(exact.residualStandardError == 0)
        #expect(abs(exact.c - 10_000) < 1e-8)

        let flat = try GrowthModel.fit([50, 50, 50, 50])
        #expect(flat.r == 0)
        #expect(flat.rLow == 0 && flat.rHigh == 0)
        #expect(flat.rSquared == 1)
        #expect(abs(flat.c - 50) < 1e-12)
        let band = GrowthModel.forecast(flat, horizon: 2)
        #expect(band.allSatisfy { $0.low == $0.members && $0.high == $0.members && abs($0.members - 50) < 1e-9 })

        for fit in [exact, flat] {
            let figures = [fit.r, fit.rLow, fit.rHigh, fit.rSquared, fit.c, fit.residualStandardError]
            #expect(figures.allSatisfy { $0.isFinite })
        }
    }

    // MARK: Synthetic communities

    /// Sebastiano Vigna's SplitMix64: a tiny deterministic generator, so every run draws the same noise.
    struct SplitMix64: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        /// Uniform in (0, 1].
        mutating func uniform() -> Double { (Double(next() >> 11) + 1) * 0x1p-53 }
        /// Standard normal by Box–Muller.
        mutating func normal() -> Double {
            (-2 * log(uniform())).squareRoot() * cos(2 * Double.pi * uniform())
        }
    }

    /// members_t = round(C·(1+r)^t·e^ε_t), ε ~ N(0, σ²).
    static func community(r: Double, seed: UInt64, periods: Int = 12, c: Double = 200, sigma: Double = 0.03) -> [Int64] {
        var generator = SplitMix64(state: seed)
        return (0..<periods).map { t in
            Int64((c * pow(1 + r, Double(t)) * exp(sigma * generator.normal())).rounded())
        }
    }

    @Test("the generator is SplitMix64")
    func generatorVector() {
        var generator = SplitMix64(state: 1_234_567)
        #expect([generator.next(), generator.next(), generator.next()] == [6_457_827_717_110_365_317, 3_203_168_211_198_807_973, 9_817_491_932_198_370_423])
    }

    @Test("a community with a known rate and noise: the true r lies in the interval", arguments: [-0.05, 0.03, 0.08, 0.20])
    func knownRate(r: Double) throws {
        let members = Self.community(r: r, seed: 42)
        let fit = try GrowthModel.fit(members)
        #expect(fit.periodsUsed == 12)
        #expect(fit.rLow <= r && r <= fit.rHigh, "r = \(r): [\(fit.rLow), \(fit.rHigh)]")
        #expect(fit.rLow < fit.r && fit.r < fit.rHigh)
        #expect(abs(fit.r - r) < 0.02)
        #expect(abs(fit.c - 200) < 30)
    }

    @Test("over 200 communities the 95% interval holds the true rate about 95% of the time")
    func coverage() throws {
        let truth = 0.08
        var covered = 0
        var narrowerAt90 = 0
        for seed in 1...200 {
            let members = Self.community(r: truth, seed: UInt64(seed))
            let fit = try GrowthModel.fit(members)
            if fit.rLow <= truth && truth <= fit.rHigh { covered += 1 }
            let ninety = try GrowthModel.fit(members, confidence: 0.90)
            if ninety.rLow > fit.rLow && ninety.rHigh < fit.rHigh { narrowerAt90 += 1 }
        }
        let share = Double(covered) / 200
        #expect(share >= 0.90 && share <= 0.99, "coverage \(share)")
        #expect(narrowerAt90 == 200)
    }

    // MARK: Refusals

    @Test("too few periods is not enough history", arguments: [
        ([], 0), ([5], 1), ([0, 0, 7], 1), ([10, 12], 2), ([0, 0, 0], 0),
    ] as [([Int64], Int)])
    func notEnoughHistory(members: [Int64], have: Int) {
        #expect(throws: GrowthModel.FitError.notEnoughHistory(have: have, need: 3)) {
            try GrowthModel.fit(members)
        }
    }

    @Test("leading zeros are dropped; the minimum is at least 3")
    func leadingZerosAndMinimum() throws {
        let fit = try GrowthModel.fit([0, 0, 100, 110, 121])
        #expect(fit.periodsUsed == 3)
        #expect(fit.lastT == 2)
        #expect(abs(fit.r - 0.10) < 1e-12)
        #expect(abs(fit.c - 100) < 1e-9)

        #expect(throws: GrowthModel.FitError.notEnoughHistory(have: 3, need: 5)) {
            try GrowthModel.fit([100, 110, 121], minimumPeriods: 5)
        }
        #expect(throws: GrowthModel.FitError.notEnoughHistory(have: 2, need: 3)) {
            try GrowthModel.fit([100, 110], minimumPeriods: 1)
        }
        #expect(try GrowthModel.fit([100, 110, 121], minimumPeriods: 1).periodsUsed == 3)
    }

    @Test("a zero or negative count after the start has no logarithm", arguments: [
        [10, 0, 12], [0, 5, 0, 6, 7], [10, 11, 12, 0], [10, -1, 12, 13], [-3, 4, 5, 6],
    ] as [[Int64]])
    func nonPositive(members: [Int64]) {
        #expect(throws: GrowthModel.FitError.nonPositive) {
            try GrowthModel.fit(members)
        }
    }

    // MARK: Period over period

    @Test("the period-over-period rate")
    func periodRates() {
        #expect(GrowthModel.periodRates([100, 110, 0, 50]) == [nil, 0.1, -1.0, nil])
        #expect(GrowthModel.periodRates([]) == [])
        #expect(GrowthModel.periodRates([7]) == [nil])
        #expect(GrowthModel.periodRates([0, 4, 6, 3]) == [nil, nil, 0.5, -0.5])
    }

    // MARK: Student t

    @Test("t quantiles match the tables", arguments: [
        (1, 12.706204736174694), (2, 4.302652729749462), (3, 3.1824463052837078),
        (4, 2.7764451051977934), (5, 2.5705818356363146), (10, 2.228138851986274),
        (30, 2.0422724563012378), (120, 1.9799304050824402), (1000, 1.9623390808264083),
        (10_000, 1.960201239890626), (10_001, 1.960201216164641), (100_000, 1.9599877075346095),
        (1_000_000, 1.959966356814107), (10_000_000, 1.959964221767205),
    ] as [(Int, Double)])
    func tTable(degreesOfFreedom: Int, value: Double) {
        let q = GrowthModel.tQuantile(0.975, degreesOfFreedom: degreesOfFreedom)
        #expect(abs(q - value) < 1e-9, "df \(degreesOfFreedom): \(q)")
    }

    @Test("t quantiles at other levels, in closed form and symmetric")
    func tOtherLevels() {
        let cases: [(Double, Int, Double)] = [
            (0.9, 7, 1.4149239276505086), (0.999, 3, 10.214531852407383), (0.6, 2, 0.2886751345948128),
            (1e-6, 5, -24.771029720515948), (0.99, 20, 2.527977002741573), (0.995, 1_000_000, 2.5758342201053344),
        ]
        for (p, df, value) in cases {
            let q = GrowthModel.tQuantile(p, degreesOfFreedom: df)
            #expect(abs(q - value) < 1e-9 * max(1, abs(value)), "p \(p) df \(df): \(q)")
        }
        for p in [0.55, 0.7, 0.9, 0.975, 0.995, 0.9999] {
            // ν = 1 is the Cauchy distribution; ν = 2 has t = (2p−1)/√(2p(1−p)).
            let cauchy = tan(Double.pi * (p - 0.5))
            #expect(abs(GrowthModel.tQuantile(p, degreesOfFreedom: 1) - cauchy) < 1e-9 * cauchy)
            let two = (2 * p - 1) / (2 * p * (1 - p)).squareRoot()
            #expect(abs(GrowthModel.tQuantile(p, degreesOfFreedom: 2) - two) < 1e-9 * two)
            for df in [1, 4, 25, 50_000] {
                #expect(GrowthModel.tQuantile(1 - p, degreesOfFreedom: df) == -GrowthModel.tQuantile(p, degreesOfFreedom: df))
            }
        }
        #expect(GrowthModel.tQuantile(0.5, degreesOfFreedom: 3) == 0)
        #expect(GrowthModel.tQuantile(1, degreesOfFreedom: 3) == .infinity)
        #expect(GrowthModel.tQuantile(0, degreesOfFreedom: 3) == -.infinity)
        #expect(GrowthModel.tQuantile(0.975, degreesOfFreedom: 0).isNaN)
        #expect(abs(GrowthModel.tQuantile(0.975, degreesOfFreedom: Int.max) - 1.959963984540054) < 1e-9)
    }

    // MARK: Forecast

    @Test("the forecast continues the fitted curve inside its band")
    func forecastExact() throws {
        let fit = try GrowthModel.fit([10_000, 11_000, 12_100, 13_310, 14_641])
        let points = GrowthModel.forecast(fit, horizon: 3)
        #expect(points.map(\.t) == [5, 6, 7])
        for point in points {
            let want = 10_000 * pow(1.1, Double(point.t))
            #expect(abs(point.members - want) < 1e-8 * want)
            #expect(point.low <= point.members && point.members <= point.high)
            #expect(point.low == point.members && point.high == point.members)
        }
        #expect(GrowthModel.forecast(fit, horizon: 0) == [])
        #expect(GrowthModel.forecast(fit, horizon: -2) == [])

        let rounded = try GrowthModel.fit([100, 110, 121, 133, 146, 161])
        let next = GrowthModel.forecast(rounded, horizon: 3)
        #expect(next.map(\.t) == [6, 7, 8])
        for point in next {
            #expect(abs(point.members - rounded.predict(Double(point.t))) < 1e-9)
            #expect(point.low < point.members && point.members < point.high)
        }
    }

    @Test("the band widens the further ahead, and with the confidence")
    func forecastBandWidens() throws {
        let fit = try GrowthModel.fit(Self.community(r: 0.08, seed: 7))
        #expect(fit.residualStandardError > 0)
        let points = GrowthModel.forecast(fit, horizon: 6)
        #expect(points.map(\.t) == Array(12...17))
        for (earlier, later) in zip(points, points.dropFirst()) {
            #expect(later.high - later.low > earlier.high - earlier.low)
            #expect(later.high / later.low > earlier.high / earlier.low)
        }
        for point in points {
            #expect(point.low < point.members && point.members < point.high)
            // The band is symmetric on the log scale.
            #expect(abs(log(point.high / point.members) - log(point.members / point.low)) < 1e-12)
        }
        let wide = GrowthModel.forecast(fit, horizon: 6, confidence: 0.99)
        for (narrow, wide) in zip(points, wide) {
            #expect(wide.members == narrow.members)
            #expect(wide.low < narrow.low && narrow.high < wide.high)
        }
    }
}
