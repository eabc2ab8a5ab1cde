import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildSecurity
import GuildWire
import SwiftProtobuf
import Hummingbird
import HTTPTypes

/// `/c/{slug}`: the community's landing page. Who runs it, what is inside, what it costs and
/// one join button per plan, above the fold.
extension WebPages {
    static let community: [WebPage] = [
        WebPage(.get, "/c/:slug") { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit, fresh: true)
            let metadata = visit.metadata
            var plansRequest = MembershipListPlansRequest()
            plansRequest.communityID = community.id
            var offersRequest = MembershipListGroupBuyOffersRequest()
            offersRequest.communityID = community.id
            var itemsRequest = ContentListItemsRequest()
            itemsRequest.communityID = community.id
            itemsRequest.limit = 10
            // Older posts and courses page by cursor (`?items=`), ten at a time.
            itemsRequest.cursor = visit.query("items")
            var ownerRequest = AuthGetUserRequest()
            ownerRequest.userID = community.ownerID
            async let plans = web.gateway.client(.membership).call(MembershipAPI.listPlans, plansRequest, metadata: metadata)
            async let groupOffers = web.gateway.client(.membership).call(MembershipAPI.listGroupBuyOffers, offersRequest, metadata: metadata)
            async let items = web.gateway.client(.content).call(ContentAPI.listItems, itemsRequest, metadata: metadata)
            async let owner = web.gateway.client(.auth).call(AuthAPI.getUser, ownerRequest, metadata: metadata)
            var challengesRequest = ContentListChallengesRequest()
            challengesRequest.communityID = community.id
            var lotteriesRequest = ContentListLotteriesRequest()
            lotteriesRequest.communityID = community.id
            async let challenges = web.gateway.client(.content).call(ContentAPI.listChallenges, challengesRequest, metadata: metadata)
            async let lotteries = web.gateway.client(.content).call(ContentAPI.listLotteries, lotteriesRequest, metadata: metadata)
            var eventsRequest = ContentListEventsRequest()
            eventsRequest.communityID = community.id
            async let events = web.gateway.client(.content).call(ContentAPI.listEvents, eventsRequest, metadata: metadata)
            let planList = try await plans.plans
            let memberCount = community.members
            var values: [String: Any] = [
                "pageTitle": community.name, "slug": community.slug, "name": community.name,
                "description": community.description_p, "initial": String(community.name.prefix(1)),
                "byline": visit.catalogue.text("community_by", ["owner": (try? await owner.displayName) ?? ""]),
                "members": visit.catalogue.plural("community_members", count: memberCount, formatted: visit.format.number(memberCount)),
                "refundWindow": visit.catalogue.plural("community_refund_window", count: Int64(community.refundWindowDays)),
                "isMember": !community.callerRole.isEmpty,
            ]
            values["plans"] = planList.map { PlanCard($0, slug: community.slug, visit: visit).values }
            values["plansEmpty"] = planList.isEmpty
            let prices = Dictionary(planList.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            let offerList = try await groupOffers
            let openers = await web.displayNames(Set(offerList.openGroups.map(\.openerID)), metadata: metadata)
            let catalogue = visit.catalogue, format = visit.format
            let groups: [[String: Any]] = offerList.offers.compactMap { offer -> [String: Any]? in
                guard let plan = prices[offer.planID] else { return nil }
                // Each open group with the seats still to fill and the time it has left.
                let open = offerList.openGroups.filter { $0.offer.id == offer.id && $0.paid < offer.groupSize }.prefix(5).map { group -> [String: Any] in
                    [
                        "href": "/g/\(group.id)",
                        "opener": catalogue.text("group_opened_by", ["name": openers[group.openerID] ?? catalogue.text("comment_someone")]),
                        "left": catalogue.plural("group_left", count: Int64(offer.groupSize - group.paid)),
                        "timeLeft": catalogue.text("plan_offer_left", ["time": format.timeLeft(until: group.closesAtMs, now: visit.now, catalogue: catalogue)]),
                    ]
                }
                return [
                    "plan": plan.name,
                    "price": format.money(offer.price.minorUnits, currency: offer.price.currency),
                    "planPrice": format.money(plan.price.minorUnits, currency: plan.price.currency),
                    "size": catalogue.plural("group_size", count: Int64(offer.groupSize)),
                    "action": "/c/\(community.slug)/group-offers/\(offer.id)/groups",
                    "openGroups": open, "hasOpenGroups": !open.isEmpty,
                ]
            }
            // The next three scheduled events, in the viewer's time zone.
            let nowMs = visit.now.millisecondsSince1970
            let upcoming = ((try? await events.events) ?? [])
                .filter { $0.status == "scheduled" && Int64($0.start.seconds) * 1000 + Int64($0.durationMinutes) * 60_000 > nowMs }
                .prefix(3).map { event -> [String: Any] in
                    ["title": event.title, "when": format.dateTime(milliseconds: Int64(event.start.seconds) * 1000),
                     "kind": catalogue.texts["event_kind_\(event.kind)"] ?? event.kind]
                }
            values["events"] = Array(upcoming)
            values["hasEvents"] = !upcoming.isEmpty
            values["groupOffers"] = groups
            values["nonce"] = WebSession.randomToken()
            values["hasGroupOffers"] = !groups.isEmpty
            let itemList = try await items.items
            values["items"] = itemList.map { ItemRow($0, community: (community.slug, ""), visit: visit).values }
            values["itemsEmpty"] = itemList.isEmpty
            let nextItems = try await items.nextCursor
            if !nextItems.isEmpty { values["moreItems"] = "/c/\(community.slug)?items=" + Visit.percentEncoded(nextItems) + "#items-title" }
            // Challenges and lotteries are extras: the page stands without them.
            let activities: [[String: Any]] =
                ((try? await challenges.challenges) ?? []).filter { $0.today < $0.days }.map { challenge in
                    ["title": challenge.title, "href": "/c/\(community.slug)/challenges/\(challenge.id)", "kind": visit.catalogue.text("activity_challenge")]
                } + ((try? await lotteries.lotteries) ?? []).map { lottery in
                    ["title": lottery.title, "href": "/c/\(community.slug)/lotteries/\(lottery.id)", "kind": visit.catalogue.text("activity_lottery")]
                }
            values["activities"] = activities
            values["hasActivities"] = !activities.isEmpty
            values["memberLinks"] = visit.isSignedIn
            if Gateway.isPlainToken(visit.query("ref")) {
                let by = visit.query("by")
                var inviter = ""
                if Gateway.isPlainToken(by) {
                    var request = AuthGetUserRequest()
                    request.userID = by
                    inviter = (try? await web.gateway.client(.auth).call(AuthAPI.getUser, request, metadata: metadata).displayName) ?? ""
                }
                values["invited"] = inviter.isEmpty ? visit.catalogue.text("community_invited") : visit.catalogue.text("community_invited_by", ["name": inviter])
            }
            return visit.render("community", values)
        },
    ]
}

extension WebFrontEnd {
    /// The community with `slug` as the visitor sees it (a 404 page when there is none, or it is
    /// a draft they may not see); the landing page asks afresh, reading pages take it from the
    /// ten-second cache.
    func community(slug: String, visit: Visit, fresh: Bool = false) async throws -> MembershipCommunity {
        let key = slug + "\u{0}" + (visit.context.claims?.userID.rawValue ?? "")
        if !fresh, let cached = communityCache.value(key) { return cached }
        var message = MembershipGetCommunityRequest()
        message.community = slug
        let community = try await gateway.client(.membership).call(MembershipAPI.getCommunity, message, metadata: visit.metadata)
        communityCache.store([key: community])
        return community
    }
}

/// A plan as a card: name, the price per period, the trial, the running offer with the time
/// left, the renewal discount and its join link.
struct PlanCard {
    let values: [String: Any]

    init(_ plan: MembershipPlan, slug: String, visit: Visit) {
        let catalogue = visit.catalogue, format = visit.format
        var values: [String: Any] = [
            "id": plan.id, "name": plan.name,
            "price": format.money(plan.price.minorUnits, currency: plan.price.currency),
            "period": PlanCard.period(plan, catalogue: catalogue),
            "href": "/c/\(slug)/join?plan=\(plan.id)",
        ]
        if plan.trialDays > 0 { values["trial"] = catalogue.plural("plan_trial", count: Int64(plan.trialDays)) }
        if plan.hasCurrentOffer {
            let offer = plan.currentOffer
            values["offer"] = [
                "label": offer.label.isEmpty ? catalogue.text("plan_offer") : offer.label,
                "price": format.money(offer.price.minorUnits, currency: offer.price.currency),
                "left": catalogue.text("plan_offer_left", ["time": format.timeLeft(until: offer.endsAtMs, now: visit.now, catalogue: catalogue)]),
            ]
        }
        if plan.renewalDiscountBp > 0 {
            values["renewal"] = catalogue.text("plan_renewal", ["percent": String(plan.renewalDiscountBp / 100)])
        }
        self.values = values
    }

    static func period(_ plan: MembershipPlan, catalogue: Catalogue) -> String {
        switch plan.period {
        case "monthly", "yearly", "lifetime": catalogue.text("period_\(plan.period)")
        default: catalogue.plural("period_days", count: Int64(plan.periodDays))
        }
    }
}
