import Foundation
import GuildCore
import GuildGateway
import GuildMessages
import GuildWire
import Hummingbird
import HTTPTypes

/// The member's referral link (分销) and commissions, and their points (积分), level (等级),
/// rewards to redeem and the leaderboards.
extension WebPages {
    static let growth: [WebPage] = [
        WebPage(.get, "/c/:slug/referral", signIn: .required) { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            var request = ReferralGetMyReferralsRequest()
            request.communityID = community.id
            let summary = try await web.gateway.client(.referral).call(ReferralAPI.getMyReferrals, request, metadata: visit.metadata)
            let link = visit.absoluteURL(summary.link.path.isEmpty ? "/r/\(summary.link.code)" : summary.link.path)
            let catalogue = visit.catalogue, format = visit.format
            let money = { (minor: Int64) in format.money(minor, currency: summary.currency.isEmpty ? community.currency : summary.currency) }
            return visit.render("referral", [
                "pageTitle": catalogue.text("referral_title"), "slug": community.slug, "community": community.name,
                "link": link, "qr": QRCode.svg(for: link, label: catalogue.text("referral_qr_label")) ?? "",
                "stats": catalogue.text("referral_stats", [
                    "visits": format.number(summary.visits), "signups": format.number(summary.signups), "converted": format.number(summary.converted),
                ]),
                "pending": money(summary.pendingMinorUnits), "payable": money(summary.payableMinorUnits), "clawedBack": money(summary.clawedBackMinorUnits),
                "commissions": summary.commissions.map { commission in
                    [
                        "amount": money(commission.amountMinorUnits), "payment": money(commission.paymentMinorUnits),
                        "state": catalogue.texts["commission_\(commission.status)"] ?? commission.status,
                        "date": format.date(milliseconds: commission.createdAtMs),
                        "payableAt": commission.payableAtMs > 0 ? format.date(milliseconds: commission.payableAtMs) : "",
                    ] as [String: Any]
                },
                "hasCommissions": !summary.commissions.isEmpty,
            ])
        },
        WebPage(.get, "/c/:slug/points", signIn: .required) { web, visit in
            let community = try await web.community(slug: try visit.path("slug"), visit: visit)
            let metadata = visit.metadata
            var pointsRequest = ReferralGetPointsRequest()
            pointsRequest.communityID = community.id
            var catalogueRequest = ReferralListCatalogueRequest()
            catalogueRequest.communityID = community.id
            var boardRequest = ReferralLeaderboardRequest()
            boardRequest.communityID = community.id
            // The leaderboard asked for (`?board=`), this month's points by default.
            let boardName = WebFrontEnd.leaderboards.contains(visit.query("board")) ? visit.query("board") : "points_month"
            boardRequest.board = boardName
            boardRequest.limit = 10
            var redemptionsRequest = ReferralListMyRedemptionsRequest()
            redemptionsRequest.communityID = community.id
            async let points = web.gateway.client(.referral).call(ReferralAPI.getPoints, pointsRequest, metadata: metadata)
            async let rewards = web.gateway.client(.referral).call(ReferralAPI.listCatalogue, catalogueRequest, metadata: metadata)
            async let board = web.gateway.client(.referral).call(ReferralAPI.getLeaderboard, boardRequest, metadata: metadata)
            async let redemptions = web.gateway.client(.referral).call(ReferralAPI.listMyRedemptions, redemptionsRequest, metadata: metadata)
            let account = try await points, leaderboard = try await board
            let names = await web.displayNames(Set(leaderboard.rows.map(\.userID)), metadata: metadata)
            let catalogue = visit.catalogue, format = visit.format
            var values: [String: Any] = [
                "pageTitle": catalogue.text("points_title"), "slug": community.slug, "community": community.name,
                "balance": catalogue.plural("points_balance", count: account.balance, formatted: format.number(account.balance)),
                "level": account.hasLevel && !account.level.name.isEmpty ? catalogue.text("points_level", ["level": account.level.name]) : "",
                "rewards": (try await rewards).entries.filter { $0.active }.map { entry in
                    [
                        "id": entry.id, "title": entry.title,
                        "cost": catalogue.plural("points_cost", count: entry.costPoints, formatted: format.number(entry.costPoints)),
                        "stock": entry.stock > 0 ? catalogue.text("points_stock", ["left": String(max(0, entry.stock - entry.redeemed))]) : "",
                        "affordable": account.balance >= entry.costPoints && (entry.stock == 0 || entry.redeemed < entry.stock),
                    ] as [String: Any]
                },
                "board": leaderboard.rows.map { row in
                    ["rank": row.rank, "name": names[row.userID] ?? catalogue.text("comment_someone"), "value": format.number(row.value),
                     "you": row.userID == leaderboard.you.userID] as [String: Any]
                },
                "boards": WebFrontEnd.leaderboards.map { name in
                    ["label": catalogue.text("board_\(name)"), "href": "/c/\(community.slug)/points?board=\(name)#board", "current": name == boardName] as [String: Any]
                },
                "boardTitle": catalogue.text("board_\(boardName)"),
                "boardColumn": catalogue.text(boardName.hasPrefix("points") ? "points_column" : "board_column_\(boardName)"),
                "boardEmpty": leaderboard.rows.isEmpty,
                // The viewer's own place, when it is below the rows shown.
                "boardYou": leaderboard.hasYou && !leaderboard.you.userID.isEmpty && !leaderboard.rows.contains { $0.userID == leaderboard.you.userID }
                    ? catalogue.text("board_you", ["rank": String(leaderboard.you.rank), "value": format.number(leaderboard.you.value)]) : "",
                "redemptions": (try await redemptions).redemptions.prefix(10).map { redemption in
                    [
                        "state": catalogue.texts["redemption_\(redemption.status)"] ?? redemption.status,
                        "coupon": redemption.couponCode, "date": format.date(milliseconds: redemption.createdAtMs),
                        "cost": catalogue.plural("points_cost", count: redemption.costPoints, formatted: format.number(redemption.costPoints)),
                    ] as [String: Any]
                },
                "nonce": WebSession.randomToken(),
            ]
            if account.hasNextLevel, !account.nextLevel.name.isEmpty {
                values["next"] = catalogue.text("points_next_level", ["level": account.nextLevel.name, "points": format.number(account.pointsToNext)])
            }
            return visit.render("points", values)
        },
        WebPage(.post, "/c/:slug/points/redeem", signIn: .required) { web, visit in
            let slug = try visit.path("slug")
            guard let entry = visit.form["entry"], let nonce = visit.form["idem"], Gateway.isPlainToken(nonce) else { throw WebError.badForm }
            let community = try await web.community(slug: slug, visit: visit)
            var request = ReferralRedeemRequest()
            request.communityID = community.id
            request.entryID = entry
            request.idempotencyKey = "web-redeem-" + nonce
            do {
                let redemption = try await web.gateway.client(.referral).call(ReferralAPI.redeem, request, metadata: visit.metadata)
                visit.flash(redemption.status == "failed" ? "flash_redeem_failed" : "flash_redeemed", kind: redemption.status == "failed" ? .error : .success)
            } catch let error as GuildError where [.failedPrecondition, .invalidArgument, .resourceExhausted].contains(error.code) {
                visit.flash("flash_redeem_refused", kind: .error)
            }
            return Visit.redirect(to: "/c/\(Visit.percentEncoded(slug))/points")
        },
    ]
}

extension WebFrontEnd {
    /// The leaderboards the points page switches between (referral's boards).
    static let leaderboards = ["points_week", "points_month", "points_all", "referrals", "streaks"]
}
