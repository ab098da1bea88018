import Foundation

/// Which optional redactions are on. Secrets (passwords, tokens, keys…) are always redacted;
/// these identify people and machines and are off unless an organisation turns them on.
struct RedactionOptions: Sendable, Equatable {
    var emails = false
    var usernames = false
    var ipAddresses = false
    var macAddresses = false
    var hostnames = false
    /// Folder of extra rule files an organisation adds.
    var rulesDirectory: String?
}

/// Removes secrets from free text before anything is written. Thread-safe: probes on several
/// threads share one redactor, which counts replacements per rule for the manifest.
///
/// INTERFACE PLACEHOLDER — replaced by the redaction work (rules, counting, consistent mapping).
final class Redactor: Sendable {
    init(options: RedactionOptions = RedactionOptions(), identities: RedactionIdentities = .init()) throws {}

    var mapping: [String: String] { [:] }

    /// `text` with every secret replaced by a `[REDACTED:rule]` marker (or a consistent
    /// placeholder for opt-in identifiers).
    func redact(_ text: String) -> String { text }

    /// Rule name → number of replacements so far.
    var counts: [String: Int] { [:] }
}

/// Names the opt-in identifier rules replace (the host's users and hostnames).
struct RedactionIdentities: Sendable {
    var usernames: [String] = []
    var hostnames: [String] = []
}
