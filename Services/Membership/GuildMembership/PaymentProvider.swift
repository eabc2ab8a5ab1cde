import Foundation
import GuildCore

/// A payment started with a provider.
public struct StartedPayment: Sendable, Equatable {
    /// The provider's own id of the payment.
    public var reference: String
    /// Where the payer completes it ("" when the provider needs no page).
    public var checkoutURL: String

    public init(reference: String, checkoutURL: String) {
        self.reference = reference
        self.checkoutURL = checkoutURL
    }
}

/// Something that collects money from payers: the built-in sandbox, or a real processor.
public protocol PaymentProvider: Sendable {
    /// The name orders use to pick it (`sandbox`).
    var name: String { get }
    /// Starts collecting `amount` for a payment; the outcome arrives later (a confirmation
    /// through the API for the sandbox, a webhook for a processor).
    func startPayment(id: PaymentID, amount: Money, description: String) async throws -> StartedPayment
    /// Returns `amount` of the payment the provider knows as `reference` to the payer; a retry
    /// with the same `idempotencyKey` refunds once.
    func refund(reference: String, amount: Money, idempotencyKey: String) async throws
}

/// The built-in provider for local use, demos and tests: no money moves; a payment is confirmed
/// or failed through the API (`membership.ConfirmSandboxPayment`).
public struct SandboxPaymentProvider: PaymentProvider {
    public init() {}

    public var name: String { "sandbox" }

    public func startPayment(id: PaymentID, amount: Money, description: String) async throws -> StartedPayment {
        StartedPayment(reference: "sandbox_\(id.rawValue)", checkoutURL: "/api/v1/payments/\(id.rawValue)/sandbox-confirm")
    }

    public func refund(reference: String, amount: Money, idempotencyKey: String) async throws {}
}
