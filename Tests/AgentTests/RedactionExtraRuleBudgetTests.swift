import Foundation
import Testing
@testable import Agent
@testable import Shared

/// Organisations' own regex rules run under a per-line CPU budget: a catastrophic pattern
/// cannot stall collection, and a line whose search was cut short goes out as one marker.
@Suite("Redaction extra rules: time budget")
struct RedactionExtraRuleBudgetTests {
    /// A redactor with `rules` (the text of one `*.rules` file) and `budget`.
    func redactor(_ rules: String, budget: Duration = InputLimits.defaultExtraRuleLineBudget) throws -> (Redactor, TempDir) {
        let dir = try TempDir()
        try dir.write("rules/org.rules", rules)
        var options = RedactionOptions(rulesDirectory: dir.file("rules"))
        options.extraRuleLineBudget = budget
        return (try Redactor(options: options), dir)
    }

    @Test func aCatastrophicPatternOnALongLineStopsInTimeAndNothingOfTheLineGoesOut() throws {
        let (redactor, dir) = try redactor("slow: (a+)+$\nacme-key: ACME-[0-9]{8}\n")
        defer { dir.cleanup() }
        // Without the budget `(a+)+$` tries 2^n ways to split the a's before failing at `!`.
        let line = "user=alice ACME-12345678 " + String(repeating: "a", count: 20_000) + "!"
        let started = ContinuousClock.now
        let out = redactor.redact(line)
        let took = ContinuousClock.now - started
        #expect(out == "[REDACTED:extra-rules-over-time-budget]")
        #expect(!out.contains("alice") && !out.contains("ACME") && !out.contains("aaa"))
        // 5 ms of CPU; the wall-clock bound leaves room for a busy machine.
        #expect(took < .seconds(2), "took \(took)")
        #expect(redactor.counts["extra-rules-over-time-budget"] == 1, "\(redactor.counts)")

        // The same rules on ordinary lines: unchanged work, and the slow pattern's cheap lines pass.
        #expect(redactor.redact("login ACME-12345678 ok") == "login [REDACTED:acme-key] ok")
        #expect(redactor.redact("aaaa!") == "aaaa!")
        #expect(redactor.redact("ends in aaaa") == "ends in [REDACTED:slow]")
        #expect(redactor.counts == ["extra-rules-over-time-budget": 1, "acme-key": 1, "slow": 1])
        #expect(!redactor.ruleNames.contains("extra-rules-over-time-budget"))
    }

    @Test func theBudgetIsSharedByAllExtraRulesOfALine() throws {
        // Two slow rules, each alone maybe within budget on a short line, still stop together.
        let (redactor, dir) = try redactor("one: (b+)+$\ntwo: (c+)+$\n", budget: .milliseconds(1))
        defer { dir.cleanup() }
        let line = String(repeating: "b", count: 40) + "! " + String(repeating: "c", count: 40) + "!"
        let started = ContinuousClock.now
        #expect(redactor.redact(line) == "[REDACTED:extra-rules-over-time-budget]")
        #expect(ContinuousClock.now - started < .seconds(2))
    }

    @Test func aLargerBudgetLetsASlowButFiniteSearchFinish() throws {
        // 2^14 ways: well under a second everywhere, far over nothing.
        let line = String(repeating: "a", count: 14) + "! secret"
        let (redactor, dir) = try redactor("slow: (a+)+$\nword: secret\n", budget: .seconds(1))
        defer { dir.cleanup() }
        #expect(redactor.redact(line) == String(repeating: "a", count: 14) + "! [REDACTED:word]")
        #expect(redactor.counts["extra-rules-over-time-budget"] == nil)
    }

    @Test func aBundleCarriesNoTextOfALineCutShortAndCountsIt() throws {
        // The real binary, a real journal: the line that trips the pattern leaves only its
        // marker, its neighbours are redacted as usual, and the manifest counts the cut.
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        let boot = "9a7d5c3e1b2f4e6a8c0d2f4b6a8c0e1d"
        let slow = "user=alice pin=4711 " + String(repeating: "a", count: 5000) + "!"
        let lines = ["before: badge ACME-12345678", slow, "after: all quiet"]
        try JournalFixture.write(lines.enumerated().map { i, line in
            .init(realtime: ago(Double(60 - i), from: now), bootID: boot,
                  [("MESSAGE", line), ("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", "app"), ("_TRANSPORT", "journal")])
        }, to: dir.file("journal"))
        try dir.write("rules/org.rules", "slow: (a+)+$\nacme-key: ACME-[0-9]{8}\n")
        let started = ContinuousClock.now
        let r = try run(productsDirectory + "/helpline", ["collect", "--sysroot", fixturePath("sysroot-laptop"), "--journal-directory", dir.file("journal"),
                                                          "--rules-dir", dir.file("rules"), "--extra-rule-line-budget", "2ms",
                                                          "--output", dir.file("b.tar.gz")], timeout: 120)
        #expect(r.status == 0, "\(r.error)")
        #expect(ContinuousClock.now - started < .seconds(60), "collection was not held up")
        var messages: [String] = []
        let contents = try BundleReader.read(path: dir.file("b.tar.gz")) { if $0.identifier == "app" { messages.append($0.message ?? "") } }
        #expect(messages == ["before: badge [REDACTED:acme-key]", "[REDACTED:extra-rules-over-time-budget]", "after: all quiet"])
        #expect(contents.manifest.redactions["extra-rules-over-time-budget"] == 1, "\(contents.manifest.redactions)")
        let everything = try run("/bin/sh", ["-c", "gzip -dc '\(dir.file("b.tar.gz"))'"]).output
        #expect(!everything.contains("pin=4711") && !everything.contains("aaaaaaaa"))
    }

    @Test func theBudgetsNameIsReserved() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try dir.write("rules/org.rules", "extra-rules-over-time-budget: abc\n")
        #expect(throws: RedactionError.self) { try Redactor(options: RedactionOptions(rulesDirectory: dir.file("rules"))) }
    }

    @Test func theConfigFileSetsTheBudgetAndAFlagOverridesIt() throws {
        var config = AgentConfig()
        try config.apply(text: "extra_rule_line_budget = 20ms\n", source: "agent.conf")
        #expect(config.extraRuleLineBudget == .milliseconds(20))
        #expect(try CollectionFlags.parse([]).options(defaultsFrom: config).redaction.extraRuleLineBudget == .milliseconds(20))
        #expect(try CollectionFlags.parse(["--extra-rule-line-budget", "3ms"]).options(defaultsFrom: config).redaction.extraRuleLineBudget
                == .milliseconds(3))
        #expect(try CollectionFlags.parse([]).options.redaction.extraRuleLineBudget == .milliseconds(5))
    }
}
