import GuildCore

/// The methods of `guild-referral`. Most are called by the gateway on behalf of the user in the
/// call's metadata; `GetStanding` is for content deciding a minimum level.
public enum ReferralAPI {
    static let frontDoor: Set<ServiceName> = [.gateway]

    // Links and attribution
    public static let getMyLink = MethodDescriptor<ReferralGetMyLinkRequest, ReferralLink>("referral.GetMyLink", idempotent: true, allowedCallers: frontDoor)
    public static let recordVisit = MethodDescriptor<ReferralRecordVisitRequest, ReferralVisit>("referral.RecordVisit", idempotent: false, allowedCallers: frontDoor)
    public static let recordSignup = MethodDescriptor<ReferralRecordSignupRequest, ReferralSignupResponse>("referral.RecordSignup", idempotent: true, allowedCallers: frontDoor)
    public static let getProgram = MethodDescriptor<ReferralGetProgramRequest, ReferralProgram>("referral.GetProgram", idempotent: true, allowedCallers: frontDoor)
    public static let updateProgram = MethodDescriptor<ReferralUpdateProgramRequest, ReferralProgram>("referral.UpdateProgram", idempotent: true, allowedCallers: frontDoor)
    public static let getMyReferrals = MethodDescriptor<ReferralGetMyReferralsRequest, ReferralReferralSummary>("referral.GetMyReferrals", idempotent: true, allowedCallers: frontDoor)
    public static let listHeld = MethodDescriptor<ReferralListHeldRequest, ReferralAttributionList>("referral.ListHeld", idempotent: true, allowedCallers: frontDoor)
    public static let reviewAttribution = MethodDescriptor<ReferralReviewAttributionRequest, ReferralAttribution>("referral.ReviewAttribution", idempotent: true, allowedCallers: frontDoor)

    // Points and levels
    public static let getPointsRules = MethodDescriptor<ReferralGetPointsRulesRequest, ReferralPointsRules>("referral.GetPointsRules", idempotent: true, allowedCallers: frontDoor)
    public static let updatePointsRules = MethodDescriptor<ReferralUpdatePointsRulesRequest, ReferralPointsRules>("referral.UpdatePointsRules", idempotent: true, allowedCallers: frontDoor)
    public static let getPoints = MethodDescriptor<ReferralGetPointsRequest, ReferralPointsAccount>("referral.GetPoints", idempotent: true, allowedCallers: frontDoor)
    public static let getLevels = MethodDescriptor<ReferralGetLevelsRequest, ReferralLevelLadder>("referral.GetLevels", idempotent: true, allowedCallers: frontDoor)
    public static let updateLevels = MethodDescriptor<ReferralUpdateLevelsRequest, ReferralLevelLadder>("referral.UpdateLevels", idempotent: true, allowedCallers: frontDoor)
    public static let getStanding = MethodDescriptor<ReferralGetStandingRequest, ReferralStanding>("referral.GetStanding", idempotent: true, allowedCallers: [.content, .gateway])

    // Redemption
    public static let createCatalogueEntry = MethodDescriptor<ReferralCreateCatalogueEntryRequest, ReferralCatalogueEntry>("referral.CreateCatalogueEntry", idempotent: false, allowedCallers: frontDoor)
    public static let updateCatalogueEntry = MethodDescriptor<ReferralUpdateCatalogueEntryRequest, ReferralCatalogueEntry>("referral.UpdateCatalogueEntry", idempotent: true, allowedCallers: frontDoor)
    public static let listCatalogue = MethodDescriptor<ReferralListCatalogueRequest, ReferralCatalogue>("referral.ListCatalogue", idempotent: true, allowedCallers: frontDoor)
    /// Idempotent by its idempotency key.
    public static let redeem = MethodDescriptor<ReferralRedeemRequest, ReferralRedemption>("referral.Redeem", idempotent: true, allowedCallers: frontDoor)
    public static let listMyRedemptions = MethodDescriptor<ReferralListMyRedemptionsRequest, ReferralRedemptionList>("referral.ListMyRedemptions", idempotent: true, allowedCallers: frontDoor)
    public static let listRedemptions = MethodDescriptor<ReferralListRedemptionsRequest, ReferralRedemptionList>("referral.ListRedemptions", idempotent: true, allowedCallers: frontDoor)

    // Leaderboards
    public static let getLeaderboard = MethodDescriptor<ReferralLeaderboardRequest, ReferralLeaderboard>("referral.GetLeaderboard", idempotent: true, allowedCallers: frontDoor)
    public static let setBoardVisibility = MethodDescriptor<ReferralSetBoardVisibilityRequest, ReferralPointsAccount>("referral.SetBoardVisibility", idempotent: true, allowedCallers: frontDoor)

    // Analytics
    public static let getFunnelStats = MethodDescriptor<ReferralFunnelStatsRequest, ReferralFunnelStats>("referral.GetFunnelStats", idempotent: true, allowedCallers: frontDoor)
}
