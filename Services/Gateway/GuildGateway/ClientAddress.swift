/// What network a client's address belongs to, for the rate limiter's loopback exemption and
/// `/metrics`'s private-network rule. Addresses come as the socket or `X-Forwarded-For` gives
/// them; an IPv4-mapped IPv6 address (`::ffff:127.0.0.1`, what a dual-stack listener reports
/// for an IPv4 client) counts as the IPv4 address inside it.
enum ClientAddress {
    /// The address in lower case, with an IPv4-mapped prefix removed.
    static func normalized(_ address: String) -> String {
        let address = address.lowercased()
        return address.hasPrefix("::ffff:") && address.contains(".") ? String(address.dropFirst(7)) : address
    }

    /// 127.0.0.0/8 and ::1 (and `localhost`, as a test client names itself).
    static func isLoopback(_ address: String) -> Bool {
        let address = normalized(address)
        if address == "::1" || address == "localhost" { return true }
        return ipv4Octets(address)?.first == 127
    }

    /// Loopback, RFC 1918 and unique-local (fc00::/7) addresses.
    static func isPrivate(_ address: String) -> Bool {
        let address = normalized(address)
        if isLoopback(address) { return true }
        if address.hasPrefix("fc") || address.hasPrefix("fd") { return address.contains(":") }
        guard let octets = ipv4Octets(address) else { return false }
        switch (octets[0], octets[1]) {
        case (10, _), (192, 168), (172, 16...31): return true
        default: return false
        }
    }

    private static func ipv4Octets(_ address: String) -> [UInt8]? {
        let parts = address.split(separator: ".", omittingEmptySubsequences: false)
        let octets = parts.compactMap { UInt8($0) }
        return parts.count == 4 && octets.count == 4 ? octets : nil
    }
}
