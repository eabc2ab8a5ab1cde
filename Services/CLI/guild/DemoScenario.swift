import Foundation
import GuildCore
import NIOHTTP1

/// One member of the demo community, and what the demo knows of their subscription.
final class DemoMember {
    enum Plan { case monthly, yearly }
    enum State { case registered, trialing, active, cancelled, lapsed, refunded }

    let account: DemoAccount
    let source: String
    let referrer: DemoMember?
    /// Shares their link more than others.
    let advocate: Bool
    var plan: Plan?
    var state = State.registered
    var trialStarted: Date?
    var trialEnds: Date?
    /// A trial that will be paid for.
    var willPay = false
    /// When the paid period ends, as the demo reckons it (membership keeps the real one).
    var paidUntil: Date?
    var subscriptionID: String?
    var lastOrder: (id: String, paidAt: Date, amount: Int64)?
    var code: String?
    /// A coupon to use at the next payment (a newcomer's reward, a redeemed reward).
    var coupon: String?
    var referrals = 0
    var activity = 0

    init(account: DemoAccount, source: String, referrer: DemoMember?, advocate: Bool) {
        self.account = account
        self.source = source
        self.referrer = referrer
        self.advocate = advocate
    }

    /// Holds a subscription that gives access at `now`.
    func isLive(at now: Date) -> Bool {
        switch state {
        case .trialing, .active: true
        case .cancelled: (paidUntil ?? .distantPast) > now
        case .registered, .lapsed, .refunded: false
        }
    }
}

/// What happened in one simulated month, for the progress line.
struct DemoMonthStats {
    var visitors: [String: Int] = [:]
    var signups = 0
    var trials = 0
    var paid = 0
    var paidAfterTrial = 0
    var renewals = 0
    var refunds = 0
    var churned = 0
    var posts = 0
    var comments = 0
    var questions = 0
    var checkIns = 0
    var redemptions = 0
    var groupBuys = 0
    var held = 0
}

/// The demo's story: an owner opens a paid community about six months ago and grows it month
/// by month through campaigns and members' referral links, with the churn, refunds and
/// activity of a real one. Every step is a request to the gateway at the simulated time.
final class DemoScenario {
    let api: DemoAPI
    let months: Int
    let seed: UInt64
    let dataDirectory: String
    var random: SeededRandom
    /// Names this run's slug, emails and keys apart from other runs'.
    let run: String
    let memberPassword: String
    let owner: DemoAccount

    var community = ""
    var monthlyPlan = ""
    var yearlyPlan = ""
    var rewardEntry: String?
    var rewardCost: Int64 = 50
    var groupOffer: String?
    var challenge: String?
    /// When the challenge started (its first check-in day's step).
    var challengeStart: Date?
    var challengeParticipants: [DemoMember] = []
    var members: [DemoMember] = []
    var posts: [String] = []
    var startedAt = Date()
    var redeemed = false
    var stats = DemoMonthStats()
    var totals = DemoMonthStats()
    var liveAtMonthEnd: [Int] = []
    /// Monthly members who will not renew this month.
    var leaving: Set<ObjectIdentifier> = []
    /// Failed steps by name: how often, and the first error.
    var failures: [(step: String, count: Int, first: String)] = []
    var emailCounter = 0

    static let day: TimeInterval = 86_400
    static let sources = ["wechat", "zhihu", "github", "referral", "direct"]
    /// How many of a source's visitors sign up.
    static let signupRates: [String: Double] = ["referral": 0.3, "wechat": 0.16, "zhihu": 0.13, "github": 0.1, "direct": 0.08]
    static let givenNames = ["Wei", "Fang", "Jing", "Lei", "Min", "Tao", "Yan", "Jun", "Hui", "Xin", "Ada", "Ben", "Chloe", "Dan", "Eva", "Finn", "Grace", "Hugo", "Iris", "Jack", "Lin", "Mei", "Ning", "Qiang"]
    static let familyNames = ["Li", "Wang", "Zhang", "Liu", "Chen", "Yang", "Zhao", "Huang", "Zhou", "Wu", "Smith", "Garcia", "Kim", "Sato", "Novak"]
    static let postTitles = [
        "我的第一个 Swift 并发项目", "How I cut our build time in half", "读书笔记：《增长黑客》", "A checklist for code reviews",
        "从 0 到 1 搭建个人知识库", "What I learned shipping a side project", "周报：本周学到的三件事", "Testing actors without sleeps",
        "求推荐：适合入门的开源项目", "My notes from the live session", "如何坚持每天写代码", "SQLite or PostgreSQL for a small team?",
    ]
    static let comments = [
        "很有启发，谢谢分享！", "Thanks, this helped me today.", "第三点我也踩过坑。", "Could you share the repo?", "收藏了，周末试试。",
        "Great write-up.", "同问，期待后续。", "This matches what we saw in production.", "打卡学习 ✅", "Agree with the conclusion.",
    ]

    init(api: DemoAPI, months: Int, seed: UInt64, dataDirectory: String) {
        self.api = api
        self.months = months
        self.seed = seed
        self.dataDirectory = dataDirectory
        var random = SeededRandom(seed: seed)
        let alphabet = Array("abcdefghijkmnpqrstuvwxyz23456789")
        // The run's name is random even with a fixed seed, so a second run never collides.
        run = String((0..<6).map { _ in alphabet.randomElement()! })
        memberPassword = "demo-member-" + String((0..<10).map { _ in alphabet.randomElement(using: &random)! })
        owner = DemoAccount(
            email: "demo-owner-\(run)@example.com",
            password: "demo-" + String((0..<14).map { _ in alphabet.randomElement()! }),
            name: "Demo Owner \(run)")
        self.random = random
    }

    var now: Date { api.clock.now }

    // MARK: The story

    /// Runs the whole story. Returns false when some steps failed (the rest went on).
    func run() async throws -> Bool {
        say("guild demo: gateway \(api.base); simulated clock \(api.clock.path); \(months) months; seed \(seed)")
        try await checkGateway()
        let (first, monthLength) = Self.timeline(months: months, now: Date())
        for month in 0..<months {
            stats = DemoMonthStats()
            let monthStart = first.addingTimeInterval(Double(month) * monthLength)
            var steps = Array(stride(from: 0, to: Int(monthLength / Self.day) - 1, by: 3))
            if month == challengeMonth { steps = Array(Set(steps + Array(9...15))).sorted() }
            let leavers = month > 0 ? chooseLeavers() : 0
            let live = liveCount(at: monthStart)
            let quota = newMembersWanted(month: month, live: live, leavers: leavers)
            var fates = fatesFor(buyers: quota)
            let arrivalSteps = steps.count - 2
            for (index, day) in steps.enumerated() {
                // Mid-morning UTC, plus a few minutes a step so that no two steps share a time.
                let target = monthStart.addingTimeInterval(Double(day) * Self.day + Double(index) * 300)
                try await api.clock.set(offsetMilliseconds: Int64((target.timeIntervalSinceNow * 1000).rounded()))
                if month == 0, index == 0 {
                    try await setUp()
                    startedAt = now
                }
                await renewals()
                await trialsEnd()
                if index < arrivalSteps {
                    let share = fates.count / max(1, arrivalSteps - index)
                    await arrivals(signups: index == arrivalSteps - 1 ? fates.count : max(share, 0), fates: &fates, month: month)
                }
                await activity(month: month, step: index, day: day)
            }
            let liveNow = liveCount()
            liveAtMonthEnd.append(liveNow)
            report(month: month, live: liveNow, before: live)
            accumulate()
        }
        try await api.clock.set(offsetMilliseconds: 0)
        await upcoming()
        await summary()
        return failures.isEmpty
    }

    /// When the story starts and how long its months are: it starts at 09:00 UTC on the first
    /// day of the calendar month `months - 1` months ago (so that the owner's monthly member
    /// counts start with a whole month) and ends a day before the real time; the months share
    /// that span equally (about 30 days each, less when today is early in its month).
    static func timeline(months: Int, now: Date) -> (first: Date, monthLength: TimeInterval) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let thisMonth = calendar.date(from: calendar.dateComponents([.year, .month], from: now))!
        let first = calendar.date(byAdding: DateComponents(month: -(months - 1), hour: 9), to: thisMonth)!
        let end = now.addingTimeInterval(-day)
        return (first, end.timeIntervalSince(first) / Double(months))
    }

    /// Chooses the monthly members who leave at their next renewal (7 % of them, rounded):
    /// drawn at the month's start so that the month's arrivals can make up for them. Answers
    /// how many were chosen.
    @discardableResult
    func chooseLeavers() -> Int {
        let monthly = members.filter { $0.state == .active && $0.plan == .monthly && !leaving.contains(ObjectIdentifier($0)) }
        let chosen = monthly.shuffled(using: &random).prefix(Int((Double(monthly.count) * 0.07).rounded()))
        leaving.formUnion(chosen.map(ObjectIdentifier.init))
        return chosen.count
    }

    /// The month of the check-in challenge (day by day for a week).
    var challengeMonth: Int { min(2, months - 1) }

    /// New paying members wanted this month: the first month's founding members, then growth of
    /// 12–18 % on the live members plus those expected to leave.
    func newMembersWanted(month: Int, live: Int, leavers: Int) -> Int {
        if month == 0 { return 26 + random.int(0...6) }
        let growth = Double(random.int(12...18)) / 100
        // The growth, those who leave, and the month's refund.
        return Int((Double(live) * growth).rounded()) + leavers + 1
    }

    enum Fate { case yearly, monthlyTrialThenPay, trialOnly, browseOnly }

    /// The sign-ups of a month, shuffled: `buyers` who pay (a third yearly, the rest through the
    /// monthly plan's trial) and about a third as many who only try or only look.
    func fatesFor(buyers: Int) -> [Fate] {
        var fates: [Fate] = []
        for _ in 0..<buyers { fates.append(random.chance(0.35) ? .yearly : .monthlyTrialThenPay) }
        let others = max(1, Int((Double(buyers) * 0.35).rounded()))
        for index in 0..<others { fates.append(index % 2 == 0 ? .trialOnly : .browseOnly) }
        return fates.shuffled(using: &random)
    }

    func liveCount(at instant: Date? = nil) -> Int { members.filter { $0.isLive(at: instant ?? now) }.count }

    // MARK: Set-up

    /// The gateway answers and every service is ready (a missing referral is reported, not fatal).
    func checkGateway() async throws {
        let (status, json) = try await api.send(.GET, "/readyz")
        guard status != 0 else { throw DemoFailure(request: "GET /readyz", status: 0, detail: "the gateway does not answer") }
        if status != 200 {
            let states = json["services"]
            let down = Self.sourcesOfServices.filter { states[$0].string != "ready" }
            say("guild demo: warning: not every service is ready (\(down.joined(separator: ", "))); the steps that need them will fail")
        }
    }

    static let sourcesOfServices = ["auth", "membership", "content", "referral"]

    /// The owner, the community, its plans, coupon, limited-time offer, referral programme,
    /// rewards and first posts, on the first simulated day.
    func setUp() async throws {
        try await register(owner, visitorID: nil)
        // Auth issued the token at its clock's time: 15 minutes after the simulated now, unless
        // the suite does not read the file the demo moves.
        let expected = now.addingTimeInterval(900)
        guard abs(owner.accessExpires.timeIntervalSince(expected)) < 3600 else {
            throw DemoFailure(
                request: "simulated clock", status: 0,
                detail: """
                    the suite does not follow \(api.clock.path) (a token issued now expires at \(DemoAPI.rfc3339(owner.accessExpires)), \
                    not about \(DemoAPI.rfc3339(expected))). Start it with `guild up --data-dir \(dataDirectory)` and give guild demo the same --data-dir
                    """)
        }
        let created = try await api.call(as: owner, .POST, "/api/v1/communities", body: [
            "slug": .string("growth-lab-\(run)"), "name": .string("Growth Lab 增长实验室 \(run)"),
            "description": "A demo community: weekly notes on building and growing software products.",
            "currency": "CNY", "refundWindowDays": 7,
        ])
        community = created["id"].string ?? ""
        try await api.call(as: owner, .PATCH, "/api/v1/communities/\(community)", body: ["status": "active"])
        monthlyPlan = try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/plans", body: [
            "name": "Monthly", "priceMinorUnits": 9900, "period": "monthly", "trialDays": 7,
        ])["id"].string ?? ""
        yearlyPlan = try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/plans", body: [
            "name": "Yearly", "priceMinorUnits": 69900, "period": "yearly",
        ])["id"].string ?? ""
        try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/coupons", body: [
            "code": "WELCOME20", "kind": "percent", "percentOffBp": 2000, "maxRedemptions": 1000, "firstPurchaseOnly": true,
        ])
        try await api.call(as: owner, .POST, "/api/v1/plans/\(monthlyPlan)/offers", body: [
            "priceMinorUnits": 7900, "label": "Launch price",
            "startsAt": .string(DemoAPI.rfc3339(now.addingTimeInterval(-60))), "endsAt": .string(DemoAPI.rfc3339(now.addingTimeInterval(14 * Self.day))),
        ])
        say("guild demo: \(DemoAPI.day(now)): \(owner.email) opened community \(community) (Monthly 99.00 CNY with a 7-day trial and a launch price of 79.00 for 14 days, Yearly 699.00, coupon WELCOME20)")

        await attempt("referral programme") {
            try await api.call(as: owner, .PUT, "/api/v1/communities/\(community)/referral/program", body: [
                "enabled": true, "commissionBp": 1000, "commissionMode": "first_payment",
                "rewardKind": "percent", "rewardPercentOffBp": 1000, "rewardValidDays": 30,
                "attributionWindowDays": 30, "burstLimit": 3, "burstWindowMinutes": 60, "clawback": "full",
            ])
        }
        await attempt("points rules") {
            // The default earning rules stay (check-in 10, post 20, comment 5, answer 30 …).
            let rules = try await api.call(as: owner, .GET, "/api/v1/communities/\(community)/points/rules")
            guard !rules["rules"].array.isEmpty else { throw DemoFailure(request: "GET points/rules", status: 200, detail: "no rules") }
        }
        await attempt("rewards catalogue") {
            let entry = try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/rewards", body: [
                "title": "20% off your next payment", "kind": "discount", "costPoints": .int(rewardCost),
                "percentOffBp": 2000, "validDays": 30, "active": true,
            ])
            rewardEntry = entry["id"].string
        }
        await attempt("answerer") {
            try await api.call(as: owner, .PUT, "/api/v1/communities/\(community)/answerer", body: [
                "accepting": true, "priceMinorUnits": 990, "intro": "Ask me about shipping and growing a product.",
            ])
        }
        await attempt("posts") {
            let welcome = try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/items", body: [
                "kind": "post", "title": "欢迎 Welcome to Growth Lab", "tags": ["welcome"],
                "markdown": "Introduce yourself below.\n\n<!-- more -->\n\nEvery week: one experiment, its numbers, and what we learned.",
                "access": ["mode": "preview"], "publish": true,
            ])
            if let id = welcome["id"].string { posts.append(id) }
        }
        await attempt("level-gated post") {
            try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/items", body: [
                "kind": "post", "title": "学徒专享 For Apprentices and up: our growth dashboard", "tags": ["levels"],
                "markdown": "The exact dashboard we use every Monday, for members from level 2 (学徒 Apprentice).",
                "access": ["mode": "members", "minLevel": 2], "publish": true,
            ])
        }
    }

    // MARK: Arrivals

    /// Visitors arrive until `signups` of them have signed up: each records a visit (a
    /// campaign source, or a member's referral link), and some register with their visitor id.
    func arrivals(signups: Int, fates: inout [Fate], month: Int) async {
        var made = 0
        var usedLinks: [ObjectIdentifier: Int] = [:]
        var visitors = 0
        while made < signups, visitors < signups * 40 + 20 {
            visitors += 1
            let source = pickSource(month: month)
            var referrer: DemoMember?
            if source == "referral" {
                // At most two sign-ups per link per day, so none is held as a burst by accident.
                let candidates = members.filter { $0.isLive(at: now) && usedLinks[ObjectIdentifier($0), default: 0] < 2 }
                referrer = pickReferrer(candidates)
                guard referrer != nil else { continue }
            }
            let visitorID = await visit(source: source, referrer: referrer, campaign: "month-\(month + 1)")
            guard random.chance(Self.signupRates[source] ?? 0.3) else { continue }
            if let referrer { usedLinks[ObjectIdentifier(referrer), default: 0] += 1 }
            guard let member = await signUp(source: source, referrer: referrer, visitorID: visitorID) else { continue }
            made += 1
            let fate = fates.popLast() ?? .browseOnly
            await start(member, fate: fate)
        }
    }

    /// A source in proportion to how a growing community's visitors come (no referrals in the
    /// first month: there is nobody to refer yet).
    func pickSource(month: Int) -> String {
        var weights: [(String, Double)] = [("wechat", 0.32), ("zhihu", 0.2), ("github", 0.15), ("direct", 0.1)]
        if month > 0, members.contains(where: { $0.isLive(at: now) }) { weights.append(("referral", 0.23 + 0.02 * Double(month))) }
        return random.weighted(weights)
    }

    func pickReferrer(_ candidates: [DemoMember]) -> DemoMember? {
        let advocates = candidates.filter(\.advocate)
        if !advocates.isEmpty, random.chance(0.75) { return random.pick(advocates) }
        return random.pick(candidates)
    }

    /// Records a visit; answers the visitor id (nil when referral did not answer).
    func visit(source: String, referrer: DemoMember?, campaign: String) async -> String? {
        stats.visitors[source, default: 0] += 1
        var visitorID: String?
        await attempt("referral visits") {
            let visit: JSON
            if let referrer {
                let code = try await linkCode(referrer)
                if random.chance(0.5) {
                    // The link itself, as a browser follows it (JSON instead of the redirect).
                    visit = try await api.call(.GET, "/r/\(code)?utm_campaign=member-share", acceptJSON: true)
                } else {
                    visit = try await api.call(.POST, "/api/v1/referral/visits", body: ["code": .string(code)])
                }
            } else if source == "direct" {
                visit = try await api.call(.POST, "/api/v1/referral/visits", body: ["communityId": .string(community)])
            } else {
                visit = try await api.call(.POST, "/api/v1/referral/visits", body: [
                    "communityId": .string(community), "utmSource": .string(source), "utmCampaign": .string(campaign),
                ])
            }
            visitorID = visit["visitorId"].string
        }
        return visitorID
    }

    /// A member's referral code (their link is made on first ask).
    func linkCode(_ member: DemoMember) async throws -> String {
        if let code = member.code { return code }
        let link = try await api.call(as: member.account, .GET, "/api/v1/communities/\(community)/referral/link")
        guard let code = link["code"].string, !code.isEmpty else {
            throw DemoFailure(request: "GET referral/link", status: 200, detail: "no code in the answer")
        }
        member.code = code
        return code
    }

    /// Registers a visitor (with their visitor id, so referral attributes the sign-up).
    func signUp(source: String, referrer: DemoMember?, visitorID: String?) async -> DemoMember? {
        emailCounter += 1
        let name = "\(random.pick(Self.givenNames)!) \(random.pick(Self.familyNames)!)"
        let account = DemoAccount(email: "demo-\(run)-\(emailCounter)@example.com", password: memberPassword, name: name)
        let member = DemoMember(account: account, source: source, referrer: referrer, advocate: random.chance(0.2))
        let registered = await attempt("sign-ups") { try await register(account, visitorID: visitorID) }
        guard registered else { return nil }
        members.append(member)
        stats.signups += 1
        if let referrer { referrer.referrals += 1 }
        return member
    }

    /// Registers, again after a timeout or a busy answer (password hashing is slow in debug
    /// builds and on a loaded machine), up to five times. A timed-out registration may have made
    /// the account all the same: then the member signs in and claims their visit as an existing
    /// account does.
    func register(_ account: DemoAccount, visitorID: String?) async throws {
        for attempt in 1...5 {
            do {
                try await api.register(account, visitorID: visitorID)
                return
            } catch let failure as DemoFailure where [0, 503, 504].contains(failure.status) && attempt < 5 {
                try await Task.sleep(for: .seconds(2 * attempt))
            } catch let failure as DemoFailure where failure.status == 409 && attempt > 1 {
                _ = try await api.freshToken(account)
                if let visitorID {
                    try await api.call(as: account, .POST, "/api/v1/referral/signup", body: ["visitorId": .string(visitorID)])
                }
                return
            }
        }
    }

    /// What a new member does first.
    func start(_ member: DemoMember, fate: Fate) async {
        switch fate {
        case .browseOnly:
            return
        case .yearly:
            member.plan = .yearly
            await attempt("payments") {
                try await pay(member, coupon: random.chance(0.25) ? "WELCOME20" : nil)
                stats.paid += 1
            }
        case .monthlyTrialThenPay, .trialOnly:
            member.plan = .monthly
            member.willPay = fate == .monthlyTrialThenPay
            await attempt("trials") {
                let trial = try await self.order(member, plan: monthlyPlan, coupon: nil)
                member.subscriptionID = trial["subscriptionId"].string
                member.state = .trialing
                member.trialStarted = now
                member.trialEnds = now.addingTimeInterval(7 * Self.day)
                stats.trials += 1
            }
        }
    }

    // MARK: Money

    /// Places an order and, when something is due, pays it with the sandbox provider.
    @discardableResult
    func order(_ member: DemoMember, plan: String, coupon: String?) async throws -> JSON {
        var body: [String: JSON] = ["communityId": .string(community), "planId": .string(plan)]
        if let coupon { body["couponCode"] = .string(coupon) }
        var order = try await api.call(as: member.account, .POST, "/api/v1/orders", body: .object(body), key: api.key("order"))
        if order["status"].string == "pending", let payment = order["payment"]["id"].string {
            order = try await api.call(as: member.account, .POST, "/api/v1/payments/\(payment)/sandbox-confirm", body: ["outcome": "succeeded"], key: api.key("pay"))
        }
        guard order["status"].string == "paid" else {
            throw DemoFailure(request: "POST /api/v1/orders", status: 200, detail: "the order is \(order["status"].string ?? "?"), not paid")
        }
        return order
    }

    /// Pays for the member's plan (a first payment, a trial's end or a renewal), with a coupon
    /// when they have one (and without it when it does not apply).
    func pay(_ member: DemoMember, coupon: String? = nil) async throws {
        let plan = member.plan == .yearly ? yearlyPlan : monthlyPlan
        let useCoupon = coupon ?? member.coupon
        var order: JSON
        do {
            order = try await self.order(member, plan: plan, coupon: useCoupon)
        } catch let failure as DemoFailure where useCoupon != nil && (400..<500).contains(failure.status) {
            order = try await self.order(member, plan: plan, coupon: nil)
        }
        if useCoupon == member.coupon { member.coupon = nil }
        member.subscriptionID = order["subscriptionId"].string ?? member.subscriptionID
        let amount = order["quote"]["total"]["minorUnits"].int ?? 0
        if amount > 0, let id = order["id"].string { member.lastOrder = (id, now, amount) }
        let from = member.state == .active ? max(member.paidUntil ?? now, now) : now
        member.paidUntil = Self.add(member.plan == .yearly ? .year : .month, to: from)
        member.state = .active
    }

    static func add(_ component: Calendar.Component, to date: Date) -> Date {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(byAdding: component, value: 1, to: date) ?? date.addingTimeInterval(30 * day)
    }

    /// Trials end: most pay a few days in, the rest lapse when the trial and its grace are over.
    func trialsEnd() async {
        for member in members where member.state == .trialing {
            guard let started = member.trialStarted, let ends = member.trialEnds else { continue }
            if member.willPay, now >= started.addingTimeInterval(2 * Self.day), now < ends {
                await attempt("trial payments") {
                    try await pay(member)
                    stats.paid += 1
                    stats.paidAfterTrial += 1
                }
            } else if !member.willPay, now >= ends {
                member.state = .lapsed
            }
        }
    }

    /// Monthly members pay again before their period ends, except those chosen to leave (half
    /// of them cancel, half let it lapse).
    func renewals() async {
        for member in members where member.state == .active && member.plan == .monthly {
            guard let until = member.paidUntil, until <= now.addingTimeInterval(4 * Self.day) else { continue }
            if leaving.contains(ObjectIdentifier(member)) {
                stats.churned += 1
                if random.chance(0.5), let subscription = member.subscriptionID {
                    await attempt("cancellations") {
                        try await api.call(as: member.account, .POST, "/api/v1/subscriptions/\(subscription)/cancel")
                    }
                    member.state = .cancelled
                } else {
                    member.state = .lapsed
                }
                continue
            }
            await attempt("renewals") {
                try await pay(member)
                stats.renewals += 1
            }
        }
        for member in members where member.state == .cancelled && !member.isLive(at: now) {
            member.state = .lapsed
        }
    }

    /// A member asks for their money back within the refund window (a newcomer from a
    /// referral link when there is one, so the commission is clawed back); some months the
    /// owner also refunds part of a yearly payment as a goodwill gesture.
    func refunds(month: Int) async {
        let recent = members.filter { member in
            guard member.state == .active, let last = member.lastOrder else { return false }
            return now.timeIntervalSince(last.paidAt) < 6 * Self.day
        }
        if let member = recent.first(where: { $0.referrer != nil }) ?? random.pick(recent), let order = member.lastOrder {
            await attempt("refunds") {
                try await api.call(as: member.account, .POST, "/api/v1/orders/\(order.id)/refunds", body: ["reason": "Not for me after all"], key: api.key("refund"))
                member.state = .refunded
                stats.refunds += 1
            }
        }
        if month % 2 == 0, let member = random.pick(members.filter { $0.state == .active && $0.plan == .yearly && $0.lastOrder != nil }), let order = member.lastOrder {
            await attempt("owner refunds") {
                try await api.call(as: owner, .POST, "/api/v1/orders/\(order.id)/refunds", body: [
                    "amountMinorUnits": 10000, "reason": "Goodwill: a live session was cancelled",
                ], key: api.key("refund"))
                stats.refunds += 1
            }
        }
    }

    // MARK: Activity

    /// What happens on a simulated day besides arrivals and payments.
    func activity(month: Int, step: Int, day: Int) async {
        let live = members.filter { $0.isLive(at: now) }
        if step == 0 { await ownerPost(month: month) }
        for _ in 0..<random.int(0...2) {
            guard let author = random.pick(live) else { break }
            await post(by: author)
        }
        for _ in 0..<random.int(1...4) {
            guard let author = random.pick(live), let item = random.pick(Array(posts.suffix(6))) else { break }
            await attempt("comments") {
                try await api.call(as: author.account, .POST, "/api/v1/items/\(item)/comments", body: ["markdown": .string(random.pick(Self.comments)!)])
                author.activity += 1
                stats.comments += 1
            }
        }
        if month == 1, step == 2 { await groupBuy(month: month) }
        if month > 0, step == 4 { await paidQuestion() }
        if month > 0, step == 5 { await refunds(month: month) }
        if month == challengeMonth, day >= 9, day <= 15 { await challengeDay(first: day == 9) }
        if month == months - 1, step == 3 { await burst() }
        if month >= 2, step == 8, !redeemed { await redeem() }
    }

    func ownerPost(month: Int) async {
        await attempt("posts") {
            let item = try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/items", body: [
                "kind": "post", "title": .string("Monthly update #\(month + 1): what we tried and what worked"), "tags": ["update"],
                "markdown": "This month's experiments and their numbers.\n\n<!-- more -->\n\nThe details, for members.",
                "access": ["mode": "preview"], "publish": true,
            ])
            if let id = item["id"].string { posts.append(id) }
            stats.posts += 1
        }
    }

    func post(by author: DemoMember) async {
        await attempt("posts") {
            let item = try await api.call(as: author.account, .POST, "/api/v1/communities/\(community)/items", body: [
                "kind": "post", "title": .string(random.pick(Self.postTitles)!), "markdown": "Sharing what I learned this week.",
                "access": ["mode": "members"], "publish": true,
            ])
            if let id = item["id"].string { posts.append(id) }
            author.activity += 4
            stats.posts += 1
        }
    }

    /// A member pays 9.90 CNY to ask the owner; once membership's news of the payment reaches
    /// content the question is open, and the owner answers it.
    func paidQuestion() async {
        guard let asker = random.pick(members.filter { $0.isLive(at: now) }) else { return }
        await attempt("paid questions") {
            let question = try await api.call(as: asker.account, .POST, "/api/v1/communities/\(community)/questions", body: [
                "answererId": .string(owner.id), "title": "How do you pick the next experiment?",
                "markdown": "We have ten ideas and time for one a week.", "public": true,
            ], key: api.key("ask"))
            guard let id = question["id"].string, let checkout = question["payment"]["checkoutUrl"].string else {
                throw DemoFailure(request: "POST questions", status: 201, detail: "no payment due in the answer")
            }
            try await api.call(as: asker.account, .POST, Self.path(of: checkout), body: [:], key: api.key("charge"))
            var status = ""
            for _ in 0..<30 {
                status = try await api.call(as: asker.account, .GET, "/api/v1/questions/\(id)")["status"].string ?? ""
                if status == "open" { break }
                try await Task.sleep(for: .milliseconds(500))
            }
            guard status == "open" else { throw DemoFailure(request: "GET /api/v1/questions/\(id)", status: 200, detail: "still \(status) 15 s after paying") }
            try await api.call(as: owner, .POST, "/api/v1/questions/\(id)/answer", body: [
                "markdown": "Rank them by expected impact over effort, then run the cheapest test of the top one first.",
            ])
            stats.questions += 1
        }
    }

    /// A checkout URL's path on the gateway (it may be written absolute).
    static func path(of url: String) -> String {
        guard url.hasPrefix("http"), let parsed = URL(string: url) else { return url }
        return parsed.path + (parsed.query.map { "?" + $0 } ?? "")
    }

    /// A 7-day check-in challenge: on its first day members join, then most check in every day.
    func challengeDay(first: Bool) async {
        if first {
            let created = await attempt("challenge") {
                let challenge = try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/challenges", body: [
                    "title": "7 天发布挑战 7 days of shipping", "task": "Ship one small improvement a day and say what it was.",
                    "startDate": .string(DemoAPI.day(now)), "days": 7, "timeZone": "UTC",
                ])
                self.challenge = challenge["id"].string
                self.challengeStart = now
            }
            guard created, let challenge else { return }
            let live = members.filter { $0.isLive(at: now) }.shuffled(using: &random)
            for member in live.prefix(max(3, live.count / 3)) {
                let joined = await attempt("challenge") {
                    try await api.call(as: member.account, .POST, "/api/v1/challenges/\(challenge)/join")
                }
                if joined { challengeParticipants.append(member) }
            }
        }
        guard let challenge, let challengeStart else { return }
        // The week's steps are a day and a few minutes apart, so one of them may cross a UTC
        // midnight and the last fall on an eighth date, after the challenge: no check-ins then.
        guard DemoAPI.day(now) < DemoAPI.day(challengeStart.addingTimeInterval(7 * Self.day)) else { return }
        for member in challengeParticipants where member.isLive(at: now) && random.chance(0.85) {
            await attempt("check-ins") {
                try await api.call(as: member.account, .POST, "/api/v1/challenges/\(challenge)/checkins", body: ["note": "Shipped today's improvement."])
                member.activity += 2
                stats.checkIns += 1
            }
        }
    }

    /// A group buy (团购) of the yearly plan at 499.00 for three: one member opens the group,
    /// two friends join it, and all three pay.
    func groupBuy(month: Int) async {
        await attempt("group buy") {
            let offer = try await api.call(as: owner, .POST, "/api/v1/plans/\(yearlyPlan)/group-offers", body: [
                "groupSize": 3, "priceMinorUnits": 49900, "windowHours": 48,
            ])
            guard let offerID = offer["id"].string else { throw DemoFailure(request: "POST group-offers", status: 201, detail: "no id") }
            groupOffer = offerID
            var group = ""
            for index in 0..<3 {
                let visitorID = await visit(source: "wechat", referrer: nil, campaign: "group-buy")
                guard let member = await signUp(source: "wechat", referrer: nil, visitorID: visitorID) else { continue }
                member.plan = .yearly
                let answer: JSON
                if index == 0 {
                    answer = try await api.call(as: member.account, .POST, "/api/v1/group-offers/\(offerID)/groups", key: api.key("group"))
                    group = answer["id"].string ?? ""
                } else {
                    answer = try await api.call(as: member.account, .POST, "/api/v1/groups/\(group)/join", key: api.key("join"))
                }
                guard let payment = answer["yourOrder"]["payment"]["id"].string else {
                    throw DemoFailure(request: "group buy", status: 200, detail: "no payment in the group's answer")
                }
                let order = try await api.call(as: member.account, .POST, "/api/v1/payments/\(payment)/sandbox-confirm", body: ["outcome": "succeeded"], key: api.key("pay"))
                member.subscriptionID = order["subscriptionId"].string
                if let id = order["id"].string { member.lastOrder = (id, now, order["quote"]["total"]["minorUnits"].int ?? 49900) }
                member.state = .active
                member.paidUntil = Self.add(.year, to: now)
                stats.paid += 1
            }
            let status = try await api.call(.GET, "/api/v1/groups/\(group)")["status"].string ?? "?"
            stats.groupBuys += 1
            say("  group buy \(group): 3 members at 499.00 CNY each, group \(status)")
        }
    }

    /// What is coming, at the real time: a live session in three days and a product-review
    /// task open for two weeks, which two of the most active members apply for.
    func upcoming() async {
        await attempt("upcoming") {
            let start = now.addingTimeInterval(3 * Self.day + 3600)
            try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/events", body: [
                "kind": "live", "title": "Growth office hours 增长答疑", "description": "Bring a metric you want to move.",
                "start": .string(DemoAPI.rfc3339(start)), "durationMinutes": 60, "timeZone": "Asia/Shanghai",
                "joinUrl": "https://meet.example.com/growth-lab", "capacity": 100, "accessMode": "members",
            ])
            let task = try await api.call(as: owner, .POST, "/api/v1/communities/\(community)/review-tasks", body: [
                "product": "Plausible Analytics", "brief": "Run it on your site for a week: **setup**, the dashboard, what it misses.",
                "places": 3, "deadline": .string(DemoAPI.rfc3339(now.addingTimeInterval(14 * Self.day))), "rewardPoints": 100,
            ])
            let applicants = members.filter { $0.isLive(at: now) }.sorted { $0.activity > $1.activity }.prefix(2)
            for member in applicants {
                try await api.call(as: member.account, .POST, "/api/v1/review-tasks/\(task["id"].string ?? "")/applications",
                                   body: ["motivation": "I run a small SaaS and measure everything."])
            }
            say("  coming up: a live session on \(DemoAPI.day(start)); a product-review task with \(applicants.count) applicants")
        }
    }

    /// Four sign-ups through one member's link within the hour, from one network: past the
    /// programme's burst limit (3 an hour), referral holds them for the owner, who approves.
    func burst() async {
        guard let referrer = members.filter({ $0.isLive(at: now) }).max(by: { $0.referrals < $1.referrals }) else { return }
        for _ in 0..<4 {
            let visitorID = await visit(source: "referral", referrer: referrer, campaign: "member-share")
            if let member = await signUp(source: "referral", referrer: referrer, visitorID: visitorID) {
                await start(member, fate: .yearly)
            }
        }
        await attempt("held sign-ups") {
            let held = try await api.call(as: owner, .GET, "/api/v1/communities/\(community)/referral/held")["attributions"].array
            for attribution in held {
                guard let id = attribution["id"].string else { continue }
                try await api.call(as: owner, .POST, "/api/v1/referral/attributions/\(id)/review", body: [
                    "approve": true, "note": "Colleagues from the same office: checked with the referrer.",
                ])
                stats.held += 1
            }
            say("  \(held.count) sign-up(s) through \(referrer.account.name)'s link held as a burst (\(held.first?["reason"].string ?? "no reason given")); the owner approved them")
        }
    }

    /// The most active members look at their points; the first with enough redeems the 20 %
    /// coupon, which they use at their next payment.
    func redeem() async {
        guard let entry = rewardEntry else { return }
        let candidates = members.filter { $0.isLive(at: now) }.sorted { $0.activity + $0.referrals * 20 > $1.activity + $1.referrals * 20 }
        await attempt("redemption") {
            for member in candidates.prefix(8) {
                let points = try await api.call(as: member.account, .GET, "/api/v1/communities/\(community)/points/me")
                guard (points["balance"].int ?? 0) >= rewardCost else { continue }
                let redemption = try await api.call(as: member.account, .POST, "/api/v1/rewards/\(entry)/redeem", body: ["communityId": .string(community)], key: api.key("redeem"))
                let code = redemption["couponCode"].string ?? ""
                if !code.isEmpty { member.coupon = code }
                redeemed = true
                stats.redemptions += 1
                say("  \(member.account.name) redeemed \(rewardCost) of \(points["balance"].int ?? 0) points for coupon \(code.isEmpty ? "(pending)" : code): \(redemption["status"].string ?? "?")")
                return
            }
        }
    }

    // MARK: Reporting

    /// Runs a step; a failure is recorded under its name (once per name, with a count) and the
    /// story goes on. Answers whether it succeeded.
    @discardableResult
    func attempt(_ step: String, _ body: () async throws -> Void) async -> Bool {
        do {
            try await body()
            return true
        } catch {
            if let index = failures.firstIndex(where: { $0.step == step }) {
                failures[index].count += 1
            } else {
                failures.append((step, 1, "\(error)"))
                say("  ! \(step) failed: \(error)")
            }
            return false
        }
    }

    func report(month: Int, live: Int, before: Int) {
        let sources = Self.sources.compactMap { source in stats.visitors[source].map { "\(source) \($0)" } }.joined(separator: ", ")
        let visitors = stats.visitors.values.reduce(0, +)
        let growth = before > 0 ? String(format: " (%+.0f%%)", (Double(live) - Double(before)) / Double(before) * 100) : ""
        var line = "month \(month + 1)/\(months) (\(DemoAPI.day(now))): \(visitors) visitors (\(sources)), \(stats.signups) sign-ups, "
        line += "\(stats.trials) trials, \(stats.paid) paid (\(stats.paidAfterTrial) after a trial), \(stats.renewals) renewals, "
        line += "\(stats.refunds) refund\(stats.refunds == 1 ? "" : "s"), \(stats.churned) churned; "
        line += "\(stats.posts) posts, \(stats.comments) comments"
        if stats.questions > 0 { line += ", \(stats.questions) paid question answered" }
        if stats.checkIns > 0 { line += ", \(stats.checkIns) check-ins" }
        if stats.redemptions > 0 { line += ", \(stats.redemptions) redemption" }
        line += "; live members \(live)\(growth)"
        say(line)
    }

    func accumulate() {
        for (source, count) in stats.visitors { totals.visitors[source, default: 0] += count }
        totals.signups += stats.signups
        totals.trials += stats.trials
        totals.paid += stats.paid
        totals.paidAfterTrial += stats.paidAfterTrial
        totals.renewals += stats.renewals
        totals.refunds += stats.refunds
        totals.churned += stats.churned
        totals.posts += stats.posts
        totals.comments += stats.comments
        totals.questions += stats.questions
        totals.checkIns += stats.checkIns
        totals.redemptions += stats.redemptions
        totals.held += stats.held
    }

    /// What the owner now reads through the gateway, and how to read it with curl.
    func summary() async {
        let from = DemoAPI.rfc3339(startedAt.addingTimeInterval(-Self.day))
        let to = DemoAPI.rfc3339(now.addingTimeInterval(60))
        say("")
        say("guild demo: done. \(totals.visitors.values.reduce(0, +)) visitors, \(totals.signups) sign-ups, \(totals.trials) trials, \(totals.paid) first payments, \(totals.renewals) renewals, \(totals.refunds) refunds, \(totals.churned) churned, \(totals.posts) posts, \(totals.comments) comments, \(totals.checkIns) check-ins")
        await attempt("earnings") {
            let earnings = try await api.call(as: owner, .GET, "/api/v1/communities/\(community)/earnings")
            say("  earnings: gross \(earnings["gross"]["formatted"].string ?? "?"), refunds \(earnings["refunds"]["formatted"].string ?? "?"), payable to the owner \(earnings["payable"]["formatted"].string ?? "?") over \(earnings["payments"].int ?? 0) payments")
        }
        await attempt("funnel") {
            let funnel = try await api.call(as: owner, .GET, "/api/v1/communities/\(community)/analytics/funnel?from=\(from)&to=\(to)")
            let stages = funnel["stages"].array.map { stage in
                let base = stage["rateBase"].string ?? ""
                let rate = base.isEmpty ? "" : String(format: " (%.0f%% of %@)", (stage["rateFromPrevious"].double ?? 0) * 100, base)
                return "\(stage["name"].string ?? "?") \(stage["count"].int ?? 0)\(rate)"
            }
            say("  funnel: " + stages.joined(separator: " → ") + (funnel["partial"].bool == true ? "  [partial: \(funnel["missing"].array.compactMap(\.string).joined(separator: ", ")) missing]" : ""))
            let sources = funnel["bySource"].array.map { "\($0["source"].string ?? "?") \($0["visitors"].int ?? 0)→\($0["signups"].int ?? 0)→\($0["paid"].int ?? 0)" }
            if !sources.isEmpty { say("  by source (visitors→sign-ups→paid): " + sources.joined(separator: ", ")) }
            let trialRate = String(format: "%.0f%%", (funnel["trialToPaidRate"].double ?? 0) * 100)
            say("  cohorts: \(funnel["cohorts"].array.count) monthly rows; trial → paid \(funnel["trialToPaid"].int ?? 0) (\(trialRate) of trials)")
        }
        await attempt("funnel") {
            // The default range: the last 30 days, where retention and activity are read.
            let recent = try await api.call(as: owner, .GET, "/api/v1/communities/\(community)/analytics/funnel")
            let stages = recent["stages"].array.map { "\($0["name"].string ?? "?") \($0["count"].int ?? 0)" }
            say("  last 30 days: " + stages.joined(separator: ", "))
        }
        let periods = 12
        await attempt("forecast") {
            let forecast = try await api.call(as: owner, .GET, "/api/v1/communities/\(community)/analytics/forecast?period=month&periods=\(periods)&horizon=6")
            let history = forecast["history"].array.filter { ($0["members"].int ?? 0) > 0 }.map { point in
                "\(point["label"].string ?? "?") \(point["members"].int ?? 0)" + (point["rate"].double.map { String(format: " (%+.0f%%)", $0 * 100) } ?? "")
            }
            say("  members per month: " + history.joined(separator: ", "))
            if forecast["enoughHistory"].bool == true {
                let r = forecast["r"].double ?? 0, low = forecast["rLow"].double ?? 0, high = forecast["rHigh"].double ?? 0
                let next = forecast["forecast"].array.first.map { point in
                    String(format: "%.0f (%.0f–%.0f)", point["members"].double ?? 0, point["low"].double ?? 0, point["high"].double ?? 0)
                } ?? "?"
                say(String(format: "  forecast: r = %.1f%% a month (95%% CI %.1f%% to %.1f%%), R² = %.2f; next month about ", r * 100, low * 100, high * 100, forecast["rSquared"].double ?? 0) + next)
            } else {
                say("  forecast: \(forecast["message"].string ?? "not enough history")")
            }
        }
        let referrer = members.filter { $0.referrals > 0 }.max { $0.referrals < $1.referrals }
        if let referrer {
            await attempt("referral summary") {
                let mine = try await api.call(as: referrer.account, .GET, "/api/v1/communities/\(community)/referral/me")
                let pending = Double(mine["pendingMinorUnits"].int ?? 0) / 100, payable = Double(mine["payableMinorUnits"].int ?? 0) / 100
                let clawed = Double(mine["clawedBackMinorUnits"].int ?? 0) / 100
                say("  top referrer \(referrer.account.name) (\(referrer.account.email)): \(mine["signups"].int ?? 0) sign-ups, \(mine["converted"].int ?? 0) converted; "
                    + String(format: "commission pending %.2f, payable %.2f, clawed back %.2f CNY", pending, payable, clawed))
            }
        }
        let base = api.base
        say("")
        say("Demo community \(community) (slug growth-lab-\(run))")
        say("  owner:    \(owner.email)  password \(owner.password)")
        if let referrer { say("  a member: \(referrer.account.email)  password \(memberPassword)  (referred \(referrer.referrals))") }
        say("")
        say("Read it:")
        say("  TOKEN=$(curl -s -X POST \(base)/api/v1/auth/login -H 'Content-Type: application/json' \\")
        say("    -d '{\"email\":\"\(owner.email)\",\"password\":\"\(owner.password)\"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"tokens\"][\"accessToken\"])')")
        say("  curl -s \"\(base)/api/v1/communities/\(community)/analytics/funnel?from=\(from)&to=\(to)\" -H \"Authorization: Bearer $TOKEN\"")
        say("  curl -s \(base)/api/v1/communities/\(community)/analytics/funnel -H \"Authorization: Bearer $TOKEN\"   # the last 30 days")
        say("  curl -s \"\(base)/api/v1/communities/\(community)/analytics/forecast?period=month&periods=\(periods)&horizon=6\" -H \"Authorization: Bearer $TOKEN\"")
        say("  curl -s \(base)/api/v1/communities/\(community)/leaderboards/points_all -H \"Authorization: Bearer $TOKEN\"")
        say("  curl -s \(base)/api/v1/communities/\(community)/earnings -H \"Authorization: Bearer $TOKEN\"")
        if !failures.isEmpty {
            say("")
            say("guild demo: \(failures.count) kind(s) of step failed (the rest went on):")
            for failure in failures {
                say("  ! \(failure.step): \(failure.count) time\(failure.count == 1 ? "" : "s"); first: \(failure.first)")
            }
        }
    }
}
