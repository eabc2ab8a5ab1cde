import Foundation
import GuildCore
import GuildMembership
import GuildMessages
import GuildStorage
import GuildTesting
import SQLKit
import SwiftProtobuf
import Testing

@testable import GuildReferral

/// Links, visits and attribution, the programme, commissions with clawback through
/// membership's ledger, newcomer rewards, the fraud checks and referral's funnel figures. The
/// community sells a monthly plan at 199.00 CNY with a 7-day refund window; the default
/// programme pays 10 % (1000 bp) of the first payment, so a referral earns 19.90.
extension ReferralScenarios {
    static let attributionScenarios: [String: Scenario] = [
        "attribution: a member's link is made once, from the unambiguous alphabet": { f in
            let member = UserID("member-0001"), other = UserID("member-0002")
            try await f.pay(member)
            try await f.pay(other)
            let first = try await f.link(member)
            #expect(try await f.link(member) == first)
            #expect(first.code.count == 8)
            #expect(first.code.allSatisfy { ReferralService.codeAlphabet.contains($0) })
            #expect(first.path == "/r/" + first.code)
            #expect(first.communityID == f.community.id && first.userID == member.rawValue)
            #expect(try await f.link(other).code != first.code)
            #expect(try await f.summary(member).link == first)
            #expect(try await f.rows("SELECT code FROM links").count == 2)
            let stranger = await thrownError { _ = try await f.link(UserID("stranger-01")) }
            #expect(stranger?.code == .permissionDenied)
            let missing = await thrownError { _ = try await f.referral.getMyLink(ReferralGetMyLinkRequest(), user: member) }
            #expect(missing?.fieldViolations.map(\.field) == ["communityId"])
        },

        "attribution: visits record their source, the visitor and the network": { f in
            let member = UserID("member-0001")
            try await f.pay(member)
            let code = try await f.link(member).code
            let referred = try await f.visit("visitor-aaaa0001", code: code.lowercased(), campaign: "spring", address: "203.0.113.77:5000")
            #expect(referred.source == "referral" && referred.code == code && referred.referrerID == member.rawValue)
            #expect(referred.communityID == f.community.id && referred.campaign == "spring" && referred.atMs == f.now.millisecondsSince1970)
            let campaign = try await f.visit("visitor-aaaa0002", source: "NewsLetter", campaign: "may", address: "[2001:db8:1:2:3::4]:443")
            #expect(campaign.source == "newsletter" && campaign.campaign == "may" && campaign.referrerID.isEmpty && campaign.code.isEmpty)
            let direct = try await f.visit("")
            #expect(direct.source == "direct")
            #expect(direct.visitorID.count == 32 && direct.visitorID.allSatisfy(\.isHexDigit))
            let networks = try await f.rows("SELECT network FROM visits ORDER BY at_ms, id").map { try $0.decode(column: "network", as: String.self) }
            #expect(Set(networks) == ["203.0.113.0/24", "2001:db8:1:2::/64", ""])

            #expect(await thrownError { try await f.visit("visitor-aaaa0003", code: "NOSUCH22") }?.code == .notFound)
            #expect(await thrownError { try await f.visit("visitor-aaaa0003", source: "news letter") }?.fieldViolations.map(\.field) == ["utmSource"])
            #expect(await thrownError { try await f.visit("short", source: "x") }?.fieldViolations.map(\.field) == ["visitorId"])
            let noCommunity = await thrownError { _ = try await f.referral.recordVisit(.with { $0.visitorID = "visitor-aaaa0003" }, user: nil, clientAddress: nil) }
            #expect(noCommunity?.fieldViolations.map(\.field) == ["communityId"])
            let badSignup = await thrownError { try await f.signup(UserID("member-0009"), visitor: "bad visitor!") }
            #expect(badSignup?.fieldViolations.map(\.field) == ["visitorId"])
            #expect(try await f.rows("SELECT id FROM visits").count == 3)
        },

        "attribution: the programme has defaults, is validated and only owners change it": { f in
            let read = try await f.referral.program(.with { $0.communityID = f.community.id })
            #expect(read.enabled && read.commissionBp == 1000 && read.commissionMode == "first_payment" && read.recurringMonths == 0)
            #expect(read.rewardKind == "none" && read.attributionWindowDays == 30 && read.burstLimit == 3 && read.burstWindowMinutes == 60)
            #expect(read.clawback == "pro_rata" && read.updatedAtMs == 0 && read.communityID == f.community.id)

            var bad = read
            bad.commissionBp = 6000
            bad.commissionMode = "weekly"
            bad.attributionWindowDays = 400
            bad.rewardKind = "percent"
            bad.rewardPercentOffBp = 0
            bad.burstWindowMinutes = 20_000
            bad.clawback = "some"
            let invalid = await thrownError { _ = try await f.referral.updateProgram(.with { $0.program = bad }, user: f.owner) }
            #expect(Set(invalid?.fieldViolations.map(\.field) ?? []) == [
                "commissionBp", "commissionMode", "attributionWindowDays", "rewardPercentOffBp", "burstWindowMinutes", "clawback",
            ])
            var recurring = read
            recurring.commissionMode = "recurring"
            let noMonths = await thrownError { _ = try await f.referral.updateProgram(.with { $0.program = recurring }, user: f.owner) }
            #expect(noMonths?.fieldViolations.map(\.field) == ["recurringMonths"])

            let member = UserID("member-0001")
            try await f.pay(member)
            let denied = await thrownError { _ = try await f.referral.updateProgram(.with { $0.program = read }, user: member) }
            #expect(denied?.code == .permissionDenied)
            let moderator = await thrownError { _ = try await f.referral.updateProgram(.with { $0.program = read }, user: f.moderator) }
            #expect(moderator?.code == .permissionDenied)

            let saved = try await f.setProgram {
                $0.commissionBp = 1500
                $0.commissionMode = "recurring"
                $0.recurringMonths = 6
                $0.rewardKind = "amount"
                $0.rewardAmountOffMinorUnits = 2000
                $0.rewardValidDays = 14
                $0.attributionWindowDays = 60
                $0.burstLimit = 5
                $0.burstWindowMinutes = 30
                $0.clawback = "full"
            }
            #expect(saved.updatedAtMs == f.now.millisecondsSince1970)
            #expect(try await f.referral.program(.with { $0.communityID = f.community.id }) == saved)
            #expect(saved.commissionBp == 1500 && saved.recurringMonths == 6 && saved.rewardAmountOffMinorUnits == 2000 && saved.clawback == "full")
        },

        "attribution: a referred first payment earns 19.90 pending, payable after 7 days, clawed back pro rata once": { f in
            let referrer = UserID("member-0001"), newcomer = UserID("member-0002")
            try await f.pay(referrer)
            let code = try await f.link(referrer).code
            let visit = try await f.visit("visitor-bbbb0001", code: code, campaign: "spring")
            f.clock.advance(by: 600)
            let attribution = try #require(try await f.signup(newcomer, visitor: "visitor-bbbb0001"))
            #expect(attribution.status == "attributed" && attribution.referrerID == referrer.rawValue && attribution.code == code)
            #expect(attribution.source == "referral" && attribution.campaign == "spring" && attribution.touchedAtMs == visit.atMs)
            #expect(attribution.signedUpAtMs == f.now.millisecondsSince1970 && attribution.convertedAtMs == 0)

            f.clock.advance(by: 3_600)
            let paidAt = f.now.millisecondsSince1970
            let order = try await f.pay(newcomer)
            var commissions = try await f.commissions(of: newcomer)
            #expect(commissions.count == 1)
            let commission = try #require(commissions.first)
            #expect(commission.amountMinorUnits == 1990 && commission.paymentMinorUnits == 19_900 && commission.currency == "CNY")
            #expect(commission.status == "pending" && commission.payableAtMs == paidAt + 7 * 86_400_000)
            #expect(commission.referrerID == referrer.rawValue && commission.refereeID == newcomer.rawValue && commission.orderID == order.id)
            #expect(try await f.movements(of: commission.id) == ["accrue 1990 posted"])
            try await f.expectLedgerBalanced()
            let converted = try #require(try await f.attribution(of: newcomer))
            #expect(converted.convertedAtMs == paidAt && converted.firstPaymentID == commission.paymentID)
            var summary = try await f.summary(referrer)
            #expect(summary.visits == 1 && summary.signups == 1 && summary.converted == 1 && summary.currency == "CNY")
            #expect(summary.pendingMinorUnits == 1990 && summary.payableMinorUnits == 0 && summary.clawedBackMinorUnits == 0)
            #expect(summary.referrals.map(\.userID) == [newcomer.rawValue] && summary.referrals[0].network.isEmpty)
            #expect(summary.commissions.map(\.id) == [commission.id])
            let emitted = try await f.rows("SELECT payload FROM outbox_events WHERE topic = 'referral.referral.converted'")
            #expect(emitted.count == 1)
            let event = try ReferralReferralConvertedEvent(serializedBytes: try emitted[0].decode(column: "payload", as: Data.self))
            #expect(event.referrerID == referrer.rawValue && event.refereeID == newcomer.rawValue && event.attributionID == attribution.id)

            // The payment told again: under its own id, and under a new one.
            let payment = try #require(try await f.membershipEvents("membership.payment.succeeded").last)
            try await f.redeliver(payment)
            var copy = payment
            copy.id = Identifier.make(at: f.now)
            try await f.redeliver(copy)
            #expect(try await f.commissions(of: newcomer).count == 1)
            #expect(try await f.movements(of: commission.id) == ["accrue 1990 posted"])

            // The refund window closes 7 days after the payment, not a second earlier.
            f.clock.advance(by: 7 * ReferralFixture.day - 1)
            try await f.deliver()
            #expect(try await f.commissions(of: newcomer)[0].status == "pending")
            f.clock.advance(by: 1)
            try await f.deliver()
            #expect(try await f.commissions(of: newcomer)[0].status == "payable")
            #expect(try await f.movements(of: commission.id) == ["accrue 1990 posted", "mature 1990 posted"])
            summary = try await f.summary(referrer)
            #expect(summary.pendingMinorUnits == 0 && summary.payableMinorUnits == 1990)
            try await f.expectLedgerBalanced()

            // Half the payment refunded after it became payable: half the commission comes back.
            try await f.refund(order, amount: 9_950)
            commissions = try await f.commissions(of: newcomer)
            #expect(commissions[0].clawedBackMinorUnits == 995 && commissions[0].status == "payable")
            #expect(try await f.movements(of: commission.id) == ["accrue 1990 posted", "mature 1990 posted", "claw_back 995 from payable posted"])
            try await f.expectLedgerBalanced()
            // The refund told again: by the relay, under its own id, and under a new id.
            try await f.deliver()
            let refund = try #require(try await f.membershipEvents("membership.payment.refunded").last)
            try await f.redeliver(refund)
            var refundCopy = refund
            refundCopy.id = Identifier.make(at: f.now)
            try await f.redeliver(refundCopy)
            #expect(try await f.commissions(of: newcomer)[0].clawedBackMinorUnits == 995)
            #expect(try await f.movements(of: commission.id).count == 3)
            summary = try await f.summary(referrer)
            #expect(summary.payableMinorUnits == 995 && summary.clawedBackMinorUnits == 995)

            // The rest refunded: nothing is left.
            try await f.refund(order)
            commissions = try await f.commissions(of: newcomer)
            #expect(commissions[0].clawedBackMinorUnits == 1990 && commissions[0].status == "clawed_back")
            #expect(try await f.movements(of: commission.id).last == "claw_back 995 from payable posted")
            #expect(try await f.rows("SELECT refund_id FROM clawbacks").count == 2)
            try await f.expectLedgerBalanced()
        },

        "attribution: a full refund while pending claws back everything and nothing matures": { f in
            let referrer = UserID("member-0001"), newcomer = UserID("member-0002")
            try await f.pay(referrer)
            try await f.refer(newcomer, code: try await f.link(referrer).code)
            let order = try await f.pay(newcomer)
            f.clock.advance(by: 2 * ReferralFixture.day)
            try await f.refund(order)
            let commission = try #require(try await f.commissions(of: newcomer).first)
            #expect(commission.status == "clawed_back" && commission.clawedBackMinorUnits == 1990 && commission.amountMinorUnits == 1990)
            #expect(try await f.movements(of: commission.id) == ["accrue 1990 posted", "claw_back 1990 from pending posted"])
            f.clock.advance(by: 8 * ReferralFixture.day)
            try await f.deliver()
            #expect(try await f.commissions(of: newcomer)[0].status == "clawed_back")
            #expect(try await f.movements(of: commission.id).count == 2)
            let summary = try await f.summary(referrer)
            #expect(summary.pendingMinorUnits == 0 && summary.payableMinorUnits == 0 && summary.clawedBackMinorUnits == 1990)
            try await f.expectLedgerBalanced()
        },

        "attribution: the full clawback rule takes everything back on a partial refund": { f in
            try await f.setProgram { $0.clawback = "full" }
            let referrer = UserID("member-0001"), newcomer = UserID("member-0002")
            try await f.pay(referrer)
            try await f.refer(newcomer, code: try await f.link(referrer).code)
            let order = try await f.pay(newcomer)
            try await f.refund(order, amount: 100)
            let commission = try #require(try await f.commissions(of: newcomer).first)
            #expect(commission.status == "clawed_back" && commission.clawedBackMinorUnits == 1990)
            try await f.expectLedgerBalanced()
        },

        "attribution: the first touch within the window wins; older touches are ignored": { f in
            let old = UserID("member-0001"), first = UserID("member-0002"), second = UserID("member-0003")
            for member in [old, first, second] { try await f.pay(member) }
            let (oldCode, firstCode, secondCode) = (try await f.link(old).code, try await f.link(first).code, try await f.link(second).code)
            let visitor = "visitor-cccc0001"
            try await f.visit(visitor, code: oldCode)  // day 0: 45 days before the sign-up
            f.clock.advance(by: 20 * ReferralFixture.day)
            let firstTouch = try await f.visit(visitor, code: firstCode)  // day 20
            f.clock.advance(by: 10 * ReferralFixture.day)
            try await f.visit(visitor, code: secondCode)  // day 30
            try await f.visit(visitor, source: "newsletter")
            f.clock.advance(by: 15 * ReferralFixture.day)  // day 45
            let newcomer = UserID("member-0004")
            let attribution = try #require(try await f.signup(newcomer, visitor: visitor))
            #expect(attribution.referrerID == first.rawValue && attribution.code == firstCode && attribution.source == "referral")
            #expect(attribution.touchedAtMs == firstTouch.atMs)
            // Asking again, or arriving later through another link: the first attribution stays.
            #expect(try await f.signup(newcomer, visitor: visitor) == attribution)
            try await f.visit("visitor-cccc0002", code: secondCode)
            #expect(try await f.signup(newcomer, visitor: "visitor-cccc0002")?.id == attribution.id)
            #expect(try await f.rows("SELECT id FROM attributions").count == 1)
            // A touch 31 days old attributes nothing.
            try await f.visit("visitor-cccc0003", code: secondCode)
            f.clock.advance(by: 31 * ReferralFixture.day)
            #expect(try await f.signup(UserID("member-0005"), visitor: "visitor-cccc0003") == nil)
            #expect(try await f.attribution(of: UserID("member-0005")) == nil)
        },

        "attribution: a payment after the window converts nothing and earns nothing": { f in
            let referrer = UserID("member-0001"), newcomer = UserID("member-0002")
            try await f.pay(referrer)
            try await f.refer(newcomer, code: try await f.link(referrer).code)
            f.clock.advance(by: 30 * ReferralFixture.day + 60)
            try await f.pay(newcomer)
            let attribution = try #require(try await f.attribution(of: newcomer))
            #expect(attribution.convertedAtMs == 0 && attribution.firstPaymentID.isEmpty)
            #expect(try await f.commissions(of: newcomer).isEmpty)
            // A later payment is not the first either.
            f.clock.advance(by: ReferralFixture.day)
            try await f.pay(newcomer)
            #expect(try await f.attribution(of: newcomer)?.convertedAtMs == 0)
            #expect(try await f.commissions(of: newcomer).isEmpty)
        },

        "attribution: a recurring commission is paid on each payment within 2 months of the first": { f in
            try await f.setProgram {
                $0.commissionBp = 1500
                $0.commissionMode = "recurring"
                $0.recurringMonths = 2
            }
            let referrer = UserID("member-0001"), newcomer = UserID("member-0002")
            try await f.pay(referrer)
            try await f.refer(newcomer, code: try await f.link(referrer).code)
            let start = f.now.millisecondsSince1970
            try await f.pay(newcomer)  // 2026-01-01
            f.clock.advance(by: 30 * ReferralFixture.day)
            try await f.pay(newcomer)  // 2026-01-31: within two months
            f.clock.advance(by: 31 * ReferralFixture.day)
            try await f.pay(newcomer)  // 2026-03-03: after 2026-03-01
            let commissions = try await f.commissions(of: newcomer)
            #expect(commissions.map(\.amountMinorUnits) == [2985, 2985])
            #expect(commissions.map(\.payableAtMs) == [start + 7 * 86_400_000, start + 37 * 86_400_000])
            #expect(commissions.map(\.status) == ["payable", "payable"])
            for commission in commissions {
                #expect(try await f.movements(of: commission.id) == ["accrue 2985 posted", "mature 2985 posted"])
            }
            try await f.expectLedgerBalanced()
        },

        "attribution: a sign-up through one's own link is a self-referral": { f in
            try await f.setProgram {
                $0.rewardKind = "percent"
                $0.rewardPercentOffBp = 2000
            }
            let member = UserID("member-0001")
            try await f.pay(member)
            let attribution = try await f.refer(member, code: try await f.link(member).code)
            #expect(attribution.status == "self_referral" && attribution.reason == "same account")
            #expect(try await f.rewardStatus(of: member) == "none")
            try await f.pay(member)
            #expect(try await f.commissions(of: member).isEmpty)
            #expect(try await f.summary(member).converted == 0)
        },

        "attribution: the same email after normalisation is a self-referral": { f in
            let referrer = try await f.register("Alice+x@gmail.com")
            let newcomer = try await f.register("a.lice@googlemail.com")
            let stranger = try await f.register("bob@example.com")
            try await f.pay(referrer)
            let code = try await f.link(referrer).code
            let same = try await f.refer(newcomer, code: code)
            #expect(same.status == "self_referral" && same.reason == "same email address")
            let other = try await f.refer(stranger, code: code)
            #expect(other.status == "attributed" && other.reason.isEmpty)
            try await f.pay(newcomer)
            try await f.pay(stranger)
            #expect(try await f.commissions(of: newcomer).isEmpty)
            #expect(try await f.commissions(of: stranger).map(\.amountMinorUnits) == [1990])
            #expect(try await f.summary(referrer).converted == 1)
            try await f.expectLedgerBalanced()
        },

        "attribution: the referrer's own payment card is a self-referral": { f in
            let referrer = UserID("member-0001"), newcomer = UserID("member-0002"), honest = UserID("member-0003")
            try await f.pay(referrer, card: "card-4242")
            let code = try await f.link(referrer).code
            #expect(try await f.refer(newcomer, code: code).status == "attributed")
            #expect(try await f.refer(honest, code: code).status == "attributed")
            try await f.pay(newcomer, card: "card-4242")
            let attribution = try #require(try await f.attribution(of: newcomer))
            #expect(attribution.status == "self_referral" && attribution.reason == "same payment card")
            #expect(try await f.commissions(of: newcomer).isEmpty)
            try await f.pay(honest, card: "card-1111")
            #expect(try await f.commissions(of: honest).map(\.amountMinorUnits) == [1990])
            #expect(try await f.summary(referrer).converted == 1)
            try await f.expectLedgerBalanced()
        },

        "attribution: a burst of sign-ups from one network is held; approved earns, rejected is void": { f in
            let referrer = UserID("member-0001")
            try await f.pay(referrer)
            let code = try await f.link(referrer).code
            var burst: [UserID] = []
            for index in 1...4 {
                let newcomer = UserID("newcomer-000\(index)")
                burst.append(newcomer)
                let attribution = try await f.refer(newcomer, code: code, address: "203.0.113.\(index)")
                #expect(attribution.network == "203.0.113.0/24")
                #expect(attribution.status == (index < 4 ? "attributed" : "held"))
                f.clock.advance(by: 300)
            }
            let reason = "4 sign-ups through link \(code) from 203.0.113.0/24 within 60 minutes"
            for newcomer in burst {
                let attribution = try #require(try await f.attribution(of: newcomer))
                #expect(attribution.status == "held" && attribution.reason == reason)
            }
            let elsewhere = try await f.refer(UserID("newcomer-0005"), code: code, address: "198.51.100.7")
            #expect(elsewhere.status == "attributed")
            let held = try await f.referral.heldAttributions(.with { $0.communityID = f.community.id }, user: f.owner)
            #expect(held.attributions.map(\.userID) == burst.map(\.rawValue))
            #expect(await thrownError { _ = try await f.referral.heldAttributions(.with { $0.communityID = f.community.id }, user: referrer) }?.code == .permissionDenied)

            // Paid while held: the commission waits and moves no money.
            try await f.pay(burst[0])
            let waiting = try #require(try await f.commissions(of: burst[0]).first)
            #expect(waiting.status == "held" && waiting.amountMinorUnits == 1990)
            #expect(try await f.movements(of: waiting.id).isEmpty)
            #expect(try await f.summary(referrer).pendingMinorUnits == 0)

            let approved = try await f.referral.reviewAttribution(.with {
                $0.attributionID = held.attributions[0].id
                $0.approve = true
                $0.note = "known family"
            }, user: f.owner)
            #expect(approved.status == "attributed" && approved.reason == "Approved by an owner: known family")
            #expect(try await f.commissions(of: burst[0])[0].status == "pending")
            #expect(try await f.movements(of: waiting.id) == ["accrue 1990 posted"])
            try await f.expectLedgerBalanced()
            var summary = try await f.summary(referrer)
            #expect(summary.pendingMinorUnits == 1990 && summary.converted == 1)

            try await f.pay(burst[1])
            let rejected = try await f.referral.reviewAttribution(.with { $0.attributionID = held.attributions[1].id }, user: f.owner)
            #expect(rejected.status == "rejected" && rejected.reason == "Rejected by an owner")
            let void = try #require(try await f.commissions(of: burst[1]).first)
            #expect(void.status == "void" && void.amountMinorUnits == 1990)
            #expect(try await f.movements(of: void.id).isEmpty)
            summary = try await f.summary(referrer)
            #expect(summary.pendingMinorUnits == 1990 && summary.converted == 1)

            // The same decision again answers the same; another decision is refused.
            #expect(try await f.referral.reviewAttribution(.with { $0.attributionID = approved.id; $0.approve = true }, user: f.owner).status == "attributed")
            let again = await thrownError { _ = try await f.referral.reviewAttribution(.with { $0.attributionID = rejected.id; $0.approve = true }, user: f.owner) }
            #expect(again?.code == .failedPrecondition && again?.reason == "not_held")
            let member = await thrownError { _ = try await f.referral.reviewAttribution(.with { $0.attributionID = held.attributions[2].id; $0.approve = true }, user: referrer) }
            #expect(member?.code == .permissionDenied)
            #expect(try await f.referral.heldAttributions(.with { $0.communityID = f.community.id }, user: f.owner).attributions.map(\.userID) == burst[2...].map(\.rawValue))

            // An hour later the network starts afresh.
            f.clock.advance(by: 3_600)
            #expect(try await f.refer(UserID("newcomer-0006"), code: code, address: "203.0.113.9").status == "attributed")
            try await f.expectLedgerBalanced()
        },

        "attribution: the newcomer's reward coupon is issued once, for them only": { f in
            try await f.setProgram {
                $0.rewardKind = "percent"
                $0.rewardPercentOffBp = 2000
                $0.rewardValidDays = 30
            }
            let referrer = UserID("member-0001"), newcomer = UserID("member-0002"), other = UserID("member-0003")
            try await f.pay(referrer)
            try await f.refer(newcomer, code: try await f.link(referrer).code)
            let attribution = try #require(try await f.attribution(of: newcomer))
            let coupon = attribution.rewardCouponCode
            #expect(!coupon.isEmpty)
            #expect(try await f.rewardStatus(of: newcomer) == "issued")
            try await f.deliver()
            #expect(try await f.attribution(of: newcomer)?.rewardCouponCode == coupon)
            #expect(await thrownError { try await f.pay(other, coupon: coupon) } != nil)
            let order = try await f.pay(newcomer, coupon: coupon)
            #expect(order.quote.total.minorUnits == 15_920 && order.payment.amount.minorUnits == 15_920)
            #expect(try await f.commissions(of: newcomer).map(\.amountMinorUnits) == [1592])
            // The referrer's summary does not show the newcomer's coupon.
            #expect(try await f.summary(referrer).referrals.map(\.rewardCouponCode) == [""])
            try await f.expectLedgerBalanced()
        },

        "attribution: a disabled programme records visits and sign-ups but earns nothing": { f in
            try await f.setProgram {
                $0.enabled = false
                $0.rewardKind = "amount"
                $0.rewardAmountOffMinorUnits = 1000
            }
            let referrer = UserID("member-0001"), newcomer = UserID("member-0002")
            try await f.pay(referrer)
            let attribution = try await f.refer(newcomer, code: try await f.link(referrer).code)
            #expect(attribution.status == "attributed")
            #expect(try await f.rewardStatus(of: newcomer) == "none")
            try await f.pay(newcomer)
            #expect(try await f.attribution(of: newcomer)?.convertedAtMs == f.now.millisecondsSince1970)
            #expect(try await f.commissions(of: newcomer).isEmpty)
            let summary = try await f.summary(referrer)
            #expect(summary.visits == 1 && summary.signups == 1 && summary.converted == 1 && summary.pendingMinorUnits == 0)
        },

        "attribution: a ledger movement membership refuses holds back the later ones of its commission": { f in
            try await f.cluster.referralDatabase.database.withConnection { sql in
                for (seq, movement) in [(1, "teleport"), (2, "accrue")] {
                    try await sql.raw("""
                        INSERT INTO ledger_movements (id, commission_id, seq, community_id, movement, amount_minor_units, currency, from_state, referrer_id,
                                                      posted, attempts, last_error, created_at_ms)
                        VALUES (\(bind: "commission:bogus:\(seq)"), 'bogus', \(bind: Int64(seq)), \(bind: f.community.id), \(bind: movement), 100, 'CNY', '',
                                'member-0001', \(bind: false), 0, '', 0)
                        """).run()
                }
            }
            #expect(try await f.referral.postPendingLedgerMovements() == 0)
            let rows = try await f.rows("SELECT * FROM ledger_movements ORDER BY seq")
            #expect(try rows.map { try $0.decode(column: "attempts", as: Int64.self) } == [1, 0])
            #expect(try rows.map { try $0.decode(column: "posted", as: Bool.self) } == [false, false])
            #expect(try !rows[0].decode(column: "last_error", as: String.self).isEmpty)
            try await f.expectLedgerBalanced()
        },

        "attribution: funnel figures by source, checked by hand": { f in
            var trial = MembershipCreatePlanRequest()
            trial.communityID = f.community.id
            trial.name = "Trial"
            trial.priceMinorUnits = 19_900
            trial.period = "monthly"
            trial.trialDays = 7
            let trialPlan = try await f.membership.createPlan(trial, user: f.owner)
            let start = f.now
            let referrer = UserID("member-0001")
            try await f.pay(referrer)  // a member, not attributed: in no source
            let code = try await f.link(referrer).code
            f.clock.advance(by: 3_600)
            // 5 visitors: 3 through the link (one twice), 2 from the newsletter.
            for visitor in ["visitor-dddd0001", "visitor-dddd0002", "visitor-dddd0003", "visitor-dddd0001"] { try await f.visit(visitor, code: code) }
            for visitor in ["visitor-dddd0004", "visitor-dddd0005"] { try await f.visit(visitor, source: "newsletter", campaign: "jan") }
            // 3 sign-ups, 1 trial, 2 paid.
            let (u1, u2, u4) = (UserID("member-0011"), UserID("member-0012"), UserID("member-0014"))
            try await f.signup(u1, visitor: "visitor-dddd0001")
            try await f.signup(u2, visitor: "visitor-dddd0002")
            try await f.signup(u4, visitor: "visitor-dddd0004")
            try await f.pay(u1)
            try await f.pay(u2, plan: trialPlan)
            try await f.pay(u4)
            // After the range: a visit and a sign-up that do not count.
            f.clock.advance(by: 2 * ReferralFixture.day)
            try await f.visit("visitor-dddd0006", source: "newsletter")
            try await f.signup(UserID("member-0016"), visitor: "visitor-dddd0006")

            let request = ReferralFunnelStatsRequest.with {
                $0.communityID = f.community.id
                $0.fromMs = start.millisecondsSince1970
                $0.toMs = start.addingTimeInterval(ReferralFixture.day).millisecondsSince1970
            }
            let stats = try await f.referral.funnelStats(request, user: f.owner)
            #expect(stats.visitors == 5 && stats.signups == 3 && stats.referrers == 1)
            #expect(stats.bySource == [
                .with { $0.source = "referral"; $0.visitors = 3; $0.signups = 2; $0.trials = 1; $0.paid = 1; $0.signupRate = 2.0 / 3.0; $0.paidRate = 0.5 },
                .with { $0.source = "newsletter"; $0.visitors = 2; $0.signups = 1; $0.trials = 0; $0.paid = 1; $0.signupRate = 0.5; $0.paidRate = 1 },
            ])
            let later = try await f.referral.funnelStats(.with {
                $0.communityID = f.community.id
                $0.fromMs = start.addingTimeInterval(ReferralFixture.day).millisecondsSince1970
                $0.toMs = f.now.addingTimeInterval(1).millisecondsSince1970
            }, user: f.owner)
            #expect(later.visitors == 1 && later.signups == 1 && later.referrers == 0)
            #expect(later.bySource == [.with { $0.source = "newsletter"; $0.visitors = 1; $0.signups = 1; $0.signupRate = 1 }])
            #expect(await thrownError { _ = try await f.referral.funnelStats(request, user: referrer) }?.code == .permissionDenied)
            var backwards = request
            backwards.toMs = backwards.fromMs
            #expect(await thrownError { _ = try await f.referral.funnelStats(backwards, user: f.owner) }?.code == .invalidArgument)
        },
    ]
}
