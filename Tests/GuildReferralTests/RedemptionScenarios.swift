import Foundation
import GuildContent
import GuildCore
import GuildMembership
import GuildMessages
import GuildStorage
import GuildTesting
import GuildWire
import SQLKit
import Testing

@testable import GuildReferral

extension ReferralScenarios {
    static let redemptionScenarios: [String: Scenario] = [
        "redemption: 80 of 100 points for a 20 % coupon, then used on a renewal": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            try await fixture.earn(member, 100)
            let entry = try await fixture.reward("discount", cost: 80, percent: 2_000)
            #expect(entry.active)
            #expect(entry.validDays == 30)
            let redemption = try await fixture.redeem(member, entry, key: "redeem-key-1")
            #expect(redemption.status == "completed")
            #expect(!redemption.couponCode.isEmpty)
            #expect(redemption.costPoints == 80)
            #expect(redemption.userID == member.rawValue)
            var account = try await fixture.account(member)
            #expect(account.balance == 20)
            #expect(account.earned == 100)
            #expect(account.level.rank == 2)
            #expect(try await fixture.entries(member).map(\.0) == ["review_accepted", "redemption"])
            #expect(try await fixture.entries(member).map(\.1) == [100, -80])
            // The same request again: the same redemption, nothing more spent or issued.
            let again = try await fixture.redeem(member, entry, key: "redeem-key-1")
            #expect(again == redemption)
            #expect(try await fixture.account(member).balance == 20)
            let coupons = try await fixture.issuedCoupons(to: member)
            #expect(coupons.map(\.code) == [redemption.couponCode])
            #expect(coupons.first?.label == "20 % off")
            #expect(coupons.first?.percentOffBp == 2_000)
            // The key with another request is refused.
            let other = try await fixture.reward("discount", cost: 10, title: "1 off", amount: 100)
            let reused = await thrownError { _ = try await fixture.redeem(member, other, key: "redeem-key-1") }
            #expect(reused?.reason == "idempotency_key_reused")
            // The coupon takes 20 % off the member's renewal: 199.00 → 159.20.
            let order = try await fixture.pay(member, coupon: redemption.couponCode)
            #expect(order.status == "paid")
            #expect(order.quote.total.minorUnits == 15_920)
            var mine = ReferralListMyRedemptionsRequest()
            mine.communityID = fixture.community.id
            #expect(try await fixture.referral.myRedemptions(mine, user: member).redemptions == [redemption])
            var list = ReferralListCatalogueRequest()
            list.communityID = fixture.community.id
            let entries = try await fixture.referral.catalogue(list, user: member).entries
            #expect(entries.first { $0.id == entry.id }?.redeemed == 1)
            #expect(entries.first { $0.id == other.id }?.redeemed == 0)
            account = try await fixture.account(member)
            #expect(account.balance == 20)
            try await fixture.expectLedgerBalanced()
        },

        "redemption: not enough points is refused and changes nothing": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            try await fixture.earn(member, 50)
            let entry = try await fixture.reward("discount", cost: 80, amount: 5_000)
            let error = await thrownError { _ = try await fixture.redeem(member, entry) }
            #expect(error?.code == .failedPrecondition)
            #expect(error?.reason == "not_enough_points")
            #expect(try await fixture.account(member).balance == 50)
            #expect(try await fixture.entries(member).count == 1)
            #expect(try await fixture.redemptionCount() == 0)
            #expect(try await fixture.issuedCoupons(to: member).isEmpty)
            var list = ReferralListCatalogueRequest()
            list.communityID = fixture.community.id
            #expect(try await fixture.referral.catalogue(list, user: member).entries.map(\.redeemed) == [0])
            // Someone without a role in the community may not redeem at all.
            let stranger = UserID("stranger-01")
            try await fixture.earn(stranger, 100)
            let denied = await thrownError { _ = try await fixture.redeem(stranger, entry) }
            #expect(denied?.code == .permissionDenied)
            #expect(try await fixture.redemptionCount() == 0)
        },

        "redemption: membership refuses the coupon (its plan was deleted), so the points come back": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            try await fixture.earn(member, 100)
            var create = MembershipCreatePlanRequest()
            create.communityID = fixture.community.id
            create.name = "Yearly"
            create.priceMinorUnits = 199_000
            create.period = "yearly"
            let yearly = try await fixture.membership.createPlan(create, user: fixture.owner)
            let entry = try await fixture.reward("renewal_coupon", cost: 80, title: "Yearly renewal 10 % off", percent: 1_000, plans: [yearly.id])
            var delete = MembershipPlanRequest()
            delete.planID = yearly.id
            _ = try await fixture.membership.deletePlan(delete, user: fixture.owner)
            let redemption = try await fixture.redeem(member, entry)
            #expect(redemption.status == "failed")
            #expect(!redemption.failureReason.isEmpty)
            #expect(redemption.couponCode.isEmpty)
            let account = try await fixture.account(member)
            #expect(account.balance == 100)
            #expect(account.earned == 100)
            let entries = try await fixture.entries(member)
            #expect(entries.map(\.0) == ["review_accepted", "redemption", "redemption_reversed"])
            #expect(entries.map(\.1) == [100, -80, 80])
            #expect(try await fixture.issuedCoupons(to: member).isEmpty)
            var list = ReferralListCatalogueRequest()
            list.communityID = fixture.community.id
            #expect(try await fixture.referral.catalogue(list, user: member).entries.map(\.redeemed) == [0])
            // Nothing is left for the scheduler.
            #expect(try await fixture.referral.resumeRedemptions() == 0)
        },

        "redemption: membership unreachable leaves it pending; resumed later, exactly one coupon": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            try await fixture.earn(member, 100)
            let entry = try await fixture.reward("discount", cost: 80, title: "50.00 off", amount: 5_000)
            var pending = ReferralRedemption()
            try await fixture.withSecondReferral(issueCoupon: { _ in throw GuildError(.unavailable, "Membership is down.") }) { second in
                pending = try await fixture.redeem(member, entry, key: "redeem-key-1", with: second)
                #expect(pending.status == "pending")
                #expect(pending.couponCode.isEmpty)
                let again = try await fixture.redeem(member, entry, key: "redeem-key-1", with: second)
                #expect(again.id == pending.id && again.status == "pending")
                #expect(try await second.resumeRedemptions() == 0)
            }
            #expect(try await fixture.account(member).balance == 20)
            // A replica whose membership is a port where nothing listens cannot finish it either.
            try await fixture.withUnreachableMembership { third in
                let settled = try await third.resumeRedemptions()
                #expect(settled == 0)
            }
            #expect(try await fixture.issuedCoupons(to: member).isEmpty)
            // Membership reachable again: once the backoff has run out, the scheduler finishes it.
            #expect(try await fixture.referral.resumeRedemptions() == 0)
            fixture.clock.advance(by: WorkAttempts.maximumBackoff)
            #expect(try await fixture.referral.resumeRedemptions() == 1)
            #expect(try await fixture.referral.resumeRedemptions() == 0)
            let done = try await fixture.redeem(member, entry, key: "redeem-key-1")
            #expect(done.id == pending.id)
            #expect(done.status == "completed")
            #expect(!done.couponCode.isEmpty)
            #expect(try await fixture.issuedCoupons(to: member).map(\.code) == [done.couponCode])
            #expect(try await fixture.account(member).balance == 20)
            #expect(try await fixture.entries(member).map(\.1) == [100, -80])
            let order = try await fixture.pay(member, coupon: done.couponCode)
            #expect(order.quote.total.minorUnits == 14_900)
        },

        "redemption: a restart after the coupon was issued but before it was recorded gives the same coupon": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            try await fixture.earn(member, 100)
            let entry = try await fixture.reward("discount", cost: 80, percent: 1_000, validDays: 10)
            var pending = ReferralRedemption()
            try await fixture.withSecondReferral(issueCoupon: { _ in throw GuildError(.deadlineExceeded, "No answer in time.") }) { second in
                pending = try await fixture.redeem(member, entry, with: second)
            }
            #expect(pending.status == "pending")
            // Membership issued it (the call arrived) but the answer never did.
            var request = MembershipIssueCouponRequest()
            request.communityID = fixture.community.id
            request.userID = member.rawValue
            request.kind = "percent"
            request.percentOffBp = 1_000
            request.validDays = 10
            request.label = "20 % off"
            request.idempotencyKey = "redeem:" + pending.id
            let issued = try await fixture.membership.issueCoupon(request, caller: .referral)
            fixture.clock.advance(by: WorkAttempts.maximumBackoff)  // past the failed try's backoff
            #expect(try await fixture.referral.resumeRedemptions() == 1)
            var mine = ReferralListMyRedemptionsRequest()
            mine.communityID = fixture.community.id
            let done = try await fixture.referral.myRedemptions(mine, user: member).redemptions
            #expect(done.map(\.status) == ["completed"])
            #expect(done.map(\.couponCode) == [issued.code])
            #expect(try await fixture.issuedCoupons(to: member).map(\.code) == [issued.code])
            #expect(try await fixture.account(member).balance == 20)
        },

        "redemption: membership's answer is lost after it issued the coupon; resuming records that coupon": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            try await fixture.earn(member, 100)
            let entry = try await fixture.reward("discount", cost: 80, amount: 1_000)
            let membership = fixture.membership
            try await fixture.withSecondReferral(issueCoupon: { request in
                _ = try await membership.issueCoupon(request, caller: .referral)
                throw GuildError(.unavailable, "The connection broke before the answer.")
            }) { second in
                let redemption = try await fixture.redeem(member, entry, with: second)
                #expect(redemption.status == "pending")
            }
            let issued = try await fixture.issuedCoupons(to: member)
            #expect(issued.count == 1)
            fixture.clock.advance(by: WorkAttempts.maximumBackoff)  // past the failed try's backoff
            #expect(try await fixture.referral.resumeRedemptions() == 1)
            var mine = ReferralListMyRedemptionsRequest()
            mine.communityID = fixture.community.id
            #expect(try await fixture.referral.myRedemptions(mine, user: member).redemptions.map(\.couponCode) == issued.map(\.code))
            #expect(try await fixture.issuedCoupons(to: member).count == 1)
            #expect(try await fixture.account(member).balance == 20)
        },

        "redemption: points unlock one item through content": { fixture in
            let member = UserID("member-0001")
            try await fixture.pay(member)
            var create = MembershipCreatePlanRequest()
            create.communityID = fixture.community.id
            create.name = "Yearly"
            create.priceMinorUnits = 199_000
            create.period = "yearly"
            let yearly = try await fixture.membership.createPlan(create, user: fixture.owner)
            var post = ContentCreateItemRequest()
            post.communityID = fixture.community.id
            post.title = "For yearly members"
            post.markdown = "The whole story."
            post.access.mode = "plans"
            post.access.planIds = [yearly.id]
            post.publish = true
            let item = try await fixture.content.createItem(post, user: fixture.owner)
            #expect(try await fixture.content.item(item.id, user: member).locked)
            try await fixture.earn(member, 100)
            let entry = try await fixture.reward("unlock_item", cost: 50, title: "Read one yearly post", item: item.id)
            let redemption = try await fixture.redeem(member, entry)
            #expect(redemption.status == "completed")
            #expect(redemption.itemID == item.id)
            #expect(redemption.couponCode.isEmpty)
            #expect(try await fixture.content.item(item.id, user: member).locked == false)
            #expect(try await fixture.account(member).balance == 50)
            // An item that cannot be opened (not there) fails and gives the points back.
            let missing = try await fixture.reward("unlock_item", cost: 50, title: "Gone", item: "no-such-item")
            #expect(try await fixture.redeem(member, missing).status == "failed")
            #expect(try await fixture.account(member).balance == 50)
        },

        "redemption: the catalogue's rules, stock and inactive rewards": { fixture in
            let (first, second) = (UserID("member-0001"), UserID("member-0002"))
            try await fixture.pay(first)
            try await fixture.pay(second)
            let denied = await thrownError { _ = try await fixture.reward("discount", cost: 10, amount: 100, by: first) }
            #expect(denied?.code == .permissionDenied)
            let bad: [(String, Int64, Int64, Int64, [String], String, Int32, String)] = [
                ("discount", 10, 1_000, 100, [], "", 0, "percentOffBp"),
                ("discount", 10, 0, 0, [], "", 0, "percentOffBp"),
                ("discount", 10, 10_001, 0, [], "", 0, "percentOffBp"),
                ("renewal_coupon", 10, 1_000, 0, [], "", 0, "planIds"),
                ("unlock_item", 10, 0, 0, [], "", 0, "itemId"),
                ("cash", 10, 0, 100, [], "", 0, "kind"),
                ("discount", 0, 0, 100, [], "", 0, "costPoints"),
                ("discount", 10, 0, 100, [], "", 400, "validDays"),
                ("discount", 10, 0, 100, [], "item-1", 0, "itemId"),
            ]
            for (kind, cost, percent, amount, plans, item, days, field) in bad {
                let error = await thrownError {
                    _ = try await fixture.reward(kind, cost: cost, percent: percent, amount: amount, plans: plans, item: item, validDays: days)
                }
                #expect(error?.code == .invalidArgument)
                #expect(error?.fieldViolations.map(\.field) == [field], "\(kind) \(field)")
            }
            let untitled = await thrownError { _ = try await fixture.reward("discount", cost: 10, title: "  ", amount: 100) }
            #expect(untitled?.fieldViolations.map(\.field) == ["title"])
            // Stock 1: the second member finds it gone.
            try await fixture.earn(first, 100)
            try await fixture.earn(second, 100)
            let entry = try await fixture.reward("discount", cost: 30, amount: 1_000, stock: 1)
            #expect(try await fixture.redeem(first, entry).status == "completed")
            let gone = await thrownError { _ = try await fixture.redeem(second, entry) }
            #expect(gone?.reason == "out_of_stock")
            #expect(try await fixture.account(second).balance == 100)
            // Withdrawn: hidden from members, shown to owners, not redeemable.
            var update = ReferralUpdateCatalogueEntryRequest()
            update.entry.id = entry.id
            update.entry.stock = 2
            update.entry.active = false
            let refused = await thrownError { _ = try await fixture.referral.updateCatalogueEntry(update, user: first) }
            #expect(refused?.code == .permissionDenied)
            let withdrawn = try await fixture.referral.updateCatalogueEntry(update, user: fixture.owner)
            #expect(withdrawn.title == entry.title)
            #expect(withdrawn.costPoints == 30)
            #expect(withdrawn.stock == 2)
            #expect(!withdrawn.active)
            var list = ReferralListCatalogueRequest()
            list.communityID = fixture.community.id
            #expect(try await fixture.referral.catalogue(list, user: second).entries.isEmpty)
            #expect(try await fixture.referral.catalogue(list, user: fixture.owner).entries.map(\.id) == [entry.id])
            let inactive = await thrownError { _ = try await fixture.redeem(second, entry) }
            #expect(inactive?.reason == "reward_inactive")
            update.entry.active = true
            update.entry.costPoints = 40
            _ = try await fixture.referral.updateCatalogueEntry(update, user: fixture.owner)
            let redeemed = try await fixture.redeem(second, entry)
            #expect(redeemed.status == "completed")
            #expect(redeemed.costPoints == 40)
            #expect(try await fixture.account(second).balance == 60)
            #expect(try await fixture.referral.catalogue(list, user: second).entries.map(\.redeemed) == [2])
        },
    ]
}
