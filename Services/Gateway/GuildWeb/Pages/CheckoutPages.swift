import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import SwiftProtobuf
import Hummingbird
import HTTPTypes

/// Joining: the quote line by line with a coupon field, the payment (the sandbox provider's own
/// confirm page stands in for a provider's), and the outcome. Every price is membership's
/// quote: the page only shows it.
extension WebPages {
    static let checkout: [WebPage] = [
        WebPage(.get, "/c/:slug/join", signIn: .required) { web, visit in
            try await web.checkout(visit: visit, planID: visit.query("plan"), coupon: visit.query("coupon"), errors: [:])
        },
        WebPage(.post, "/c/:slug/join", signIn: .required) { web, visit in
            let slug = try visit.path("slug")
            let planID = visit.form["plan"] ?? "", coupon = (visit.form["coupon"] ?? "").trimmingCharacters(in: .whitespaces)
            guard !planID.isEmpty else { throw WebError.badForm }
            if visit.form["action"] == "apply" {
                return Visit.redirect(to: "/c/\(slug)/join?plan=\(Visit.percentEncoded(planID))" + (coupon.isEmpty ? "" : "&coupon=\(Visit.percentEncoded(coupon))"))
            }
            guard let nonce = visit.form["idem"], Gateway.isPlainToken(nonce) else { throw WebError.badForm }
            let community = try await web.community(slug: slug, visit: visit)
            var message = MembershipCreateOrderRequest()
            message.communityID = community.id
            message.planID = planID
            message.couponCode = coupon
            message.provider = visit.form["provider"] ?? ""
            // The form's nonce: a second press of Pay (or a reload of the POST) is the same order.
            message.idempotencyKey = "web-order-" + nonce
            do {
                let order = try await web.gateway.client(.membership).call(MembershipAPI.createOrder, message, metadata: visit.metadata)
                return Visit.redirect(to: WebFrontEnd.paymentStep(order))
            } catch let error as GuildError where [.invalidArgument, .failedPrecondition, .alreadyExists].contains(error.code) {
                return try await web.checkout(visit: visit, planID: planID, coupon: coupon, errors: visit.fieldErrors(error), status: .badRequest)
            }
        },
        // The sandbox provider's confirm page: what a real provider's checkout does, in Guild.
        WebPage(.get, "/checkout/sandbox/:paymentId", signIn: .required) { web, visit in
            let order = try await web.order(visit.query("order"), visit: visit)
            guard order.payment.id == (try visit.path("paymentId")) else { throw WebError.notFound }
            if order.payment.status != "pending" { return Visit.redirect(to: "/checkout/return?order=\(order.id)") }
            return visit.render("sandbox", [
                "pageTitle": visit.catalogue.text("sandbox_title"), "orderID": order.id, "paymentID": order.payment.id,
                "amount": visit.format.money(order.payment.amount.minorUnits, currency: order.payment.amount.currency),
                "nonce": WebSession.randomToken(),
            ])
        },
        WebPage(.post, "/checkout/sandbox/:paymentId", signIn: .required) { web, visit in
            guard let nonce = visit.form["idem"], Gateway.isPlainToken(nonce), let orderID = visit.form["order"] else { throw WebError.badForm }
            var message = MembershipConfirmSandboxPaymentRequest()
            message.paymentID = try visit.path("paymentId")
            message.fail = visit.form["outcome"] == "failed"
            if message.fail { message.failureReason = "card_declined" }
            message.idempotencyKey = "web-confirm-" + nonce
            _ = try await web.gateway.client(.membership).call(MembershipAPI.confirmSandboxPayment, message, metadata: visit.metadata)
            return Visit.redirect(to: "/checkout/return?order=\(Visit.percentEncoded(orderID))")
        },
        WebPage(.get, "/checkout/return", signIn: .required) { web, visit in
            let orderID = visit.query("order")
            guard !orderID.isEmpty else {
                // A provider's return without an order (Stripe's success page): the membership
                // appears once its webhook arrives.
                let key = visit.query("payment") == "cancelled" ? "return_cancelled" : "return_provider"
                return visit.render("return", ["pageTitle": visit.catalogue.text("return_title"), "message": visit.catalogue.text(key), "next": "/account/memberships"])
            }
            let order = try await web.order(orderID, visit: visit)
            var community = MembershipGetCommunityRequest()
            community.community = order.communityID
            let slug = try await web.gateway.client(.membership).call(MembershipAPI.getCommunity, community, metadata: visit.metadata).slug
            let state: String = switch order.status {
            case "paid": "paid"
            case "held": "held"
            case "pending": order.payment.status == "failed" ? "failed" : "pending"
            default: order.payment.status == "failed" ? "failed" : order.status
            }
            var values: [String: Any] = [
                "pageTitle": visit.catalogue.text("return_title"), "state": state,
                "message": visit.catalogue.text("return_\(state)"),
                "paid": state == "paid", "next": "/c/\(slug)",
                "total": visit.format.money(order.quote.total.minorUnits, currency: order.quote.total.currency),
                "lines": WebFrontEnd.quoteLines(order.quote, visit: visit), "hasLines": !order.quote.lines.isEmpty,
            ]
            if state == "failed" { values["retry"] = "/c/\(slug)/join?plan=\(order.planID)" }
            if !order.groupBuyID.isEmpty { values["group"] = "/g/\(order.groupBuyID)" }
            if state == "pending", !order.payment.id.isEmpty, order.payment.provider == "sandbox" {
                values["continue"] = "/checkout/sandbox/\(order.payment.id)?order=\(order.id)"
            }
            return visit.render("return", values)
        },
    ]
}

extension WebFrontEnd {
    /// The checkout page for `planID`: membership's quote (with the coupon when it applies; the
    /// coupon's problem beside its field when it does not).
    func checkout(visit: Visit, planID: String, coupon: String, errors: [String: String], status: HTTPResponse.Status = .ok) async throws -> Response {
        guard !planID.isEmpty else { throw WebError.notFound }
        let community = try await community(slug: try visit.path("slug"), visit: visit)
        let metadata = visit.metadata
        var plansRequest = MembershipListPlansRequest()
        plansRequest.communityID = community.id
        async let plans = gateway.client(.membership).call(MembershipAPI.listPlans, plansRequest, metadata: metadata)
        var errors = errors
        var quoteRequest = MembershipQuoteRequest()
        quoteRequest.communityID = community.id
        quoteRequest.planID = planID
        quoteRequest.couponCode = coupon
        let quote: MembershipQuote
        do {
            quote = try await gateway.client(.membership).call(MembershipAPI.quote, quoteRequest, metadata: metadata)
        } catch let error as GuildError where !coupon.isEmpty && [.invalidArgument, .failedPrecondition, .notFound].contains(error.code) {
            // The coupon does not apply: say why beside its field, and quote without it.
            errors["couponCode"] = visit.fieldErrors(error).values.first ?? visit.message(for: error)
            quoteRequest.couponCode = ""
            quote = try await gateway.client(.membership).call(MembershipAPI.quote, quoteRequest, metadata: metadata)
        }
        guard let plan = try await plans.plans.first(where: { $0.id == planID }) else { throw WebError.notFound }
        return visit.render("checkout", [
            "pageTitle": visit.catalogue.text("checkout_title", ["community": community.name]),
            "community": community.name, "slug": community.slug, "plan": PlanCard(plan, slug: community.slug, visit: visit).values,
            "planID": plan.id, "coupon": quoteRequest.couponCode.isEmpty ? coupon : quoteRequest.couponCode,
            "lines": Self.quoteLines(quote, visit: visit),
            "total": visit.format.money(quote.total.minorUnits, currency: quote.total.currency),
            "trial": quote.trialDays > 0 ? visit.catalogue.plural("plan_trial", count: Int64(quote.trialDays)) : "",
            "refundWindow": visit.catalogue.plural("community_refund_window", count: Int64(community.refundWindowDays)),
            // The providers membership takes: the sandbox, and Stripe's checkout when configured.
            "providers": quote.providers.enumerated().map { index, provider in
                ["value": provider, "label": visit.catalogue.texts["provider_\(provider)"] ?? provider,
                 "checked": (visit.form["provider"].map { $0 == provider }) ?? (index == 0)] as [String: Any]
            },
            "errors": errors, "nonce": WebSession.randomToken(),
        ], status: status)
    }

    /// The quote's lines in the page's language (membership's labels are English).
    static func quoteLines(_ quote: MembershipQuote, visit: Visit) -> [[String: Any]] {
        let catalogue = visit.catalogue
        return quote.lines.map { line in
            let label: String = switch line.kind {
            case "coupon": catalogue.text("quote_coupon", ["code": quote.couponCode])
            case "trial": catalogue.plural("quote_trial", count: Int64(quote.trialDays))
            case "plan_price", "offer", "renewal", "group_price": catalogue.text("quote_\(line.kind)")
            default: line.label
            }
            return [
                "label": label,
                "amount": visit.format.money(line.amount.minorUnits, currency: line.amount.currency),
                "discount": line.amount.minorUnits < 0,
            ]
        }
    }

    func order(_ id: String, visit: Visit) async throws -> MembershipOrder {
        guard !id.isEmpty else { throw WebError.notFound }
        var message = MembershipGetOrderRequest()
        message.orderID = id
        return try await gateway.client(.membership).call(MembershipAPI.getOrder, message, metadata: visit.metadata)
    }

    /// Where the browser goes once an order is placed: the outcome when nothing is left to pay,
    /// the provider's checkout page, or the sandbox's confirm page.
    static func paymentStep(_ order: MembershipOrder) -> String {
        if order.status != "pending" || order.payment.id.isEmpty { return "/checkout/return?order=\(order.id)" }
        if !order.payment.checkoutURL.isEmpty, order.payment.provider != "sandbox" { return order.payment.checkoutURL }
        return "/checkout/sandbox/\(order.payment.id)?order=\(order.id)"
    }
}
