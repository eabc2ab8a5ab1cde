import Foundation

// Text matching for community content: the moderation keyword filter, the tokenizer behind
// full-text search on SQLite and PostgreSQL, and highlighted search-result snippets.
// Everything here is a pure function of its input, so it is safe to call from any task.

// MARK: - Keyword filter

/// The moderation keyword list of a community, in any script (typically Chinese and English).
///
/// Matching is done on a canonical form of both the keywords and the text (see
/// ``normalize(_:)``), so case, full-width characters and characters inserted between the
/// letters do not get a post past the filter: for the keyword `spam`, all of `Ｓｐａｍ`, `SPAM`,
/// `s p a m`, `s.p.a.m` and `s\u{200B}pam` match; for `加微信`, so do `加 微 信` and `加-微-信`.
///
/// A keyword matches wherever its canonical form occurs as a substring of the text's
/// canonical form. There are no word boundaries: `spam` matches inside `spammer`, and, since
/// spaces are removed, across words too (`this pam` contains `spam`). That is intended: a
/// match holds a post for review by a moderator, it does not reject it, so missing an evasion
/// is worse than a false alarm.
///
/// Lookup is a single pass over the text's UTF-8 bytes (an Aho–Corasick automaton built once
/// per filter), so hundreds of keywords against tens of kilobytes of text are cheap.
public struct KeywordFilter: Sendable {
    /// The keywords as given, in order, without the ones that are empty after normalization
    /// (blank, or made only of spaces, punctuation and symbols) and without later duplicates of a
    /// keyword with the same normalized form.
    public let keywords: [String]

    /// The automaton over the normalized keywords; pattern `i` is `keywords[i]`.
    private let automaton: Automaton

    /// Creates a filter for `keywords`. Blank keywords, keywords that normalize to nothing
    /// (only spaces, punctuation or symbols, such as `***` or an emoji) and duplicates (by
    /// normalized form; the first one is kept) are ignored.
    public init(keywords: [String]) {
        var kept: [String] = []
        var patterns: [[UInt8]] = []
        var seen: Set<String> = []
        for keyword in keywords {
            let normalized = Self.normalize(keyword)
            guard !normalized.isEmpty, seen.insert(normalized).inserted else { continue }
            kept.append(keyword)
            patterns.append(Array(normalized.utf8))
        }
        self.keywords = kept
        self.automaton = Automaton(patterns: patterns)
    }

    /// The canonical form used for matching.
    ///
    /// 1. Unicode NFKC (compatibility composition): full-width `ＡＢＣ１２３` becomes `ABC123`,
    ///    the ideographic space becomes a space, ligatures and circled digits are unfolded.
    /// 2. Lowercasing, independent of any locale.
    /// 3. Removal of every character that is whitespace, a control or format character
    ///    (including zero-width space U+200B, zero-width joiner U+200D, U+FEFF and the soft
    ///    hyphen U+00AD), any other default-ignorable code point (variation selectors, the
    ///    Hangul filler), or punctuation or a symbol (Unicode categories P* and S*, e.g. `.`,
    ///    `-`, `_`, `*`, `·`, `。`, `，`, `！`, and emoji).
    ///
    /// Letters, digits and combining marks of every script, CJK ideographs included, are kept.
    public static func normalize(_ text: String) -> String {
        let folded = text.precomposedStringWithCompatibilityMapping.lowercased()
        var result = String.UnicodeScalarView()
        for scalar in folded.unicodeScalars where !isIgnored(scalar) {
            result.append(scalar)
        }
        return String(result)
    }

    /// The keywords (as given, in list order) whose normalized form occurs in the normalized
    /// `text`. Empty when nothing matches.
    public func matches(_ text: String) -> [String] {
        guard !keywords.isEmpty else { return [] }
        let found = automaton.search(Self.normalize(text).utf8)
        return keywords.indices.filter { found[$0] }.map { keywords[$0] }
    }

    /// Whether `scalar` is left out of the normalized form.
    private static func isIgnored(_ scalar: Unicode.Scalar) -> Bool {
        let properties = scalar.properties
        if properties.isWhitespace || properties.isDefaultIgnorableCodePoint { return true }
        switch properties.generalCategory {
        case .control, .format, .surrogate,
             .spaceSeparator, .lineSeparator, .paragraphSeparator,
             .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation,
             .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol:
            return true
        default:
            return false
        }
    }

    /// An Aho–Corasick automaton over byte strings: finds which of a set of patterns occur in a
    /// text in one pass over the text.
    private struct Automaton: Sendable {
        /// Trie edges; node 0 is the root.
        private var children: [[UInt8: Int32]] = [[:]]
        /// The longest proper suffix of each node's string that is also a trie node.
        private var failure: [Int32] = [0]
        /// The patterns ending at each node, directly or through its failure chain.
        private var outputs: [[Int32]] = [[]]
        private let patternCount: Int

        init(patterns: [[UInt8]]) {
            patternCount = patterns.count
            for (index, pattern) in patterns.enumerated() {
                var node = 0
                for byte in pattern {
                    if let next = children[node][byte] {
                        node = Int(next)
                    } else {
                        children.append([:])
                        failure.append(0)
                        outputs.append([])
                        let next = children.count - 1
                        children[node][byte] = Int32(next)
                        node = next
                    }
                }
                outputs[node].append(Int32(index))
            }
            // Breadth-first, so a node's failure target is final before its children need it.
            var queue = children[0].values.map { Int($0) }
            var head = 0
            while head < queue.count {
                let node = queue[head]
                head += 1
                for (byte, child) in children[node] {
                    let child = Int(child)
                    queue.append(child)
                    var fallback = failure[node]
                    while fallback != 0 && children[Int(fallback)][byte] == nil {
                        fallback = failure[Int(fallback)]
                    }
                    // Children of the root fail to the root; the root's own edge is not a suffix.
                    let target = node == 0 ? 0 : (children[Int(fallback)][byte] ?? 0)
                    failure[child] = target
                    outputs[child].append(contentsOf: outputs[Int(target)])
                }
            }
        }

        /// `result[i]` tells whether pattern `i` occurs in `text`.
        func search(_ text: some Sequence<UInt8>) -> [Bool] {
            var found = [Bool](repeating: false, count: patternCount)
            var node = 0
            for byte in text {
                while node != 0 && children[node][byte] == nil {
                    node = Int(failure[node])
                }
                node = Int(children[node][byte] ?? 0)
                for pattern in outputs[node] {
                    found[Int(pattern)] = true
                }
            }
            return found
        }
    }
}

// MARK: - Search tokens

/// The tokenizer behind full-text search, shared by SQLite (FTS5 with the `unicode61`
/// tokenizer) and PostgreSQL (`to_tsvector('simple', …)`).
///
/// Neither database segments Chinese or Japanese, so text is tokenized here before it is
/// stored, and queries are turned into expressions over the same tokens:
///
/// - Text is normalized with NFKC (full-width letters and digits become ASCII) and lowercased.
/// - A run of letters and digits of a script written with spaces (Latin, Cyrillic, Greek, …) is
///   one token, a word: `SwiftNIO2` → `swiftnio2`. Combining marks inside such a run stay part
///   of the word.
/// - A run of CJK characters (Han ideographs, Hiragana, Katakana, Hangul) becomes its
///   overlapping bigrams followed by its last character alone: `并发编程` → `并发 发编 编程 程`;
///   a run of one character is that character. Every character of the run therefore begins a
///   token, so a one-character query is a prefix query, and a longer query is the phrase of its
///   bigrams.
/// - Everything else (spaces, punctuation, symbols, emoji) separates tokens.
///
/// Tokens consist of letters and digits only (plus the combining marks inside a word, as in
/// Devanagari), so no token needs quoting in a query expression, and both databases' tokenizers
/// keep them whole (a database that splits a word at a combining mark does so alike in the
/// index and in the query phrase, so the word is still found).
public enum SearchText {
    /// Tokens longer than this (in Unicode scalars) are dropped from the index and from queries;
    /// such strings (hashes, base64) are not something people search for.
    static let maximumTokenLength = 64
    /// Terms of a query beyond this many are ignored.
    static let maximumQueryTerms = 10

    /// The text to store in the search index for `text`: its tokens joined by single spaces.
    ///
    /// `indexTokens("深入理解 SwiftNIO 并发")` is `"深入 入理 理解 解 swiftnio 并发 发"`.
    public static func indexTokens(_ text: String) -> String {
        var tokens: [String] = []
        for run in runs(of: text) {
            switch run.kind {
            case .word:
                if run.scalars.count <= maximumTokenLength { tokens.append(run.text) }
            case .cjk:
                tokens.append(contentsOf: bigrams(run.scalars))
                if let last = run.scalars.last { tokens.append(String(last)) }
            }
        }
        return tokens.joined(separator: " ")
    }

    /// The query as terms that must all be found, each term a list of tokens that must appear
    /// consecutively (a phrase).
    ///
    /// A word is the term `[word]`; a CJK run of two or more characters is the phrase of its
    /// bigrams (`并发编程` → `["并发", "发编", "编程"]`); a single CJK character is the term
    /// `[character]`, matched as a prefix by the expressions. Spaces and punctuation separate
    /// terms. Repeated terms are dropped, words longer than 64 characters are dropped, and at
    /// most 10 terms are kept.
    public static func queryTokens(_ query: String) -> [[String]] {
        var terms: [[String]] = []
        for run in runs(of: query) {
            let term: [String]
            switch run.kind {
            case .word:
                guard run.scalars.count <= maximumTokenLength else { continue }
                term = [run.text]
            case .cjk:
                term = run.scalars.count == 1 ? [run.text] : bigrams(run.scalars)
            }
            guard !terms.contains(term) else { continue }
            terms.append(term)
            if terms.count == maximumQueryTerms { break }
        }
        return terms
    }

    /// An SQLite FTS5 `MATCH` expression for `query` over text stored with ``indexTokens(_:)``,
    /// or nil when the query has no tokens.
    ///
    /// Each term is a double-quoted phrase of its tokens and terms are joined by ` AND `; a
    /// single CJK character is a prefix phrase: `并发 c` → `"并发" AND "c"`, `并` → `"并"*`.
    public static func ftsMatchExpression(_ query: String) -> String? {
        let terms = queryTokens(query)
        guard !terms.isEmpty else { return nil }
        return terms.map { term in
            let phrase = "\"" + term.joined(separator: " ") + "\""
            return isSingleCJKCharacter(term) ? phrase + "*" : phrase
        }.joined(separator: " AND ")
    }

    /// A PostgreSQL `to_tsquery('simple', …)` expression for `query` over a vector built with
    /// `to_tsvector('simple', indexTokens(text))`, or nil when the query has no tokens.
    ///
    /// Each term is parenthesized, the tokens of a phrase joined by ` <-> ` and terms joined by
    /// ` & `; a single CJK character is a prefix: `并发编程 swift` →
    /// `(并发 <-> 发编 <-> 编程) & (swift)`, `并` → `(并:*)`.
    public static func tsQueryExpression(_ query: String) -> String? {
        let terms = queryTokens(query)
        guard !terms.isEmpty else { return nil }
        return terms.map { term in
            if isSingleCJKCharacter(term) { return "(" + term[0] + ":*)" }
            return "(" + term.joined(separator: " <-> ") + ")"
        }.joined(separator: " & ")
    }

    // MARK: Runs

    enum RunKind: Equatable {
        /// Letters and digits of a script written with spaces between words.
        case word
        /// CJK ideographs, kana and Hangul.
        case cjk
    }

    /// A maximal run of token characters of one kind, after normalization.
    struct Run {
        var kind: RunKind
        var scalars: [Unicode.Scalar]
        var text: String { String(String.UnicodeScalarView(scalars)) }
    }

    /// The runs of `text` after NFKC normalization and lowercasing.
    static func runs(of text: String) -> [Run] {
        let normalized = text.precomposedStringWithCompatibilityMapping.lowercased()
        var runs: [Run] = []
        var current: Run?
        for scalar in normalized.unicodeScalars {
            let kind: RunKind?
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
                 .decimalNumber, .letterNumber, .otherNumber:
                kind = isCJK(scalar) ? .cjk : .word
            case .nonspacingMark, .spacingMark:
                // A combining mark belongs to the word it follows; anywhere else it separates.
                kind = current?.kind == .word ? .word : nil
            default:
                kind = nil
            }
            if let kind, current?.kind == kind {
                current?.scalars.append(scalar)
            } else {
                if let run = current { runs.append(run) }
                current = kind.map { Run(kind: $0, scalars: [scalar]) }
            }
        }
        if let run = current { runs.append(run) }
        return runs
    }

    /// Whether `scalar` (a letter or number) is written without spaces between words.
    static func isCJK(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0xF900...0xFAFF, 0x20000...0x3FFFF: true  // Han
        case 0x3005...0x3007, 0x3021...0x3029, 0x3038...0x303B: true  // 々 〆 〇, Hangzhou numerals
        case 0x3040...0x309F, 0x30A0...0x30FF, 0x31F0...0x31FF: true  // Hiragana, Katakana
        case 0x1100...0x11FF, 0x3130...0x318F, 0xA960...0xA97F, 0xAC00...0xD7FF: true  // Hangul
        default: false
        }
    }

    private static func bigrams(_ scalars: [Unicode.Scalar]) -> [String] {
        guard scalars.count >= 2 else { return [] }
        return (0..<(scalars.count - 1)).map { index in
            var pair = String.UnicodeScalarView()
            pair.append(scalars[index])
            pair.append(scalars[index + 1])
            return String(pair)
        }
    }

    private static func isSingleCJKCharacter(_ term: [String]) -> Bool {
        guard term.count == 1 else { return false }
        let scalars = term[0].unicodeScalars
        return scalars.count == 1 && isCJK(scalars[scalars.startIndex])
    }
}

// MARK: - Snippets

/// Highlighted excerpts of search results.
public enum Snippet {
    /// An HTML fragment showing where `query` occurs in `text`.
    ///
    /// The query's terms are its words (for scripts written with spaces) and its CJK runs, as
    /// cut by ``SearchText``. The first occurrence of any term in `text` (compared
    /// case-insensitively after NFKC normalization, so `ＳＷＩＦＴ` is found by `swift`) is shown
    /// with about `radius` characters of context on each side, at most `maxLength` characters in
    /// all, with `…` where the text is cut; every occurrence of a term inside that window is
    /// wrapped in `<mark>`…`</mark>`. Runs of whitespace, line breaks included, are shown as one
    /// space. When no term occurs, the result is the beginning of the text, at most `maxLength`
    /// characters, with `…` if it was cut.
    ///
    /// The text is HTML-escaped (`&`, `<`, `>`, `"`, `'`), so whatever `text` and `query`
    /// contain, `<mark>` and `</mark>` are the only tags in the result.
    public static func highlight(_ text: String, query: String, radius: Int = 60, maxLength: Int = 240) -> String {
        let radius = max(0, radius)
        let maxLength = max(1, maxLength)
        let characters = collapsingWhitespace(text)
        let folded = FoldedText(characters)
        let terms = queryTerms(query)

        // The earliest occurrence of any term; on a tie, the longest term.
        var first: Range<Int>?
        for term in terms {
            guard let position = folded.firstOccurrence(of: term, in: 0..<folded.count) else { continue }
            let range = folded.originalRange(position..<(position + term.count))
            if let best = first,
               best.lowerBound < range.lowerBound || (best.lowerBound == range.lowerBound && best.count >= range.count) {
                continue
            }
            first = range
        }

        guard let match = first else {
            let end = min(characters.count, maxLength)
            return escape(characters[0..<end]) + (end < characters.count ? "…" : "")
        }

        let lower = match.lowerBound - min(radius, match.lowerBound, maxLength / 2)
        let upper = min(characters.count, match.upperBound + radius, lower + maxLength)

        // Every occurrence of every term that lies wholly inside the window.
        let window = folded.foldedRange(covering: lower..<upper)
        var marks: [Range<Int>] = []
        for term in terms {
            var position = window.lowerBound
            while let found = folded.firstOccurrence(of: term, in: position..<window.upperBound) {
                marks.append(folded.originalRange(found..<(found + term.count)))
                position = found + term.count
            }
        }
        marks.sort { $0.lowerBound < $1.lowerBound }

        var html = lower > 0 ? "…" : ""
        var cursor = lower
        for mark in marks where mark.upperBound > cursor {
            let start = max(mark.lowerBound, cursor)
            // Extend over overlapping or touching occurrences.
            var end = mark.upperBound
            for other in marks where other.lowerBound <= end && other.upperBound > end {
                end = other.upperBound
            }
            end = min(end, upper)
            html += escape(characters[cursor..<start])
            html += "<mark>" + escape(characters[start..<end]) + "</mark>"
            cursor = end
        }
        html += escape(characters[cursor..<upper])
        if upper < characters.count { html += "…" }
        return html
    }

    /// The query's terms in the normalized, lowercased form `FoldedText` compares against.
    private static func queryTerms(_ query: String) -> [[Character]] {
        var terms: [[Character]] = []
        for run in SearchText.runs(of: query) {
            let term = Array(run.text)
            guard !term.isEmpty, !terms.contains(term) else { continue }
            terms.append(term)
            if terms.count == SearchText.maximumQueryTerms { break }
        }
        return terms
    }

    /// The characters of `text`, each run of whitespace replaced by one space, trimmed.
    private static func collapsingWhitespace(_ text: String) -> [Character] {
        var result: [Character] = []
        result.reserveCapacity(text.utf8.count)
        var pendingSpace = false
        for character in text {
            if character.isWhitespace {
                pendingSpace = !result.isEmpty
            } else {
                if pendingSpace { result.append(" ") }
                pendingSpace = false
                result.append(character)
            }
        }
        return result
    }

    /// Text in its compared form (each character NFKC-normalized and lowercased), remembering
    /// which original character each compared character came from.
    private struct FoldedText {
        var characters: [Character] = []
        /// `origin[i]` is the index of the original character that `characters[i]` came from.
        var origin: [Int] = []
        let originalCount: Int

        init(_ original: [Character]) {
            originalCount = original.count
            characters.reserveCapacity(original.count)
            origin.reserveCapacity(original.count)
            for (index, character) in original.enumerated() {
                let folded = character.isASCII
                    ? character.lowercased()
                    : String(character).precomposedStringWithCompatibilityMapping.lowercased()
                for foldedCharacter in folded {
                    characters.append(foldedCharacter)
                    origin.append(index)
                }
            }
        }

        var count: Int { characters.count }

        /// The first position in `range` where `term` begins and fits wholly inside `range`.
        func firstOccurrence(of term: [Character], in range: Range<Int>) -> Int? {
            guard !term.isEmpty, range.count >= term.count else { return nil }
            let head = term[0]
            var position = range.lowerBound
            let last = range.upperBound - term.count
            while position <= last {
                if characters[position] == head {
                    var offset = 1
                    while offset < term.count && characters[position + offset] == term[offset] {
                        offset += 1
                    }
                    if offset == term.count { return position }
                }
                position += 1
            }
            return nil
        }

        /// The original characters that the compared characters in `range` came from.
        func originalRange(_ range: Range<Int>) -> Range<Int> {
            origin[range.lowerBound]..<(origin[range.upperBound - 1] + 1)
        }

        /// The compared characters that came from the original characters in `range`.
        func foldedRange(covering range: Range<Int>) -> Range<Int> {
            func firstIndex(atOrAfter original: Int) -> Int {
                // `origin` is non-decreasing: binary search.
                var low = 0
                var high = origin.count
                while low < high {
                    let middle = (low + high) / 2
                    if origin[middle] < original { low = middle + 1 } else { high = middle }
                }
                return low
            }
            return firstIndex(atOrAfter: range.lowerBound)..<firstIndex(atOrAfter: range.upperBound)
        }
    }

    /// `characters` with `&`, `<`, `>`, `"` and `'` escaped (by the renderer's one escaping
    /// function, per Unicode scalar, so a `<` carrying a combining mark is escaped too).
    private static func escape(_ characters: ArraySlice<Character>) -> String {
        Markdown.escape(String(characters))
    }
}
