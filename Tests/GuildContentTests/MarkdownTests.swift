import Foundation
import Testing

@testable import GuildContent

@Suite struct MarkdownTests {
    // MARK: - Script cannot get through

    static let xssPayloads: [String] = [
        "<script>alert(1)</script>",
        "<ScRiPt>alert(1)</sCrIpT>",
        "<img src=x onerror=alert(1)>",
        "<IMG SRC=JaVaScRiPt:alert(1)>",
        "<svg onload=alert(1)>",
        "# <svg/onload=alert(1)>",
        "[x](javascript:alert(1))",
        "[x](JaVaScRiPt:alert(1))",
        "[x](java\tscript:alert(1))",
        "[x](<java\tscript:alert(1)>)",
        "[x](<\u{01}javascript:alert(1)>)",
        "[x]( javascript:alert(1) )",
        "[x](&#106;avascript:alert(1))",
        "[x](javascript&colon;alert(1))",
        "[x](data:text/html;base64,PHNjcmlwdD4=)",
        "[x](vbscript:msgbox)",
        "[x](//evil.example/path)",
        "[x](/\\evil.example)",
        "[click **me**](javascript:alert(1))",
        "![x](javascript:alert(1))",
        "![x](data:image/svg+xml;base64,PHN2Zz4=)",
        "![x](mailto:a@b.example)",
        "[x](https://a.example/\"onmouseover=\"alert(1))",
        "![x](<https://a.example/a.png\" onerror=\"alert(1)>)",
        "[x](https://a.example \"t\\\" onmouseover=\\\"alert(1)\")",
        "![x onerror=alert(1)](https://a.example/a.png)",
        "[<img src=x onerror=alert(1)>](https://a.example)",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<a href=\"https://evil.example/\" onclick=\"alert(1)\">x</a>",
        "<iframe src=\"https://evil.example\"></iframe>",
        "<style>body{display:none}</style>",
        "<details open ontoggle=alert(1)>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "`<script>alert(1)</script>`",
        "```\"><script>alert(1)</script>\n<script>alert(2)</script>\n```",
        "~~~ js\n</code><script>alert(1)</script>\n~~~",
        "<https://x\" onmouseover=\"alert(1)>",
        "<javascript:alert(1)>",
        "<<script>script>alert(1)<</script>/script>",
        "<!-- more --><script>alert(1)</script>",
        "<!-- more -->\n<script>alert(1)</script>",
        "> <script>alert(1)</script>",
        "- <img src=x onerror=alert(1)>",
        "**<script>**alert(1)",
        "\\<script>alert(1)\\</script>",
        "\u{0}<script>alert(1)</script>",
        "[x](mailto:a@b.example?body=<script>alert(1)</script>)",
        "https://a.example/<script>alert(1)</script>",
    ]

    @Test(arguments: xssPayloads)
    func payloadIsNeutralized(_ payload: String) throws {
        let html = Markdown.html(payload)
        let lower = html.lowercased()
        for tag in ["<script", "<iframe", "<svg", "<style", "<math", "<details", "<object", "<embed"] {
            #expect(!lower.contains(tag), "\(tag) in \(html)")
        }
        for match in html.matches(of: try Regex(#"(?:href|src)="([^"]*)""#)) {
            let value = String(match.output[1].substring ?? "").lowercased()
            for scheme in ["javascript:", "vbscript:", "data:"] {
                #expect(!value.contains(scheme), "\(scheme) in \(html)")
            }
            let allowedStart = ["https://", "http://", "mailto:", "/", "#"].contains(where: value.hasPrefix)
            #expect(allowedStart && !value.hasPrefix("//") && !value.hasPrefix("/\\"), "bad URL in \(html)")
        }
        // Attribute values may hold any (escaped) text; outside them no `on…=` may appear in a tag.
        let unquoted = html.replacing(try Regex(#""[^"]*""#), with: "\"\"")
        #expect(unquoted.firstMatch(of: try Regex(#"<[^>]*\son[a-z]+\s*="#).ignoresCase()) == nil, "handler in \(html)")
        try expectOnlyAllowedTags(html)
    }

    @Test func refusedLinksShowTheirTextOnly() {
        #expect(Markdown.html("[click here](javascript:alert(1))") == "<p>click here</p>\n")
        #expect(Markdown.html("![a cat](javascript:alert(1))") == "<p>a cat</p>\n")
        #expect(Markdown.html("[x](data:text/html,hi)") == "<p>x</p>\n")
        #expect(Markdown.html("[x](//evil.example)") == "<p>x</p>\n")
    }

    @Test func rawHTMLIsShownAsText() {
        #expect(Markdown.html("a <b>bold</b> & 'q' \"d\"") == "<p>a &lt;b&gt;bold&lt;/b&gt; &amp; &#39;q&#39; &quot;d&quot;</p>\n")
        #expect(Markdown.html("<div>\n*x*\n</div>") == "<p>&lt;div&gt;\n<em>x</em>\n&lt;/div&gt;</p>\n")
    }

    // MARK: - Blocks

    @Test func headings() {
        #expect(Markdown.html("# Title") == "<h1>Title</h1>\n")
        #expect(Markdown.html("### Sub *it* ###") == "<h3>Sub <em>it</em></h3>\n")
        #expect(Markdown.html("###### six") == "<h6>six</h6>\n")
        #expect(Markdown.html("####### seven") == "<p>####### seven</p>\n")
        #expect(Markdown.html("#hashtag") == "<p>#hashtag</p>\n")
        #expect(Markdown.html("para\n## Next") == "<p>para</p>\n<h2>Next</h2>\n")
    }

    @Test func paragraphsAndBreaks() {
        #expect(Markdown.html("one\ntwo\n\nthree") == "<p>one\ntwo</p>\n<p>three</p>\n")
        #expect(Markdown.html("one  \ntwo") == "<p>one<br>\ntwo</p>\n")
        #expect(Markdown.html("one\r\ntwo\r\n\r\nthree") == "<p>one\ntwo</p>\n<p>three</p>\n")
        #expect(Markdown.html("") == "")
        #expect(Markdown.html("  \n\n ") == "")
    }

    @Test func emphasis() {
        #expect(Markdown.html("**b** *i* _u_ ~~d~~ `c`")
            == "<p><strong>b</strong> <em>i</em> <em>u</em> <del>d</del> <code>c</code></p>\n")
        #expect(Markdown.html("***both***") == "<p><em><strong>both</strong></em></p>\n")
        #expect(Markdown.html("*a **b** c*") == "<p><em>a <strong>b</strong> c</em></p>\n")
        #expect(Markdown.html("snake_case_name and 2 * 3 * 4") == "<p>snake_case_name and 2 * 3 * 4</p>\n")
        #expect(Markdown.html("\\*not em\\* \\`x\\`") == "<p>*not em* `x`</p>\n")
        #expect(Markdown.html("**unclosed") == "<p>**unclosed</p>\n")
        #expect(Markdown.html("`` a ` b ``") == "<p><code>a ` b</code></p>\n")
        #expect(Markdown.html("`**not bold** <b>`") == "<p><code>**not bold** &lt;b&gt;</code></p>\n")
    }

    @Test func lists() {
        #expect(Markdown.html("- a\n- b\n+ c") == "<ul>\n<li>a</li>\n<li>b</li>\n</ul>\n<ul>\n<li>c</li>\n</ul>\n")
        #expect(Markdown.html("* one *em*\n* two") == "<ul>\n<li>one <em>em</em></li>\n<li>two</li>\n</ul>\n")
        #expect(Markdown.html("1. one\n2. two\n3. three") == "<ol>\n<li>one</li>\n<li>two</li>\n<li>three</li>\n</ol>\n")
        #expect(Markdown.html("- a\n  continued\n- b") == "<ul>\n<li>a\ncontinued</li>\n<li>b</li>\n</ul>\n")
        #expect(Markdown.html("- a\n  - nested\n- b")
            == "<ul>\n<li>a\n<ul>\n<li>nested</li>\n</ul>\n</li>\n<li>b</li>\n</ul>\n")
        #expect(Markdown.html("- a\n\n- b") == "<ul>\n<li>\n<p>a</p>\n</li>\n<li>\n<p>b</p>\n</li>\n</ul>\n")
        #expect(Markdown.html("text\n- item") == "<p>text</p>\n<ul>\n<li>item</li>\n</ul>\n")
        // A number that only looks like a list marker stays text (lists start at 1; no start attribute).
        #expect(Markdown.html("2024. A good year") == "<p>2024. A good year</p>\n")
    }

    @Test func codeFencesKeepTheirContent() {
        #expect(Markdown.html("```swift\nlet x = 1 < 2 && **y**\n\n  indented\n```")
            == "<pre><code class=\"language-swift\">let x = 1 &lt; 2 &amp;&amp; **y**\n\n  indented\n</code></pre>\n")
        #expect(Markdown.html("~~~\n# not a heading\n<!-- more -->\n~~~") == "<pre><code># not a heading\n&lt;!-- more --&gt;\n</code></pre>\n")
        #expect(Markdown.html("```c++ extra\nint x;\n```") == "<pre><code class=\"language-c++\">int x;\n</code></pre>\n")
        #expect(Markdown.html("```c#\nx\n```") == "<pre><code>x\n</code></pre>\n")
        #expect(Markdown.html("```\nunclosed") == "<pre><code>unclosed\n</code></pre>\n")
        #expect(Markdown.html("````\n```\n````") == "<pre><code>```\n</code></pre>\n")
    }

    @Test func blockquotesAndRules() {
        #expect(Markdown.html("> quote\n> more") == "<blockquote>\n<p>quote\nmore</p>\n</blockquote>\n")
        #expect(Markdown.html("> a\n>\n> > inner") == "<blockquote>\n<p>a</p>\n<blockquote>\n<p>inner</p>\n</blockquote>\n</blockquote>\n")
        #expect(Markdown.html("> # Title\n> - item") == "<blockquote>\n<h1>Title</h1>\n<ul>\n<li>item</li>\n</ul>\n</blockquote>\n")
        #expect(Markdown.html("a\n\n---\n\n* * *\nb") == "<p>a</p>\n<hr>\n<hr>\n<p>b</p>\n")
    }

    @Test func previewMarkerRendersAsNothing() {
        #expect(Markdown.html("free\n<!-- more -->\npaid") == "<p>free</p>\n<p>paid</p>\n")
        #expect(Markdown.html("<!-- MORE -->") == "")
    }

    // MARK: - Links and images

    @Test func links() {
        let rel = "rel=\"nofollow noopener noreferrer\""
        #expect(Markdown.html("[Guild](https://guild.example/a?b=1&c=2)")
            == "<p><a href=\"https://guild.example/a?b=1&amp;c=2\" \(rel)>Guild</a></p>\n")
        #expect(Markdown.html("[mail](mailto:hi@guild.example)") == "<p><a href=\"mailto:hi@guild.example\" \(rel)>mail</a></p>\n")
        #expect(Markdown.html("[home](/posts/1) [top](#top)")
            == "<p><a href=\"/posts/1\" \(rel)>home</a> <a href=\"#top\" \(rel)>top</a></p>\n")
        #expect(Markdown.html("[HTTPS](HTTPS://A.EXAMPLE)") == "<p><a href=\"HTTPS://A.EXAMPLE\" \(rel)>HTTPS</a></p>\n")
        #expect(Markdown.html("[wiki](https://en.example/Foo_(bar) \"title\")")
            == "<p><a href=\"https://en.example/Foo_(bar)\" \(rel)>wiki</a></p>\n")
        #expect(Markdown.html("[*em* `code`](https://a.example)")
            == "<p><a href=\"https://a.example\" \(rel)><em>em</em> <code>code</code></a></p>\n")
        #expect(Markdown.html("[not a link] [x] (y)") == "<p>[not a link] [x] (y)</p>\n")
    }

    @Test func autolinks() {
        let rel = "rel=\"nofollow noopener noreferrer\""
        #expect(Markdown.html("<https://a.example/x>") == "<p><a href=\"https://a.example/x\" \(rel)>https://a.example/x</a></p>\n")
        #expect(Markdown.html("<hi@guild.example>") == "<p><a href=\"mailto:hi@guild.example\" \(rel)>hi@guild.example</a></p>\n")
        #expect(Markdown.html("see https://a.example/path_(x), ok.")
            == "<p>see <a href=\"https://a.example/path_(x)\" \(rel)>https://a.example/path_(x)</a>, ok.</p>\n")
        #expect(Markdown.html("(https://a.example)") == "<p>(<a href=\"https://a.example\" \(rel)>https://a.example</a>)</p>\n")
        #expect(Markdown.html("[https://shown.example](https://target.example)")
            == "<p><a href=\"https://target.example\" \(rel)>https://shown.example</a></p>\n")
        #expect(Markdown.html("`https://code.example`") == "<p><code>https://code.example</code></p>\n")
    }

    @Test func images() {
        #expect(Markdown.html("![a \"cat\"](https://img.example/cat.png)")
            == "<p><img src=\"https://img.example/cat.png\" alt=\"a &quot;cat&quot;\" loading=\"lazy\"></p>\n")
        #expect(Markdown.html("![up](/uploads/1.png)") == "<p><img src=\"/uploads/1.png\" alt=\"up\" loading=\"lazy\"></p>\n")
        #expect(Markdown.html("[![pic](https://i.example/p.png)](https://a.example)")
            == "<p><a href=\"https://a.example\" rel=\"nofollow noopener noreferrer\"><img src=\"https://i.example/p.png\" alt=\"pic\" loading=\"lazy\"></a></p>\n")
    }

    // MARK: - Chinese text

    @Test func chineseTextPassesThrough() {
        #expect(Markdown.html("# 标题\n\n这是一段中文，包含“引号”和——破折号。")
            == "<h1>标题</h1>\n<p>这是一段中文，包含“引号”和——破折号。</p>\n")
        #expect(Markdown.html("这是**“重点”**内容，*强调*也行") == "<p>这是<strong>“重点”</strong>内容，<em>强调</em>也行</p>\n")
        #expect(Markdown.html("请看https://a.example/x。谢谢")
            == "<p>请看<a href=\"https://a.example/x\" rel=\"nofollow noopener noreferrer\">https://a.example/x</a>。谢谢</p>\n")
        #expect(Markdown.html("- 第一\n- 第二 😀") == "<ul>\n<li>第一</li>\n<li>第二 😀</li>\n</ul>\n")
        #expect(Markdown.plainText("**你好**，世界") == "你好，世界")
    }

    // MARK: - Preview split

    @Test func splitPreviewAtMarker() {
        let split = Markdown.splitPreview("Free part.\n\n<!-- more -->\n\nPaid part.")
        #expect(split.preview == "Free part.\n")
        #expect(split.rest == "\nPaid part.")
    }

    @Test func splitPreviewWithoutMarker() {
        let split = Markdown.splitPreview("All free.\n<!-- less -->\n<!-- more --> trailing")
        #expect(split.preview == "All free.\n<!-- less -->\n<!-- more --> trailing")
        #expect(split.rest == nil)
    }

    @Test func splitPreviewVariants() {
        #expect(Markdown.splitPreview("a\n  <!--  MORE  -->  \nb") == ("a", "b"))
        #expect(Markdown.splitPreview("a\n\(Markdown.previewMarker)\nb\n<!-- more -->\nc") == ("a", "b\n<!-- more -->\nc"))
        #expect(Markdown.splitPreview("<!-- more -->\nall paid") == ("", "all paid"))
        #expect(Markdown.splitPreview("all free\n<!-- more -->") == ("all free", ""))
        #expect(Markdown.splitPreview("a\r\n<!-- more -->\r\nb\r\n") == ("a\r", "b\r\n"))
        // A marker inside fenced code is code, not a split point.
        #expect(Markdown.splitPreview("```\n<!-- more -->\n```\nx\n<!-- more -->\ny") == ("```\n<!-- more -->\n```\nx", "y"))
        #expect(Markdown.splitPreview("```\n<!-- more -->\n").rest == nil)
    }

    // MARK: - Plain text and excerpts

    @Test func plainText() {
        let source = """
            # Title

            Some **bold**,   *em* and [link text](https://x.example/secret-url) and `code <b>`.
            ![alt text](https://i.example/a.png)

            > quoted   line

            - one
            - two

            ```swift
            let   x = 1
            ```

            ---
            """
        let text = Markdown.plainText(source)
        #expect(text == "Title\nSome bold, em and link text and code <b>. alt text\nquoted line\none\ntwo\nlet x = 1")
        #expect(!text.contains("secret-url"))
        #expect(Markdown.plainText("  \n\n") == "")
    }

    @Test func excerpt() {
        #expect(Markdown.excerpt("Short **text**.") == "Short text.")
        #expect(Markdown.excerpt("hello wonderful world", limit: 8) == "hello…")
        #expect(Markdown.excerpt("hello wonderful world", limit: 6) == "hello…")
        #expect(Markdown.excerpt("hello world", limit: 11) == "hello world")
        #expect(Markdown.excerpt("supercalifragilistic", limit: 5) == "super…")
        #expect(Markdown.excerpt("这是一段很长的中文内容", limit: 4) == "这是一段…")
        #expect(Markdown.excerpt("👍🏽👍🏽👍🏽", limit: 2) == "👍🏽👍🏽…")
        let long = String(repeating: "word ", count: 100)
        let cut = Markdown.excerpt(long)
        #expect(cut.hasSuffix("word…") && cut.count <= 201)
    }

    // MARK: - Hostile shapes stay bounded

    @Test func deepNestingAndLongInputDoNotBlowUp() {
        let deep = [
            String(repeating: ">", count: 5_000) + " x",
            String(repeating: "- ", count: 5_000) + "x",
            String(repeating: "*a ", count: 5_000) + String(repeating: "a* ", count: 5_000),
            String(repeating: "[", count: 10_000) + "x" + String(repeating: "](https://a.example)", count: 10_000),
            String(repeating: "![", count: 10_000),
            String(repeating: "`", count: 10_000),
            String(repeating: "<", count: 10_000),
            String(repeating: "_a", count: 10_000),
            "https://" + String(repeating: ")", count: 10_000),
        ]
        for source in deep {
            let html = Markdown.html(source)
            #expect(!html.isEmpty)
            _ = Markdown.plainText(source)
        }
    }

    // MARK: - Helpers

    /// Every `<` in the output starts one of the renderer's own tags, with only its own attributes.
    private func expectOnlyAllowedTags(_ html: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let allowed = try Regex(
            #"<(?:/?(?:p|h[1-6]|blockquote|ul|ol|li|pre|code|strong|em|del|a)>|br>|hr>"#
                + #"|a href="[^"<>]*" rel="nofollow noopener noreferrer">"#
                + #"|img src="[^"<>]*" alt="[^"<>]*" loading="lazy">"#
                + #"|code class="language-[A-Za-z0-9_+-]{1,30}">)"#)
        var index = html.startIndex
        while let open = html[index...].firstIndex(of: "<") {
            #expect(html[open...].prefixMatch(of: allowed) != nil,
                    "unexpected markup at \(html[open...].prefix(40)) in \(html)", sourceLocation: sourceLocation)
            index = html.index(after: open)
        }
    }
}
