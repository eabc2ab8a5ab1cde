import Foundation
import GuildCore
import GuildMessages
import GuildTesting
import Testing

@testable import GuildMembership

/// Every cell of the role × operation table of ``MembershipService/policy``, tried through the
/// service: each allowed cell must succeed and each refused one must be refused.
/// The cells run one after another: each opens a database of its own, and sixty of them at once
/// would crowd out the rest of the test run on a small machine.
@Suite("Membership authorization table", .serialized)
struct AuthorizationTableTests {
    /// Who acts: each role in the community, and someone with none.
    static let actors: [String] = CommunityRole.all.map(\.rawValue) + ["none"]

    static let operations: [CommunityOperation] = [
        MembershipService.Operation.editCommunity, MembershipService.Operation.changeLifecycle,
        MembershipService.Operation.assignStaff, MembershipService.Operation.assignCoOwner,
        MembershipService.Operation.managePlans, MembershipService.Operation.viewHiddenPlans,
        MembershipService.Operation.manageCoupons, MembershipService.Operation.readOrders,
        MembershipService.Operation.readEarnings, MembershipService.Operation.refundOrders,
    ]

    @Test("the table names every operation the service checks")
    func tableIsComplete() {
        #expect(Set(Self.operations) == Set(MembershipService.policy.rules.keys))
    }

    @Test("cell", arguments: actors, operations)
    func cell(_ actorName: String, _ operation: CommunityOperation) async throws {
        try await MembershipFixture.with(.sqlite) { f in
            let (community, plan) = try await f.openCommunity()
            let users: [String: UserID] = [
                "owner": f.owner, "co_owner": UserID("co"), "moderator": UserID("mod"), "guest_expert": UserID("expert"),
                "member": UserID("member"), "none": UserID("stranger"),
            ]
            for (role, user) in users where CommunityRole.assignable.contains(CommunityRole(rawValue: role)) {
                var request = MembershipSetRoleRequest()
                request.communityID = community.id
                request.userID = user.rawValue
                request.role = role
                _ = try await f.service.setRole(request, user: f.owner)
            }
            let memberOrder = try await f.pay(try await f.order(plan, user: users["member"]!), user: users["member"]!)
            var hidden = MembershipCreatePlanRequest()
            hidden.communityID = community.id
            hidden.name = "Hidden"
            hidden.period = "lifetime"
            hidden.hidden = true
            let hiddenPlan = try await f.service.createPlan(hidden, user: f.owner)

            let actor = users[actorName]!
            let expected = MembershipService.policy.allows(operation, role: actorName == "none" ? nil : CommunityRole(rawValue: actorName))
            let allowed: Bool
            do {
                switch operation {
                case MembershipService.Operation.editCommunity:
                    var request = MembershipUpdateCommunityRequest()
                    request.communityID = community.id
                    request.name = "Renamed"
                    _ = try await f.service.updateCommunity(request, user: actor)
                case MembershipService.Operation.changeLifecycle:
                    var request = MembershipUpdateCommunityRequest()
                    request.communityID = community.id
                    request.status = "archived"
                    _ = try await f.service.updateCommunity(request, user: actor)
                case MembershipService.Operation.assignStaff, MembershipService.Operation.assignCoOwner:
                    var request = MembershipSetRoleRequest()
                    request.communityID = community.id
                    request.userID = "newcomer"
                    request.role = operation == MembershipService.Operation.assignCoOwner ? "co_owner" : "moderator"
                    _ = try await f.service.setRole(request, user: actor)
                case MembershipService.Operation.managePlans:
                    var request = MembershipCreatePlanRequest()
                    request.communityID = community.id
                    request.name = "Another"
                    request.period = "yearly"
                    _ = try await f.service.createPlan(request, user: actor)
                case MembershipService.Operation.viewHiddenPlans:
                    var request = MembershipListPlansRequest()
                    request.communityID = community.id
                    let plans = try await f.service.plans(request, user: actor).plans.map(\.id)
                    if !plans.contains(hiddenPlan.id) { throw GuildError(.permissionDenied, "hidden plan not shown") }
                case MembershipService.Operation.manageCoupons:
                    var request = MembershipCreateCouponRequest()
                    request.communityID = community.id
                    request.code = "BY-\(actorName.uppercased())"
                    request.kind = "amount"
                    request.amountOffMinorUnits = 100
                    _ = try await f.service.createCoupon(request, user: actor)
                case MembershipService.Operation.readOrders:
                    guard actor != users["member"]! else {
                        // The member reads their own order; reading others' is the operation.
                        let other = try await f.order(plan, user: UserID("someone"))
                        _ = try await f.service.order(OrderID(other.id), user: actor)
                        break
                    }
                    _ = try await f.service.order(OrderID(memberOrder.id), user: actor)
                case MembershipService.Operation.refundOrders:
                    // Someone else's order, outside the buyer's own right to a refund.
                    let other = try await f.pay(try await f.order(plan, user: UserID("buyer")), user: UserID("buyer"))
                    _ = try await f.refund(other, user: actor, amount: 100)
                case MembershipService.Operation.readEarnings:
                    var request = MembershipGetEarningsRequest()
                    request.communityID = community.id
                    _ = try await f.service.earnings(request, user: actor)
                default:
                    Issue.record("no action for \(operation)")
                    return
                }
                allowed = true
            } catch let error as GuildError where error.code == .permissionDenied || error.code == .notFound {
                allowed = false
            }
            #expect(allowed == expected, "\(actorName) / \(operation): allowed \(allowed), table says \(expected)")
        }
    }
}
