import Foundation
import Shared
import Yams

/// Reading and checking the examples file of a rule file.
extension JournalRuleLoader {
    /// Keys of one rule's entry in an examples file.
    static let examplesKeys: [String] = ["match", "no_match"]
    /// Keys of one example line.
    static let exampleLineKeys: [String] = ["message", "transport", "identifier", "unit", "user_unit", "message_id", "priority"]

    /// The examples file that belongs to rule file `name` (`disk.no_space.yaml` → `disk.no_space.examples.yaml`).
    static func examplesName(for name: String) -> String {
        let stem = name.hasSuffix(".yaml") ? String(name.dropLast(5)) : name.hasSuffix(".yml") ? String(name.dropLast(4)) : name
        return stem + ".examples.yaml"
    }

    /// True for an examples file, which is not a rule file.
    static func isExamplesFile(_ name: String) -> Bool {
        name.hasSuffix(".examples.yaml") || name.hasSuffix(".examples.yml")
    }

    /// Reads the examples of `rules` from `yaml` (nil: there is no examples file), checks every
    /// rule has enough of them and that each behaves, and returns the rules with their examples.
    /// - Throws: `DiagnosisError.invalidRule` naming the examples file and line, or the rule file
    ///   when the examples are missing.
    func attachExamples(_ rules: [JournalRule], yaml: String?, source: String, examplesSource: String) throws -> [JournalRule] {
        guard let yaml else {
            throw DiagnosisError(.invalidRule, "\(source): rule '\(rules.first?.id ?? "?")' has no examples; write \(examplesSource) beside it with at least \(RuleExamples.minimumMatching) real-format `match` lines and \(RuleExamples.minimumNearMisses) `no_match` near miss per rule (docs/diagnosis.md, \"Examples\")")
        }
        let root: Node?
        do { root = try Yams.compose(yaml: yaml) } catch {
            throw DiagnosisError(.invalidYAML, "\(examplesSource): not valid YAML: \(error); fix the indentation or quoting")
        }
        guard let root, let mapping = root.mapping else {
            throw DiagnosisError(.invalidRule, "\(examplesSource): expected a mapping from rule id to {match: […], no_match: […]}")
        }
        let ids = Set(rules.map(\.id))
        for (k, _) in mapping where !ids.contains(k.string ?? "") {
            throw fail(examplesSource, k, "examples for '\(k.string ?? "?")', which is not a rule of \(source) (its rules: \(rules.map(\.id).joined(separator: ", ")))")
        }
        return try rules.map { rule in
            guard let node = mapping[rule.id] else {
                throw fail(examplesSource, root, "no examples for rule '\(rule.id)'; add `\(rule.id): {match: […], no_match: […]}`")
            }
            guard let m = node.mapping else { throw fail(examplesSource, node, "rule '\(rule.id)': examples must be a mapping with match and no_match") }
            for (k, _) in m where !Self.examplesKeys.contains(k.string ?? "") {
                throw fail(examplesSource, k, "unknown key '\(k.string ?? "?")' in the examples of '\(rule.id)'; known keys are \(Self.examplesKeys.joined(separator: ", "))")
            }
            let matching = try lines(m["match"], key: "match", rule: rule.id, source: examplesSource, parent: node)
            let misses = try lines(m["no_match"], key: "no_match", rule: rule.id, source: examplesSource, parent: node)
            guard matching.count >= RuleExamples.minimumMatching else {
                throw fail(examplesSource, m["match"] ?? node, "rule '\(rule.id)' has \(matching.count) `match` lines; give at least \(RuleExamples.minimumMatching) real-format lines")
            }
            guard misses.count >= RuleExamples.minimumNearMisses else {
                throw fail(examplesSource, m["no_match"] ?? node, "rule '\(rule.id)' has no `no_match` line; give at least \(RuleExamples.minimumNearMisses) near miss that must not match")
            }
            for (entry, line) in matching where !rule.matches(entry) {
                throw fail(examplesSource, line, "rule '\(rule.id)' does not match its `match` line \"\(entry.message ?? "")\"; fix the rule or the line")
            }
            for (entry, line) in misses where rule.matches(entry) {
                throw fail(examplesSource, line, "rule '\(rule.id)' matches its `no_match` line \"\(entry.message ?? "")\"; narrow the rule (exclude, regex) or fix the line")
            }
            var r = rule
            r.examples = RuleExamples(matching: matching.map(\.0), nearMisses: misses.map(\.0))
            return r
        }
    }

    /// The example entries under `key`, each with its node (for line numbers).
    private func lines(_ node: Node?, key: String, rule: String, source: String, parent: Node) throws -> [(JournalEntry, Node)] {
        guard let node else { return [] }
        guard let seq = node.sequence else { throw fail(source, node, "rule '\(rule)': \(key) must be a list of lines like {transport: kernel, message: '…'}") }
        return try seq.enumerated().map { i, item in
            guard let m = item.mapping else { throw fail(source, item, "rule '\(rule)': each \(key) line is a mapping like {identifier: sshd, message: '…'}") }
            for (k, _) in m where !Self.exampleLineKeys.contains(k.string ?? "") {
                throw fail(source, k, "unknown key '\(k.string ?? "?")' in an example line of '\(rule)'; known keys are \(Self.exampleLineKeys.joined(separator: ", "))")
            }
            guard let message = m["message"]?.string, !message.isEmpty else { throw fail(source, item, "rule '\(rule)': an example line needs a non-empty message") }
            let transport = m["transport"]?.string ?? "journal"
            var priority: Int?
            if let p = m["priority"] {
                guard let n = p.int, (0...7).contains(n) else { throw fail(source, p, "rule '\(rule)': an example's priority must be 0–7") }
                priority = n
            }
            let entry = JournalEntry(realtime: 1_790_000_000_000_000 + Int64(i) * 1_000_000, bootID: "examples", priority: priority ?? 6,
                                     identifier: m["identifier"]?.string ?? (transport == "kernel" ? "kernel" : nil),
                                     unit: m["unit"]?.string, userUnit: m["user_unit"]?.string, transport: transport,
                                     messageID: m["message_id"]?.string?.lowercased(), message: message)
            return (entry, item)
        }
    }
}

extension JournalRule {
    /// True when one of the rule's matchers matches `entry` on its own (no threshold).
    func matches(_ entry: JournalEntry) -> Bool {
        matchers.contains { $0.match(entry) != nil }
    }
}
