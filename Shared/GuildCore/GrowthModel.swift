import Foundation

/// The growth forecast: how fast a community really grows, fitted to its member counts per
/// period, and where that rate takes it next.
///
/// **Model.** Members grow by a constant rate `r` per period: `U(t) = C·(1+r)^t`, with `t` = 0
/// the first period used. Taking logarithms makes it a straight line,
/// `ln U(t) = a + b·t` with `a = ln C` and `b = ln(1+r)`, plus noise.
///
/// **Why least squares on ln(members).** Real counts wander by a share of their size (a
/// community of 2,000 swings by more people than one of 200), so the noise is multiplicative:
/// `U(t) = C·(1+r)^t·e^ε`. On the log scale that noise is additive and of the same size in
/// every period, which is what ordinary least squares assumes; its slope is then the best
/// linear estimate of `ln(1+r)`, it has a closed form, and the textbook intervals for a straight
/// line apply. Fitting the curve to the raw counts instead would let the last, largest periods
/// decide everything.
///
/// **Formulas.** With `n` periods, `t̄` the mean `t`, `Sxx = Σ(t−t̄)²`, `y = ln U`:
/// - `b = Σ(t−t̄)(y−ȳ) / Sxx`, `a = ȳ − b·t̄`; `r = e^b − 1`, `C = e^a`.
/// - `SSE = Σ(y − a − b·t)²`, `s² = SSE/(n−2)` (the residual variance), `SE(b) = s/√Sxx`.
/// - The interval for `r` at confidence `γ` (default 95%) is `e^{b ± q·SE(b)} − 1` with
///   `q = tQuantile((1+γ)/2, n−2)`, the Student t quantile. It is not symmetric around `r`.
/// - `R² = 1 − SSE/SST` with `SST = Σ(y−ȳ)²`, of the regression on `ln U` (1 when both are 0:
///   a flat community is fitted perfectly by `r` = 0).
/// - The forecast at a future `t` is `C·(1+r)^t` (the median, not the mean, of the lognormal
///   prediction) with the prediction band `exp(a + b·t ± q·s·√(1 + 1/n + (t−t̄)²/Sxx))`: the
///   interval for one new observation on the log scale, exponentiated. It widens the further
///   `t` lies from the observed periods.
/// A perfect fit (every point on the line, e.g. exactly 10% a month) has `s` = 0: the interval
/// and the band have zero width. Residuals within rounding error of the line count as zero, so
/// that such a fit gives `rLow == r == rHigh` exactly rather than a speck of noise.
///
/// **Not enough history.** Leading periods with 0 members are dropped: the community did not
/// exist yet. A fit needs at least 3 periods after those (`n − 2 ≥ 1` degrees of freedom for the
/// residual variance; with 2 points the line passes through both and says nothing about how
/// sure it is). With fewer, ``fit(_:confidence:minimumPeriods:)`` throws
/// ``FitError/notEnoughHistory(have:need:)`` instead of a number. A count of 0 or below after the
/// first member arrived has no logarithm: ``FitError/nonPositive``.
public enum GrowthModel {
    /// The fitted growth of one community.
    public struct Fit: Sendable, Equatable {
        /// The fitted growth rate per period, `e^b − 1` (0.1 is 10% a period).
        public var r: Double
        /// The lower end of the interval for `r` at the fit's confidence.
        public var rLow: Double
        /// The upper end of the interval for `r` at the fit's confidence.
        public var rHigh: Double
        /// R² of the regression on ln(members): the share of the variation in ln(members) the
        /// line explains, from 0 to 1.
        public var rSquared: Double
        /// `C = e^a`: the fitted members at `t` = 0, the first period used.
        public var c: Double
        /// How many periods the fit used (after the leading zeros were dropped): the last
        /// `periodsUsed` entries of the input.
        public var periodsUsed: Int
        /// The `t` of the last observed period (`periodsUsed − 1`).
        public var lastT: Int
        /// `s`, the residual standard error of the regression on the log scale.
        public var residualStandardError: Double
        /// `t̄`, the mean of the observed `t`.
        public var meanT: Double
        /// `Sxx = Σ(t − t̄)²` over the observed `t`.
        public var sxx: Double
        /// The confidence of `rLow`…`rHigh`, e.g. 0.95.
        public var confidence: Double

        /// A fit from its figures; ``GrowthModel/fit(_:confidence:minimumPeriods:)`` makes them
        /// from member counts. The last four only matter for a forecast's band (0 gives none).
        public init(
            r: Double, rLow: Double, rHigh: Double, rSquared: Double, c: Double,
            periodsUsed: Int, lastT: Int,
            residualStandardError: Double = 0, meanT: Double = 0, sxx: Double = 0, confidence: Double = 0.95
        ) {
            self.r = r
            self.rLow = rLow
            self.rHigh = rHigh
            self.rSquared = rSquared
            self.c = c
            self.periodsUsed = periodsUsed
            self.lastT = lastT
            self.residualStandardError = residualStandardError
            self.meanT = meanT
            self.sxx = sxx
            self.confidence = confidence
        }

        /// The fitted members at `t` (counted from the first period used): `C·(1+r)^t`.
        public func predict(_ t: Double) -> Double {
            // A hand-made fit with r ≤ −1 would take a root of a negative number: no members left.
            finite(c * pow(max(0, 1 + r), t))
        }
    }

    /// One forecast period: the fitted members and the prediction band around them.
    public struct ForecastPoint: Sendable, Equatable {
        /// The period, counted from the first period used (so the first forecast is `lastT + 1`).
        public var t: Int
        /// `C·(1+r)^t`.
        public var members: Double
        /// The lower end of the prediction band.
        public var low: Double
        /// The upper end of the prediction band.
        public var high: Double

        /// A forecast point from its figures.
        public init(t: Int, members: Double, low: Double, high: Double) {
            self.t = t
            self.members = members
            self.low = low
            self.high = high
        }
    }

    /// Why member counts give no fit.
    public enum FitError: Error, Equatable, Sendable {
        /// Fewer positive periods (after the leading zeros) than the fit needs.
        case notEnoughHistory(have: Int, need: Int)
        /// A period after the first member arrived has 0 members or fewer: no logarithm.
        case nonPositive
    }

    /// Fits `U(t) = C·(1+r)^t` to `members` (one count per period, oldest first) by least squares
    /// on ln(members) against t = 0, 1, 2, …
    ///
    /// Leading periods with 0 members are dropped (the community did not exist yet) and `t` = 0
    /// is the first period with members; a count of 0 or below after that throws
    /// `.nonPositive`. At least `minimumPeriods` periods must remain (never fewer than 3, the
    /// least that gives an interval), else `.notEnoughHistory`. `confidence` is clamped to
    /// 0…0.999999.
    public static func fit(_ members: [Int64], confidence: Double = 0.95, minimumPeriods: Int = 3) throws(FitError) -> Fit {
        let need = max(3, minimumPeriods)
        let used = Array(members.drop(while: { $0 == 0 }))
        if used.contains(where: { $0 <= 0 }) { throw .nonPositive }
        guard used.count >= need else { throw .notEnoughHistory(have: used.count, need: need) }

        let n = used.count
        let count = Double(n)
        let ts = (0..<n).map(Double.init)
        let ys = used.map { log(Double($0)) }
        let meanT = (count - 1) / 2
        let meanY = ys.reduce(0, +) / count
        let sxx = ts.reduce(0) { $0 + ($1 - meanT) * ($1 - meanT) }  // n(n²−1)/12 > 0 for n ≥ 2
        let sxy = zip(ts, ys).reduce(0) { $0 + ($1.0 - meanT) * ($1.1 - meanY) }

        // Rounding error in ln and in the sums leaves specks of ~1e-15 where the data are exact;
        // below this tolerance a deviation counts as none (real counts differ by far more).
        let tolerance = 1e-12 * max(1, ys.map(abs).max() ?? 0)
        let flat = ys.allSatisfy { abs($0 - meanY) <= tolerance }
        let b = flat ? 0 : sxy / sxx
        let a = meanY - b * meanT
        let residuals = zip(ts, ys).map { $1 - (a + b * $0) }
        let perfect = residuals.allSatisfy { abs($0) <= tolerance }
        let sse = perfect ? 0 : residuals.reduce(0) { $0 + $1 * $1 }
        let sst = flat ? 0 : ys.reduce(0) { $0 + ($1 - meanY) * ($1 - meanY) }
        let rSquared = sse == 0 ? 1 : (sst > 0 ? min(1, max(0, 1 - sse / sst)) : 0)

        let s = (sse / (count - 2)).squareRoot()
        let standardError = s / sxx.squareRoot()
        let level = clampedConfidence(confidence)
        let q = tQuantile((1 + level) / 2, degreesOfFreedom: n - 2)
        let halfWidth = s == 0 ? 0 : q * standardError
        return Fit(
            r: finite(expm1(b)),
            rLow: finite(expm1(b - halfWidth)),
            rHigh: finite(expm1(b + halfWidth)),
            rSquared: rSquared,
            c: finite(exp(a)),
            periodsUsed: n,
            lastT: n - 1,
            residualStandardError: s,
            meanT: meanT,
            sxx: sxx,
            confidence: level
        )
    }

    /// The `horizon` periods after the last observed one (`t = lastT + 1 … lastT + horizon`):
    /// `C·(1+r)^t` with the prediction band at `confidence` (clamped to 0…0.999999), the
    /// regression's interval for a new observation on the log scale, exponentiated. None when
    /// `horizon` ≤ 0; a fit with no residual error (or fewer than 3 periods) has a zero-width band.
    public static func forecast(_ fit: Fit, horizon: Int, confidence: Double = 0.95) -> [ForecastPoint] {
        guard horizon > 0 else { return [] }
        let n = fit.periodsUsed
        let s = fit.residualStandardError
        let hasBand = n >= 3 && fit.sxx > 0 && s > 0 && s.isFinite
        let q = hasBand ? tQuantile((1 + clampedConfidence(confidence)) / 2, degreesOfFreedom: n - 2) : 0
        return (1...horizon).map { step in
            let t = fit.lastT + step
            let members = fit.predict(Double(t))
            guard hasBand else { return ForecastPoint(t: t, members: members, low: members, high: members) }
            let distance = Double(t) - fit.meanT
            let spread = q * s * (1 + 1 / Double(n) + distance * distance / fit.sxx).squareRoot()
            return ForecastPoint(
                t: t, members: members,
                low: finite(members * exp(-spread)),
                high: finite(members * exp(spread))
            )
        }
    }

    /// The period-over-period rate `(U_new − U_old) / U_old` for each period after the first:
    /// the figure owners know. The same count as `members`; the first is nil, and so is any
    /// period whose predecessor had no members (a rate off nothing has no meaning).
    public static func periodRates(_ members: [Int64]) -> [Double?] {
        guard !members.isEmpty else { return [] }
        var rates: [Double?] = [nil]
        for (old, new) in zip(members, members.dropFirst()) {
            rates.append(old > 0 ? (Double(new) - Double(old)) / Double(old) : nil)
        }
        return rates
    }

    /// The quantile of Student's t distribution: the `x` with `P(T ≤ x) = p` for `T` with
    /// `degreesOfFreedom` degrees of freedom; `tQuantile(0.975, degreesOfFreedom: 4)` ≈ 2.776 is
    /// the multiplier of a two-sided 95% interval.
    ///
    /// Solved by bisection on the tail `P(T > x) = ½·I_{ν/(ν+x²)}(ν/2, ½)`, the regularized
    /// incomplete beta function evaluated by its continued fraction; above 10,000 degrees of
    /// freedom by the Cornish–Fisher expansion around the normal quantile, exact there to double
    /// precision. ±infinity for `p` ≤ 0 or ≥ 1, NaN for a NaN `p` or fewer than 1 degree of freedom.
    public static func tQuantile(_ p: Double, degreesOfFreedom: Int) -> Double {
        guard !p.isNaN, degreesOfFreedom >= 1 else { return .nan }
        if p <= 0 { return -.infinity }
        if p >= 1 { return .infinity }
        if p == 0.5 { return 0 }
        // Solve for the upper tail, which keeps its precision when p is close to 0 or 1.
        let tail = p < 0.5 ? p : 1 - p
        let upper: Double
        if degreesOfFreedom > 10_000 {
            upper = cornishFisher(normalUpperQuantile(tail), degreesOfFreedom: Double(degreesOfFreedom))
        } else {
            let nu = Double(degreesOfFreedom)
            upper = solveDecreasing(target: tail) { studentUpperTail($0, nu) }
        }
        return p < 0.5 ? -upper : upper
    }

    // MARK: - Numerics

    private static func clampedConfidence(_ confidence: Double) -> Double {
        confidence.isNaN ? 0.95 : min(0.999_999, max(0, confidence))
    }

    /// `value`, with an overflow to infinity held at the largest finite Double (JSON has no infinity).
    private static func finite(_ value: Double) -> Double {
        value.isNaN ? 0 : min(max(value, -.greatestFiniteMagnitude), .greatestFiniteMagnitude)
    }

    /// `P(T > x)` for `x ≥ 0` and `nu` degrees of freedom.
    private static func studentUpperTail(_ x: Double, _ nu: Double) -> Double {
        0.5 * regularizedIncompleteBeta(nu / (nu + x * x), nu / 2, 0.5)
    }

    /// `P(Z > z)` for the standard normal.
    private static func normalUpperTail(_ z: Double) -> Double {
        0.5 * erfc(z / 2.0.squareRoot())
    }

    /// The `z ≥ 0` with `P(Z > z) = tail` (`tail` < 0.5).
    private static func normalUpperQuantile(_ tail: Double) -> Double {
        solveDecreasing(target: tail, normalUpperTail)
    }

    /// Abramowitz & Stegun 26.7.5: the t quantile from the normal one, in powers of 1/ν.
    private static func cornishFisher(_ z: Double, degreesOfFreedom nu: Double) -> Double {
        let z2 = z * z
        let g1 = (z2 + 1) * z / 4
        let g2 = ((5 * z2 + 16) * z2 + 3) * z / 96
        let g3 = (((3 * z2 + 19) * z2 + 17) * z2 - 15) * z / 384
        let g4 = ((((79 * z2 + 776) * z2 + 1482) * z2 - 1920) * z2 - 945) * z / 92160
        return z + (g1 + (g2 + (g3 + g4 / nu) / nu) / nu) / nu
    }

    /// The `x ≥ 0` where the decreasing `f` (with `f(0)` = 0.5) equals `target` in (0, 0.5).
    private static func solveDecreasing(target: Double, _ f: (Double) -> Double) -> Double {
        var low = 0.0
        var high = 1.0
        var doublings = 0
        while f(high) > target {
            low = high
            high *= 2
            doublings += 1
            if doublings > 1_100 || !high.isFinite { return .infinity }
        }
        for _ in 0..<200 {
            let middle = (low + high) / 2
            if middle <= low || middle >= high { break }
            if f(middle) > target { low = middle } else { high = middle }
            if high - low <= 1e-15 * high { break }
        }
        return (low + high) / 2
    }

    /// `I_x(a, b)`, the regularized incomplete beta function (Numerical Recipes `betai`).
    private static func regularizedIncompleteBeta(_ x: Double, _ a: Double, _ b: Double) -> Double {
        if x <= 0 { return 0 }
        if x >= 1 { return 1 }
        let front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x))
        // The continued fraction converges fast below (a+1)/(a+b+2); above, use the symmetry
        // I_x(a, b) = 1 − I_{1−x}(b, a).
        if x < (a + 1) / (a + b + 2) {
            return front * betaContinuedFraction(x, a, b) / a
        }
        return 1 - front * betaContinuedFraction(1 - x, b, a) / b
    }

    /// The continued fraction of the incomplete beta function by the modified Lentz method
    /// (Numerical Recipes `betacf`).
    private static func betaContinuedFraction(_ x: Double, _ a: Double, _ b: Double) -> Double {
        let tiny = 1e-300
        let epsilon = 1e-15
        let qab = a + b
        let qap = a + 1
        let qam = a - 1
        var c = 1.0
        var d = 1 - qab * x / qap
        if abs(d) < tiny { d = tiny }
        d = 1 / d
        var h = d
        for m in 1...10_000 {
            let m = Double(m)
            let m2 = 2 * m
            var aa = m * (b - m) * x / ((qam + m2) * (a + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            h *= d * c
            aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
            d = 1 + aa * d
            if abs(d) < tiny { d = tiny }
            c = 1 + aa / c
            if abs(c) < tiny { c = tiny }
            d = 1 / d
            let delta = d * c
            h *= delta
            if abs(delta - 1) <= epsilon { break }
        }
        return h
    }
}
