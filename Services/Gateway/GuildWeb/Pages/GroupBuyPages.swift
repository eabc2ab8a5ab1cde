import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes

/// Group buys (拼团): opening a group from an offer, and a group's share page, where others see
/// who opened it, the seats paid and left, the time left, and join.
extension WebPages {
    static let groupBuys: [WebPage] = [
        WebPage(.post, "/c/:slug/group-offers/:offerId/groups", signIn: .required) { web, visit in
            guard let nonce = visit.form["idem"], Gateway.isPlainToken(nonce) else { throw WebError.badForm }
            var request = MembershipOpenGroupBuyRequest()
            request.offerID = try visit.path("offerId")
            request.idempotencyKey = "web-open-group-" + nonce
            request.provider = "sandbox"
            let group = try await web.gateway.client(.membership).call(MembershipAPI.openGroupBuy, request, metadata: visit.metadata)
            return Visit.redirect(to: WebFrontEnd.paymentStep(group.yourOrder))
        },
        WebPage(.get, "/g/:groupId") { web, visit in
            var request = MembershipGetGroupBuyRequest()
            request.groupBuyID = try visit.path("groupId")
            let metadata = visit.metadata
            let group = try await web.gateway.client(.membership).call(MembershipAPI.getGroupBuy, request, metadata: metadata)
            var communityRequest = MembershipGetCommunityRequest()
            communityRequest.community = group.offer.communityID
            var plansRequest = MembershipListPlansRequest()
            plansRequest.communityID = group.offer.communityID
            var openerRequest = AuthGetUserRequest()
            openerRequest.userID = group.openerID
            async let community = web.gateway.client(.membership).call(MembershipAPI.getCommunity, communityRequest, metadata: metadata)
            async let plans = web.gateway.client(.membership).call(MembershipAPI.listPlans, plansRequest, metadata: metadata)
            async let opener = web.gateway.client(.auth).call(AuthAPI.getUser, openerRequest, metadata: metadata)
            let owner = try await community
            let plan = try await plans.plans.first { $0.id == group.offer.planID }
            let catalogue = visit.catalogue, format = visit.format
            let size = Int64(group.offer.groupSize), paid = Int64(group.paid)
            let left = max(0, size - paid)
            let shareURL = visit.absoluteURL("/g/\(group.id)")
            let mine = !group.yourOrder.id.isEmpty
            var values: [String: Any] = [
                "pageTitle": catalogue.text("group_title", ["community": owner.name]),
                "slug": owner.slug, "community": owner.name, "id": group.id,
                "opener": catalogue.text("group_opened_by", ["name": (try? await opener.displayName) ?? catalogue.text("comment_someone")]),
                "plan": plan?.name ?? "",
                "price": format.money(group.offer.price.minorUnits, currency: group.offer.price.currency),
                "planPrice": plan.map { format.money($0.price.minorUnits, currency: $0.price.currency) } ?? "",
                "seats": catalogue.text("group_seats", ["paid": String(paid), "size": String(size)]),
                "left": group.status == "open" ? catalogue.plural("group_left", count: left) : catalogue.text("group_state_\(group.status)"),
                "size": size, "paid": paid,
                "open": group.status == "open",
                "timeLeft": group.status == "open" ? catalogue.text("plan_offer_left", ["time": format.timeLeft(until: group.closesAtMs, now: visit.now, catalogue: catalogue)]) : "",
                "share": shareURL, "qr": QRCode.svg(for: shareURL, label: catalogue.text("group_qr_label")) ?? "",
                "canJoin": group.status == "open" && !mine && left > 0,
                "mine": mine, "signIn": visit.signInLink,
                "nonce": WebSession.randomToken(),
            ]
            if mine, group.yourOrder.status == "pending", !group.yourOrder.payment.id.isEmpty {
                values["continue"] = WebFrontEnd.paymentStep(group.yourOrder)
            }
            return visit.render("group", values)
        },
        WebPage(.post, "/g/:groupId/join", signIn: .required) { web, visit in
            guard let nonce = visit.form["idem"], Gateway.isPlainToken(nonce) else { throw WebError.badForm }
            var request = MembershipJoinGroupBuyRequest()
            request.groupBuyID = try visit.path("groupId")
            request.idempotencyKey = "web-join-group-" + nonce
            request.provider = "sandbox"
            do {
                let group = try await web.gateway.client(.membership).call(MembershipAPI.joinGroupBuy, request, metadata: visit.metadata)
                return Visit.redirect(to: WebFrontEnd.paymentStep(group.yourOrder))
            } catch let error as GuildError where [.failedPrecondition, .alreadyExists].contains(error.code) {
                visit.flash("flash_group_refused", kind: .error)
                return Visit.redirect(to: "/g/\(Visit.percentEncoded(request.groupBuyID))")
            }
        },
    ]
}
