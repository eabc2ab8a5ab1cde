import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import SwiftProtobuf
import Hummingbird
import HTTPTypes
import GuildWire

/// Signing up, signing in and out.
extension WebPages {
    static let account: [WebPage] = [
        WebPage(.get, "/signup") { _, visit in
            visit.render("signup", ["pageTitle": visit.catalogue.text("signup_title"), "next": Visit.safeNext(visit.query("next"))])
        },
        WebPage(.post, "/signup") { web, visit in
            let next = Visit.safeNext(visit.form["next"] ?? "/")
            var message = AuthRegisterRequest()
            message.email = visit.form["email"] ?? ""
            message.password = visit.form["password"] ?? ""
            message.displayName = visit.form["displayName"] ?? ""
            do {
                let session = try await web.gateway.client(.auth).call(AuthAPI.register, message, metadata: visit.metadata)
                // A visitor who came through a referral link is attributed now, as the API does.
                if let visitorID = Gateway.visitorCookie(visit.request) {
                    var context = visit.context
                    context.claims = nil
                    await web.gateway.recordSignup(visitorID: visitorID, user: session.user.id, request: visit.request, context: context)
                }
                visit.signIn(session)
                visit.flash("flash_welcome")
                return Visit.redirect(to: next)
            } catch let error as GuildError where [.invalidArgument, .alreadyExists].contains(error.code) {
                var errors = visit.fieldErrors(error)
                if error.code == .alreadyExists { errors = ["email": visit.catalogue.text("field_email_taken")] }
                return visit.render("signup", [
                    "pageTitle": visit.catalogue.text("signup_title"), "next": next, "errors": errors,
                    "email": message.email, "displayName": message.displayName,
                ], status: .badRequest)
            }
        },
        WebPage(.get, "/login") { _, visit in
            visit.render("login", ["pageTitle": visit.catalogue.text("login_title"), "next": Visit.safeNext(visit.query("next"))])
        },
        WebPage(.post, "/login") { web, visit in
            let next = Visit.safeNext(visit.form["next"] ?? "/")
            var message = AuthLoginRequest()
            message.email = visit.form["email"] ?? ""
            message.password = visit.form["password"] ?? ""
            do {
                let session = try await web.gateway.client(.auth).call(AuthAPI.login, message, metadata: visit.metadata)
                visit.signIn(session)
                visit.flash("flash_signed_in")
                return Visit.redirect(to: next)
            } catch let error as GuildError where [.invalidArgument, .unauthenticated, .resourceExhausted].contains(error.code) {
                let text = error.code == .resourceExhausted ? visit.catalogue.text("login_too_many") : visit.catalogue.text("login_failed")
                return visit.render("login", [
                    "pageTitle": visit.catalogue.text("login_title"), "next": next, "email": message.email,
                    "errors": ["_form": text],
                ], status: error.code == .resourceExhausted ? .tooManyRequests : .unauthorized)
            }
        },
        WebPage(.post, "/logout") { web, visit in
            if let refreshToken = visit.session.refreshToken {
                var message = AuthLogoutRequest()
                message.refreshToken = refreshToken
                _ = try? await web.gateway.client(.auth).call(AuthAPI.logout, message, metadata: visit.metadata)
            }
            visit.signOut()
            visit.flash("flash_signed_out")
            return Visit.redirect(to: "/")
        },
        WebPage(.get, "/account", signIn: .required) { web, visit in
            try await web.accountPage(visit)
        },
        WebPage(.post, "/account/profile", signIn: .required) { web, visit in
            var message = AuthUpdateProfileRequest()
            message.displayName = visit.form["displayName"] ?? ""
            do {
                let user = try await web.gateway.client(.auth).call(AuthAPI.updateProfile, message, metadata: visit.metadata)
                visit.session.displayName = user.displayName
                visit.sessionChanged = true
                visit.flash("flash_profile_saved")
                return Visit.redirect(to: "/account")
            } catch let error as GuildError where error.code == .invalidArgument {
                return try await web.accountPage(visit, displayName: message.displayName, errors: ["errors": visit.fieldErrors(error)])
            }
        },
        WebPage(.post, "/account/password", signIn: .required) { web, visit in
            var message = AuthChangePasswordRequest()
            message.currentPassword = visit.form["currentPassword"] ?? ""
            message.newPassword = visit.form["newPassword"] ?? ""
            do {
                // Every other session ends; this one continues with the new tokens.
                let session = try await web.gateway.client(.auth).call(AuthAPI.changePassword, message, metadata: visit.metadata)
                visit.signIn(session)
                visit.flash("flash_password_changed")
                return Visit.redirect(to: "/account")
            } catch let error as GuildError where [.invalidArgument, .resourceExhausted].contains(error.code) {
                let errors = error.code == .resourceExhausted ? ["_form": visit.catalogue.text("login_too_many")] : visit.fieldErrors(error)
                return try await web.accountPage(visit, errors: ["passwordErrors": errors])
            }
        },
        WebPage(.post, "/account/logout-everywhere", signIn: .required) { web, visit in
            _ = try await web.gateway.client(.auth).call(AuthAPI.logoutEverywhere, AuthLogoutEverywhereRequest(), metadata: visit.metadata)
            visit.signOut()
            visit.flash("flash_signed_out_everywhere")
            return Visit.redirect(to: "/")
        },
        // Each subscription with its plan, state and period, cancel or resume, and the orders
        // with their receipts and a refund while membership's window is open.
        WebPage(.get, "/account/memberships", signIn: .required) { web, visit in
            let metadata = visit.metadata
            async let memberships = web.gateway.client(.membership).call(MembershipAPI.listMyMemberships, MembershipListMembershipsRequest(), metadata: metadata)
            async let orders = web.gateway.client(.membership).call(MembershipAPI.listMyOrders, MembershipListMyOrdersRequest(), metadata: metadata)
            let mine = try await memberships.memberships, orderList = try await orders.orders
            let catalogue = visit.catalogue, format = visit.format
            let communities = Dictionary(mine.map { ($0.community.id, $0.community) }, uniquingKeysWith: { first, _ in first })
            let nowMs = Int64(visit.now.timeIntervalSince1970 * 1000)
            // The plans' names, from each community's plans (asked in parallel).
            let plans = await withTaskGroup(of: [String: String].self) { group in
                for id in Set(mine.map(\.community.id)) {
                    group.addTask {
                        var request = MembershipListPlansRequest()
                        request.communityID = id
                        let list = try? await web.gateway.client(.membership).call(MembershipAPI.listPlans, request, metadata: metadata)
                        return Dictionary((list?.plans ?? []).map { ($0.id, $0.name) }, uniquingKeysWith: { first, _ in first })
                    }
                }
                return await group.reduce(into: [String: String]()) { $0.merge($1) { first, _ in first } }
            }
            return visit.render("memberships", [
                "pageTitle": catalogue.text("memberships_title"),
                "memberships": mine.filter { $0.hasSubscription }.map { membership -> [String: Any] in
                    let subscription = membership.subscription
                    let live = ["trialing", "active", "past_due"].contains(subscription.state)
                    return [
                        "community": membership.community.name, "href": "/c/\(membership.community.slug)",
                        "plan": plans[subscription.planID] ?? "",
                        "state": catalogue.texts["subscription_\(subscription.state)"] ?? subscription.state,
                        "period": subscription.state == "expired"
                            ? catalogue.text("subscription_ended_on", ["date": format.date(milliseconds: subscription.endedAtMs)])
                            : subscription.currentPeriodEndMs > 0
                            ? catalogue.text(subscription.cancelAtPeriodEnd ? "subscription_ends" : "subscription_renews", ["date": format.date(milliseconds: subscription.currentPeriodEndMs)])
                            : catalogue.text("subscription_no_end"),
                        "id": subscription.id,
                        "canCancel": live && !subscription.cancelAtPeriodEnd && subscription.currentPeriodEndMs > 0,
                        "canResume": subscription.cancelAtPeriodEnd && subscription.state != "expired",
                    ]
                },
                "hasMemberships": mine.contains { $0.hasSubscription },
                "orders": orderList.map { order -> [String: Any] in
                    [
                        "id": order.id, "community": communities[order.communityID]?.name ?? "",
                        "date": format.dateTime(milliseconds: order.createdAtMs),
                        "state": catalogue.texts["order_\(order.status)"] ?? order.status,
                        "total": format.money(order.quote.total.minorUnits, currency: order.quote.total.currency),
                        "lines": WebFrontEnd.quoteLines(order.quote, visit: visit),
                        "refunds": order.refunds.map { refund in
                            catalogue.text("order_refunded_line", ["amount": format.money(refund.amount.minorUnits, currency: refund.amount.currency),
                                                                  "date": format.date(milliseconds: refund.createdAtMs)])
                        },
                        "canRefund": order.refundableUntilMs > nowMs,
                        "refundUntil": order.refundableUntilMs > nowMs ? catalogue.text("order_refund_until", ["date": format.dateTime(milliseconds: order.refundableUntilMs)]) : "",
                        "nonce": WebSession.randomToken(),
                    ]
                },
                "hasOrders": !orderList.isEmpty,
            ])
        },
        WebPage(.post, "/account/subscriptions/:id/cancel", signIn: .required) { web, visit in
            var message = MembershipSubscriptionRequest()
            message.subscriptionID = try visit.path("id")
            _ = try await web.gateway.client(.membership).call(MembershipAPI.cancelSubscription, message, metadata: visit.metadata)
            visit.flash("flash_subscription_cancelled")
            return Visit.redirect(to: "/account/memberships")
        },
        WebPage(.post, "/account/subscriptions/:id/resume", signIn: .required) { web, visit in
            var message = MembershipSubscriptionRequest()
            message.subscriptionID = try visit.path("id")
            _ = try await web.gateway.client(.membership).call(MembershipAPI.resumeSubscription, message, metadata: visit.metadata)
            visit.flash("flash_subscription_resumed")
            return Visit.redirect(to: "/account/memberships")
        },
        WebPage(.post, "/account/orders/:id/refund", signIn: .required) { web, visit in
            guard let nonce = visit.form["idem"], Gateway.isPlainToken(nonce) else { throw WebError.badForm }
            var message = MembershipRefundOrderRequest()
            message.orderID = try visit.path("id")
            message.reason = "requested by the member"
            message.idempotencyKey = "web-refund-" + nonce
            do {
                _ = try await web.gateway.client(.membership).call(MembershipAPI.refundOrder, message, metadata: visit.metadata)
                visit.flash("flash_refunded")
            } catch let error as GuildError where error.code == .failedPrecondition {
                visit.flash("flash_refund_refused", kind: .error)
            }
            return Visit.redirect(to: "/account/memberships")
        },
    ]
}

extension WebFrontEnd {
    /// `/account`: the member's name and email from auth; after a refused form, what was typed
    /// (`displayName`) and the form's errors (`errors` or `passwordErrors`), answered 400.
    func accountPage(_ visit: Visit, displayName: String? = nil, errors: [String: [String: String]] = [:]) async throws -> Response {
        let user = try await gateway.client(.auth).call(AuthAPI.getUser, AuthGetUserRequest(), metadata: visit.metadata)
        var values: [String: Any] = ["pageTitle": visit.catalogue.text("account_title"), "displayName": displayName ?? user.displayName, "email": user.email]
        values.merge(errors) { _, new in new }
        return visit.render("account", values, status: errors.isEmpty ? .ok : .badRequest)
    }
}
