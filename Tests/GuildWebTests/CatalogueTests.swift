import Foundation
import GuildWeb
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
