import Foundation
import GuildCore
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes
import Logging
import SwiftProtobuf

/// The owner's numbers, assembled by the gateway from several services: the lifecycle funnel
/// (membership, content and referral asked in parallel) and the growth forecast (membership's
/// member counts fitted with ``GrowthModel``). Owners and co-owners only: each service checks the
/// caller. Answers are the proto3 JSON mapping of `guild.referral.v1.Funnel` and `Forecast`.
extension GatewayRoutes {
    static let analytics: [GatewayRoute] = [
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/analytics/funnel") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            let communityID = try context.parameters.path("communityId")
            let range = try gateway.analyticsRange(request)
            let funnel = try await gateway.funnel(
                communityID: communityID, from: range.from, to: range.to, metadata: gateway.metadata(context, request: request), logger: context.logger)
            return try gateway.protoJSON(funnel)
        },
        GatewayRoute(method: .get, path: "/api/v1/communities/{communityId}/analytics/forecast") { gateway, request, context in
            let context = try await gateway.authenticate(request, context: context)
            var message = MembershipMemberCountsRequest()
            message.communityID = try context.parameters.path("communityId")
            let query = try ForecastQuery(request)
            message.period = query.period
            message.periods = query.periods
            let counts = try await gateway.client(.membership).call(MembershipAPI.getMemberCounts, message, metadata: gateway.metadata(context, request: request))
            return try gateway.protoJSON(Gateway.forecast(communityID: message.communityID, counts: counts, period: query.period, horizon: query.horizon))
        },
    ]
}

/// The forecast's query parameters, checked: `period` month (default) or week, `periods` of
/// history 3 to 60 (default 12), `horizon` 1 to 24 periods ahead (default 6).
struct ForecastQuery {
    var period: String
    var periods: Int32
    var horizon: Int

    init(_ request: Request) throws {
        var violations: [GuildError.FieldViolation] = []
        period = request.query("period").isEmpty ? "month" : request.query("period")
        if !["month", "week"].contains(period) { violations.append(.init(field: "period", description: "month or week.")) }
        periods = 12
        horizon = 6
        do {
            if request.uri.queryParameters.get("periods") != nil { periods = try request.intQuery("periods") }
            if !(3...60).contains(periods) { violations.append(.init(field: "periods", description: "An integer from 3 to 60 (default 12).")) }
        } catch {
            violations.append(.init(field: "periods", description: "An integer from 3 to 60 (default 12)."))
        }
        do {
            if request.uri.queryParameters.get("horizon") != nil { horizon = Int(try request.intQuery("horizon")) }
            if !(1...24).contains(horizon) { violations.append(.init(field: "horizon", description: "An integer from 1 to 24 (default 6).")) }
        } catch {
            violations.append(.init(field: "horizon", description: "An integer from 1 to 24 (default 6)."))
        }
        if !violations.isEmpty { throw GuildError.invalid(violations) }
    }
}

extension Gateway {
    /// The longest range a funnel covers.
    static let maxFunnelRangeMs: Int64 = 366 * 86_400_000
    /// The range when none is given: the last 30 days.
    static let defaultFunnelRangeMs: Int64 = 30 * 86_400_000

    /// `from` and `to` (RFC 3339) of an analytics query: by default the 30 days up to now;
    /// `to` after `from`, at most 366 days apart.
    func analyticsRange(_ request: Request) throws -> (from: Int64, to: Int64) {
        let to = try request.timestampQuery("to").map(Self.timestampMilliseconds) ?? configuration.clock.now().millisecondsSince1970
        let from = try request.timestampQuery("from").map(Self.timestampMilliseconds) ?? to - Self.defaultFunnelRangeMs
        guard to > from else {
            throw GuildError.invalid([.init(field: "to", description: "After from.")])
        }
        guard to - from <= Self.maxFunnelRangeMs else {
            throw GuildError.invalid([.init(field: "from", description: "At most 366 days before to.")])
        }
        return (from, to)
    }

    static func timestampMilliseconds(_ timestamp: Google_Protobuf_Timestamp) -> Int64 {
        timestamp.seconds * 1000 + Int64(timestamp.nanos / 1_000_000)
    }

    // MARK: Funnel

    /// One service's answer to the funnel, or why it has none.
    enum FunnelPart: Sendable {
        case membership(MembershipLifecycleStats)
        case content(ContentActivityStats)
        case referral(ReferralFunnelStats)
        case failed(ServiceName, any Error)
    }

    /// Asks membership, content and referral at once, each within what is left of the request's
    /// deadline minus a margin to assemble the answer, so a slow or stopped service makes the
    /// funnel partial rather than late. A refusal (the caller is not an owner, or not signed in)
    /// from any of them is the answer: a non-owner never sees part of a funnel.
    func funnel(communityID: String, from: Int64, to: Int64, metadata: [String: String], logger: Logger) async throws -> ReferralFunnel {
        let timeout = RequestDeadline.remaining.map { remaining in remaining - min(.milliseconds(250), remaining / 10) }
        let parts: [FunnelPart] = try await withThrowingTaskGroup(of: FunnelPart.self) { group in
            group.addTask {
                do {
                    let request = MembershipLifecycleStatsRequest.with { $0.communityID = communityID; $0.fromMs = from; $0.toMs = to }
                    return .membership(try await self.client(.membership).call(MembershipAPI.getLifecycleStats, request, metadata: metadata, timeout: timeout))
                } catch { return .failed(.membership, error) }
            }
            group.addTask {
                do {
                    let request = ContentActivityStatsRequest.with { $0.communityID = communityID; $0.asOfMs = to; $0.fromMs = from; $0.toMs = to }
                    return .content(try await self.client(.content).call(ContentAPI.getActivityStats, request, metadata: metadata, timeout: timeout))
                } catch { return .failed(.content, error) }
            }
            group.addTask {
                do {
                    let request = ReferralFunnelStatsRequest.with { $0.communityID = communityID; $0.fromMs = from; $0.toMs = to }
                    return .referral(try await self.client(.referral).call(ReferralAPI.getFunnelStats, request, metadata: metadata, timeout: timeout))
                } catch { return .failed(.referral, error) }
            }
            var parts: [FunnelPart] = []
            for try await part in group {
                if case .failed(_, let error) = part, let refusal = error as? GuildError, [.permissionDenied, .unauthenticated].contains(refusal.code) {
                    group.cancelAll()
                    throw refusal
                }
                parts.append(part)
            }
            return parts
        }
        var lifecycle: MembershipLifecycleStats?
        var activity: ContentActivityStats?
        var referral: ReferralFunnelStats?
        var failures: [ServiceName: any Error] = [:]
        for part in parts {
            switch part {
            case .membership(let answer): lifecycle = answer
            case .content(let answer): activity = answer
            case .referral(let answer): referral = answer
            case .failed(let service, let error): failures[service] = error
            }
        }
        // A request that is wrong (no such community, a range a service refuses) is wrong
        // whichever service says so: answered as it is rather than as a partial funnel.
        for service in [ServiceName.membership, .content, .referral] {
            if let error = failures[service] as? GuildError, [.invalidArgument, .notFound].contains(error.code) { throw error }
        }
        for (service, error) in failures.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            logger.warning("funnel part missing", metadata: ["service": "\(service)", "error": "\(error)"])
        }
        return Self.assembleFunnel(communityID: communityID, from: from, to: to, lifecycle: lifecycle, activity: activity, referral: referral)
    }

    /// The funnel from the parts that answered (nil: that service did not).
    ///
    /// Each stage's rate is over the stage a person really passes through before it, and is a
    /// part of it, so every rate lies in [0, 1] (`rate_base` names it; docs/openapi.json has
    /// the definitions): the range's visitors (referral) → sign-ups among them → of the
    /// sign-ups, those who started a trial and those who paid (a branch each; trial → paid is
    /// its own rate over the trials). active_30d (content: who interacted in the 30 days to the
    /// range's end) is a level with no rate, active_7d a part of it; retained is over the
    /// members at the range's start (membership); referrers is a level.
    static func assembleFunnel(
        communityID: String, from: Int64, to: Int64,
        lifecycle: MembershipLifecycleStats?, activity: ContentActivityStats?, referral: ReferralFunnelStats?
    ) -> ReferralFunnel {
        let stages: [(name: String, service: ServiceName, count: Int64?, base: String, baseCount: Int64?)] = [
            ("visitors", .referral, referral?.visitors, "", nil),
            ("signups", .referral, referral?.signups, "visitors", referral?.visitors),
            ("trials", .referral, referral?.trials, "signups", referral?.signups),
            ("paid", .referral, referral?.paid, "signups", referral?.signups),
            ("active_30d", .content, activity?.active30D, "", nil),
            ("active_7d", .content, activity?.active7D, "active_30d", activity?.active30D),
            ("retained", .membership, lifecycle?.retained, "members_at_start", lifecycle?.membersAtStart),
            ("referrers", .referral, referral?.referrers, "", nil),
        ]
        var funnel = ReferralFunnel()
        funnel.communityID = communityID
        funnel.fromMs = from
        funnel.toMs = to
        for stage in stages {
            funnel.stages.append(ReferralFunnelStage.with {
                $0.name = stage.name
                $0.service = stage.service.rawValue
                $0.available = stage.count != nil
                $0.count = stage.count ?? 0
                $0.rateBase = stage.base
                $0.rateFromPrevious = stage.base.isEmpty ? 0 : ratio(stage.count, stage.baseCount)
            })
        }
        if let referral {
            funnel.bySource = referral.bySource
            funnel.trialToPaid = referral.trialToPaid
            funnel.trialToPaidRate = ratio(referral.trialToPaid, referral.trials)
        }
        if let lifecycle {
            funnel.membersAtStart = lifecycle.membersAtStart
            funnel.membersAtEnd = lifecycle.membersAtEnd
            funnel.trialsStarted = lifecycle.trials
            funnel.firstPayments = lifecycle.paidConversions
            funnel.cohorts = lifecycle.cohorts.map { cohort in
                ReferralCohortRow.with {
                    $0.month = cohort.month
                    $0.size = cohort.size
                    $0.retained = cohort.retained
                    $0.retention = cohort.retained.map { ratio($0, cohort.size) }
                }
            }
        }
        funnel.missing = [(ServiceName.membership, lifecycle != nil), (.content, activity != nil), (.referral, referral != nil)]
            .filter { !$0.1 }.map(\.0.rawValue)
        funnel.partial = !funnel.missing.isEmpty
        return funnel
    }

    /// `count / base`; 0 when either is missing or the base is not positive.
    static func ratio(_ count: Int64?, _ base: Int64?) -> Double {
        guard let count, let base, base > 0 else { return 0 }
        return Double(count) / Double(base)
    }

    // MARK: Forecast

    /// The forecast from membership's member counts: the history with its period-over-period
    /// rates, and when there is enough of it the fit of U(t) = C·(1+r)^t and the next `horizon`
    /// periods with their band. Too little history is an answer, not an error.
    static func forecast(communityID: String, counts: MembershipMemberCounts, period: String, horizon: Int) -> ReferralForecast {
        var forecast = ReferralForecast()
        forecast.communityID = communityID
        forecast.period = period
        let members = counts.points.map(\.members)
        let rates = GrowthModel.periodRates(members)
        forecast.history = counts.points.enumerated().map { index, point in
            ReferralPeriodCount.with {
                $0.label = point.label
                $0.startMs = point.startMs
                $0.endMs = point.endMs
                $0.members = point.members
                if index < rates.count, let rate = rates[index] { $0.rate = rate }
            }
        }
        let fit: GrowthModel.Fit
        do {
            fit = try GrowthModel.fit(members)
        } catch {
            forecast.enoughHistory = false
            switch error {
            case .notEnoughHistory(let have, let need):
                forecast.message = "Not enough history: \(have) periods with members, at least \(need) are needed for a fit."
            case .nonPositive:
                forecast.message = "No fit: a period after the first member arrived has no members, and a growth rate needs members in every period it uses."
            }
            return forecast
        }
        forecast.enoughHistory = true
        forecast.r = fit.r
        forecast.rLow = fit.rLow
        forecast.rHigh = fit.rHigh
        forecast.rSquared = fit.rSquared
        forecast.c = fit.c
        forecast.periodsUsed = Int32(fit.periodsUsed)
        let points = GrowthModel.forecast(fit, horizon: horizon)
        let labels = nextLabels(after: counts.points.last, period: period, count: points.count)
        forecast.forecast = zip(points, labels).map { point, label in
            ReferralForecastPoint.with {
                $0.label = label
                $0.t = Int32(point.t - fit.lastT)  // the model counts from the first period used
                $0.members = point.members
                $0.low = point.low
                $0.high = point.high
            }
        }
        return forecast
    }

    /// The labels of the `count` periods after `last`, in the style of its label: months as
    /// `2026-12`; weeks as ISO weeks (`2026-W49`) or, when membership labels weeks by their first
    /// day, as `2026-11-30`. Without a last period (no history) the periods start now.
    static func nextLabels(after last: MembershipPeriodMembers?, period: String, count: Int) -> [String] {
        var utc = Calendar(identifier: .gregorian)
        utc.timeZone = TimeZone(identifier: "UTC")!
        let lastLabel = last?.label ?? ""
        let nextStart = Date(millisecondsSince1970: last?.endMs ?? Date().millisecondsSince1970)
        if period == "month" {
            var year: Int, month: Int
            let parts = lastLabel.split(separator: "-")
            if parts.count == 2, let y = Int(parts[0]), let m = Int(parts[1]), (1...12).contains(m) {
                (year, month) = m == 12 ? (y + 1, 1) : (y, m + 1)
            } else {
                let fields = utc.dateComponents([.year, .month], from: nextStart)
                (year, month) = (fields.year ?? 1970, fields.month ?? 1)
            }
            return (0..<count).map { offset in
                let index = (year * 12 + month - 1) + offset
                return String(format: "%04d-%02d", index / 12, index % 12 + 1)
            }
        }
        // Weeks: the first day of each following week.
        let weekMs: Int64 = 7 * 86_400_000
        let firstStartMs = (last.map { $0.startMs + weekMs }) ?? nextStart.millisecondsSince1970
        let byDay = lastLabel.count == 10 && lastLabel.split(separator: "-").count == 3
        var iso = Calendar(identifier: .iso8601)
        iso.timeZone = utc.timeZone
        return (0..<count).map { offset in
            let start = Date(millisecondsSince1970: firstStartMs + Int64(offset) * weekMs)
            if byDay {
                let fields = utc.dateComponents([.year, .month, .day], from: start)
                return String(format: "%04d-%02d-%02d", fields.year ?? 1970, fields.month ?? 1, fields.day ?? 1)
            }
            let fields = iso.dateComponents([.yearForWeekOfYear, .weekOfYear], from: start)
            return String(format: "%04d-W%02d", fields.yearForWeekOfYear ?? 1970, fields.weekOfYear ?? 1)
        }
    }
}
