import Foundation
import Testing
@testable import GuildWeb

/// The QR encoder's parts against the standard's worked example and its structure; the browser
/// suite reads the rendered codes back with zbarimg.
@Suite("QR codes")
struct QRCodeTests {
    @Test("Reed-Solomon codewords match the standard's 1-M example (HELLO WORLD)")
    func reedSolomon() {
        let data: [UInt8] = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]
        #expect(ReedSolomon.remainder(data, degree: 10) == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23])
    }

    @Test("a version fits the text: 21 modules for a short one, finder patterns in three corners, version 10 at most")
    func structure() throws {
        let short = try #require(QRCode("x.io/r/AB"))
        #expect(short.version == 1 && short.size == 21)
        let link = try #require(QRCode("http://127.0.0.1:18080/r/B66Q9FKY"))
        #expect(link.size == link.version * 4 + 17)
        for (row, column) in [(0, 0), (0, link.size - 7), (link.size - 7, 0)] {
            // A finder: dark ring, light ring, dark 3x3 core.
            #expect(link.modules[row][column] && link.modules[row + 6][column + 6] && link.modules[row + 3][column + 3])
            #expect(!link.modules[row + 1][column + 1] && !link.modules[row + 5][column + 5])
        }
        #expect(QRCode(String(repeating: "a", count: 213)) != nil)
        #expect(QRCode(String(repeating: "a", count: 214)) == nil)
        #expect(QRCode.capacity(version: 1) == 14)
    }

    @Test("the SVG scales, names itself and escapes its label")
    func svg() throws {
        let svg = try #require(QRCode.svg(for: "https://example.com/g/1", label: "QR <code> & \"link\""))
        #expect(svg.hasPrefix("<svg class=\"qr\""))
        #expect(svg.contains("viewBox=\"0 0 33 33\""))
        #expect(svg.contains("aria-label=\"QR &lt;code> &amp; &quot;link&quot;\""))
    }
}
