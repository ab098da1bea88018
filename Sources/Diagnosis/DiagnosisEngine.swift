import Foundation
import Shared

/// Reads a bundle the way an experienced technician would and says what is wrong: the
/// built-in metric rules (Swift) and journal rules (YAML), plus a technician's own YAML rules.
///
/// ```swift
/// let engine = try DiagnosisEngine(extraRulesDirectory: "/etc/helpline/rules.d")
/// let findings = try engine.diagnose(bundleAt: "bundle.tar.gz")   // ranked, worst first
/// print(FindingReport.text(findings))
/// ```
public struct DiagnosisEngine: Sendable {
    /// The thresholds and caps in force.
    public let configuration: DiagnosisConfiguration
    /// Rule id of the low "unrecognised" findings (clusters of error-level messages no rule
    /// matched): shown, but never the finding that titles or prioritises a ticket.
    public static let unrecognisedRuleID = "unrecognised.errors"
    private let metricRules: [any MetricRule]
    /// The journal rules in force (built-in, then the extra folder's).
    let journalRules: [JournalRule]
    private let index: MatcherIndex

    /// Built-in rules plus every `*.yaml` in `extraRulesDirectory` (a technician's own rules, no
    /// rebuild). An extra rule with the id of a built-in one replaces it.
    /// - Parameters:
    ///   - extraRulesDirectory: a folder of YAML rule files, or nil.
    ///   - configuration: thresholds and caps.
    ///   - builtInRulesDirectory: a folder to read the built-in YAML rules from instead of the
    ///     copies compiled into the program (`BuiltInRules`); nil uses `HELPLINE_BUILTIN_RULES`
    ///     when set (rule development without a rebuild), else the compiled-in copies.
    ///   - regexEngine: which engine compiles rule regexes.
    /// - Throws: `DiagnosisError` naming the file, line and what to fix.
    public init(extraRulesDirectory: String? = nil, configuration: DiagnosisConfiguration = .init(),
                builtInRulesDirectory: String? = nil, regexEngine: RegexEngine = .foundation) throws {
        self.configuration = configuration
        let loader = JournalRuleLoader(engine: regexEngine)
        let folder = builtInRulesDirectory ?? ProcessInfo.processInfo.environment["HELPLINE_BUILTIN_RULES"]
        let builtIn = try folder.map { try loader.loadDirectory($0) }
            ?? BuiltInRules.files.flatMap {
                try loader.load(yaml: $0.yaml, source: "built-in rule \($0.name)", examples: $0.examples,
                                examplesSource: "built-in rule \(JournalRuleLoader.examplesName(for: $0.name))")
            }
        var rules: [JournalRule] = []
        var seen: [String: String] = [:]
        for rule in builtIn {
            if let other = seen[rule.id] {
                throw DiagnosisError(.duplicateRule, "rule id '\(rule.id)' is defined in both \(other) and \(rule.source); give one a new id")
            }
            seen[rule.id] = rule.source
            rules.append(rule)
        }
        let metricIDs = Set(MetricRules.builtIn.map(\.description.id))
        if let extraRulesDirectory {
            var extraSeen: [String: String] = [:]
            for rule in try loader.loadDirectory(extraRulesDirectory) {
                if let other = extraSeen[rule.id] {
                    throw DiagnosisError(.duplicateRule, "rule id '\(rule.id)' is defined in both \(other) and \(rule.source); give one a new id")
                }
                if metricIDs.contains(rule.id) {
                    throw DiagnosisError(.duplicateRule, "\(rule.source): rule id '\(rule.id)' belongs to a built-in metric rule; choose another id")
                }
                extraSeen[rule.id] = rule.source
                rules.removeAll { $0.id == rule.id }
                rules.append(rule)
            }
        }
        metricRules = MetricRules.builtIn
        journalRules = rules
        index = MatcherIndex(rules)
    }

    /// Id, category, kind and summary of every rule in force.
    public var rules: [RuleDescription] {
        metricRules.map(\.description) + journalRules.map(\.description)
    }

    /// Streams the bundle (journal entries are matched as they are read and never all held in
    /// memory) and returns ranked findings, worst first: generic unit findings folded into a
    /// specific one about the same subject (`FindingFolding`), and the largest clusters of
    /// error-level messages no rule matched as low `unrecognised.errors` findings.
    /// - Throws: `DiagnosisError.unreadableBundle` with the reader's reason.
    public func diagnose(bundleAt path: String, limits: BundleLimits = .default) throws -> [Finding] {
        let scan = JournalScan(rules: journalRules, index: index, configuration: configuration)
        let contents: BundleContents
        do {
            contents = try BundleReader.read(path: path, limits: limits) { scan.consume($0) }
        } catch let e as BundleError {
            throw DiagnosisError(.unreadableBundle, "\(path): \(e.message)")
        }
        return Self.rank(FindingFolding.fold(metricFindings(contents) + scan.findings()))
    }

    /// Same, from already-read typed members and a journal sequence (for tests and the collector).
    public func diagnose(contents: BundleContents, journal: [JournalEntry]) -> [Finding] {
        let scan = JournalScan(rules: journalRules, index: index, configuration: configuration)
        // By index: `for entry in journal` copies (and retains every string of) each entry.
        for i in journal.indices { scan.consume(journal[i]) }
        return Self.rank(FindingFolding.fold(metricFindings(contents) + scan.findings()))
    }

    /// Journal rules only, over `journal` (no typed members needed).
    public func diagnose(journal: [JournalEntry]) -> [Finding] {
        let scan = JournalScan(rules: journalRules, index: index, configuration: configuration)
        for i in journal.indices { scan.consume(journal[i]) }
        return Self.rank(FindingFolding.fold(scan.findings()))
    }

    /// A streaming diagnosis to feed from a `BundleReader` the caller already runs (the
    /// collector's ingest pass), so a bundle is inflated and parsed once, not twice:
    ///
    /// ```swift
    /// let session = engine.session()
    /// let contents = try BundleReader.read(path: path) { session.consume($0) }
    /// let findings = session.finish(contents: contents)
    /// ```
    public func session() -> DiagnosisSession {
        DiagnosisSession(engine: self, scan: JournalScan(rules: journalRules, index: index, configuration: configuration))
    }

    func metricFindings(_ contents: BundleContents) -> [Finding] {
        metricRules.flatMap { $0.evaluate(contents, configuration: configuration) }
    }

    /// Worst first: severity, then confidence, then the most recent evidence, then rule id (stable).
    public static func rank(_ findings: [Finding]) -> [Finding] {
        findings.sorted { a, b in
            if a.severity != b.severity { return a.severity > b.severity }
            if a.confidence != b.confidence { return a.confidence > b.confidence }
            let ta = a.lastSeen ?? .distantPast, tb = b.lastSeen ?? .distantPast
            if ta != tb { return ta > tb }
            return (a.ruleID, a.title) < (b.ruleID, b.title)
        }
    }
}

/// One bundle's diagnosis in progress: journal entries in, then the typed members, then
/// ranked findings. Use it from one thread (it is not `Sendable`); make one per bundle.
public final class DiagnosisSession {
    private let engine: DiagnosisEngine
    private let scan: JournalScan

    init(engine: DiagnosisEngine, scan: JournalScan) {
        self.engine = engine
        self.scan = scan
    }

    /// Matches one journal entry against the rules (entries in bundle order, oldest first).
    public func consume(_ entry: JournalEntry) { scan.consume(entry) }

    /// The ranked findings of the metric rules over `contents` and the journal rules over
    /// every entry consumed so far.
    public func finish(contents: BundleContents) -> [Finding] {
        DiagnosisEngine.rank(FindingFolding.fold(engine.metricFindings(contents) + scan.findings()))
    }
}
