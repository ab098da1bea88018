import Shared

/// Real-format journal lines that prove a rule does what it says: lines that must match it
/// and near misses that must not. They live in `<rule file>.examples.yaml` beside the rule
/// (docs/diagnosis.md, "Examples"); the loader refuses a rule without them, or whose lines
/// do not behave.
public struct RuleExamples: Sendable {
    /// Entries each of which, alone, matches the rule.
    public var matching: [JournalEntry]
    /// Entries that look alike but must not match the rule.
    public var nearMisses: [JournalEntry]

    /// The fewest matching lines a rule needs.
    static let minimumMatching = 2
    /// The fewest near misses a rule needs.
    static let minimumNearMisses = 1
}
