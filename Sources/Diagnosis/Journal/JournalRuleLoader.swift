import Foundation
import Shared
import Yams

/// Reads and validates YAML rule files. Every mistake becomes a `DiagnosisError` naming the
/// file, the line and what to write instead; nothing is half-loaded.
struct JournalRuleLoader {
    /// Regex engine for the compiled patterns.
    var engine: RegexEngine

    /// Keys a rule mapping may hold.
    static let ruleKeys: [String] = ["id", "category", "summary", "severity", "confidence", "match", "group_by", "threshold",
                                     "escalate", "subject", "title", "detail", "user_advice", "technician_advice"]
    /// Keys a `match` mapping may hold.
    static let matchKeys: [String] = ["transport", "identifier", "unit", "message_id", "max_priority", "contains", "regex", "exclude"]
    /// Keys of `threshold`.
    static let thresholdKeys: [String] = ["count", "within"]
    /// Keys of an `escalate` item.
    static let escalateKeys: [String] = ["count", "severity", "confidence"]
    /// syslog priority names, by number.
    static let priorityNames = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]

    /// Every `*.yaml`/`*.yml` rule file of `directory`, sorted by name, each with its examples
    /// file (`NAME.examples.yaml` beside it), which is not a rule file itself.
    /// - Throws: `DiagnosisError.rulesUnavailable` when the folder cannot be listed; the errors of `loadFile`.
    func loadDirectory(_ directory: String) throws -> [JournalRule] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: directory) } catch {
            throw DiagnosisError(.rulesUnavailable, "cannot list rules folder \(directory): \(error.localizedDescription); check the path and its permissions")
        }
        var rules: [JournalRule] = []
        for name in names.sorted() where (name.hasSuffix(".yaml") || name.hasSuffix(".yml")) && !Self.isExamplesFile(name) {
            rules += try loadFile(directory + "/" + name)
        }
        return rules
    }

    /// One rule file and its examples file beside it.
    /// - Throws: `DiagnosisError` (`.rulesUnavailable`, `.invalidYAML`, `.invalidRule`, naming the examples
    ///   file when the examples are missing or misbehave).
    func loadFile(_ path: String) throws -> [JournalRule] {
        guard let text = try Self.text(path, required: true) else { return [] }
        let folder = (path as NSString).deletingLastPathComponent
        let examplesPath = (folder.isEmpty ? "" : folder + "/") + Self.examplesName(for: (path as NSString).lastPathComponent)
        return try load(yaml: text, source: path, examples: try Self.text(examplesPath, required: false), examplesSource: examplesPath)
    }

    /// The UTF-8 text of `path`; nil when it does not exist and is not `required`.
    private static func text(_ path: String, required: Bool) throws -> String? {
        guard let data = FileManager.default.contents(atPath: path) else {
            if !required && !FileManager.default.fileExists(atPath: path) { return nil }
            throw DiagnosisError(.rulesUnavailable, "cannot read rule file \(path); check it exists and is readable")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw DiagnosisError(.invalidYAML, "\(path) is not UTF-8 text; save it as UTF-8")
        }
        return text
    }

    /// Rules from YAML text (one rule mapping, or a mapping with a `rules:` list) with their
    /// examples (the text of the examples file, nil when there is none: refused).
    /// - Throws: `DiagnosisError` naming `source` or `examplesSource`, the line and what to fix.
    func load(yaml: String, source: String, examples: String?, examplesSource: String) throws -> [JournalRule] {
        try attachExamples(try rules(yaml: yaml, source: source), yaml: examples, source: source, examplesSource: examplesSource)
    }

    /// Rules from YAML text without their examples (the caller attaches them).
    private func rules(yaml: String, source: String) throws -> [JournalRule] {
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw DiagnosisError(.invalidYAML, "\(source): not valid YAML: \(error); fix the indentation or quoting")
        }
        guard let root, let mapping = root.mapping else {
            throw DiagnosisError(.invalidRule, "\(source): expected a rule (a mapping with id, category, match…) or `rules:` with a list of them")
        }
        if let list = mapping["rules"] {
            guard mapping.count == 1 else {
                throw fail(source, root, "a file with `rules:` holds nothing else; move the other keys into the rules")
            }
            guard let seq = list.sequence, !seq.isEmpty else { throw fail(source, list, "`rules:` must be a non-empty list of rules") }
            return try seq.map { try rule($0, source: source) }
        }
        return [try rule(root, source: source)]
    }

    // MARK: - Rule

    private func rule(_ node: Node, source: String) throws -> JournalRule {
        guard let m = node.mapping else { throw fail(source, node, "a rule must be a mapping with id, category, match…") }
        try checkKeys(m, Self.ruleKeys, in: "rule", source: source)
        let id = try string(m, "id", source: source, node: node)
        let where_ = "rule '\(id)'"
        guard id.range(of: #"^[a-z0-9_]+(\.[a-z0-9_]+)+$"#, options: .regularExpression) != nil else {
            throw fail(source, m["id"]!, "\(where_): id must look like `category.what_happened` (lower-case letters, digits, _ and dots)")
        }
        let categoryText = try string(m, "category", source: source, node: node)
        guard let category = FindingCategory(rawValue: categoryText) else {
            throw fail(source, m["category"]!, "\(where_): unknown category '\(categoryText)'; use one of \(FindingCategory.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let summary = try string(m, "summary", source: source, node: node)
        let severity = try severityValue(m["severity"], key: "severity", in: where_, source: source, node: node)
        let confidence = try confidenceValue(m["confidence"], in: where_, source: source) ?? 0.8

        guard let matchNode = m["match"] else { throw fail(source, node, "\(where_): missing `match` (which entries the rule looks at)") }
        let matchNodes = matchNode.sequence.map(Array.init) ?? [matchNode]
        guard !matchNodes.isEmpty else { throw fail(source, matchNode, "\(where_): `match` is an empty list") }
        let matchers = try matchNodes.map { try matcher($0, in: where_, source: source) }
        let captures = Set(matchers.flatMap { $0.regex?.names ?? [] })

        var groupBy: [String] = []
        if let g = m["group_by"] {
            groupBy = try stringList(g, key: "group_by", in: where_, source: source)
            for name in groupBy where !captures.contains(name) && !JournalFields.isField(name) {
                throw fail(source, g, "\(where_): group_by '\(name)' is neither a named regex group (?<\(name)>…) nor an entry field (\(JournalFields.names.sorted().joined(separator: ", ")), coredump.NAME)")
            }
        }

        var count = 1
        var window: Int64?
        if let t = m["threshold"] {
            guard let tm = t.mapping else { throw fail(source, t, "\(where_): threshold must be a mapping like {count: 3, within: 10m}") }
            try checkKeys(tm, Self.thresholdKeys, in: "\(where_) threshold", source: source)
            if let c = tm["count"] {
                guard let n = c.int, n >= 1 else { throw fail(source, c, "\(where_): threshold count must be a whole number ≥ 1") }
                count = n
            }
            if let w = tm["within"] {
                guard let text = w.string, let seconds = Self.duration(text), seconds > 0, seconds <= Self.maxWindowSeconds else {
                    throw fail(source, w, "\(where_): threshold within '\(w.string ?? "")' is not a duration from 1s to 366d; write e.g. 30s, 10m, 2h or 1d")
                }
                window = Int64(seconds * 1_000_000)
            }
        }

        var escalations: [JournalRule.Escalation] = []
        if let e = m["escalate"] {
            guard let seq = e.sequence else { throw fail(source, e, "\(where_): escalate must be a list like [{count: 10, severity: critical}]") }
            for item in seq {
                guard let im = item.mapping else { throw fail(source, item, "\(where_): each escalate item is a mapping {count, severity, confidence}") }
                try checkKeys(im, Self.escalateKeys, in: "\(where_) escalate", source: source)
                guard let c = im["count"]?.int, c >= 1 else { throw fail(source, item, "\(where_): escalate needs count, a whole number ≥ 1") }
                let s = try severityValue(im["severity"], key: "escalate severity", in: where_, source: source, node: item)
                escalations.append(.init(count: c, severity: s, confidence: try confidenceValue(im["confidence"], in: where_, source: source)))
            }
            escalations.sort { $0.count < $1.count }
        }

        let available = captures.union(JournalFields.names).union(JournalFields.computed).union(groupBy)
        var subject: Template?
        /// Parses the template under `key` and checks its placeholders resolve.
        func template(_ key: String) throws -> Template {
            guard let n = m[key], let text = n.string, !text.isEmpty else {
                throw fail(source, node, "\(where_): missing `\(key)` text")
            }
            let t: Template
            do { t = try Template(text) } catch { throw fail(source, n, "\(where_): \(key) has \(error.message)") }
            for name in t.requiredNames where !available.contains(name) && !name.hasPrefix("coredump.") {
                throw fail(source, n, "\(where_): \(key) uses {{\(name)}}, which is not a capture (\(captures.sorted().joined(separator: ", "))), an entry field or one of \(JournalFields.computed.sorted().joined(separator: ", ")); add a fallback like {{\(name)|something}} or fix the name")
            }
            return t
        }
        if m["subject"] != nil { subject = try template("subject") }
        return JournalRule(id: id, category: category, summary: summary, source: source, severity: severity, confidence: confidence,
                           matchers: matchers, groupBy: groupBy, thresholdCount: count, window: window, escalations: escalations,
                           subject: subject,
                           title: try template("title"), detail: try template("detail"), userAdvice: try template("user_advice"),
                           technicianAdvice: try template("technician_advice"))
    }

    private func matcher(_ node: Node, in where_: String, source: String) throws -> JournalRule.Matcher {
        guard let m = node.mapping else { throw fail(source, node, "\(where_): each match is a mapping (transport, identifier, contains, regex…)") }
        try checkKeys(m, Self.matchKeys, in: "\(where_) match", source: source)
        var transports: [String]?, identifiers: [String]?, units: [String]?, messageIDs: [String]?, maxPriority: Int?
        var contains: [[UInt8]] = [], regex: MessagePattern?, exclude: [MessagePattern] = []
        if let n = m["transport"] { transports = try stringList(n, key: "transport", in: where_, source: source) }
        if let n = m["identifier"] { identifiers = try stringList(n, key: "identifier", in: where_, source: source) }
        if let n = m["unit"] { units = try stringList(n, key: "unit", in: where_, source: source) }
        if let n = m["message_id"] {
            let ids = try stringList(n, key: "message_id", in: where_, source: source).map { $0.lowercased() }
            for id in ids where id.count != 32 || !id.allSatisfy(\.isHexDigit) {
                throw fail(source, n, "\(where_): message_id '\(id)' is not 32 hex digits (as in `journalctl -o verbose`)")
            }
            messageIDs = ids
        }
        if let n = m["max_priority"] {
            if let i = n.int, (0...7).contains(i) { maxPriority = i }
            else if let s = n.string, let i = Self.priorityNames.firstIndex(of: s) { maxPriority = i }
            else { throw fail(source, n, "\(where_): max_priority must be 0–7 or a name (\(Self.priorityNames.joined(separator: ", ")))") }
        }
        if let n = m["contains"] {
            contains = try stringList(n, key: "contains", in: where_, source: source).map { Array($0.utf8) }
            if contains.contains(where: \.isEmpty) { throw fail(source, n, "\(where_): contains has an empty string, which matches everything") }
        }
        if let n = m["regex"] {
            guard let text = n.string, !text.isEmpty else { throw fail(source, n, "\(where_): regex must be a non-empty string") }
            regex = try pattern(text, node: n, in: where_, source: source)
        }
        if let n = m["exclude"] {
            exclude = try stringList(n, key: "exclude", in: where_, source: source).map { try pattern($0, node: n, in: where_, source: source) }
        }
        if transports == nil && identifiers == nil && units == nil && messageIDs == nil && contains.isEmpty && regex == nil {
            throw fail(source, node, "\(where_): a match needs at least one of transport, identifier, unit, message_id, contains or regex")
        }
        return JournalRule.Matcher(transports: transports, identifiers: identifiers, units: units, messageIDs: messageIDs,
                                   maxPriority: maxPriority, contains: contains, regex: regex, exclude: exclude)
    }

    private func pattern(_ text: String, node: Node, in where_: String, source: String) throws -> MessagePattern {
        do { return try MessagePattern(text, engine: engine) } catch {
            throw fail(source, node, "\(where_): regex '\(text)' does not compile (\(error)); check brackets and escape backslashes in YAML single quotes")
        }
    }

    // MARK: - Values

    private func checkKeys(_ m: Node.Mapping, _ known: [String], in what: String, source: String) throws {
        for (k, _) in m {
            guard let key = k.string, known.contains(key) else {
                throw fail(source, k, "unknown key '\(k.string ?? "?")' in \(what); known keys are \(known.joined(separator: ", "))")
            }
        }
    }

    private func string(_ m: Node.Mapping, _ key: String, source: String, node: Node) throws -> String {
        guard let v = m[key] else { throw fail(source, node, "missing `\(key)`") }
        guard let s = v.scalar?.string, !s.isEmpty else { throw fail(source, v, "`\(key)` must be a non-empty text") }
        return s
    }

    private func stringList(_ node: Node, key: String, in where_: String, source: String) throws -> [String] {
        if let s = node.scalar?.string { return [s] }
        guard let seq = node.sequence else { throw fail(source, node, "\(where_): \(key) must be a text or a list of texts") }
        return try seq.map { item in
            guard let s = item.scalar?.string else { throw fail(source, item, "\(where_): every \(key) item must be a text") }
            return s
        }
    }

    private func severityValue(_ node: Node?, key: String, in where_: String, source: String, node parent: Node) throws -> Severity {
        guard let node else { throw fail(source, parent, "\(where_): missing `\(key)`") }
        guard let s = node.string, let v = Severity(rawValue: s) else {
            throw fail(source, node, "\(where_): \(key) '\(node.string ?? "")' is not one of \(Severity.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return v
    }

    private func confidenceValue(_ node: Node?, in where_: String, source: String) throws -> Double? {
        guard let node else { return nil }
        guard let d = node.float, (0...1).contains(d) else { throw fail(source, node, "\(where_): confidence must be a number from 0 to 1") }
        return d
    }

    /// An `invalid_rule` error at `node`'s line of `source`.
    func fail(_ source: String, _ node: Node, _ message: String) -> DiagnosisError {
        let line = node.mark.map { ":\($0.line)" } ?? ""
        return DiagnosisError(.invalidRule, "\(source)\(line): \(message)")
    }

    /// Longest threshold window a rule may ask for (a year and a day): longer is surely a typo,
    /// and far longer would overflow the microsecond arithmetic.
    static let maxWindowSeconds = 366.0 * 86_400

    /// `90s`, `10m`, `2h`, `1d`, `1h30m` → seconds.
    static func duration(_ text: String) -> Double? {
        var total = 0.0
        var number = ""
        var sawUnit = false
        for ch in text.trimmingCharacters(in: .whitespaces) {
            if ch.isNumber || ch == "." { number.append(ch); continue }
            guard let n = Double(number) else { return nil }
            switch ch {
            case "s": total += n
            case "m": total += n * 60
            case "h": total += n * 3600
            case "d": total += n * 86400
            default: return nil
            }
            number = ""
            sawUnit = true
        }
        guard number.isEmpty, sawUnit else { return nil }
        return total
    }
}
