import Foundation

/// Makes opaque, time-sortable identifiers: UUID version 7 (RFC 9562), a 48-bit millisecond
/// timestamp followed by random bits, written in lowercase canonical form.
public enum Identifier {
    /// A new UUIDv7 string for the given instant.
    public static func make(at date: Date = Date()) -> String {
        var generator = SystemRandomNumberGenerator()
        return make(at: date, using: &generator)
    }

    /// A UUIDv7 string from the given instant and random source.
    public static func make(at date: Date, using generator: inout some RandomNumberGenerator) -> String {
        let millis = UInt64(max(0, date.timeIntervalSince1970 * 1000))
        var bytes = (0..<6).map { UInt8(truncatingIfNeeded: millis >> (8 * (5 - $0))) } + Bytes.random(10, using: &generator)
        bytes[6] = 0x70 | (bytes[6] & 0x0F)  // version 7
        bytes[8] = 0x80 | (bytes[8] & 0x3F)  // variant 10
        let characters = Array(bytes.hexString)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32]
            .map { String(characters[$0]) }
            .joined(separator: "-")
    }
}

/// The identifier of a user account.
public struct UserID: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    /// A new, time-sortable user id.
    public static func make(at date: Date = Date()) -> UserID { UserID(Identifier.make(at: date)) }
    public var description: String { rawValue }
}
