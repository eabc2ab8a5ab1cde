import Crypto
import GuildCore
import SwiftProtobuf

/// A request that moves money (or must otherwise happen once), carrying the client's
/// idempotency key.
public protocol IdempotentRequest: SwiftProtobuf.Message {
    var idempotencyKey: String { get set }
}

extension IdempotentRequest {
    /// A stable digest of the request's content without its idempotency key, so that a repeat
    /// with the same key and content matches (and the same key with other content does not).
    public var fingerprint: String {
        get throws {
            var content = self
            content.idempotencyKey = ""
            var options = BinaryEncodingOptions()
            options.useDeterministicOrdering = true
            let bytes: [UInt8] = try content.serializedBytes(options: options)
            return SHA256.hash(data: bytes).hexString
        }
    }
}

extension MembershipCreateOrderRequest: IdempotentRequest {}
extension MembershipConfirmSandboxPaymentRequest: IdempotentRequest {}
extension MembershipRefundOrderRequest: IdempotentRequest {}
extension MembershipDissolveCommunityRequest: IdempotentRequest {}
extension MembershipOpenGroupBuyRequest: IdempotentRequest {}
extension MembershipJoinGroupBuyRequest: IdempotentRequest {}
extension MembershipCreateChargeRequest: IdempotentRequest {}
extension MembershipConfirmSandboxChargeRequest: IdempotentRequest {}
extension ContentAskQuestionRequest: IdempotentRequest {}
extension ContentBookRequest: IdempotentRequest {}
extension MembershipIssueCouponRequest: IdempotentRequest {}
extension MembershipPostCommissionRequest: IdempotentRequest {}
extension ContentGrantItemAccessRequest: IdempotentRequest {}
extension ReferralRedeemRequest: IdempotentRequest {}
