/// Why the diagnosis engine could not start or could not read a bundle. One error type for the
/// whole domain: `code` is stable (tests and the collector switch on it), `message` names the
/// input (file and line for rules) and says what to fix.
public struct DiagnosisError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Stable machine-readable reasons.
    public enum Code: String, Sendable, Codable, CaseIterable {
        /// A rule file is not valid YAML.
        case invalidYAML = "invalid_yaml"
        /// A rule file is YAML but breaks the rule schema (unknown key, bad value, bad regex…).
        case invalidRule = "invalid_rule"
        /// Two rules share an id.
        case duplicateRule = "duplicate_rule"
        /// A rules folder or file could not be read, or the built-in rules are missing.
        case rulesUnavailable = "rules_unavailable"
        /// The bundle could not be read (wraps `BundleError`).
        case unreadableBundle = "unreadable_bundle"
    }

    /// The stable reason.
    public let code: Code
    /// A sentence for people: what was wrong, where, and what to do.
    public let message: String

    /// Creates an error with a stable `code` and a human `message`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }
}
