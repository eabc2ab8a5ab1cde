import Foundation
import Testing

@testable import GuildContent

@Suite("Keyword filter")
struct KeywordFilterTests {
    @Test("case, full width, spaces, punctuation and invisible characters do not evade a keyword")
    func englishEvasions() {
        let filter = KeywordFilter(keywords: ["spam"])
        let evasions = [
            "spam", "SPAM", "Spam", "Ｓｐａｍ", "ＳＰＡＭ", "s p a m", "s.p.a.m", "s-p_a*m", "S·P·A·M",
            "s\u{200B}pam", "s\u{00AD}p\u{200D}a\u{FEFF}m", "s\u{3000}p\u{3000}a\u{3000}m", "s\np\ta m",
            "buy cheap ｓ・ｐ・ａ・ｍ now!",
        ]
        for text in evasions {
            #expect(filter.matches(text) == ["spam"], "\(text.debugDescription)")
        }
    }

    @Test("Chinese keywords are found through spaces, punctuation and full-width letters")
    func chineseEvasions() {
        let filter = KeywordFilter(keywords: ["加微信", "加vx"])
        #expect(filter.matches("快来加微信领取") == ["加微信"])
        #expect(filter.matches("快来加 微 信领取") == ["加微信"])
        #expect(filter.matches("加-微-信") == ["加微信"])
        #expect(filter.matches("加，微。信！") == ["加微信"])
        #expect(filter.matches("加\u{3000}微\u{3000}信") == ["加微信"])
        #expect(filter.matches("加·微·信") == ["加微信"])
        #expect(filter.matches("加\u{200B}微\u{200B}信") == ["加微信"])
        #expect(filter.matches("请加ｖｘ：abc123") == ["加vx"])
        #expect(filter.matches("请加 V X") == ["加vx"])
        #expect(filter.matches("请加ＶＸ") == ["加vx"])
        #expect(filter.matches("加微信或者加vx都行") == ["加微信", "加vx"])
    }

    @Test("full-width digits match ASCII digits, in the text and in the keyword")
    func fullWidthDigits() {
        let filter = KeywordFilter(keywords: ["qq123456", "ＴＧ８８"])
        #expect(filter.matches("联系ＱＱ：１２３４５６") == ["qq123456"])
        #expect(filter.matches("QQ 123-456") == ["qq123456"])
        #expect(filter.matches("tg 88") == ["ＴＧ８８"])
        #expect(filter.matches("qq 12345") == [])
    }

    @Test("unrelated text does not match")
    func unrelatedText() {
        let filter = KeywordFilter(keywords: ["spam", "加微信", "加vx"])
        for text in ["", "a special message", "Swift 并发编程入门", "微信支付很方便", "加油！", "vx 加", "s p a"] {
            #expect(filter.matches(text).isEmpty, "\(text.debugDescription)")
        }
        // Removing spaces joins words: this is a documented false alarm, not an evasion.
        #expect(filter.matches("spa m?") == ["spam"])
    }

    @Test("a keyword of ASCII letters matches inside a longer word (intended: it holds for review)")
    func matchesInsideWords() {
        let filter = KeywordFilter(keywords: ["spam"])
        #expect(filter.matches("Known spammer here") == ["spam"])
        #expect(filter.matches("antispam") == ["spam"])
    }

    @Test("matches are the original keywords in list order, each once")
    func listOrder() {
        let filter = KeywordFilter(keywords: ["spam", "加微信", "Scam"])
        #expect(filter.matches("scam, spam, 加微信, spam again, SCAM") == ["spam", "加微信", "Scam"])
        #expect(filter.matches("only a scam") == ["Scam"])
    }

    @Test("blank keywords, keywords without letters or digits and duplicates are dropped")
    func keywordList() {
        let filter = KeywordFilter(keywords: ["spam", " ", "", "\u{3000}", "SPAM", "Ｓｐａｍ", "加微信", "加 微信", "***", "🙂", "scam"])
        #expect(filter.keywords == ["spam", "加微信", "scam"])
        #expect(KeywordFilter(keywords: []).matches("anything at all").isEmpty)
        #expect(KeywordFilter(keywords: ["  ", "..."]).keywords.isEmpty)
        #expect(KeywordFilter(keywords: ["  ", "..."]).matches("anything at all").isEmpty)
    }

    @Test("normalize applies NFKC, lowercases and drops spaces, punctuation, symbols and invisibles")
    func normalization() {
        #expect(KeywordFilter.normalize("Ｈｅｌｌｏ，\u{3000}Ｗｏｒｌｄ！１２３") == "helloworld123")
        #expect(KeywordFilter.normalize("s\u{200B}p\u{00AD}a\u{200D}m\u{FEFF}") == "spam")
        #expect(KeywordFilter.normalize("加·微。信") == "加微信")
        #expect(KeywordFilter.normalize("a.b-c_d*e/f\\g(h)[i]{j}<k>$l+m=n#o@p") == "abcdefghijklmnop")
        #expect(KeywordFilter.normalize("Привет, Мир") == "приветмир")
        #expect(KeywordFilter.normalize("ﬁle ①") == "file1")
        #expect(KeywordFilter.normalize("🙂 ... ***").isEmpty)
    }

    @Test("overlapping keywords are all found")
    func overlappingKeywords() {
        let filter = KeywordFilter(keywords: ["he", "she", "his", "hers", "使用", "用户", "户口"])
        #expect(filter.matches("ushers") == ["he", "she", "hers"])
        #expect(filter.matches("使用户口") == ["使用", "用户", "户口"])
        #expect(filter.matches("h i s") == ["his"])
    }

    @Test("matches agrees with a plain substring search on normalized text")
    func agreesWithSubstringSearch() {
        var random = SplitMix(seed: 42)
        let alphabet: [String] = ["a", "b", "A", "Ｂ", " ", ".", "加", "微", "信", "\u{200B}"]
        func randomString(_ length: Int) -> String {
            (0..<length).map { _ in alphabet[random.next(alphabet.count)] }.joined()
        }
        for _ in 0..<200 {
            let keywords = (0..<5).map { _ in randomString(1 + random.next(4)) }
            let text = randomString(random.next(40))
            let filter = KeywordFilter(keywords: keywords)
            let normalizedText = Array(KeywordFilter.normalize(text).utf8)
            let expected = filter.keywords.filter { keyword in
                containsBytes(normalizedText, Array(KeywordFilter.normalize(keyword).utf8))
            }
            #expect(filter.matches(text) == expected, "\(keywords) in \(text.debugDescription)")
        }
    }

    @Test("hundreds of keywords against 20 KB of text")
    func largeInput() {
        var keywords = (0..<300).map { "keyword\($0)x" }
        keywords += (0..<100).map { "违禁词\($0)号" }
        let filter = KeywordFilter(keywords: keywords)
        var text = String(repeating: "普通的中文内容，and some ordinary English words. ", count: 500)
        #expect(text.utf8.count > 20_000)
        #expect(filter.matches(text).isEmpty)
        text += "keyword 1 7 x … 违 禁 词 99 号"
        #expect(filter.matches(text) == ["keyword17x", "违禁词99号"])
    }

    private func containsBytes(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        guard haystack.count >= needle.count else { return false }
        return (0...(haystack.count - needle.count)).contains { start in
            haystack[start..<(start + needle.count)].elementsEqual(needle)
        }
    }
}

@Suite("Search tokens")
struct SearchTextTests {
    @Test("words of spaced scripts are single lowercased tokens; punctuation separates")
    func englishTokens() {
        #expect(SearchText.indexTokens("Hello, World! SwiftNIO 2.0 nio2") == "hello world swiftnio 2 0 nio2")
        #expect(SearchText.indexTokens("e-mail: me@example.com") == "e mail me example com")
        #expect(SearchText.indexTokens("a_b*c/d\\e(f)") == "a b c d e f")
        #expect(SearchText.indexTokens("Привет, мир") == "привет мир")
        #expect(SearchText.indexTokens("Déjà vu") == "déjà vu")
        #expect(SearchText.indexTokens("") == "")
        #expect(SearchText.indexTokens(" ,.!?🙂 ") == "")
    }

    @Test("CJK runs become overlapping bigrams followed by their last character")
    func chineseTokens() {
        #expect(SearchText.indexTokens("并发编程") == "并发 发编 编程 程")
        #expect(SearchText.indexTokens("深入理解并发编程") == "深入 入理 理解 解并 并发 发编 编程 程")
        #expect(SearchText.indexTokens("我") == "我")
        #expect(SearchText.indexTokens("你好") == "你好 好")
        #expect(SearchText.indexTokens("カタカナ ひらがな") == "カタ タカ カナ ナ ひら らが がな な")
        #expect(SearchText.indexTokens("한국어") == "한국 국어 어")
    }

    @Test("mixed Chinese and Latin text, with and without spaces")
    func mixedTokens() {
        #expect(SearchText.indexTokens("SwiftNIO 并发") == "swiftnio 并发 发")
        #expect(SearchText.indexTokens("学习Swift并发") == "学习 习 swift 并发 发")
        #expect(SearchText.indexTokens("2024年3月") == "2024 年 3 月")
    }

    @Test("punctuation, Chinese punctuation included, separates runs")
    func punctuation() {
        #expect(SearchText.indexTokens("并发，编程。") == "并发 发 编程 程")
        #expect(SearchText.indexTokens("《并发》「编程」・入门") == "并发 发 编程 程 入门 门")
        #expect(SearchText.indexTokens("ソフト・ウェア") == "ソフ フト ト ウェ ェア ア")
    }

    @Test("full-width and half-width forms are normalized")
    func fullWidth() {
        #expect(SearchText.indexTokens("ＳｗｉｆｔＮＩＯ\u{3000}１２３") == "swiftnio 123")
        #expect(SearchText.indexTokens("ｶﾀｶﾅ") == "カタ タカ カナ ナ")
        #expect(SearchText.indexTokens("并发，ＡＢＣ") == "并发 发 abc")
    }

    @Test("index tokens contain only letters and digits")
    func tokenCharacters() {
        let text = "Hello<script>\"x\"</script> 'quote' \u{200B}zero\u{200D}width — 并发·编程™ ①②③ e\u{301}t\u{E9} \u{0338}x ナ\u{3099}"
        let tokens = SearchText.indexTokens(text)
        #expect(!tokens.isEmpty)
        for token in tokens.split(separator: " ", omittingEmptySubsequences: false) {
            #expect(!token.isEmpty)
            #expect(token.unicodeScalars.first.map(isLetterOrDigit) == true, "\(token)")
            #expect(token.unicodeScalars.allSatisfy { isLetterOrDigit($0) || isMark($0) }, "\(token)")
        }
    }

    @Test("long words are not indexed")
    func longWords() {
        let long = String(repeating: "a", count: 65)
        let limit = String(repeating: "b", count: 64)
        #expect(SearchText.indexTokens("x \(long) \(limit) y") == "x \(limit) y")
    }

    @Test("query terms: words, bigram phrases and single characters")
    func queryTerms() {
        #expect(SearchText.queryTokens("SwiftNIO 并发编程 并") == [["swiftnio"], ["并发", "发编", "编程"], ["并"]])
        #expect(SearchText.queryTokens("并发") == [["并发"]])
        #expect(SearchText.queryTokens("学习Swift") == [["学习"], ["swift"]])
        #expect(SearchText.queryTokens("Ｓｗｉｆｔ，ｎｉｏ") == [["swift"], ["nio"]])
        #expect(SearchText.queryTokens("swift Swift SWIFT") == [["swift"]])
        #expect(SearchText.queryTokens("  ，。!! \"*\" ").isEmpty)
        #expect(SearchText.queryTokens("").isEmpty)
    }

    @Test("at most 10 query terms; words longer than 64 characters are dropped")
    func queryLimits() {
        let words = (1...12).map { "w\($0)" }
        #expect(SearchText.queryTokens(words.joined(separator: " ")) == words.prefix(10).map { [$0] })
        let long = String(repeating: "a", count: 65)
        let limit = String(repeating: "b", count: 64)
        #expect(SearchText.queryTokens("\(long) \(limit)") == [[limit]])
        #expect(SearchText.queryTokens(long).isEmpty)
        #expect(SearchText.ftsMatchExpression(long) == nil)
    }

    @Test("Chinese queries of any length find Chinese text")
    func chineseQueriesFindText() {
        let index = SearchText.indexTokens("深入理解并发编程，以及 SwiftNIO 的事件循环")
        for query in [
            "并发", "编程", "理解并发", "深入理解并发编程", "发编程", "深", "并", "程", "的", "环",
            "swiftnio", "SwiftNIO 并发", "并发 深入", "事件循环", "循环 编程",
        ] {
            #expect(found(query, in: index), "\(query)")
        }
        for query in ["并编", "编程深入", "java", "swift", "并发 java", "以及的", "环事"] {
            #expect(!found(query, in: index), "\(query)")
        }
    }

    @Test("every character of a CJK run begins some index token")
    func everyCharacterBeginsAToken() {
        let text = "深入理解并发编程"
        let tokens = SearchText.indexTokens(text).split(separator: " ").map(String.init)
        for character in text {
            #expect(tokens.contains { $0.hasPrefix(String(character)) }, "\(character)")
        }
    }

    @Test("FTS5 match expressions")
    func ftsExpressions() {
        #expect(SearchText.ftsMatchExpression("并发编程 swift") == "\"并发 发编 编程\" AND \"swift\"")
        #expect(SearchText.ftsMatchExpression("并发") == "\"并发\"")
        #expect(SearchText.ftsMatchExpression("并") == "\"并\"*")
        #expect(SearchText.ftsMatchExpression("Swift, NIO") == "\"swift\" AND \"nio\"")
        #expect(SearchText.ftsMatchExpression("学习 Ｓｗｉｆｔ 并") == "\"学习\" AND \"swift\" AND \"并\"*")
        #expect(SearchText.ftsMatchExpression("\"; DROP TABLE x; -- OR NEAR(a b)*") == "\"drop\" AND \"table\" AND \"x\" AND \"or\" AND \"near\" AND \"a\" AND \"b\"")
        #expect(SearchText.ftsMatchExpression("") == nil)
        #expect(SearchText.ftsMatchExpression(" \"*\" ，。") == nil)
    }

    @Test("PostgreSQL tsquery expressions")
    func tsQueryExpressions() {
        #expect(SearchText.tsQueryExpression("并发编程 swift") == "(并发 <-> 发编 <-> 编程) & (swift)")
        #expect(SearchText.tsQueryExpression("并发") == "(并发)")
        #expect(SearchText.tsQueryExpression("并") == "(并:*)")
        #expect(SearchText.tsQueryExpression("SwiftNIO 并") == "(swiftnio) & (并:*)")
        #expect(SearchText.tsQueryExpression("a' | b & !c:*") == "(a) & (b) & (c)")
        #expect(SearchText.tsQueryExpression("") == nil)
        #expect(SearchText.tsQueryExpression("&|!()") == nil)
    }

    /// Evaluates a query the way both databases do over `indexTokens` output: every term must
    /// occur as consecutive tokens; a single CJK character term matches any token it begins.
    private func found(_ query: String, in index: String) -> Bool {
        let tokens = index.split(separator: " ").map(String.init)
        let terms = SearchText.queryTokens(query)
        guard !terms.isEmpty else { return false }
        return terms.allSatisfy { term in
            // The expressions mark exactly these terms as prefixes.
            let prefix = SearchText.ftsMatchExpression(term.joined())?.hasSuffix("*") == true
            guard tokens.count >= term.count else { return false }
            return (0...(tokens.count - term.count)).contains { start in
                term.indices.allSatisfy { offset in
                    prefix ? tokens[start + offset].hasPrefix(term[offset]) : tokens[start + offset] == term[offset]
                }
            }
        }
    }

    private func isLetterOrDigit(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber:
            true
        default:
            false
        }
    }

    private func isMark(_ scalar: Unicode.Scalar) -> Bool {
        scalar.properties.generalCategory == .nonspacingMark || scalar.properties.generalCategory == .spacingMark
    }
}

@Suite("Snippets")
struct SnippetTests {
    @Test("occurrences are marked, case-insensitively")
    func english() {
        #expect(Snippet.highlight("Learn Swift concurrency today", query: "swift") == "Learn <mark>Swift</mark> concurrency today")
        #expect(Snippet.highlight("swift and SWIFT and nio", query: "Swift NIO") == "<mark>swift</mark> and <mark>SWIFT</mark> and <mark>nio</mark>")
    }

    @Test("Chinese queries mark the whole run")
    func chinese() {
        #expect(Snippet.highlight("我们在深入理解并发编程的原理", query: "并发") == "我们在深入理解<mark>并发</mark>编程的原理")
        #expect(Snippet.highlight("并发很难，并发编程更难", query: "并发 难") == "<mark>并发</mark>很<mark>难</mark>，<mark>并发</mark>编程更<mark>难</mark>")
        #expect(Snippet.highlight("学习SwiftNIO并发", query: "swiftnio并发") == "学习<mark>SwiftNIO并发</mark>")
    }

    @Test("full-width text and queries are compared after NFKC normalization")
    func fullWidth() {
        #expect(Snippet.highlight("ＳＷＩＦＴ is fun", query: "swift") == "<mark>ＳＷＩＦＴ</mark> is fun")
        #expect(Snippet.highlight("Swift is fun", query: "ｓｗｉｆｔ") == "<mark>Swift</mark> is fun")
    }

    @Test("a long text is cut around the first occurrence")
    func window() {
        let text = String(repeating: "x", count: 300) + "needle" + String(repeating: "y", count: 300) + " needle"
        let expected = "…" + String(repeating: "x", count: 60) + "<mark>needle</mark>" + String(repeating: "y", count: 60) + "…"
        #expect(Snippet.highlight(text, query: "needle") == expected)
        #expect(Snippet.highlight(text, query: "needle", radius: 3) == "…xxx<mark>needle</mark>yyy…")
        // The window never exceeds maxLength characters.
        let capped = Snippet.highlight(text, query: "needle", radius: 1000, maxLength: 20)
        #expect(capped == "…" + String(repeating: "x", count: 10) + "<mark>needle</mark>yyyy…")
        // No cut at the start of the text.
        #expect(Snippet.highlight("needle" + String(repeating: "y", count: 100), query: "needle", radius: 5) == "<mark>needle</mark>yyyyy…")
    }

    @Test("without an occurrence, the beginning of the text")
    func notFound() {
        #expect(Snippet.highlight("Short & sweet", query: "missing") == "Short &amp; sweet")
        let long = String(repeating: "z", count: 300)
        #expect(Snippet.highlight(long, query: "missing") == String(repeating: "z", count: 240) + "…")
        #expect(Snippet.highlight(long, query: "", maxLength: 10) == String(repeating: "z", count: 10) + "…")
        #expect(Snippet.highlight(long, query: "!!") == String(repeating: "z", count: 240) + "…")
        #expect(Snippet.highlight("", query: "x") == "")
    }

    @Test("whitespace runs are shown as one space")
    func whitespace() {
        #expect(Snippet.highlight("  line one\n\n   line two  ", query: "two") == "line one line <mark>two</mark>")
    }

    @Test("text and query are escaped; the only tags are mark tags")
    func escaping() {
        let text = "<script>alert('x')</script> hello & \"bye\""
        #expect(Snippet.highlight(text, query: "<script>")
            == "&lt;<mark>script</mark>&gt;alert(&#39;x&#39;)&lt;/<mark>script</mark>&gt; hello &amp; &quot;bye&quot;")
        #expect(Snippet.highlight("a <mark>b</mark> c", query: "<mark>")
            == "a &lt;<mark>mark</mark>&gt;b&lt;/<mark>mark</mark>&gt; c")

        let hostile = [
            "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "\"><svg onload=alert(1)>",
            "</mark><script>", "<\u{0338}script>", "&lt;script&gt;", "＜script＞", "'", "<",
        ]
        for text in hostile {
            for query in hostile + ["script", "mark", "alert", "x", ""] {
                let html = Snippet.highlight("before " + text + " after", query: query)
                let stripped = html.replacingOccurrences(of: "<mark>", with: "").replacingOccurrences(of: "</mark>", with: "")
                #expect(!stripped.unicodeScalars.contains("<"), "\(text) / \(query): \(html)")
                #expect(!stripped.unicodeScalars.contains(">"), "\(text) / \(query): \(html)")
                #expect(!stripped.unicodeScalars.contains("\""), "\(text) / \(query): \(html)")
                #expect(!stripped.unicodeScalars.contains("'"), "\(text) / \(query): \(html)")
            }
        }
    }
}

/// A small deterministic random number generator, so failures reproduce.
private struct SplitMix {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next(_ upperBound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        return Int(z % UInt64(upperBound))
    }
}
