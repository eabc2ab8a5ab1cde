import Foundation

/// Renders the Markdown members write to HTML that cannot carry script, and to plain text.
///
/// Safe by construction: source HTML is never passed through (it shows as escaped text). Every
/// piece of text that reaches the output, including URLs, alt text and code languages, goes
/// through `escape`, and the only markup written is the renderer's own: the fixed tags of `Tag`,
/// `<a href rel>`, `<img src alt loading>` and `<code class="language-…">`. A URL reaches
/// `href`/`src` only as a `SafeURL`, which exists only for http, https, mailto (links only) and
/// same-site `/path` or `#anchor`. Nesting is capped so hostile input cannot exhaust the stack.
public enum Markdown {
    /// The line that separates a post's free preview from the rest: `<!-- more -->` on a line of
    /// its own (spaces around allowed, case-insensitive `more`).
    public static let previewMarker = "<!-- more -->"

    /// Splits source at the first preview marker line: (preview, rest). rest is nil when there is
    /// no marker. The marker line itself belongs to neither. Markers inside fenced code are skipped.
    public static func splitPreview(_ source: String) -> (preview: String, rest: String?) {
        let lines = source.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
            .map { String(Substring($0)) }
        var fence: Fence?
        for (index, raw) in lines.enumerated() {
            let line = raw.hasSuffix("\r") ? String(raw.dropLast()) : raw
            if let open = fence {
                if isClosingFence(line, of: open) { fence = nil }
            } else if isPreviewMarker(line) {
                return (lines[..<index].joined(separator: "\n"), lines[(index + 1)...].joined(separator: "\n"))
            } else {
                fence = openingFence(line)
            }
        }
        return (source, nil)
    }

    /// Safe HTML for the source.
    public static func html(_ source: String) -> String {
        var writer = HTMLWriter()
        writer.write(parseBlocks(splitLines(source), depth: 0))
        return writer.output
    }

    /// The text without markup (for search indexing, excerpts, notifications): code kept, link
    /// text kept (URLs dropped), emphasis markers removed, whitespace collapsed to single
    /// spaces/newlines. Not escaped: escape it before putting it in HTML.
    public static func plainText(_ source: String) -> String {
        var raw = ""
        appendPlain(parseBlocks(splitLines(source), depth: 0), to: &raw)
        var lines: [String] = []
        for line in raw.split(separator: "\n") {
            var collapsed = ""
            var gap = false
            for character in line {
                if character.isWhitespace {
                    gap = !collapsed.isEmpty
                } else {
                    if gap { collapsed.append(" ") }
                    gap = false
                    collapsed.append(character)
                }
            }
            if !collapsed.isEmpty { lines.append(collapsed) }
        }
        return lines.joined(separator: "\n")
    }

    /// The first `limit` characters of plainText, cut at a word/character boundary, with "…"
    /// appended when cut.
    public static func excerpt(_ source: String, limit: Int = 200) -> String {
        let text = plainText(source)
        let limit = max(0, limit)
        guard text.count > limit else { return text }
        var cut = text.index(text.startIndex, offsetBy: limit)
        if cut > text.startIndex {
            let before = text[text.index(before: cut)], after = text[cut]
            let midWord = !before.isWhitespace && !after.isWhitespace && !breaksAnywhere(before) && !breaksAnywhere(after)
            if midWord, let space = text[..<cut].lastIndex(where: \.isWhitespace),
               text.distance(from: text.startIndex, to: space) >= limit / 2 {
                cut = space
            }
        }
        var head = text[..<cut]
        while let last = head.last, last.isWhitespace { head = head.dropLast() }
        return head + "…"
    }

    // MARK: - Escaping (the one function all output text goes through)

    static func escape(_ text: some StringProtocol) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            case "\0": out += "\u{FFFD}"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    // MARK: - Blocks

    private static let maxBlockDepth = 8
    private static let maxInlineFrames = 16
    private static let maxURLLength = 2048

    private indirect enum Block {
        case heading(Int, String)
        case paragraph(String)
        case code(language: String?, text: String)
        case quote([Block])
        case list(ordered: Bool, loose: Bool, items: [[Block]])
        case rule
    }

    private struct Fence {
        let marker: Character, length: Int, indent: Int, language: String?
    }

    private struct ListMarker {
        let ordered: Bool, delimiter: Character, start: Int, contentIndent: Int, content: String
    }

    private static func parseBlocks(_ lines: [String], depth: Int) -> [Block] {
        var blocks: [Block] = []
        let nests = depth < maxBlockDepth
        var i = 0
        while i < lines.count {
            let line = lines[i]
            if isBlank(line) || isPreviewMarker(line) {
                i += 1
            } else if let fence = openingFence(line) {
                var body = ""
                i += 1
                while i < lines.count, !isClosingFence(lines[i], of: fence) {
                    body += dropColumns(lines[i], fence.indent) + "\n"
                    i += 1
                }
                i += 1  // the closing fence; an unclosed fence runs to the end
                blocks.append(.code(language: fence.language, text: body))
            } else if let (level, text) = heading(line) {
                blocks.append(.heading(level, text))
                i += 1
            } else if isRule(line) {
                blocks.append(.rule)
                i += 1
            } else if nests, let first = quoteContent(line) {
                var inner = [first]
                i += 1
                while i < lines.count {
                    if let more = quoteContent(lines[i]) {
                        inner.append(more)
                    } else if !isBlank(lines[i]), let last = inner.last, !isBlank(last), !startsBlock(lines[i], depth: depth) {
                        inner.append(lines[i])  // lazy continuation
                    } else {
                        break
                    }
                    i += 1
                }
                blocks.append(.quote(parseBlocks(inner, depth: depth + 1)))
            } else if nests, var marker = listMarker(line), !marker.ordered || marker.start == 1 {
                var items: [[Block]] = []
                var loose = false
                while true {
                    var body = [marker.content]
                    i += 1
                    while i < lines.count {
                        let next = lines[i]
                        if isBlank(next) {
                            body.append("")
                        } else if indentation(next).columns >= marker.contentIndent {
                            body.append(dropColumns(next, marker.contentIndent))
                        } else if let last = body.last, !isBlank(last), listMarker(next) == nil, !startsBlock(next, depth: depth) {
                            body.append(next)  // lazy continuation
                        } else {
                            break
                        }
                        i += 1
                    }
                    var trailingBlank = false
                    while let last = body.last, isBlank(last) {
                        body.removeLast()
                        trailingBlank = true
                    }
                    let item = parseBlocks(body, depth: depth + 1)
                    if item.count > 1, body.contains(where: isBlank) { loose = true }
                    items.append(item)
                    guard i < lines.count, let next = listMarker(lines[i]),
                          next.ordered == marker.ordered, next.delimiter == marker.delimiter else { break }
                    if trailingBlank { loose = true }
                    marker = next
                }
                blocks.append(.list(ordered: marker.ordered, loose: loose, items: items))
            } else {
                var text = [trimmed(line, trailing: false)]
                i += 1
                while i < lines.count, !isBlank(lines[i]), !startsBlock(lines[i], depth: depth) {
                    text.append(trimmed(lines[i], trailing: false))
                    i += 1
                }
                blocks.append(.paragraph(trimmed(text.joined(separator: "\n"))))
            }
        }
        return blocks
    }

    /// Whether the line starts a block that interrupts a paragraph.
    private static func startsBlock(_ line: String, depth: Int) -> Bool {
        if isPreviewMarker(line) || openingFence(line) != nil || heading(line) != nil || isRule(line) { return true }
        guard depth < maxBlockDepth else { return false }
        if quoteContent(line) != nil { return true }
        if let marker = listMarker(line), !marker.content.isEmpty, !marker.ordered || marker.start == 1 { return true }
        return false
    }

    private static func isPreviewMarker(_ line: String) -> Bool {
        let text = trimmed(line)
        guard text.count >= 7, text.hasPrefix("<!--"), text.hasSuffix("-->") else { return false }
        return trimmed(String(text.dropFirst(4).dropLast(3))).lowercased() == "more"
    }

    private static func openingFence(_ line: String) -> Fence? {
        let (indent, rest) = indentation(line)
        guard indent <= 3, let marker = rest.first, marker == "`" || marker == "~" else { return nil }
        let length = rest.prefix(while: { $0 == marker }).count
        let info = trimmed(String(rest.dropFirst(length)))
        guard length >= 3, marker == "~" || !info.contains("`") else { return nil }
        let word = info.prefix(while: { !$0.isWhitespace })
        let valid = (1...30).contains(word.count)
            && word.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "_+-".contains($0)) }
        return Fence(marker: marker, length: length, indent: indent, language: valid ? String(word) : nil)
    }

    private static func isClosingFence(_ line: String, of fence: Fence) -> Bool {
        let (indent, rest) = indentation(line)
        let length = rest.prefix(while: { $0 == fence.marker }).count
        return indent <= 3 && length >= fence.length && rest.dropFirst(length).allSatisfy(\.isWhitespace)
    }

    private static func heading(_ line: String) -> (Int, String)? {
        let (indent, rest) = indentation(line)
        let level = rest.prefix(while: { $0 == "#" }).count
        let after = rest.dropFirst(level)
        guard indent <= 3, (1...6).contains(level), after.isEmpty || after.first == " " || after.first == "\t" else { return nil }
        let text = trimmed(String(after))
        var stripped = Substring(text)
        while stripped.last == "#" { stripped = stripped.dropLast() }
        if stripped.isEmpty { return (level, "") }
        if stripped.last == " " || stripped.last == "\t" { return (level, trimmed(String(stripped))) }
        return (level, text)
    }

    private static func isRule(_ line: String) -> Bool {
        let (indent, rest) = indentation(line)
        guard indent <= 3, let marker = rest.first, "-*_".contains(marker) else { return false }
        var count = 0
        for character in rest {
            if character == marker { count += 1 } else if character != " " && character != "\t" { return false }
        }
        return count >= 3
    }

    private static func quoteContent(_ line: String) -> String? {
        let (indent, rest) = indentation(line)
        guard indent <= 3, rest.first == ">" else { return nil }
        let inner = rest.dropFirst()
        return String(inner.first == " " || inner.first == "\t" ? inner.dropFirst() : inner)
    }

    private static func listMarker(_ line: String) -> ListMarker? {
        let (indent, rest) = indentation(line)
        guard indent <= 3, let first = rest.first else { return nil }
        var width = 1, ordered = false, delimiter = first, start = 0
        if !"-*+".contains(first) {
            let digits = rest.prefix(while: { $0.isASCII && $0.isNumber })
            guard (1...9).contains(digits.count), let d = rest.dropFirst(digits.count).first, d == "." || d == ")" else { return nil }
            (width, ordered, delimiter, start) = (digits.count + 1, true, d, Int(digits) ?? 0)
        }
        let after = rest.dropFirst(width)
        guard after.isEmpty || after.first == " " || after.first == "\t" else { return nil }
        let spaces = after.prefix(while: { $0 == " " || $0 == "\t" }).count
        if spaces == after.count {
            return ListMarker(ordered: ordered, delimiter: delimiter, start: start, contentIndent: indent + width + 1, content: "")
        }
        let pad = spaces > 4 ? 1 : spaces
        return ListMarker(ordered: ordered, delimiter: delimiter, start: start,
                          contentIndent: indent + width + pad, content: String(after.dropFirst(pad)))
    }

    // MARK: - Line helpers

    private static func splitLines(_ source: String) -> [String] {
        source.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" || $0 == "\r" })
            .map(String.init)
    }

    private static func isBlank(_ line: String) -> Bool {
        line.allSatisfy { $0 == " " || $0 == "\t" }
    }

    private static func trimmed(_ text: String, trailing: Bool = true) -> String {
        var slice = Substring(text).drop(while: \.isWhitespace)
        while trailing, let last = slice.last, last.isWhitespace { slice = slice.dropLast() }
        return String(slice)
    }

    /// Leading indentation in columns (tabs to multiples of 4) and the text after it.
    private static func indentation(_ line: String) -> (columns: Int, rest: Substring) {
        var columns = 0
        var index = line.startIndex
        while index < line.endIndex {
            if line[index] == " " { columns += 1 } else if line[index] == "\t" { columns += 4 - columns % 4 } else { break }
            index = line.index(after: index)
        }
        return (columns, line[index...])
    }

    private static func dropColumns(_ line: String, _ count: Int) -> String {
        var columns = 0
        var index = line.startIndex
        while index < line.endIndex, columns < count {
            if line[index] == " " {
                columns += 1
            } else if line[index] == "\t" {
                let next = columns + 4 - columns % 4
                if next > count { return String(repeating: " ", count: next - count) + line[line.index(after: index)...] }
                columns = next
            } else {
                break
            }
            index = line.index(after: index)
        }
        return String(line[index...])
    }

    // MARK: - Inlines

    private indirect enum Inline {
        case text(String)
        case code(String)
        case strong([Inline]), emphasis([Inline]), strike([Inline])
        case link(SafeURL, [Inline])
        case image(SafeURL, alt: String)
        case softBreak, hardBreak
    }

    private enum Token {
        case node(Inline)
        case delimiter(Character, count: Int, canOpen: Bool, canClose: Bool)
        case open(id: Int, image: Bool)
        case close(id: Int, destination: String?, raw: String)
    }

    private struct Frame {
        enum Kind { case root, delimiter(Character, Int), bracket(id: Int, image: Bool, active: Bool) }
        var kind: Kind
        var children: [Inline] = []
        var opener: Inline {
            switch kind {
            case .root: .text("")
            case let .delimiter(marker, count): .text(String(repeating: marker, count: count))
            case let .bracket(_, image, _): .text(image ? "![" : "[")
            }
        }
    }

    /// Parses inline text: tokens first, then emphasis and links matched on a stack of open frames
    /// (a simplified CommonMark delimiter algorithm; no frame nesting beyond `maxInlineFrames`).
    private static func parseInlines(_ text: String) -> [Inline] {
        var frames = [Frame(kind: .root)]
        func collapse(to index: Int) {
            while frames.count - 1 > index {
                let frame = frames.removeLast()
                frames[frames.count - 1].children.append(frame.opener)
                frames[frames.count - 1].children.append(contentsOf: frame.children)
            }
        }
        func append(_ nodes: [Inline]) { frames[frames.count - 1].children.append(contentsOf: nodes) }
        func opener(for marker: Character) -> Int? {
            for index in frames.indices.dropFirst().reversed() {
                switch frames[index].kind {
                case let .delimiter(other, _) where other == marker: return index
                case .bracket: return nil
                default: continue
                }
            }
            return nil
        }
        for token in tokenize(text) {
            switch token {
            case let .node(node):
                append([node])
            case let .delimiter(marker, count, canOpen, canClose):
                var remaining = count
                while canClose, remaining > 0, let index = opener(for: marker), case let .delimiter(_, have) = frames[index].kind {
                    collapse(to: index)
                    let used = marker == "~" || (have >= 2 && remaining >= 2) ? 2 : 1
                    let inner = frames[index].children
                    let node: Inline = marker == "~" ? .strike(inner) : used == 2 ? .strong(inner) : .emphasis(inner)
                    remaining -= used
                    if have > used {
                        frames[index] = Frame(kind: .delimiter(marker, have - used), children: [node])
                    } else {
                        frames.removeLast()
                        append([node])
                    }
                }
                if remaining > 0 {
                    if canOpen, frames.count < maxInlineFrames {
                        frames.append(Frame(kind: .delimiter(marker, remaining)))
                    } else {
                        append([.text(String(repeating: marker, count: remaining))])
                    }
                }
            case let .open(id, image):
                if frames.count < maxInlineFrames {
                    frames.append(Frame(kind: .bracket(id: id, image: image, active: true)))
                } else {
                    append([.text(image ? "![" : "[")])
                }
            case let .close(id, destination, raw):
                guard let index = frames.lastIndex(where: { if case .bracket = $0.kind { true } else { false } }),
                      case let .bracket(openID, image, active) = frames[index].kind, openID == id else {
                    append([.text("]" + raw)])
                    continue
                }
                collapse(to: index)
                let frame = frames.removeLast()
                guard let destination, active else {
                    append([frame.opener] + frame.children + [.text("]" + raw)])
                    continue
                }
                if image {
                    guard let url = SafeURL.make(destination, image: true) else { append(frame.children); continue }
                    append([.image(url, alt: plain(frame.children))])
                } else {
                    guard let url = SafeURL.make(destination, image: false) else { append(frame.children); continue }
                    append([.link(url, frame.children)])
                    for k in frames.indices {  // links cannot contain links: earlier `[` become text
                        if case let .bracket(otherID, false, _) = frames[k].kind {
                            frames[k].kind = .bracket(id: otherID, image: false, active: false)
                        }
                    }
                }
            }
        }
        collapse(to: 0)
        return frames[0].children
    }

    private static func tokenize(_ text: String) -> [Token] {
        let cs = Array(text)
        let n = cs.count
        var tokens: [Token] = []
        var buffer = ""
        func flush() {
            if !buffer.isEmpty { tokens.append(.node(.text(buffer))) }
            buffer = ""
        }
        // Code spans: each backtick run closes at the next run of the same length.
        var codeEnd: [Int: Int] = [:]
        var runs: [(start: Int, length: Int)] = []
        var k = 0
        while k < n {
            if cs[k] == "\\", k + 1 < n, isASCIIPunctuation(cs[k + 1]) { k += 2; continue }
            guard cs[k] == "`" else { k += 1; continue }
            let start = k
            while k < n, cs[k] == "`" { k += 1 }
            runs.append((start, k - start))
        }
        var nextSame = [Int](repeating: -1, count: runs.count)
        var lastByLength: [Int: Int] = [:]
        for r in runs.indices.reversed() {
            nextSame[r] = lastByLength[runs[r].length] ?? -1
            lastByLength[runs[r].length] = r
        }
        var r = 0
        while r < runs.count {
            if nextSame[r] >= 0 { codeEnd[runs[r].start] = runs[nextSame[r]].start; r = nextSame[r] + 1 } else { r += 1 }
        }

        var brackets: [Int] = []
        var nextID = 0
        var i = 0
        while i < n {
            let c = cs[i]
            switch c {
            case "\\":
                if i + 1 < n, isASCIIPunctuation(cs[i + 1]) {
                    buffer.append(cs[i + 1]); i += 2
                } else if i + 1 < n, cs[i + 1] == "\n" {
                    flush(); tokens.append(.node(.hardBreak)); i += 2
                } else {
                    buffer.append(c); i += 1
                }
            case "`":
                var j = i
                while j < n, cs[j] == "`" { j += 1 }
                if let end = codeEnd[i] {
                    var code = String(cs[j..<end]).map { $0 == "\n" ? " " : $0 }
                    if code.count >= 2, code.first == " ", code.last == " ", code.contains(where: { $0 != " " }) {
                        code = Array(code.dropFirst().dropLast())
                    }
                    flush(); tokens.append(.node(.code(String(code))))
                    i = end + (j - i)
                } else {
                    buffer.append(contentsOf: cs[i..<j]); i = j
                }
            case "*", "_", "~":
                var j = i
                while j < n, cs[j] == c { j += 1 }
                guard j - i <= 4, c != "~" || j - i == 2 else { buffer.append(contentsOf: cs[i..<j]); i = j; continue }
                let before: Character = i > 0 ? cs[i - 1] : " ", after: Character = j < n ? cs[j] : " "
                let beforePunct = isPunctuationLike(before), afterPunct = isPunctuationLike(after)
                let left = !after.isWhitespace && (!afterPunct || before.isWhitespace || beforePunct)
                let right = !before.isWhitespace && (!beforePunct || after.isWhitespace || afterPunct)
                let canOpen = c == "_" ? left && (!right || beforePunct) : left
                let canClose = c == "_" ? right && (!left || afterPunct) : right
                flush(); tokens.append(.delimiter(c, count: j - i, canOpen: canOpen, canClose: canClose))
                i = j
            case "!" where i + 1 < n && cs[i + 1] == "[", "[":
                flush(); tokens.append(.open(id: nextID, image: c == "!"))
                brackets.append(nextID); nextID += 1
                i += c == "!" ? 2 : 1
            case "]" where !brackets.isEmpty:
                flush()
                if let (destination, end) = linkDestination(cs, from: i + 1) {
                    tokens.append(.close(id: brackets.removeLast(), destination: destination, raw: String(cs[(i + 1)..<end])))
                    i = end
                } else {
                    tokens.append(.close(id: brackets.removeLast(), destination: nil, raw: "")); i += 1
                }
            case "<":
                if let (url, display, end) = angleAutolink(cs, from: i) {
                    flush(); tokens.append(.node(.link(url, [.text(display)]))); i = end
                } else {
                    buffer.append(c); i += 1
                }
            case "\n":
                var spaces = 0
                while buffer.last == " " { buffer.removeLast(); spaces += 1 }
                flush(); tokens.append(.node(spaces >= 2 ? .hardBreak : .softBreak)); i += 1
            case "h", "H":
                if i == 0 || !(cs[i - 1].isASCII && (cs[i - 1].isLetter || cs[i - 1].isNumber)),
                   let (url, end) = bareURL(cs, from: i) {
                    flush(); tokens.append(.node(.link(url, [.text(String(cs[i..<end]))]))); i = end
                } else {
                    buffer.append(c); i += 1
                }
            default:
                buffer.append(c); i += 1
            }
        }
        flush()
        return tokens
    }

    /// `(destination "optional title")` right after `]`: the destination and the index past `)`.
    private static func linkDestination(_ cs: [Character], from start: Int) -> (String, Int)? {
        let n = min(cs.count, start + 2 * maxURLLength)
        guard start < n, cs[start] == "(" else { return nil }
        var k = start + 1
        while k < n, cs[k].isWhitespace { k += 1 }
        var destination = ""
        if k < n, cs[k] == "<" {
            k += 1
            while k < n, cs[k] != ">" {
                if cs[k] == "\n" || cs[k] == "<" { return nil }
                if cs[k] == "\\", k + 1 < n, isASCIIPunctuation(cs[k + 1]) { k += 1 }
                destination.append(cs[k]); k += 1
            }
            guard k < n else { return nil }
            k += 1
        } else {
            var depth = 0
            while k < n, !cs[k].isWhitespace, !isASCIIControl(cs[k]) {
                if cs[k] == "\\", k + 1 < n, isASCIIPunctuation(cs[k + 1]) { k += 1 }
                else if cs[k] == "(" { depth += 1; if depth > 8 { return nil } }
                else if cs[k] == ")" { if depth == 0 { break }; depth -= 1 }
                destination.append(cs[k]); k += 1
            }
            guard depth == 0 else { return nil }
        }
        let afterDestination = k
        while k < n, cs[k].isWhitespace { k += 1 }
        if k > afterDestination, k < n, let close = ["\"": "\"", "'": "'", "(": ")"][cs[k]] as Character? {
            k += 1
            while k < n, cs[k] != close {
                if cs[k] == "\\" { k += 1 } else if close == ")" && cs[k] == "(" { return nil }
                k += 1
            }
            guard k < n else { return nil }
            k += 1
            while k < n, cs[k].isWhitespace { k += 1 }
        }
        guard k < n, cs[k] == ")" else { return nil }
        return (destination, k + 1)
    }

    /// `<scheme:…>` or `<user@host>`: the URL, the text shown and the index past `>`.
    private static func angleAutolink(_ cs: [Character], from start: Int) -> (SafeURL, String, Int)? {
        var k = start + 1
        var content = ""
        while k < cs.count, k - start <= maxURLLength, cs[k] != ">" {
            if cs[k] == "<" || cs[k].isWhitespace || isASCIIControl(cs[k]) { return nil }
            content.append(cs[k]); k += 1
        }
        guard k < cs.count, cs[k] == ">" else { return nil }
        let scheme = content.prefix(while: { $0 != ":" })
        if scheme.count >= 2, scheme.count < content.count, scheme.first?.isLetter == true,
           scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) }) {
            return SafeURL.make(content, image: false).map { ($0, content, k + 1) }
        }
        let parts = content.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), parts[1].first != ".", parts[1].last != ".",
              parts[0].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".!#$%&'*+/=?^_`{|}~-".contains($0)) }),
              parts[1].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-".contains($0)) }) else { return nil }
        return SafeURL.make("mailto:" + content, image: false).map { ($0, content, k + 1) }
    }

    /// A bare `http(s)://…` URL (ASCII only, so it stops before adjoining Chinese text).
    private static func bareURL(_ cs: [Character], from start: Int) -> (SafeURL, Int)? {
        func matches(_ prefix: String) -> Bool {
            prefix.count <= cs.count - start && zip(prefix, cs[start...]).allSatisfy { $0 == Character($1.lowercased()) }
        }
        let schemeLength = matches("https://") ? 8 : matches("http://") ? 7 : 0
        guard schemeLength > 0 else { return nil }
        var k = start + schemeLength
        var opens = 0, closes = 0
        while k < cs.count, k - start < maxURLLength, cs[k].isASCII, !cs[k].isWhitespace, !isASCIIControl(cs[k]),
              !"<>\"`[]".contains(cs[k]) {
            if cs[k] == "(" { opens += 1 } else if cs[k] == ")" { closes += 1 }
            k += 1
        }
        while k > start + schemeLength {
            let last = cs[k - 1]
            if "?!.,:;*_~'".contains(last) { k -= 1 }
            else if last == ")" && closes > opens { k -= 1; closes -= 1 }
            else { break }
        }
        guard k > start + schemeLength, cs[start + schemeLength].isLetter || cs[start + schemeLength].isNumber,
              let url = SafeURL.make(String(cs[start..<k]), image: false) else { return nil }
        return (url, k)
    }

    private static func isASCIIPunctuation(_ c: Character) -> Bool {
        c.isASCII && (c.isPunctuation || c.isSymbol)
    }

    private static func isASCIIControl(_ c: Character) -> Bool {
        c.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// Punctuation for emphasis flanking; CJK counts too, so `这是**“重点”**吗` works unspaced.
    private static func isPunctuationLike(_ c: Character) -> Bool {
        c.isPunctuation || c.isSymbol || breaksAnywhere(c)
    }

    /// Scripts written without spaces between words, where any character boundary is a word boundary.
    private static func breaksAnywhere(_ c: Character) -> Bool {
        guard let scalar = c.unicodeScalars.first else { return false }
        return scalar.properties.isIdeographic || (0x3000...0x30FF).contains(scalar.value)
            || (0xFF00...0xFFEF).contains(scalar.value)
    }

    // MARK: - Plain text

    private static func appendPlain(_ blocks: [Block], to out: inout String) {
        for block in blocks {
            switch block {
            case let .heading(_, text), let .paragraph(text): out += plain(parseInlines(text)) + "\n"
            case let .code(_, text): out += text + "\n"
            case let .quote(inner): appendPlain(inner, to: &out)
            case let .list(_, _, items): for item in items { appendPlain(item, to: &out) }
            case .rule: out += "\n"
            }
        }
    }

    private static func plain(_ nodes: [Inline]) -> String {
        var out = ""
        for node in nodes {
            switch node {
            case let .text(text), let .code(text), let .image(_, text): out += text
            case let .strong(children), let .emphasis(children), let .strike(children), let .link(_, children):
                out += plain(children)
            case .softBreak: out += " "
            case .hardBreak: out += "\n"
            }
        }
        return out
    }

    // MARK: - HTML output

    /// A URL allowed in `href`/`src`: http, https, mailto (links only), `/path` or `#anchor` (links only).
    private struct SafeURL {
        let value: String
        private init(value: String) { self.value = value }

        static func make(_ raw: String, image: Bool) -> SafeURL? {
            let visible = String(String.UnicodeScalarView(
                Markdown.trimmed(raw).unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }))
            let probe = String(String.UnicodeScalarView(visible.unicodeScalars.filter { !$0.properties.isWhitespace }))
                .lowercased()
            let schemes = image ? ["http:", "https:"] : ["http:", "https:", "mailto:"]
            let allowed = schemes.contains(where: probe.hasPrefix)
                || (probe.hasPrefix("/") && !probe.hasPrefix("//") && !probe.hasPrefix("/\\"))
                || (!image && probe.hasPrefix("#"))
            guard allowed else { return nil }
            var value = ""
            for scalar in visible.unicodeScalars {
                if scalar.properties.isWhitespace || "\"<>`".unicodeScalars.contains(scalar) {
                    for byte in String(scalar).utf8 { value += "%" + String(byte, radix: 16, uppercase: true) }
                } else {
                    value.unicodeScalars.append(scalar)
                }
            }
            return SafeURL(value: value)
        }
    }

    private enum Tag: String {
        case p, h1, h2, h3, h4, h5, h6, blockquote, ul, ol, li, pre, code, strong, em, del, a, br, hr
    }

    private struct HTMLWriter {
        private(set) var output = ""

        mutating func text(_ text: some StringProtocol) { output += Markdown.escape(text) }
        mutating func open(_ tag: Tag) { output += "<" + tag.rawValue + ">" }
        mutating func close(_ tag: Tag) { output += "</" + tag.rawValue + ">" }
        mutating func newline() { output += "\n" }

        mutating func write(_ blocks: [Block]) {
            for block in blocks {
                switch block {
                case let .heading(level, text):
                    let tag = [Tag.h1, .h2, .h3, .h4, .h5, .h6][level - 1]
                    open(tag); inlines(parseInlines(text)); close(tag); newline()
                case let .paragraph(text):
                    open(.p); inlines(parseInlines(text)); close(.p); newline()
                case let .code(language, text):
                    open(.pre)
                    if let language {
                        output += "<code class=\"language-"; self.text(language); output += "\">"
                    } else {
                        open(.code)
                    }
                    self.text(text); close(.code); close(.pre); newline()
                case let .quote(inner):
                    open(.blockquote); newline(); write(inner); close(.blockquote); newline()
                case let .list(ordered, loose, items):
                    let tag: Tag = ordered ? .ol : .ul
                    open(tag); newline()
                    for item in items {
                        open(.li)
                        for (index, block) in item.enumerated() {
                            if !loose, case let .paragraph(text) = block {
                                inlines(parseInlines(text))
                                if index < item.count - 1 { newline() }
                            } else {
                                if index == 0 { newline() }
                                write([block])
                            }
                        }
                        close(.li); newline()
                    }
                    close(tag); newline()
                case .rule:
                    open(.hr); newline()
                }
            }
        }

        mutating func inlines(_ nodes: [Inline], inLink: Bool = false) {
            for node in nodes {
                switch node {
                case let .text(text): self.text(text)
                case let .code(text): open(.code); self.text(text); close(.code)
                case let .strong(children): open(.strong); inlines(children, inLink: inLink); close(.strong)
                case let .emphasis(children): open(.em); inlines(children, inLink: inLink); close(.em)
                case let .strike(children): open(.del); inlines(children, inLink: inLink); close(.del)
                case let .link(url, children):
                    if inLink { inlines(children, inLink: true); continue }  // no links inside links
                    output += "<a href=\""; text(url.value); output += "\" rel=\"nofollow noopener noreferrer\">"
                    inlines(children, inLink: true); close(.a)
                case let .image(url, alt):
                    output += "<img src=\""; text(url.value); output += "\" alt=\""; text(alt); output += "\" loading=\"lazy\">"
                case .softBreak: newline()
                case .hardBreak: open(.br); newline()
                }
            }
        }
    }
}
