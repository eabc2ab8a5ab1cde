import Foundation
import GuildContent
import GuildCore
import GuildMessages

import GuildStorage
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildGateway
@testable import GuildMembership
@testable import GuildReferral

/// The funnel over generated community histories: whatever happened, every rate lies in [0, 1]
/// and every count is what the events say, as worked out here independently of the services'
/// SQL (referral's cohort, content's activity) and of the gateway's assembly.
@Suite("Funnel properties")
struct FunnelPropertyTests {
    /// A reproducible generator (SplitMix64): a failing history is named by its seed.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &self) < p }
    }

    static let day: Int64 = 86_400_000
    static let from: Int64 = 1_767_225_600_000  // 2026-01-01
    static let to: Int64 = from + 30 * day

    /// One account that signed up, with what became of it.
    struct Account {
        var user: String
        var visitor: String
        var source: String
        var signedUp: Int64
        var trial: Int64?
        var paid: Int64?
    }

    struct History {
        var visits: [(visitor: String, source: String, at: Int64)] = []
        var accounts: [Account] = []
        var interactions: [(user: String, at: Int64)] = []
        var spans: [MemberTimeline.Span] = []
        var payments: [String: [Int64]] = [:]
    }

    static func history(seed: UInt64) -> History {
        var random = Generator(state: seed)
        var history = History()
        let sources = ["referral", "wechat", "direct"]
        func instant(_ low: Int64, _ high: Int64) -> Int64 { Int64.random(in: low..<high, using: &random) }
        for person in 0..<Int.random(in: 0...14, using: &random) {
            let visitor = "visitor-\(seed)-\(person)"
            for _ in 0..<Int.random(in: 0...3, using: &random) {
                history.visits.append((visitor, sources.randomElement(using: &random)!, instant(from - 20 * day, to + 5 * day)))
            }
            // Some sign up (a few twice, from one browser), in the range or around it.
            for account in 0..<(random.chance(0.6) ? (random.chance(0.15) ? 2 : 1) : 0) {
                let signedUp = instant(from - 10 * day, to + 3 * day)
                let trial = random.chance(0.4) ? signedUp + instant(0, 5 * day) : nil
                let paid = random.chance(0.5) ? (trial ?? signedUp) + instant(0, 10 * day) : nil
                history.accounts.append(Account(user: "user-\(seed)-\(person)-\(account)", visitor: visitor,
                                                source: sources.randomElement(using: &random)!, signedUp: signedUp, trial: trial, paid: paid))
            }
        }
        for member in 0..<Int.random(in: 0...12, using: &random) {
            let user = "member-\(seed)-\(member)"
            for _ in 0..<Int.random(in: 0...3, using: &random) { history.interactions.append((user, instant(to - 40 * day, to + 2 * day))) }
            let start = instant(from - 60 * day, to)
            let end: Int64? = random.chance(0.4) ? start + instant(day, 50 * day) : nil
            history.spans.append(MemberTimeline.Span(user: user, start: start, end: end, startedTrialing: random.chance(0.3)))
            if random.chance(0.7) { history.payments[user] = [start + instant(0, 3 * day)] }
        }
        return history
    }

    @Test("for generated histories every rate lies in [0, 1] and the counts match the events", arguments: TestDatabaseKind.available)
    func rates(_ store: TestDatabaseKind) async throws {
        try await TestCluster.withCluster(database: store) { cluster in
            let owner = UserID("owner-funnel")
            let community = try await cluster.membership.createCommunity(.with { $0.slug = "funnel"; $0.name = "Funnel"; $0.currency = "CNY" }, user: owner)
            _ = try await cluster.membership.updateCommunity(.with { $0.communityID = community.id; $0.status = "active" }, user: owner)
            let post = try await cluster.content.createItem(.with {
                $0.communityID = community.id; $0.kind = "post"; $0.title = "Hello"; $0.markdown = "Hi."; $0.access.mode = "public"; $0.publish = true
            }, user: owner)
            for seed in UInt64(1)...30 {
                let history = Self.history(seed: seed)
                try await Self.store(history, community: community.id, post: post.id, in: cluster)
                let referral = try await cluster.referral.funnelStats(.with { $0.communityID = community.id; $0.fromMs = Self.from; $0.toMs = Self.to }, user: owner)
                let activity = try await cluster.content.activityStats(.with { $0.communityID = community.id; $0.asOfMs = Self.to; $0.fromMs = Self.from; $0.toMs = Self.to }, user: owner)
                let lifecycle = MemberTimeline(spans: history.spans, payments: history.payments).figures(from: Self.from, to: Self.to, cohortMonths: 12)
                let funnel = Gateway.assembleFunnel(communityID: community.id, from: Self.from, to: Self.to, lifecycle: lifecycle, activity: activity, referral: referral)

                // Every rate in [0, 1].
                var rates = funnel.stages.map(\.rateFromPrevious) + [funnel.trialToPaidRate]
                rates += funnel.bySource.flatMap { [$0.signupRate, $0.paidRate] } + funnel.cohorts.flatMap(\.retention)
                #expect(rates.allSatisfy { (0...1).contains($0) }, "seed \(seed): \(rates)")

                // The counts, worked out from the events.
                let expected = Self.expectedCounts(history)
                let counts = Dictionary(uniqueKeysWithValues: funnel.stages.map { ($0.name, $0.count) })
                #expect(counts == expected.stages, "seed \(seed)")
                #expect(funnel.trialToPaid == expected.trialToPaid, "seed \(seed)")
                #expect(funnel.membersAtStart == expected.membersAtStart, "seed \(seed)")
                for source in funnel.bySource { #expect(source.signups <= source.visitors && source.paid <= source.signups, "seed \(seed)") }
            }
        }
    }

    /// What each stage counts, from the definitions in docs/openapi.json.
    static func expectedCounts(_ history: History) -> (stages: [String: Int64], trialToPaid: Int64, membersAtStart: Int64) {
        func within(_ instant: Int64?) -> Bool { instant.map { $0 >= from && $0 < to } ?? false }
        let signups = history.accounts.filter { within($0.signedUp) }
        let visitors = Set(history.visits.filter { within($0.at) }.map(\.visitor)).union(signups.map(\.visitor))
        let trials = Set(signups.filter { within($0.trial) }.map(\.visitor))
        let paid = Set(signups.filter { within($0.paid) }.map(\.visitor))
        let trialToPaid = Set(signups.filter { account in
            within(account.trial) && account.paid.map { $0 >= account.trial! && $0 < to } ?? false
        }.map(\.visitor))
        let active30 = Set(history.interactions.filter { $0.at >= to - 30 * day && $0.at < to }.map(\.user))
        let active7 = Set(history.interactions.filter { $0.at >= to - 7 * day && $0.at < to }.map(\.user))
        func live(at instant: Int64) -> Set<String> {
            Set(history.spans.filter { $0.start <= instant && ($0.end.map { instant < $0 } ?? true) }.map(\.user))
        }
        let atStart = live(at: from)
        let retained = atStart.intersection(live(at: to - 1))
        return ([
            "visitors": Int64(visitors.count), "signups": Int64(Set(signups.map(\.visitor)).count), "trials": Int64(trials.count),
            "paid": Int64(paid.count), "active_30d": Int64(active30.count), "active_7d": Int64(active7.count),
            "retained": Int64(retained.count), "referrers": 0,
        ], Int64(trialToPaid.count), Int64(atStart.count))
    }

    /// Writes a history as the services would have recorded it, replacing the last one.
    static func store(_ history: History, community: String, post: String, in cluster: TestCluster) async throws {
        try await cluster.referralDatabase.database.transaction { sql in
            for table in ["visits", "attributions", "member_facts"] { try await sql.raw("DELETE FROM \(ident: table)").run() }
            for (index, visit) in history.visits.enumerated() {
                try await sql.raw("""
                    INSERT INTO visits (id, visitor_id, community_id, source, campaign, code, referrer_id, network, user_id, at_ms)
                    VALUES (\(bind: "visit-\(index)"), \(bind: visit.visitor), \(bind: community), \(bind: visit.source), '', '', '', '', NULL, \(bind: visit.at))
                    """).run()
            }
            for account in history.accounts {
                try await sql.raw("""
                    INSERT INTO attributions (id, community_id, user_id, visitor_id, source, campaign, referrer_id, code, status, reason, network,
                                              touched_at_ms, signed_up_at_ms, converted_at_ms, first_payment_id, reward_status, reward_coupon_code, reviewed_by)
                    VALUES (\(bind: "attribution-" + account.user), \(bind: community), \(bind: account.user), \(bind: account.visitor), \(bind: account.source),
                            '', '', '', 'unattributed', '', '', \(bind: account.signedUp), \(bind: account.signedUp), NULL, '', 'none', '', '')
                    """).run()
                if account.trial != nil || account.paid != nil {
                    try await sql.raw("""
                        INSERT INTO member_facts (community_id, user_id, trial_at_ms, paid_at_ms)
                        VALUES (\(bind: community), \(bind: account.user), \(bind: account.trial), \(bind: account.paid))
                        """).run()
                }
            }
        }
        try await cluster.contentDatabase.database.transaction { sql in
            try await sql.raw("DELETE FROM reactions").run()
            for (index, interaction) in history.interactions.enumerated() {
                try await sql.raw("""
                    INSERT INTO reactions (target_kind, target_id, user_id, emoji, created_at_ms)
                    VALUES ('item', \(bind: post), \(bind: interaction.user), \(bind: "e\(index)"), \(bind: interaction.at))
                    """).run()
            }
        }
    }
}
