import GuildCore
import GuildMessages
import GuildStorage
import GuildWire

extension ReferralService {
    /// The wire methods of `guild-referral`, bound to this service. Methods that act for a user
    /// take them from the call's metadata (set by the gateway after verifying the token).
    public var wireRouter: WireRouter {
        WireRouter([
            WireMethod(ReferralAPI.getMyLink) { request, context in try await self.getMyLink(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.recordVisit) { request, context in try await self.recordVisit(request, user: context.userID, clientAddress: context.clientAddress) },
            WireMethod(ReferralAPI.recordSignup) { request, context in try await self.recordSignup(request, user: try context.requireUser(), clientAddress: context.clientAddress) },
            WireMethod(ReferralAPI.getProgram) { request, _ in try await self.program(request) },
            WireMethod(ReferralAPI.updateProgram) { request, context in try await self.updateProgram(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.getMyReferrals) { request, context in try await self.myReferrals(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.listHeld) { request, context in try await self.heldAttributions(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.reviewAttribution) { request, context in try await self.reviewAttribution(request, user: try context.requireUser()) },

            WireMethod(ReferralAPI.getPointsRules) { request, _ in try await self.pointsRules(request) },
            WireMethod(ReferralAPI.updatePointsRules) { request, context in try await self.updatePointsRules(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.getPoints) { request, context in try await self.points(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.getLevels) { request, _ in try await self.levels(request) },
            WireMethod(ReferralAPI.updateLevels) { request, context in try await self.updateLevels(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.getStanding) { request, _ in try await self.standing(request) },

            WireMethod(ReferralAPI.createCatalogueEntry) { request, context in try await self.createCatalogueEntry(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.updateCatalogueEntry) { request, context in try await self.updateCatalogueEntry(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.listCatalogue) { request, context in try await self.catalogue(request, user: context.userID) },
            WireMethod(ReferralAPI.redeem) { request, context in try await self.redeem(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.listMyRedemptions) { request, context in try await self.myRedemptions(request, user: try context.requireUser()) },

            WireMethod(ReferralAPI.getLeaderboard) { request, context in try await self.leaderboard(request, user: try context.requireUser()) },
            WireMethod(ReferralAPI.setBoardVisibility) { request, context in try await self.setBoardVisibility(request, user: try context.requireUser()) },

            WireMethod(ReferralAPI.getFunnelStats) { request, context in try await self.funnelStats(request, user: try context.requireUser()) },
            WireMethod(EventsAPI.deliver) { request, _ in try await self.deliver(request) },
            WireMethod(ReferralAPI.listRedemptions) { request, context in try await self.redemptions(request, user: try context.requireUser()) },
            // The operator's: what the retry loops gave up on.
            WireMethod(OpsAPI.listDeadLetters(.referral)) { request, _ in try await self.deadLetters.list(request) },
            WireMethod(OpsAPI.retryDeadLetter(.referral)) { request, _ in try await self.deadLetters.retry(request) },
        ])
    }
}
