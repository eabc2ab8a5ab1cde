import Foundation

/// The signals the fraud checks compare, computed without I/O: the network a client address
/// belongs to (a burst of sign-ups from one network is held for review) and an email address
/// reduced to the mailbox it delivers to (a referrer and a newcomer with the same mailbox are
/// one person).
public enum FraudSignals {
    /// The network of a client address, as the gateway passes it ("203.0.113.7",
    /// "203.0.113.7:5123", "2001:db8::1", "[2001:db8::1]:443", "::ffff:203.0.113.7"): an IPv4
    /// address's /24 ("203.0.113.0/24"), an IPv6 address's first 64 bits ("2001:db8:0:0::/64"),
    /// an IPv4-mapped IPv6 address as IPv4. "" when the address is missing or not an address,
    /// which never groups sign-ups.
    public static func network(of address: String?) -> String {
        guard var text = address?.trimmingCharacters(in: .whitespaces), !text.isEmpty else { return "" }
        if text.hasPrefix("[") {
            // [v6]:port
            guard let close = text.firstIndex(of: "]") else { return "" }
            text = String(text[text.index(after: text.startIndex)..<close])
        } else if text.filter({ $0 == ":" }).count == 1 {
            // v4:port
            text = String(text.prefix { $0 != ":" })
        }
        if let zone = text.firstIndex(of: "%") { text = String(text[..<zone]) }
        if let v4 = ipv4(text) { return "\(v4[0]).\(v4[1]).\(v4[2]).0/24" }
        guard let v6 = ipv6(text) else { return "" }
        // ::ffff:a.b.c.d is an IPv4 client seen through a dual-stack socket.
        if v6[0..<5].allSatisfy({ $0 == 0 }), v6[5] == 0xFFFF {
            return "\(v6[6] >> 8).\(v6[6] & 0xFF).\(v6[7] >> 8).0/24"
        }
        return v6[0..<4].map { String($0, radix: 16) }.joined(separator: ":") + "::/64"
    }

    /// The four bytes of a dotted-decimal IPv4 address.
    static func ipv4(_ text: String) -> [UInt8]? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy(\.isASCII), part.allSatisfy(\.isNumber), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        return bytes
    }

    /// The eight 16-bit groups of an IPv6 address (with "::" and an IPv4 tail).
    static func ipv6(_ text: String) -> [UInt16]? {
        guard text.contains(":"), text.count <= 45 else { return nil }
        func groups(_ part: Substring) -> [UInt16]? {
            guard !part.isEmpty else { return [] }
            var result: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (index, piece) in pieces.enumerated() {
                if index == pieces.count - 1, piece.contains("."), let v4 = ipv4(String(piece)) {
                    result.append(UInt16(v4[0]) << 8 | UInt16(v4[1]))
                    result.append(UInt16(v4[2]) << 8 | UInt16(v4[3]))
                    continue
                }
                guard (1...4).contains(piece.count), piece.allSatisfy(\.isHexDigit), let value = UInt16(piece, radix: 16) else { return nil }
                result.append(value)
            }
            return result
        }
        let halves = text.components(separatedBy: "::")
        switch halves.count {
        case 1:
            guard let all = groups(Substring(text)), all.count == 8 else { return nil }
            return all
        case 2:
            guard let head = groups(Substring(halves[0])), let tail = groups(Substring(halves[1])), head.count + tail.count <= 7 else { return nil }
            return head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        default:
            return nil
        }
    }

    /// An email address reduced to the mailbox it reaches: trimmed and lowercased, without a
    /// "+tag" in the local part, and for Gmail (gmail.com, googlemail.com) without dots in
    /// the local part and under gmail.com. "Alice+x@GMail.com" and "a.lice@googlemail.com" are
    /// both "alice@gmail.com". "" for an empty address.
    public static func normalizedEmail(_ email: String) -> String {
        let lowered = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        guard let at = lowered.lastIndex(of: "@") else { return lowered }
        var local = String(lowered[..<at])
        var domain = String(lowered[lowered.index(after: at)...])
        if let plus = local.firstIndex(of: "+") { local = String(local[..<plus]) }
        if domain == "gmail.com" || domain == "googlemail.com" {
            local = local.replacingOccurrences(of: ".", with: "")
            domain = "gmail.com"
        }
        return local + "@" + domain
    }

    /// Why a burst of sign-ups is held, in the words the owner reads.
    public static func burstReason(count: Int, code: String, network: String, minutes: Int) -> String {
        "\(count) sign-ups through link \(code) from \(network) within \(minutes) minutes"
    }
}
