/// Fractional ranks: strings of base-36 digits compared bytewise, such that a new rank can
/// always be made between two others. Moving a chapter or a lesson writes one row (its rank)
/// instead of renumbering its siblings.
enum Rank {
    private static let digits = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// A rank strictly between `lower` and `upper` (nil: the open end). Ranks made here never end
    /// in "0", which keeps a rank available below every rank.
    static func between(_ lower: String?, _ upper: String?) -> String {
        let low = Array((lower ?? "").utf8)
        var high: [UInt8]? = upper.map { Array($0.utf8) }
        precondition(high == nil || low.lexicographicallyPrecedes(high!), "ranks out of order")
        var result: [UInt8] = []
        var index = 0
        while true {
            let a = index < low.count ? value(low[index]) : 0
            let b = high.map { index < $0.count ? value($0[index]) : 36 } ?? 36
            if a == b {
                result.append(digits[a])
            } else if (a + b) / 2 > a {
                result.append(digits[(a + b) / 2])
                return String(decoding: result, as: UTF8.self)
            } else {
                // Adjacent digits: keep `a` and look for room after it, below nothing.
                result.append(digits[a])
                high = nil
            }
            index += 1
        }
    }

    private static func value(_ byte: UInt8) -> Int {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "z"): Int(byte - UInt8(ascii: "a")) + 10
        default: 0
        }
    }
}
