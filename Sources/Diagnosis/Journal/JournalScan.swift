import Foundation
import Shared

/// Which matchers can apply to an entry, by identifier, transport or MESSAGE_ID, so that an
/// entry is only offered to the few rules that could care (most rules name an identifier or the kernel).
struct MatcherIndex: Sendable {
    /// A matcher and the rule it belongs to.
    struct Ref: Sendable {
        let rule: Int
        let matcher: JournalRule.Matcher
    }
    /// The matchers under one key, and when several of them have `contains` needles, those
    /// needles as one `NeedleSet` (one pass over the message finds them all).
    struct Bucket: Sendable {
        var refs: [Ref] = []
        var needles: NeedleSet?
    }
    private(set) var byIdentifier: [String: Bucket] = [:]
    /// By transport. (A linear scan with `==` measured slower: unequal strings take String's
    /// slow comparison path.)
    private(set) var byTransport: [String: Bucket] = [:]
    private(set) var byMessageID: [String: Bucket] = [:]
    private(set) var generic = Bucket()
    /// The three maps above as tables for the hot path (`BucketTable`: a cheaper hash).
    private(set) var identifierTable = BucketTable([:])
    private(set) var transportTable = BucketTable([:])
    private(set) var messageIDTable = BucketTable([:])
    /// Most matchers in one bucket (the size of a scan's per-bucket flags).
    private(set) var largestBucket = 0
    /// Matchers with needles a bucket needs before its needles are searched in one pass: below
    /// that, one `memchr` scan per needle is as cheap.
    static let needleSetMinimum = 3

    /// Indexes every matcher of `rules`.
    init(_ rules: [JournalRule]) {
        for (r, rule) in rules.enumerated() {
            for matcher in rule.matchers {
                let ref = Ref(rule: r, matcher: matcher)
                if let ids = matcher.identifiers {
                    for id in ids { byIdentifier[id, default: Bucket()].refs.append(ref) }
                } else if let ts = matcher.transports {
                    for t in ts { byTransport[t, default: Bucket()].refs.append(ref) }
                } else if let ids = matcher.messageIDs {
                    for id in ids { byMessageID[id, default: Bucket()].refs.append(ref) }
                } else {
                    generic.refs.append(ref)
                }
            }
        }
        // Buckets holding the same matchers (sshd, login, sudo… all hold the PAM rules) share one set.
        var made: [[ObjectIdentifier]: NeedleSet] = [:]
        func withNeedles(_ bucket: Bucket) -> Bucket {
            var b = bucket
            guard b.refs.filter({ $0.matcher.hasNeedles }).count >= Self.needleSetMinimum else { return b }
            let key = b.refs.map { ObjectIdentifier($0.matcher) }
            if let set = made[key] { b.needles = set; return b }
            let set = NeedleSet(b.refs.map(\.matcher.contains))
            made[key] = set
            b.needles = set
            return b
        }
        byIdentifier = byIdentifier.mapValues(withNeedles)
        byTransport = byTransport.mapValues(withNeedles)
        byMessageID = byMessageID.mapValues(withNeedles)
        generic = withNeedles(generic)
        identifierTable = BucketTable(byIdentifier)
        transportTable = BucketTable(byTransport)
        messageIDTable = BucketTable(byMessageID)
        largestBucket = ([generic.refs.count] + [byIdentifier, byTransport, byMessageID].flatMap { $0.values.map(\.refs.count) }).max() ?? 0
    }
}

/// Matches of one rule for one group key (a device, a unit…), kept small: counts, times,
/// the window's recent timestamps, the captures of the latest match and capped evidence.
struct GroupState {
    /// The group key values, in `group_by` order.
    var key: [String]
    /// Matches so far.
    var count = 0
    /// Earliest match, µs since the epoch.
    var firstSeen: Int64 = .max
    /// Latest match, µs since the epoch.
    var lastSeen: Int64 = .min
    /// Timestamps of the last `thresholdCount` matches (a ring), for the sliding window.
    var recent: [Int64] = []
    /// Next slot of `recent` to overwrite.
    var recentNext = 0
    /// True once the threshold (count within window) was reached.
    var thresholdMet = false
    /// Captures of the latest match (non-empty values win).
    var captures: [String: String] = [:]
    /// The latest matching entry, always shown as evidence.
    var latest: JournalEntry?
    /// The first `maxEvidence - 1` matches; the latest is added at the end.
    var early: [JournalEntry] = []
}

/// One pass over the journal: feed entries with `consume`, then `findings`. Holds only
/// per-group counters and a few evidence entries, never the journal.
final class JournalScan {
    /// The rules scanned for.
    let rules: [JournalRule]
    /// Which matchers apply to which entries.
    let index: MatcherIndex
    /// Caps on evidence and findings.
    let configuration: DiagnosisConfiguration
    /// Most groups one rule tracks; later new groups are counted, not kept.
    static let maxGroupsPerRule = 1000
    private var groups: [[String: GroupState]]
    private var droppedGroups: [Int]
    /// The entry number each rule last counted, so a rule counts an entry once even when
    /// several of its matchers (indexed under different keys) match it.
    private var countedAt: [Int]
    private var sequence = 0
    /// Per-bucket flags: which matchers' needles the current entry holds (`NeedleSet.mark`).
    private let found: UnsafeMutableBufferPointer<Bool>
    /// True once a rule matched the entry being consumed.
    private var matchedCurrent = false
    /// Error-level entries no rule matched, by template.
    let unrecognised = ErrorClusters()

    /// A scan with empty counters.
    init(rules: [JournalRule], index: MatcherIndex, configuration: DiagnosisConfiguration) {
        self.rules = rules
        self.index = index
        self.configuration = configuration
        groups = Array(repeating: [:], count: rules.count)
        droppedGroups = Array(repeating: 0, count: rules.count)
        countedAt = Array(repeating: -1, count: rules.count)
        found = .allocate(capacity: max(1, index.largestBucket))
        found.initialize(repeating: false)
    }

    deinit { found.deallocate() }

    /// Offers one entry to every rule that could match it.
    func consume(_ entry: JournalEntry) {
        sequence += 1
        matchedCurrent = false
        if let id = entry.identifier, let bucket = index.identifierTable.bucket(id) { offer(entry, bucket) }
        if let t = entry.transport, let bucket = index.transportTable.bucket(t) { offer(entry, bucket) }
        // Journal MESSAGE_IDs are lower-case hex (sd_id128 formatting), as the loader stores them.
        if let id = entry.messageID, let bucket = index.messageIDTable.bucket(id) { offer(entry, bucket) }
        if !index.generic.refs.isEmpty { offer(entry, index.generic) }
        if !matchedCurrent, let p = entry.priority, p <= ErrorClusters.maxPriority {
            unrecognised.add(entry, maxSamples: configuration.maxEvidence)
        }
    }

    private func offer(_ entry: JournalEntry, _ bucket: MatcherIndex.Bucket) {
        let refs = bucket.refs
        if let needles = bucket.needles, let message = entry.message {
            // One pass finds every matcher's needles; a matcher whose needles are absent is skipped.
            for i in 0..<refs.count { found[i] = false }
            needles.mark(message, found)
            for i in 0..<refs.count where countedAt[refs[i].rule] != sequence {
                let matcher = refs[i].matcher
                if matcher.hasNeedles && !found[i] { continue }
                if let captures = matcher.match(entry, needlesChecked: true) {
                    record(entry, captures: captures, rule: refs[i].rule)
                    countedAt[refs[i].rule] = sequence
                    matchedCurrent = true
                }
            }
            return
        }
        for ref in refs where countedAt[ref.rule] != sequence {
            if let captures = ref.matcher.match(entry) {
                record(entry, captures: captures, rule: ref.rule)
                countedAt[ref.rule] = sequence
                matchedCurrent = true
            }
        }
    }

    private func record(_ entry: JournalEntry, captures: [String: String], rule r: Int) {
        let rule = rules[r]
        let key = rule.groupBy.map { captures[$0] ?? JournalFields.value($0, of: entry) ?? "" }
        let k = key.joined(separator: "\u{1F}")
        if groups[r][k] == nil {
            guard groups[r].count < Self.maxGroupsPerRule else { droppedGroups[r] += 1; return }
            groups[r][k] = GroupState(key: key)
        }
        groups[r][k]!.add(entry, captures: captures, rule: rule, maxEvidence: configuration.maxEvidence)
    }

    /// The findings of every rule whose threshold was met, at most `maxFindingsPerRule` per rule,
    /// then the largest clusters of error-level entries no rule matched (`ErrorClusters`, low).
    func findings() -> [Finding] {
        var out: [Finding] = []
        for (r, rule) in rules.enumerated() {
            let met = groups[r].values.filter(\.thresholdMet).sorted { $0.count > $1.count || ($0.count == $1.count && $0.lastSeen > $1.lastSeen) }
            out += met.prefix(configuration.maxFindingsPerRule).map { finding(rule, $0) }
        }
        out += unrecognised.findings(limit: configuration.maxUnrecognisedFindings, minimumCount: configuration.unrecognisedMinimumCount,
                                     maxEvidence: configuration.maxEvidence)
        return out
    }

    private func finding(_ rule: JournalRule, _ g: GroupState) -> Finding {
        var severity = rule.severity
        var confidence = rule.confidence
        for e in rule.escalations where g.count >= e.count {
            severity = max(severity, e.severity)
            if let c = e.confidence { confidence = c }
        }
        let latest = g.latest
        let iso = ISO8601DateFormatter()
        let lookup: (String) -> String? = { name in
            switch name {
            case "count": return String(g.count)
            case "first_seen": return iso.string(from: Date(timeIntervalSince1970: Double(g.firstSeen) / 1e6))
            case "last_seen": return iso.string(from: Date(timeIntervalSince1970: Double(g.lastSeen) / 1e6))
            case "within": return rule.window.map { Self.describe(microseconds: $0) } ?? "the collected window"
            case "threshold": return String(rule.thresholdCount)
            case "rule": return rule.id
            default:
                if let v = g.captures[name], !v.isEmpty { return v }
                return latest.flatMap { JournalFields.value(name, of: $0) }
            }
        }
        var entries = g.early
        if let latest, latest != entries.last { entries.append(latest) }
        var evidence = entries.map(Self.evidence)
        let shown = evidence.count
        if g.count > shown {
            evidence.append(Evidence(kind: "metric", label: "journal.matches", value: "\(g.count) matching entries (\(shown) shown, and \(g.count - shown) more)"))
        }
        return Finding(ruleID: rule.id, category: rule.category, severity: severity, confidence: confidence,
                       title: rule.title.render(lookup), detail: rule.detail.render(lookup),
                       userAdvice: rule.userAdvice.render(lookup), technicianAdvice: rule.technicianAdvice.render(lookup),
                       evidence: evidence, lastSeen: Date(timeIntervalSince1970: Double(g.lastSeen) / 1e6),
                       subject: rule.subject.map { $0.render(lookup) }.flatMap { $0.isEmpty || $0 == "?" ? nil : $0 })
    }

    /// A journal entry as evidence: unit (or identifier), message, time and cursor.
    static func evidence(_ e: JournalEntry) -> Evidence {
        let label = e.unit ?? e.userUnit ?? e.identifier ?? e.comm ?? e.transport ?? "journal"
        var message = e.message ?? ""
        if message.count > 500 { message = String(message.prefix(500)) + "…" }
        return Evidence(kind: "journal", label: label, value: message, time: e.date, cursor: e.locator)
    }

    /// `10 min`, `2 h`: a window for people.
    static func describe(microseconds us: Int64) -> String {
        let s = us / 1_000_000
        if s % 86400 == 0 { return "\(s / 86400) d" }
        if s % 3600 == 0 { return "\(s / 3600) h" }
        if s % 60 == 0 { return "\(s / 60) min" }
        return "\(s) s"
    }
}

extension GroupState {
    /// Counts one match: times, sliding window, captures and capped evidence.
    mutating func add(_ entry: JournalEntry, captures: [String: String], rule: JournalRule, maxEvidence: Int) {
        count += 1
        let t = entry.realtime
        firstSeen = min(firstSeen, t)
        lastSeen = max(lastSeen, t)
        if !thresholdMet {
            if let window = rule.window {
                // Ring of the last `thresholdCount` times: met when the oldest of them is within the window.
                if recent.count < rule.thresholdCount { recent.append(t) } else { recent[recentNext] = t }
                recentNext = (recentNext + 1) % rule.thresholdCount
                if recent.count == rule.thresholdCount {
                    let oldest = recent.min() ?? t, newest = recent.max() ?? t
                    // Checked: a line's time is bounded (`JournalEntry.realtimeRange`), but this
                    // engine also runs on entries that never went through that parser.
                    let (span, overflow) = newest.subtractingReportingOverflow(oldest)
                    if !overflow, span <= window { thresholdMet = true }
                }
            } else if count >= rule.thresholdCount {
                thresholdMet = true
            }
        }
        for (k, v) in captures where !v.isEmpty { self.captures[k] = v }
        if early.count < max(0, maxEvidence - 1) { early.append(entry) }
        latest = entry
    }
}
