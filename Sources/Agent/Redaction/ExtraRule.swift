import Foundation

/// A rule an organisation adds in a `*.rules` file: `name: REGEX`, one per line.
///
/// The whole match is replaced by `[REDACTED:name]`, or only the named group `secret` when the
/// pattern has one (`token=(?<secret>\w+)` keeps `token=`). Patterns use ICU syntax
/// (`NSRegularExpression`). When the pattern holds a literal of three or more characters outside
/// any group or class, only lines containing that literal (ignoring case) are searched; other
/// patterns run on every line, which costs a few microseconds each.
///
/// A pattern can backtrack for ages on an unlucky line (`(a+)+$` on a long run of `a`), so every
/// search runs under the line's `ExtraRuleBudget`: matching uses `.reportProgress`, whose block
/// ICU calls every few thousand engine steps *inside* a single long match too, and setting `stop`
/// there aborts that match. (Checking a deadline only between matches would not stop one
/// catastrophic match; a worker thread with a timeout would leave it burning a core.)
struct ExtraRule: @unchecked Sendable {
    // @unchecked: NSRegularExpression is immutable after creation and documented as safe to
    // use from several threads at once; the other stored properties are Sendable values.

    /// The rule's name, its key in `Redactor.counts`.
    let name: String
    /// The compiled pattern.
    let regex: NSRegularExpression
    /// Whether the pattern has a `secret` group: only that group is replaced.
    let hasSecretGroup: Bool
    /// A literal every match contains (lower-cased), for the prefilter; nil when none is known.
    let requiredLiteral: [UInt8]?
    /// The file that defines the rule.
    let file: String
    /// The rule's line in `file`.
    let line: Int

    /// Characters allowed in rule names.
    static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy {
            ASCII.isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
    }

    /// Reads every `*.rules` file in `directory`, in name order.
    /// - Throws: `RedactionError` naming the file and line of the first fault.
    static func load(directory: String, reservedNames: Set<String>) throws -> [ExtraRule] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw RedactionError(file: directory, "extra redaction rules folder not found; create it or unset the rules directory")
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw RedactionError(file: directory, "cannot list the extra redaction rules folder: \(error.localizedDescription)")
        }
        var rules: [ExtraRule] = []
        for name in names.sorted() where name.hasSuffix(".rules") {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RedactionError(file: path, "cannot read the rules file; check its permissions")
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw RedactionError(file: path, "the rules file is not UTF-8 text; save it as UTF-8")
            }
            rules += try parse(text, file: path, reservedNames: reservedNames)
        }
        return rules
    }

    /// Parses the text of one rules file.
    /// - Throws: `RedactionError` naming `file` and the line of the first fault.
    static func parse(_ text: String, file: String, reservedNames: Set<String>) throws -> [ExtraRule] {
        var rules: [ExtraRule] = []
        // `\r\n` is one Character in Swift, so split on any newline Character.
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        for (index, line) in lines.enumerated() {
            let lineNumber = index + 1
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed.hasPrefix("#") { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw RedactionError(file: file, line: lineNumber, "expected `name: REGEX`, found no `:`")
            }
            let name = trimmed[..<colon].trimmingCharacters(in: .whitespaces)
            let pattern = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard isValidName(name) else {
                throw RedactionError(file: file, line: lineNumber,
                                     "rule name `\(name)` must be 1–64 letters, digits, `-`, `_` or `.`")
            }
            guard !reservedNames.contains(name) else {
                throw RedactionError(file: file, line: lineNumber,
                                     "rule name `\(name)` is a built-in rule; choose another name")
            }
            guard !pattern.isEmpty else {
                throw RedactionError(file: file, line: lineNumber, "rule `\(name)` has no pattern after `:`")
            }
            let regex: NSRegularExpression
            do {
                regex = try NSRegularExpression(pattern: pattern)
            } catch {
                throw RedactionError(file: file, line: lineNumber,
                                     "rule `\(name)`: invalid regular expression `\(pattern)`; fix its syntax (ICU regular expressions)")
            }
            if regex.firstMatch(in: "", range: NSRange(location: 0, length: 0)) != nil {
                throw RedactionError(file: file, line: lineNumber,
                                     "rule `\(name)`: the pattern matches empty text; make it require at least one character")
            }
            rules.append(ExtraRule(name: name, regex: regex, hasSecretGroup: pattern.contains("(?<secret>"),
                                   requiredLiteral: requiredLiteral(of: pattern), file: file, line: lineNumber))
        }
        return rules
    }

    /// Adds the spans this rule replaces in `text` (whose UTF-8 is what the other scanners read).
    /// - Returns: false when `budget` ran out (or the regex engine failed) before the search
    ///   finished; the spans found so far are then incomplete and the caller must not trust the line.
    func spans(in text: String, rule: Int, budget: ExtraRuleBudget, into spans: inout [RedactionSpan]) -> Bool {
        let utf8 = text.utf8
        var finished = true
        var found: [RedactionSpan] = []
        regex.enumerateMatches(in: text, options: [.reportProgress], range: NSRange(text.startIndex..., in: text)) { match, flags, stop in
            // `.internalError`: ICU gave up (its backtracking stack is bounded too); what it
            // did not search may hold a secret, exactly as when the budget runs out.
            if flags.contains(.internalError) || budget.isSpent() {
                finished = false
                stop.pointee = true
                return
            }
            guard let match else { return }  // a progress call
            var range = match.range
            if hasSecretGroup {
                range = match.range(withName: "secret")
                if range.location == NSNotFound { return }
            }
            guard range.length > 0, let r = Range(range, in: text) else { return }
            let start = utf8.distance(from: utf8.startIndex, to: r.lowerBound)
            let end = utf8.distance(from: utf8.startIndex, to: r.upperBound)
            found.append(RedactionSpan(start: start, end: end, rule: rule))
        }
        spans += found
        return finished
    }

    /// The longest ASCII literal (3+ characters) that every match of `pattern` must contain, or
    /// nil when none can be proven. Conservative: only top-level text outside groups and classes
    /// counts, a character followed by `?`, `*` or `{` is optional, and patterns with a top-level
    /// `|`, inline flags other than `(?i)`, or `\Q…\E` get no literal.
    static func requiredLiteral(of pattern: String) -> [UInt8]? {
        let p = Array(pattern.utf8)
        var best: [UInt8] = []
        var run: [UInt8] = []
        var depth = 0
        var i = 0
        func endRun() {
            if run.count > best.count { best = run }
            run.removeAll()
        }
        if pattern.hasPrefix("(?i)") { i = 4 }
        while i < p.count {
            let c = p[i]
            switch c {
            case UInt8(ascii: "\\"):
                guard i + 1 < p.count else { return nil }
                let e = p[i + 1]
                if ASCII.isAlnum(e) {
                    // Class escapes (\d \w \s \b…) end a run; numeric, Unicode and quoting escapes are not parsed.
                    guard "dDwWsSbBAzZGhHvVRXntrfea".utf8.contains(e) else { return nil }
                    endRun()
                    i += 2
                } else {
                    if depth == 0 {
                        if isOptionalAfter(p, i + 2) { endRun() } else { run.append(ASCII.lower(e)) }
                    }
                    i += 2
                }
            case UInt8(ascii: "["):
                endRun()
                i += 1
                if i < p.count && p[i] == UInt8(ascii: "^") { i += 1 }
                if i < p.count && p[i] == UInt8(ascii: "]") { i += 1 }
                while i < p.count && p[i] != UInt8(ascii: "]") {
                    if p[i] == UInt8(ascii: "\\") { i += 1 }
                    if p[i] == UInt8(ascii: "[") { return nil }
                    i += 1
                }
                i += 1
            case UInt8(ascii: "("):
                if i + 1 < p.count && p[i + 1] == UInt8(ascii: "?") {
                    let next = i + 2 < p.count ? p[i + 2] : 0
                    if next != UInt8(ascii: ":") && next != UInt8(ascii: "<") && next != UInt8(ascii: "=")
                        && next != UInt8(ascii: "!") { return nil }
                }
                endRun()
                depth += 1
                i += 1
            case UInt8(ascii: ")"):
                endRun()
                depth -= 1
                i += 1
                if isOptionalAfter(p, i) && depth == 0 { endRun() }
            case UInt8(ascii: "|"):
                if depth == 0 { return nil }
                i += 1
            case UInt8(ascii: "?"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "."), UInt8(ascii: "^"),
                 UInt8(ascii: "$"):
                endRun()
                i += 1
            case UInt8(ascii: "{"):
                endRun()
                while i < p.count && p[i] != UInt8(ascii: "}") { i += 1 }
                i += 1
            default:
                if depth == 0 {
                    if c >= 0x80 || c < 0x20 || isOptionalAfter(p, i + 1) { endRun() } else { run.append(ASCII.lower(c)) }
                }
                i += 1
            }
        }
        endRun()
        return best.count >= 3 ? best : nil
    }

    /// Whether a quantifier that allows zero repetitions (`?`, `*`, `{0`, `{,`) follows at `i`.
    private static func isOptionalAfter(_ p: [UInt8], _ i: Int) -> Bool {
        guard i < p.count else { return false }
        switch p[i] {
        case UInt8(ascii: "?"), UInt8(ascii: "*"): return true
        case UInt8(ascii: "{"): return i + 1 < p.count && (p[i + 1] == UInt8(ascii: "0") || p[i + 1] == UInt8(ascii: ","))
        default: return false
        }
    }
}
