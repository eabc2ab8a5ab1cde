import Foundation
@testable import GuildWeb
import Testing

/// Every text of the pages comes from the catalogues; both languages have every key.
@Suite("Message catalogues")
struct CatalogueTests {
    static let module = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Services/Gateway/GuildWeb")

    @Test("zh-CN and en have the same keys, and no text is empty")
    func sameKeys() throws {
        let zh = try Catalogue.load(.zhCN), en = try Catalogue.load(.en)
        #expect(Set(zh.texts.keys).subtracting(en.texts.keys).isEmpty, "missing in en: \(Set(zh.texts.keys).subtracting(en.texts.keys).sorted())")
        #expect(Set(en.texts.keys).subtracting(zh.texts.keys).isEmpty, "missing in zh-CN: \(Set(en.texts.keys).subtracting(zh.texts.keys).sorted())")
        for catalogue in [zh, en] {
            #expect(catalogue.texts.filter { $0.value.trimmingCharacters(in: .whitespaces).isEmpty }.isEmpty)
        }
    }

    @Test("every key a template or a page names is in both catalogues")
    func everyKeyUsedExists() throws {
        let zh = try Catalogue.load(.zhCN), en = try Catalogue.load(.en)
        var used: Set<String> = []
        let files = FileManager.default.enumerator(at: Self.module, includingPropertiesForKeys: nil)!.compactMap { $0 as? URL }
        for file in files where ["mustache", "swift"].contains(file.pathExtension) {
            let text = try String(contentsOf: file, encoding: .utf8)
            let pattern = file.pathExtension == "mustache" ? #"\{\{[#^/]?t\.([a-z_A-Z]+)\}\}"# : #"(?:text|flash)\("([a-z_A-Z]+)""#
            for match in text.matches(of: try Regex(pattern)) {
                if let key = match.output[1].substring { used.insert(String(key)) }
            }
            // Plural messages have a key per form.
            for match in text.matches(of: try Regex(#"plural\("([a-z_A-Z]+)""#)) {
                if let key = match.output[1].substring { used.formUnion([key + "_one", key + "_other"]) }
            }
        }
        #expect(used.count > 50)
        for key in used.sorted() {
            #expect(zh.texts[key] != nil, "zh-CN lacks \(key)")
            #expect(en.texts[key] != nil, "en lacks \(key)")
        }
    }

    @Test("Accept-Language picks the language by its weights; Chinese when neither is asked for")
    func negotiation() {
        #expect(WebLocale.negotiate(nil) == .zhCN)
        #expect(WebLocale.negotiate("en-US,en;q=0.9") == .en)
        #expect(WebLocale.negotiate("zh-TW,zh;q=0.9,en;q=0.8") == .zhCN)
        #expect(WebLocale.negotiate("fr-FR,en;q=0.5,zh;q=0.4") == .en)
        #expect(WebLocale.negotiate("de-DE") == .zhCN)
        #expect(WebLocale.negotiate("en;q=0, zh;q=0.1") == .zhCN)
    }
}

/// Money and time as the pages show them.
@Suite("Formatting")
struct FormattingTests {
    @Test("money from minor units in the page's language")
    func money() {
        let zh = Formatting(locale: .zhCN, timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        let en = Formatting(locale: .en, timeZone: TimeZone(identifier: "UTC")!)
        #expect(zh.money(39_900, currency: "CNY") == "¥399.00")
        #expect(en.money(39_900, currency: "CNY") == "CNY 399.00")
        #expect(en.money(1_234_567_89, currency: "CNY") == "CNY 1,234,567.89")
        #expect(en.money(-3_980, currency: "CNY") == "−CNY 39.80")
        #expect(en.money(1_900, currency: "USD") == "$19.00")
        #expect(zh.money(500, currency: "JPY") == "JPY 500")
        #expect(en.money(5, currency: "CNY") == "CNY 0.05")
    }

    @Test("dates in the viewer's zone, the zone named, never RFC 3339")
    func dates() {
        // 2026-12-02T17:30:00Z
        let instant: Int64 = 1_796_232_600_000
        let zh = Formatting(locale: .zhCN, timeZone: TimeZone(identifier: "Asia/Shanghai")!)
        let en = Formatting(locale: .en, timeZone: TimeZone(identifier: "UTC")!)
        #expect(zh.dateTime(milliseconds: instant) == "2026年12月3日 01:30 (GMT+8)")
        #expect(en.dateTime(milliseconds: instant) == "2 Dec 2026, 17:30 (UTC)")
        #expect(en.date(milliseconds: 0) == "1 Jan 1970")
        // Leap days, and the instants around a year's end, against Foundation's calendar.
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        for ms in stride(from: Int64(-86_400_000) * 400, to: Int64(4_102_444_800_000), by: 86_400_000 * 37 + 3_601_000) {
            let parts = Formatting.civil(ms, offsetSeconds: 0)
            let expected = calendar.dateComponents([.year, .month, .day, .hour, .minute], from: Date(timeIntervalSince1970: Double(ms) / 1000))
            #expect([parts.year, parts.month, parts.day, parts.hour, parts.minute] == [expected.year, expected.month, expected.day, expected.hour, expected.minute])
        }
    }
}
