import Foundation
import Testing
@testable import Diagnosis
import Shared

/// The YAML schema's validation: every mistake names the file, the line and what to fix.
struct RuleLoaderTests {
    let loader = JournalRuleLoader(engine: .foundation)

    static let valid = """
        id: custom.vpn_drop
        category: network
        summary: The VPN drops.
        severity: medium
        match:
          identifier: [openvpn]
          contains: ["Connection reset"]
          regex: 'Connection reset, restarting \\[(?<code>-?\\d+)\\]'
        group_by: [code]
        threshold: {count: 2, within: 30m}
        title: The VPN keeps dropping ({{code}})
        detail: "{{count}} resets, latest {{last_seen}}"
        user_advice: Reconnect.
        technician_advice: Check the VPN server.
        """

    /// Real-format lines for `valid` (two that match, one near miss).
    static let validExamples = """
        custom.vpn_drop:
          match:
            - {identifier: openvpn, message: 'Connection reset, restarting [-1]'}
            - {identifier: openvpn, message: 'Connection reset, restarting [0]'}
          no_match:
            - {identifier: openvpn, message: 'Connection reset by peer'}
        """

    func error(_ yaml: String, examples: String? = Self.validExamples) -> DiagnosisError? {
        do { _ = try loader.load(yaml: yaml, source: "mine.yaml", examples: examples, examplesSource: "mine.examples.yaml"); return nil }
        catch let e as DiagnosisError { return e } catch { return nil }
    }

    @Test func validRuleLoadsAndMatches() throws {
        let rules = try loader.load(yaml: Self.valid, source: "mine.yaml", examples: Self.validExamples, examplesSource: "mine.examples.yaml")
        #expect(rules[0].examples.matching.count == 2 && rules[0].examples.nearMisses.count == 1)
        #expect(rules.count == 1)
        #expect(rules[0].window == Int64(1_800_000_000))
        #expect(rules[0].matchers[0].regex?.names == ["code"])
        let entries = (0..<2).map { i in logLine("Connection reset, restarting [-1]", identifier: "openvpn", secondsAgo: Double(100 - i)) }
        let scan = JournalScan(rules: rules, index: MatcherIndex(rules), configuration: .init())
        entries.forEach(scan.consume)
        let f = scan.findings()
        #expect(f.first?.title == "The VPN keeps dropping (-1)")
        #expect(f.first?.detail.hasPrefix("2 resets, latest 2026-") == true)
    }

    @Test(arguments: [
        ("unknown key 'severty' in rule; known keys are", Self.valid.replacingOccurrences(of: "severity: medium", with: "severty: medium")),
        ("mine.yaml:4: rule 'custom.vpn_drop': severity 'urgent' is not one of critical, high, medium, low, info", Self.valid.replacingOccurrences(of: "severity: medium", with: "severity: urgent")),
        ("unknown category 'vpn'; use one of disk, memory", Self.valid.replacingOccurrences(of: "category: network", with: "category: vpn")),
        ("does not compile", Self.valid.replacingOccurrences(of: "restarting \\[", with: "restarting [(")),
        ("mine.yaml:6: unknown key 'identifer' in rule 'custom.vpn_drop' match", Self.valid.replacingOccurrences(of: "identifier:", with: "identifer:")),
        ("uses {{device}}, which is not a capture (code)", Self.valid.replacingOccurrences(of: "({{code}})", with: "({{device}})")),
        ("group_by 'device' is neither a named regex group", Self.valid.replacingOccurrences(of: "group_by: [code]", with: "group_by: [device]")),
        ("threshold within '30 minutes' is not a duration", Self.valid.replacingOccurrences(of: "30m", with: "30 minutes")),
        ("missing `technician_advice` text", Self.valid.replacingOccurrences(of: "technician_advice: Check the VPN server.", with: "")),
        ("id must look like `category.what_happened`", Self.valid.replacingOccurrences(of: "custom.vpn_drop", with: "VPN Drop")),
        ("not valid YAML", "id: [unclosed"),
        ("max_priority must be 0–7 or a name", Self.valid.replacingOccurrences(of: "  identifier: [openvpn]", with: "  max_priority: severe")),
        ("message_id 'xyz' is not 32 hex digits", Self.valid.replacingOccurrences(of: "  identifier: [openvpn]", with: "  message_id: xyz")),
        ("confidence must be a number from 0 to 1", Self.valid.replacingOccurrences(of: "severity: medium", with: "severity: medium\nconfidence: 2")),
    ]) func mistakesAreExplained(_ expected: String, _ yaml: String) throws {
        let e = try #require(error(yaml), "no error for: \(expected)")
        #expect(e.message.contains(expected), "\(e.message)")
        #expect(e.message.hasPrefix("mine.yaml"))
    }

    @Test(arguments: [
        // The file name, the rule and what to write, when the examples are missing.
        ("mine.yaml: rule 'custom.vpn_drop' has no examples; write mine.examples.yaml beside it", nil as String?),
        ("mine.examples.yaml:3: rule 'custom.vpn_drop' has 1 `match` lines; give at least 2",
         Self.validExamples.replacingOccurrences(of: "    - {identifier: openvpn, message: 'Connection reset, restarting [0]'}\n", with: "")),
        ("rule 'custom.vpn_drop' has no `no_match` line", Self.validExamples.replacingOccurrences(of: "  no_match:\n    - {identifier: openvpn, message: 'Connection reset by peer'}", with: "")),
        // A line the rule does not match, and a near miss it does: named with their line.
        ("mine.examples.yaml:3: rule 'custom.vpn_drop' does not match its `match` line \"Connection reset, restarting [x]\"",
         Self.validExamples.replacingOccurrences(of: "restarting [-1]", with: "restarting [x]")),
        ("mine.examples.yaml:4: rule 'custom.vpn_drop' does not match its `match` line", Self.validExamples.replacingOccurrences(of: "{identifier: openvpn, message: 'Connection reset, restarting [0]'}", with: "{identifier: openvpn3, message: 'Connection reset, restarting [0]'}")),
        ("mine.examples.yaml:6: rule 'custom.vpn_drop' matches its `no_match` line", Self.validExamples.replacingOccurrences(of: "Connection reset by peer", with: "Connection reset, restarting [2]")),
        ("examples for 'custom.other', which is not a rule of mine.yaml", Self.validExamples + "\ncustom.other: {match: [], no_match: []}\n"),
        ("unknown key 'mesage' in an example line", Self.validExamples.replacingOccurrences(of: "message: 'Connection reset by peer'", with: "mesage: 'Connection reset by peer'")),
    ]) func examplesAreRequiredAndChecked(_ expected: String, _ examples: String?) throws {
        let e = try #require(error(Self.valid, examples: examples), "no error for: \(expected)")
        #expect(e.code == .invalidRule)
        #expect(e.message.contains(expected), "\(e.message)")
    }

    @Test func aRuleFolderNeedsExamplesBesideEachRule() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try dir.write("rules/vpn.yaml", Self.valid)
        do { _ = try DiagnosisEngine(extraRulesDirectory: dir.file("rules")); Issue.record("a rule without examples loaded") } catch let e as DiagnosisError {
            #expect(e.message.contains(dir.file("rules/vpn.yaml")) && e.message.contains("vpn.examples.yaml"), "\(e.message)")
        }
        try dir.write("rules/vpn.examples.yaml", Self.validExamples)
        // The examples file is not read as a rule.
        let engine = try DiagnosisEngine(extraRulesDirectory: dir.file("rules"))
        #expect(engine.rules.filter { $0.id == "custom.vpn_drop" }.count == 1)
    }

    @Test func extraRulesDirectoryAddsAndReplaces() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try dir.write("rules/vpn.yaml", Self.valid)
        try dir.write("rules/vpn.examples.yaml", Self.validExamples)
        // Same id as a built-in: replaces it (a site turns the degraded-DNS note into info).
        let builtIn = try #require(BuiltInRules.files.first { $0.name == "dns.resolved_degraded.yaml" })
        try dir.write("rules/quiet-dns.yml", builtIn.yaml.replacingOccurrences(of: "severity: low", with: "severity: info"))
        try dir.write("rules/quiet-dns.examples.yaml", try #require(builtIn.examples))
        try dir.write("rules/README.txt", "not a rule")
        let engine = try DiagnosisEngine(extraRulesDirectory: dir.file("rules"))
        #expect(engine.rules.contains { $0.id == "custom.vpn_drop" && $0.source.hasSuffix("vpn.yaml") })
        #expect(engine.rules.filter { $0.id == "dns.degraded_feature_set" }.count == 1)
        let f = engine.diagnose(journal: [logLine("Using degraded feature set UDP instead of UDP+EDNS0 for DNS server 10.0.0.1.", identifier: "systemd-resolved")])
        #expect(f.first?.severity == .info)
    }

    @Test func duplicateIdsAndBadFoldersAreErrors() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        for name in ["a", "b"] {
            try dir.write("rules/\(name).yaml", Self.valid)
            try dir.write("rules/\(name).examples.yaml", Self.validExamples)
        }
        #expect(throws: DiagnosisError.self) { try DiagnosisEngine(extraRulesDirectory: dir.file("rules")) }
        do { _ = try DiagnosisEngine(extraRulesDirectory: dir.file("rules")) } catch let e as DiagnosisError {
            #expect(e.code == .duplicateRule)
            #expect(e.message.contains("a.yaml") && e.message.contains("b.yaml"))
        }
        do { _ = try DiagnosisEngine(extraRulesDirectory: dir.file("missing")) } catch let e as DiagnosisError {
            #expect(e.code == .rulesUnavailable)
        }
        try dir.write("metric/x.yaml", Self.valid.replacingOccurrences(of: "custom.vpn_drop", with: "disk.space_low"))
        try dir.write("metric/x.examples.yaml", Self.validExamples.replacingOccurrences(of: "custom.vpn_drop", with: "disk.space_low"))
        #expect(throws: DiagnosisError.self) { try DiagnosisEngine(extraRulesDirectory: dir.file("metric")) }
    }

    @Test func aFileMayHoldSeveralRules() throws {
        let body = Self.valid.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n")
        let second = body.replacingOccurrences(of: "custom.vpn_drop", with: "custom.vpn_drop_two")
        let yaml = "rules:\n  -\n" + body + "\n  -\n" + second + "\n"
        let examples = Self.validExamples + "\n" + Self.validExamples.replacingOccurrences(of: "custom.vpn_drop", with: "custom.vpn_drop_two")
        #expect(try loader.load(yaml: yaml, source: "x.yaml", examples: examples, examplesSource: "x.examples.yaml").map(\.id)
                == ["custom.vpn_drop", "custom.vpn_drop_two"])
    }

    @Test func durations() {
        #expect(JournalRuleLoader.duration("90s") == 90)
        #expect(JournalRuleLoader.duration("1h30m") == 5400)
        #expect(JournalRuleLoader.duration("1d") == 86400)
        #expect(JournalRuleLoader.duration("10") == nil)
        #expect(JournalRuleLoader.duration("5x") == nil)
    }

    @Test(arguments: RegexEngine.allCases) func bothRegexEnginesAgree(_ engine: RegexEngine) throws {
        let p = try MessagePattern(#"I/O error, dev (?<device>[a-z0-9]+), sector (?<sector>\d+)|Buffer I/O error on dev (?<partition>\w+)"#, engine: engine)
        #expect(p.names == ["device", "sector", "partition"])
        #expect(p.match("blk_update_request: I/O error, dev sda, sector 42 op 0x0:(READ)") == ["device": "sda", "sector": "42", "partition": ""])
        #expect(p.match("Buffer I/O error on dev sda1, logical block 0") == ["device": "", "sector": "", "partition": "sda1"])
        #expect(p.match("all good") == nil)
        #expect(MessagePattern.captureNames(in: #"(?<=x)(?<a>y)(?<!z)\(?<notme>"#) == ["a"])
    }
}

/// Ranking and the report formats.
struct RankingAndReportTests {
    func finding(_ id: String, _ s: Severity, _ c: Double, _ t: Double?) -> Finding {
        Finding(ruleID: id, category: .other, severity: s, confidence: c, title: id, detail: "d", userAdvice: "u", technicianAdvice: "t",
                lastSeen: t.map { Date(timeIntervalSince1970: $0) })
    }

    @Test func rankBySeverityThenConfidenceThenRecency() {
        let ranked = DiagnosisEngine.rank([
            finding("low", .low, 0.99, 100), finding("high-old", .high, 0.9, 10), finding("high-new", .high, 0.9, 20),
            finding("high-sure", .high, 0.95, 1), finding("crit", .critical, 0.5, nil), finding("high-undated", .high, 0.9, nil),
        ])
        #expect(ranked.map(\.ruleID) == ["crit", "high-sure", "high-new", "high-old", "high-undated", "low"])
    }

    @Test func textAndJSON() throws {
        let f = sharedEngine.diagnose(journal: [kernelEntry("I/O error, dev sda, sector 7 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0")])
        let text = FindingReport.text(f)
        #expect(text.hasPrefix("1 finding, worst first."))
        #expect(text.contains("[HIGH] The disk sda cannot read or write some data"))
        #expect(text.contains("cursor b=b0;t="))
        #expect(FindingReport.text([]) == "No problems found.\n")
        let json = try FindingReport.json(f)
        let doc = try BundleJSON.decoder().decode(FindingReport.Document.self, from: Data(json.utf8))
        #expect(doc.findings == f)
        #expect(doc.top == "storage.io_error")
        #expect(doc.count == 1)
    }
}
