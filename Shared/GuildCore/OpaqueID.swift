import Foundation

/// An opaque, time-sortable identifier of one kind of record. Each kind is its own type, so a
/// plan id cannot be passed where a community id is expected.
public protocol OpaqueID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible where RawValue == String {
    init(rawValue: String)
}

extension OpaqueID {
    public init(_ rawValue: String) { self.init(rawValue: rawValue) }
    /// A new identifier (UUIDv7) for the given instant.
    public static func make(at date: Date = Date()) -> Self { Self(rawValue: Identifier.make(at: date)) }
    public var description: String { rawValue }
}

extension UserID: OpaqueID {}

/// A community.
public struct CommunityID: OpaqueID {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A plan of a community.
public struct PlanID: OpaqueID {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// An order: one purchase of a plan.
public struct OrderID: OpaqueID {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A payment of an order through a provider.
public struct PaymentID: OpaqueID {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}

/// A member's subscription to a plan.
public struct SubscriptionID: OpaqueID {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
}
