import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import SwiftProtobuf
import Hummingbird
import HTTPTypes

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
    ]
}
