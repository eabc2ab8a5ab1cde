import Foundation
import GuildCore

/// The languages the pages speak.
public enum WebLocale: String, CaseIterable, Sendable {
    case zhCN = "zh-CN"
    case en

    /// The `lang` attribute of the page.
    public var tag: String { rawValue }

    /// The language a browser asks for in `Accept-Language` (by its q-values), Chinese when it
    /// asks for neither.
    public static func negotiate(_ header: String?) -> WebLocale {
        guard let header else { return .zhCN }
        var best: (WebLocale, Double)?
        for part in header.split(separator: ",") {
            let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let range = fields.first, !range.isEmpty else { continue }
            let quality = fields.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
            let locale: WebLocale? = range.hasPrefix("zh") ? .zhCN : range.hasPrefix("en") ? .en : nil
            if let locale, quality > 0, quality > (best?.1 ?? 0) { best = (locale, quality) }
        }
        return best?.0 ?? .zhCN
    }

    /// A locale named by a cookie or a link (`zh-CN`, `en`).
    public init?(name: String?) {
        guard let name, let locale = WebLocale(rawValue: name) else { return nil }
        self = locale
    }
}

/// Every string of the pages, one JSON file per language (`Resources/locales/<tag>.json`): a
/// flat object from key to text. A text may hold `{name}` placeholders; a message that counts
/// has one key per plural form (`…_one`, `…_other`). Templates read the texts as `{{t.key}}`.
public struct Catalogue: Sendable {
    public let locale: WebLocale
    public let texts: [String: String]

    public init(locale: WebLocale, texts: [String: String]) {
        self.locale = locale
        self.texts = texts
    }

    /// The words for a problem's reason (`problem_<reason>`), when the catalogue has them.
    func problemText(_ reason: String?) -> String? {
        reason.flatMap { texts["problem_\($0)"] }
    }

    /// The catalogue of `locale` from the module's resources.
    public static func load(_ locale: WebLocale) throws -> Catalogue {
        let bundle = Bundle.module
        guard let url = bundle.url(forResource: "locales/\(locale.tag)", withExtension: "json") else {
            throw GuildError(.failedPrecondition, "The \(locale.tag) catalogue is missing from the web front end's resources.")
        }
        let texts = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: url))
        return Catalogue(locale: locale, texts: texts)
    }

    /// The text of `key` with `{name}` placeholders filled in (the key itself when missing, so
    /// a gap shows on the page and the catalogue test names it).
    public func text(_ key: String, _ values: [String: String] = [:]) -> String {
        guard var text = texts[key] else { return key }
        for (name, value) in values { text = text.replacingOccurrences(of: "{\(name)}", with: value) }
        return text
    }

    /// The plural form of `key` for `count` (English: one / other; Chinese has one form), with
    /// `{count}` and `values` filled in.
    public func plural(_ key: String, count: Int64, _ values: [String: String] = [:], formatted: String? = nil) -> String {
        let form = locale == .en && count == 1 ? "one" : "other"
        var values = values
        values["count"] = formatted ?? String(count)
        return text("\(key)_\(form)", values)
    }
}
