import Foundation
import Shared

/// A journal pattern rule, loaded from YAML (docs/diagnosis.md, "Journal rules"): which
/// entries it matches, how matches are grouped and counted, and what the finding says.
public struct JournalRule: Sendable {
    /// One way an entry can match: field filters, literal prefilter, then the regex.
    /// A class, immutable after load, so the hot path hands out one reference instead of
    /// copying (and retaining) every field per entry.
    final class Matcher: Sendable {
        /// `_TRANSPORT` values (any of), or nil for any. Arrays, not sets: one or two short
        /// strings compare faster than they hash.
        let transports: [String]?
        /// `SYSLOG_IDENTIFIER` values (any of), or nil for any.
        let identifiers: [String]?
        /// `_SYSTEMD_UNIT`/`_SYSTEMD_USER_UNIT` names; a trailing `*` matches a prefix.
        let units: [String]?
        /// `MESSAGE_ID` values (any of, lower-case).
        let messageIDs: [String]?
        /// Only entries with `PRIORITY` at most this (3 = err or worse).
        let maxPriority: Int?
        /// Literal substrings of the message, any of which must occur (checked before the regex).
        let contains: [[UInt8]]
        /// Longest message prefix a regex is run on.
        static let maxRegexBytes = 8192
        /// `contains` laid end to end, with each needle's range: the hot loop then touches one
        /// buffer and retains nothing per needle.
        private let needleBytes: [UInt8]
        private let needleRanges: [Range<Int>]
        /// The message regex, whose named groups become captures.
        let regex: MessagePattern?
        /// Messages matching any of these are not counted.
        let exclude: [MessagePattern]

        /// A matcher; `contains` needles are laid out for the hot loop here.
        init(transports: [String]?, identifiers: [String]?, units: [String]?, messageIDs: [String]?, maxPriority: Int?,
             contains: [[UInt8]], regex: MessagePattern?, exclude: [MessagePattern]) {
            self.transports = transports; self.identifiers = identifiers; self.units = units; self.messageIDs = messageIDs
            self.maxPriority = maxPriority; self.contains = contains; self.regex = regex; self.exclude = exclude
            var bytes: [UInt8] = [], ranges: [Range<Int>] = []
            for n in contains where !n.isEmpty {
                ranges.append(bytes.count..<(bytes.count + n.count))
                bytes += n
            }
            needleBytes = bytes
            needleRanges = ranges
        }

        /// True when the matcher has `contains` needles.
        var hasNeedles: Bool { !needleRanges.isEmpty }

        /// The captures when `entry` matches, else nil. `needlesChecked`: the caller already
        /// found one of the `contains` needles in the message (`NeedleSet`).
        func match(_ entry: JournalEntry, needlesChecked: Bool = false) -> [String: String]? {
            if let transports, !transports.contains(entry.transport ?? "") { return nil }
            if let identifiers, !identifiers.contains(entry.identifier ?? "") { return nil }
            if let maxPriority, (entry.priority ?? 6) > maxPriority { return nil }
            if let messageIDs, !messageIDs.contains(entry.messageID ?? "") { return nil }
            if let units, !Self.unitMatches(units, entry.unit) && !Self.unitMatches(units, entry.userUnit) { return nil }
            guard let message = entry.message else { return messageIDs != nil && contains.isEmpty && regex == nil ? [:] : nil }
            if !needlesChecked, !needleRanges.isEmpty, !containsAnyNeedle(message) { return nil }
            /// Captures of the latest match (non-empty values win).
            // Regexes see at most the first `maxRegexBytes` of a message: the facts rules look
            // for come first, and a core dump's stack trace or a hostile line stays cheap.
            let text = message.utf8.count > Self.maxRegexBytes
                ? String(decoding: message.utf8.prefix(Self.maxRegexBytes), as: UTF8.self) : message
            var captures: [String: String] = [:]
            if let regex {
                guard let c = regex.match(text) else { return nil }
                captures = c
            }
            for x in exclude where x.match(text) != nil { return nil }
            return captures
        }

        /// True when `unit` equals one of `patterns` (a trailing `*` matches a prefix).
        static func unitMatches(_ patterns: [String], _ unit: String?) -> Bool {
            guard let unit else { return false }
            for p in patterns {
                if p.hasSuffix("*") ? unit.hasPrefix(p.dropLast()) : unit == p { return true }
            }
            return false
        }

        /// True when the message holds one of the `contains` needles. A substring search over the
        /// UTF-8 bytes (memchr for the first byte, then memcmp): the hot path, so no Foundation,
        /// no regex and no reference counting here.
        func containsAnyNeedle(_ message: String) -> Bool {
            let found = message.utf8.withContiguousStorageIfAvailable { hay in scan(hay) }
            if let found { return found }
            var copy = message
            return copy.withUTF8 { scan($0) }
        }

        private func scan(_ hay: UnsafeBufferPointer<UInt8>) -> Bool {
            needleBytes.withUnsafeBufferPointer { all in
                for r in needleRanges where Self.find(UnsafeBufferPointer(rebasing: all[r]), in: hay) { return true }
                return false
            }
        }

        /// The same over explicit needles (tests and the benchmark).
        static func containsAny(_ message: String, _ needles: [[UInt8]]) -> Bool {
            var message = message
            return message.withUTF8 { hay in
                for n in needles where n.withUnsafeBufferPointer({ find($0, in: hay) }) { return true }
                return false
            }
        }

        /// True when `needle` occurs in `hay`.
        static func find(_ needle: UnsafeBufferPointer<UInt8>, in hay: UnsafeBufferPointer<UInt8>) -> Bool {
            guard let base = hay.baseAddress, let nbase = needle.baseAddress, needle.count > 0, needle.count <= hay.count else { return false }
            let first = Int32(nbase.pointee)
            var p = base
            let end = base + (hay.count - needle.count + 1)
            while p < end {
                guard let q = memchr(p, first, end - p) else { return false }
                let qp = UnsafePointer(q.assumingMemoryBound(to: UInt8.self))
                if memcmp(qp, nbase, needle.count) == 0 { return true }
                p = qp + 1
            }
            return false
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
    /// Severity before escalation.
    let severity: Severity
    /// Confidence before escalation.
    let confidence: Double
    /// Any of these matches an entry.
    let matchers: [Matcher]
    /// Capture or field names whose values split matches into separate findings.
    let groupBy: [String]
    /// Matches needed (within `window` when set) before anything is raised.
    let thresholdCount: Int
    /// Sliding window for `thresholdCount`, in microseconds.
    let window: Int64?
    /// Severity steps by match count, ascending.
    let escalations: [Escalation]
    /// What the finding is about (a unit, device, mount, interface, account), nil when the rule
    /// does not say; generic unit findings fold into a specific one with the same subject (`FindingFolding`).
    let subject: Template?
    /// The finding's title for the user.
    let title: Template
    /// The finding's detail for the technician.
    let detail: Template
    /// What the user can do.
    let userAdvice: Template
    /// What the technician should do.
    let technicianAdvice: Template
    /// Real-format lines that must and must not match, checked at load.
    public internal(set) var examples = RuleExamples(matching: [], nearMisses: [])

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
