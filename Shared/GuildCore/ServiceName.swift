/// The identity of one of Guild's processes, as written in its certificate's subject
/// alternative name (`spiffe://guild/<name>`) and in the per-method allow lists.
public struct ServiceName: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    public static let gateway = ServiceName(rawValue: "gateway")
    public static let auth = ServiceName(rawValue: "auth")
    public static let membership = ServiceName(rawValue: "membership")
    public static let content = ServiceName(rawValue: "content")
    public static let referral = ServiceName(rawValue: "referral")
    /// The command-line tool, when it speaks to services (for example `guild migrate`).
    public static let cli = ServiceName(rawValue: "cli")

    /// Every process the deployment CA issues a certificate for.
    public static let all: [ServiceName] = [.gateway, .auth, .membership, .content, .referral, .cli]

    /// The URI subject alternative name that carries this identity.
    public var uri: String { "spiffe://guild/\(rawValue)" }

    /// Parses `spiffe://guild/<name>`; nil for anything else.
    public init?(uri: String) {
        let prefix = "spiffe://guild/"
        guard uri.hasPrefix(prefix) else { return nil }
        let name = String(uri.dropFirst(prefix.count))
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) else { return nil }
        self.rawValue = name
    }

    public var description: String { rawValue }
}
