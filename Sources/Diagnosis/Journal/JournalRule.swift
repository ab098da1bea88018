import Foundation
import Shared

/// A journal pattern rule, loaded from YAML (docs/diagnosis.md, "Journal rules"): which
/// entries it matches, how matches are grouped and counted, and what the finding says.
public struct JournalRule: Sendable {
    /// One way an entry can match: field filters, literal prefilter, then the regex.
    struct Matcher: Sendable {
        /// `_TRANSPORT` values (any of), or nil for any.
        var transports: Set<String>?
        /// `SYSLOG_IDENTIFIER` values (any of), or nil for any.
        var identifiers: Set<String>?
        /// `_SYSTEMD_UNIT`/`_SYSTEMD_USER_UNIT` names; a trailing `*` matches a prefix.
        var units: [String]?
        /// `MESSAGE_ID` values (any of, lower-case).
        var messageIDs: Set<String>?
        /// Only entries with `PRIORITY` at most this (3 = err or worse).
        var maxPriority: Int?
        /// Literal substrings of the message, any of which must occur (checked before the regex).
        var contains: [[UInt8]]
        /// The message regex, whose named groups become captures.
        var regex: MessagePattern?
        /// Messages matching any of these are not counted.
        var exclude: [MessagePattern]

        /// The captures when `entry` matches, else nil.
        func match(_ entry: JournalEntry) -> [String: String]? {
            if let transports, !transports.contains(entry.transport ?? "") { return nil }
            if let identifiers, !identifiers.contains(entry.identifier ?? "") { return nil }
            if let maxPriority, (entry.priority ?? 6) > maxPriority { return nil }
            if let messageIDs, !messageIDs.contains(entry.messageID ?? "") { return nil }
            if let units, !Self.unitMatches(units, entry.unit) && !Self.unitMatches(units, entry.userUnit) { return nil }
            guard let message = entry.message else { return messageIDs != nil && contains.isEmpty && regex == nil ? [:] : nil }
            if !contains.isEmpty, !Self.containsAny(message, contains) { return nil }
            var captures: [String: String] = [:]
            if let regex {
                guard let c = regex.match(message) else { return nil }
                captures = c
            }
            for x in exclude where x.match(message) != nil { return nil }
            return captures
        }

        static func unitMatches(_ patterns: [String], _ unit: String?) -> Bool {
            guard let unit else { return false }
            for p in patterns {
                if p.hasSuffix("*") ? unit.hasPrefix(p.dropLast()) : unit == p { return true }
            }
            return false
        }

        /// A substring search over the UTF-8 bytes (memchr for the first byte, then memcmp): the
        /// hot path, so no Foundation and no regex here.
        static func containsAny(_ message: String, _ needles: [[UInt8]]) -> Bool {
            var message = message
            return message.withUTF8 { hay in
                for n in needles where find(n, in: hay) { return true }
                return false
            }
        }

        static func find(_ needle: [UInt8], in hay: UnsafeBufferPointer<UInt8>) -> Bool {
            guard let base = hay.baseAddress, let first = needle.first, needle.count <= hay.count else { return false }
            return needle.withUnsafeBufferPointer { nb in
                guard let nbase = nb.baseAddress else { return false }
                var p = base
                let end = base + (hay.count - nb.count + 1)
                while p < end {
                    guard let q = memchr(p, Int32(first), end - p) else { return false }
                    let qp = UnsafePointer(q.assumingMemoryBound(to: UInt8.self))
                    if memcmp(qp, nbase, nb.count) == 0 { return true }
                    p = qp + 1
                }
                return false
            }
        }
    }

    /// Raises severity (and optionally confidence) once a group has this many matches.
    struct Escalation: Sendable, Equatable {
        var count: Int
        var severity: Severity
        var confidence: Double?
    }

    /// Stable id, also the findings' `ruleID`.
    public let id: String
    /// Category of the findings.
    public let category: FindingCategory
    /// One sentence: what the rule looks for.
    public let summary: String
    /// Where it was loaded from.
    public let source: String
    let severity: Severity
    let confidence: Double
    let matchers: [Matcher]
    /// Capture or field names whose values split matches into separate findings.
    let groupBy: [String]
    /// Matches needed (within `window` when set) before anything is raised.
    let thresholdCount: Int
    /// Sliding window for `thresholdCount`, in microseconds.
    let window: Int64?
    let escalations: [Escalation]
    let title: Template
    let detail: Template
    let userAdvice: Template
    let technicianAdvice: Template

    /// Id, category and summary.
    public var description: RuleDescription {
        RuleDescription(id: id, category: category, kind: .journal, summary: summary, source: source)
    }
}

/// Names every entry offers to `group_by` and templates, besides a rule's own captures.
enum JournalFields {
    /// Entry fields by name.
    static let names: Set<String> = ["identifier", "unit", "user_unit", "comm", "exe", "pid", "transport", "message_id",
                                     "priority", "message", "boot"]
    /// Values the finding computes (counts and times), usable in templates only.
    static let computed: Set<String> = ["count", "first_seen", "last_seen", "within", "threshold", "rule"]

    /// The value of field `name` of `entry` (`coredump.EXE` for systemd-coredump fields).
    static func value(_ name: String, of entry: JournalEntry) -> String? {
        switch name {
        case "identifier": return entry.identifier
        case "unit": return entry.unit
        case "user_unit": return entry.userUnit
        case "comm": return entry.comm
        case "exe": return entry.exe
        case "pid": return entry.pid.map(String.init)
        case "transport": return entry.transport
        case "message_id": return entry.messageID
        case "priority": return entry.priority.map(String.init)
        case "message": return entry.message
        case "boot": return entry.bootID
        default:
            if name.hasPrefix("coredump.") { return entry.coredump?[String(name.dropFirst("coredump.".count))] }
            return nil
        }
    }

    /// True when `name` is an entry field (including `coredump.*`).
    static func isField(_ name: String) -> Bool {
        names.contains(name) || (name.hasPrefix("coredump.") && name.count > "coredump.".count)
    }
}
