import Shared

/// What a rule is, for documentation and a future rules page: one line per rule.
public struct RuleDescription: Sendable, Equatable, Codable {
    /// How a rule is written.
    public enum Kind: String, Sendable, Codable {
        /// Swift code over the typed members (`disks.json`, `memory.json`…).
        case metric
        /// A YAML pattern over journal entries.
        case journal
    }
    /// Stable id (`disk.space_low`), also the finding's `ruleID`.
    public var id: String
    /// What the findings are about.
    public var category: FindingCategory
    /// Metric or journal.
    public var kind: Kind
    /// One sentence: what the rule looks for.
    public var summary: String
    /// Where the rule comes from: `built-in` or the path of the YAML file.
    public var source: String

    /// Creates a description.
    public init(id: String, category: FindingCategory, kind: Kind, summary: String, source: String = "built-in") {
        self.id = id; self.category = category; self.kind = kind; self.summary = summary; self.source = source
    }
}
