import Foundation

/// A QR code (ISO/IEC 18004) for a short text such as a referral link, drawn as SVG on the
/// server: byte mode, error correction level M, versions 1 to 10 (up to 213 bytes), the mask
/// with the lowest penalty. No package on the mirror makes QR codes (docs/decisions.md 28).
struct QRCode {
    /// The modules, row by row; true is dark.
    let modules: [[Bool]]
    let version: Int
    var size: Int { modules.count }

    /// Per version (index 0 is version 1), level M: data codewords per block and the number of
    /// blocks in each of the two groups, and error-correction codewords per block.
    private static let blocks: [(group1: (count: Int, data: Int), group2: (count: Int, data: Int), ec: Int)] = [
        ((1, 16), (0, 0), 10), ((1, 28), (0, 0), 16), ((1, 44), (0, 0), 26), ((2, 32), (0, 0), 18), ((2, 43), (0, 0), 24),
        ((4, 27), (0, 0), 16), ((4, 31), (0, 0), 18), ((2, 38), (2, 39), 22), ((3, 36), (2, 37), 22), ((4, 43), (1, 44), 26),
    ]
    private static let alignment: [[Int]] = [[], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50]]

    /// The code for `text`, or nil when it is longer than version 10 holds.
    init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard let version = (1...10).first(where: { Self.capacity(version: $0) >= bytes.count }) else { return nil }
        self.version = version
        let codewords = Self.interleave(Self.dataCodewords(bytes, version: version), version: version)
        var matrix = Matrix(version: version)
        matrix.drawFunctionPatterns()
        matrix.drawCodewords(codewords)
        var best: (penalty: Int, modules: [[Bool]])?
        for mask in 0..<8 {
            var candidate = matrix
            candidate.apply(mask: mask)
            candidate.drawFormat(mask: mask)
            let penalty = candidate.penalty()
            if best == nil || penalty < best!.penalty { best = (penalty, candidate.dark) }
        }
        modules = best!.modules
    }

    /// Bytes a version holds in byte mode at level M.
    static func capacity(version: Int) -> Int {
        let spec = blocks[version - 1]
        let dataBits = (spec.group1.count * spec.group1.data + spec.group2.count * spec.group2.data) * 8
        return (dataBits - 4 - (version < 10 ? 8 : 16)) / 8
    }

    /// Mode, length, the bytes, the terminator and padding, as data codewords.
    static func dataCodewords(_ bytes: [UInt8], version: Int) -> [UInt8] {
        let spec = blocks[version - 1]
        let total = spec.group1.count * spec.group1.data + spec.group2.count * spec.group2.data
        var bits: [Bool] = []
        func append(_ value: Int, _ count: Int) { for shift in stride(from: count - 1, through: 0, by: -1) { bits.append((value >> shift) & 1 == 1) } }
        append(0b0100, 4)
        append(bytes.count, version < 10 ? 8 : 16)
        for byte in bytes { append(Int(byte), 8) }
        append(0, min(4, total * 8 - bits.count))
        while bits.count % 8 != 0 { bits.append(false) }
        var codewords = stride(from: 0, to: bits.count, by: 8).map { start in
            bits[start..<start + 8].reduce(UInt8(0)) { ($0 << 1) | ($1 ? 1 : 0) }
        }
        var pad: [UInt8] = [0xEC, 0x11]
        while codewords.count < total { codewords.append(pad[0]); pad.swapAt(0, 1) }
        return codewords
    }

    /// The data split into blocks, each with its Reed-Solomon codewords, interleaved.
    static func interleave(_ data: [UInt8], version: Int) -> [UInt8] {
        let spec = blocks[version - 1]
        var dataBlocks: [[UInt8]] = []
        var offset = 0
        for (count, length) in [spec.group1, spec.group2] {
            for _ in 0..<count {
                dataBlocks.append(Array(data[offset..<offset + length]))
                offset += length
            }
        }
        let ecBlocks = dataBlocks.map { ReedSolomon.remainder($0, degree: spec.ec) }
        var result: [UInt8] = []
        for index in 0..<(dataBlocks.map(\.count).max() ?? 0) {
            for block in dataBlocks where index < block.count { result.append(block[index]) }
        }
        for index in 0..<spec.ec {
            for block in ecBlocks { result.append(block[index]) }
        }
        return result
    }

    /// The code as an SVG image that scales (a `viewBox`, a quiet zone of four modules), one
    /// path for the dark modules, named by `label` for assistive technology.
    static func svg(for text: String, label: String) -> String? {
        guard let code = QRCode(text) else { return nil }
        let size = code.size + 8
        var path = ""
        for (row, line) in code.modules.enumerated() {
            for (column, dark) in line.enumerated() where dark { path += "M\(column + 4) \(row + 4)h1v1h-1z" }
        }
        let escaped = label.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: "\"", with: "&quot;")
        return """
            <svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(size) \(size)" role="img" aria-label="\(escaped)" shape-rendering="crispEdges">\
            <rect width="\(size)" height="\(size)" fill="#fff"/><path d="\(path)" fill="#000"/></svg>
            """
    }

    /// The grid while it is being drawn: which modules are dark, and which belong to function
    /// patterns (so data and masks leave them alone).
    private struct Matrix {
        let version: Int
        let size: Int
        var dark: [[Bool]]
        var function: [[Bool]]

        init(version: Int) {
            self.version = version
            size = version * 4 + 17
            dark = Array(repeating: Array(repeating: false, count: size), count: size)
            function = dark
        }

        mutating func set(_ row: Int, _ column: Int, _ value: Bool) {
            dark[row][column] = value
            function[row][column] = true
        }

        mutating func drawFunctionPatterns() {
            for index in 0..<size {
                set(6, index, index % 2 == 0)
                set(index, 6, index % 2 == 0)
            }
            for (row, column) in [(3, 3), (3, size - 4), (size - 4, 3)] { drawFinder(row, column) }
            let centers = QRCode.alignment[version - 1]
            for row in centers {
                for column in centers where !((row == 6 && column == 6) || (row == 6 && column == centers.last!) || (row == centers.last! && column == 6)) {
                    for dy in -2...2 { for dx in -2...2 { set(row + dy, column + dx, max(abs(dx), abs(dy)) != 1) } }
                }
            }
            drawFormat(mask: 0)  // reserves the format areas; drawn again with the chosen mask
            if version >= 7 {
                var remainder = version
                for _ in 0..<12 { remainder = (remainder << 1) ^ ((remainder >> 11) * 0x1F25) }
                let bits = version << 12 | remainder
                for index in 0..<18 {
                    let bit = (bits >> index) & 1 == 1
                    set(size - 11 + index % 3, index / 3, bit)
                    set(index / 3, size - 11 + index % 3, bit)
                }
            }
        }

        mutating func drawFinder(_ row: Int, _ column: Int) {
            for dy in -4...4 {
                for dx in -4...4 {
                    let r = row + dy, c = column + dx
                    guard (0..<size).contains(r), (0..<size).contains(c) else { continue }
                    let distance = max(abs(dx), abs(dy))
                    set(r, c, distance != 2 && distance != 4)
                }
            }
        }

        /// The 15 format bits (level M, `mask`) in both copies, and the dark module.
        mutating func drawFormat(mask: Int) {
            let data = (0b00 << 3) | mask
            var remainder = data
            for _ in 0..<10 { remainder = (remainder << 1) ^ ((remainder >> 9) * 0x537) }
            let bits = ((data << 10) | remainder) ^ 0x5412
            func bit(_ index: Int) -> Bool { (bits >> index) & 1 == 1 }
            for index in 0...5 { set(index, 8, bit(index)) }
            set(7, 8, bit(6))
            set(8, 8, bit(7))
            set(8, 7, bit(8))
            for index in 9..<15 { set(8, 14 - index, bit(index)) }
            for index in 0..<8 { set(8, size - 1 - index, bit(index)) }
            for index in 8..<15 { set(size - 15 + index, 8, bit(index)) }
            set(size - 8, 8, true)
        }

        /// The codewords in the zigzag order, two columns at a time from the right.
        mutating func drawCodewords(_ codewords: [UInt8]) {
            var index = 0
            var right = size - 1
            while right >= 1 {
                if right == 6 { right = 5 }
                for vertical in 0..<size {
                    for offset in 0..<2 {
                        let column = right - offset
                        let upward = (right + 1) & 2 == 0
                        let row = upward ? size - 1 - vertical : vertical
                        guard !function[row][column] else { continue }
                        if index < codewords.count * 8 {
                            dark[row][column] = (codewords[index >> 3] >> (7 - UInt8(index & 7))) & 1 == 1
                            index += 1
                        }
                    }
                }
                right -= 2
            }
        }

        mutating func apply(mask: Int) {
            for row in 0..<size {
                for column in 0..<size where !function[row][column] {
                    let flip: Bool = switch mask {
                    case 0: (row + column) % 2 == 0
                    case 1: row % 2 == 0
                    case 2: column % 3 == 0
                    case 3: (row + column) % 3 == 0
                    case 4: (row / 2 + column / 3) % 2 == 0
                    case 5: row * column % 2 + row * column % 3 == 0
                    case 6: (row * column % 2 + row * column % 3) % 2 == 0
                    default: ((row + column) % 2 + row * column % 3) % 2 == 0
                    }
                    if flip { dark[row][column].toggle() }
                }
            }
        }

        /// The standard's penalty: runs of five or more, 2×2 blocks, finder-like patterns, and the
        /// balance of dark and light.
        func penalty() -> Int {
            var score = 0
            let columns = (0..<size).map { column in (0..<size).map { dark[$0][column] } }
            for line in dark + columns {
                var run = 1
                for index in 1..<size {
                    if line[index] == line[index - 1] {
                        run += 1
                    } else {
                        if run >= 5 { score += run - 2 }
                        run = 1
                    }
                }
                if run >= 5 { score += run - 2 }
                let pattern: [Bool] = [true, false, true, true, true, false, true]
                for start in 0...(size - 7) where Array(line[start..<start + 7]) == pattern {
                    let before = start >= 4 && !line[(start - 4)..<start].contains(true)
                    let after = start + 11 <= size && !line[(start + 7)..<(start + 11)].contains(true)
                    if before || after { score += 40 }
                }
            }
            for row in 0..<size - 1 {
                for column in 0..<size - 1 {
                    let value = dark[row][column]
                    if dark[row][column + 1] == value, dark[row + 1][column] == value, dark[row + 1][column + 1] == value { score += 3 }
                }
            }
            let darkCount = dark.reduce(0) { $0 + $1.filter { $0 }.count }
            let percent = darkCount * 100 / (size * size)
            score += abs(percent - 50) / 5 * 10
            return score
        }
    }
}

/// Reed-Solomon error correction over GF(256) with the QR code's polynomial (x⁸+x⁴+x³+x²+1).
enum ReedSolomon {
    /// The `degree` error-correction codewords of `data`.
    static func remainder(_ data: [UInt8], degree: Int) -> [UInt8] {
        var generator = [UInt8](repeating: 0, count: degree)
        generator[degree - 1] = 1
        var root: UInt8 = 1
        for _ in 0..<degree {
            for index in 0..<degree {
                generator[index] = multiply(generator[index], root)
                if index + 1 < degree { generator[index] ^= generator[index + 1] }
            }
            root = multiply(root, 0x02)
        }
        var result = [UInt8](repeating: 0, count: degree)
        for byte in data {
            let factor = byte ^ result[0]
            result.removeFirst()
            result.append(0)
            for index in 0..<degree { result[index] ^= multiply(generator[index], factor) }
        }
        return result
    }

    static func multiply(_ x: UInt8, _ y: UInt8) -> UInt8 {
        var product: Int = 0
        for bit in stride(from: 7, through: 0, by: -1) {
            product = (product << 1) ^ ((product >> 7) * 0x11D)
            product ^= ((Int(y) >> bit) & 1) * Int(x)
        }
        return UInt8(product & 0xFF)
    }
}
