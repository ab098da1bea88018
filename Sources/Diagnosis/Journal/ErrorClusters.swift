import Foundation
import Shared

/// Error-level journal messages that no rule explained, grouped by template (numbers, ids,
/// hex, paths masked), so the largest groups can be shown as low-severity "unrecognised"
/// findings beside the rules' own: a technician never starts from "nothing was recognised".
/// Holds counters and a few samples per template, never the journal.
final class ErrorClusters {
    /// One template's messages.
    struct Cluster {
        /// `SYSLOG_IDENTIFIER` (or the unit, or the transport) of the messages.
        var source: String
        /// The message with variable parts masked.
        var template: String
        var count = 0
        var firstSeen: Int64 = .max
        var lastSeen: Int64 = .min
        /// The first samples, and always the latest.
        var samples: [JournalEntry] = []
        var latest: JournalEntry?
    }

    /// Highest PRIORITY counted (3 = err, so emerg, alert, crit and err).
    static let maxPriority = 3
    /// Most templates tracked; later new ones are counted in `dropped`, not kept.
    static let maxClusters = 2000
    /// Bytes of a message the template is made from.
    static let templateBytes = 240
    /// Rule id of the findings.
    static let ruleID = DiagnosisEngine.unrecognisedRuleID

    private var clusters: [String: Cluster] = [:]
    private(set) var dropped = 0

    /// Counts `entry` when it is error-level (the caller passes only entries no rule matched).
    func add(_ entry: JournalEntry, maxSamples: Int) {
        guard let p = entry.priority, p <= Self.maxPriority, let message = entry.message, !message.isEmpty else { return }
        let source = entry.identifier ?? entry.unit ?? entry.transport ?? "journal"
        let template = Self.template(message)
        let key = source + "\u{1F}" + template
        if clusters[key] == nil {
            guard clusters.count < Self.maxClusters else { dropped += 1; return }
            clusters[key] = Cluster(source: source, template: template)
        }
        clusters[key]!.add(entry, maxSamples: maxSamples)
    }

    /// The `limit` largest clusters with at least `minimumCount` messages, as low-severity findings.
    func findings(limit: Int, minimumCount: Int, maxEvidence: Int) -> [Finding] {
        let largest = clusters.values.filter { $0.count >= minimumCount }
            .sorted { ($0.count, $0.lastSeen, $1.template) > ($1.count, $1.lastSeen, $0.template) }
            .prefix(limit)
        let iso = ISO8601DateFormatter()
        return largest.map { c in
            var evidence = c.samples.map(JournalScan.evidence)
            if let latest = c.latest, latest != c.samples.last { evidence.append(JournalScan.evidence(latest)) }
            evidence.append(Evidence(kind: "metric", label: "journal.matches",
                                     value: "\(c.count) error-level entries with this template (\(evidence.count) shown)"))
            let first = iso.string(from: Date(timeIntervalSince1970: Double(c.firstSeen) / 1e6))
            let last = iso.string(from: Date(timeIntervalSince1970: Double(c.lastSeen) / 1e6))
            let short = c.template.count > 90 ? String(c.template.prefix(90)) + "…" : c.template
            return Finding(
                ruleID: Self.ruleID, category: .other, severity: .low, confidence: 0.3,
                title: "\(c.source) logged \(c.count) errors no rule recognises: \(short)",
                detail: "\(c.count) error-level messages from \(c.source) share the template \"\(c.template)\" (numbers, ids and paths masked), "
                    + "from \(first) to \(last). No diagnosis rule explains them; they may be harmless or the clue to this problem.",
                userAdvice: "Nothing to do unless your problem started around \(last); mention it to your technician.",
                technicianAdvice: "Read them in context (`journalctl -t \(c.source) --since '\(first)'`); if they are the cause, "
                    + "write a rule for them (docs/diagnosis.md) so the next ticket is diagnosed.",
                evidence: evidence, lastSeen: Date(timeIntervalSince1970: Double(c.lastSeen) / 1e6), subject: c.source)
        }
    }

    /// `message` with variable parts masked: a token (letters, digits and `._:-/`) that holds a
    /// `/` becomes `<path>`, one that holds a digit becomes `#` (numbers, ids, hex, addresses),
    /// keeping trailing `:.-`; whitespace runs become one space; at most `templateBytes` are read.
    /// A byte scanner, no regex: it runs on every error-level entry no rule matched.
    static func template(_ message: String) -> String {
        if let t = message.utf8.withContiguousStorageIfAvailable({ template(bytes: $0) }) { return t }
        var copy = message
        return copy.withUTF8 { template(bytes: $0) }
    }

    /// The same over the message's UTF-8 bytes. A token is a run of the message's own bytes, so
    /// it is kept as a range, not copied (no allocation but the output's).
    private static func template(bytes message: UnsafeBufferPointer<UInt8>) -> String {
        let n = min(message.count, templateBytes)
        var out: [UInt8] = []
        out.reserveCapacity(n)
        var tokenStart = 0, tokenEnd = 0
        var digit = false, slash = false
        func flush() {
            guard tokenEnd > tokenStart else { return }
            if slash || digit {
                // Trailing punctuation ("sda2:", "retries.") stays: it belongs to the sentence, not the value.
                var end = tokenEnd
                while end > tokenStart, message[end - 1] == UInt8(ascii: ":") || message[end - 1] == UInt8(ascii: ".")
                        || message[end - 1] == UInt8(ascii: "-") { end -= 1 }
                if slash {
                    out.append(contentsOf: [UInt8(ascii: "<"), UInt8(ascii: "p"), UInt8(ascii: "a"), UInt8(ascii: "t"),
                                            UInt8(ascii: "h"), UInt8(ascii: ">")])
                } else {
                    out.append(UInt8(ascii: "#"))
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: message[end..<tokenEnd]))
            } else {
                out.append(contentsOf: UnsafeBufferPointer(rebasing: message[tokenStart..<tokenEnd]))
            }
            digit = false; slash = false
        }
        for i in 0..<n {
            let b = message[i]
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                 UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "-"), UInt8(ascii: "/"), 0x80...0xFF:
                if tokenEnd == tokenStart { tokenStart = i }
                tokenEnd = i + 1
                if b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") { digit = true }
                if b == UInt8(ascii: "/") { slash = true }
                continue
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                flush()
                if out.last != UInt8(ascii: " ") && !out.isEmpty { out.append(UInt8(ascii: " ")) }
            default:
                flush()
                out.append(b)
            }
            tokenStart = i + 1; tokenEnd = i + 1
        }
        flush()
        while out.last == UInt8(ascii: " ") { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }
}

extension ErrorClusters.Cluster {
    /// Counts one message: times and samples.
    mutating func add(_ entry: JournalEntry, maxSamples: Int) {
        count += 1
        firstSeen = min(firstSeen, entry.realtime)
        lastSeen = max(lastSeen, entry.realtime)
        if samples.count < max(1, maxSamples - 1) { samples.append(entry) }
        latest = entry
    }
}
