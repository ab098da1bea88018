import Foundation
import Testing
@testable import Agent

/// One line of `Fixtures/redaction/secrets.tsv`: `rule<TAB>secret<TAB>line`, with `\n`, `\r`,
/// `\t` and `\\` escapes in every column.
struct SecretSample: CustomTestStringConvertible, Sendable {
    /// The rule whose count must grow.
    var rule: String
    /// Text that must not survive redaction.
    var secret: String
    /// The line as a probe would see it.
    var line: String
    /// Line number in the fixture.
    var number: Int

    var testDescription: String { "secrets.tsv:\(number) [\(rule)]" }

    /// Undoes the fixture's escapes.
    static func unescape(_ s: Substring) -> String {
        var out = ""
        var escaped = false
        for c in s {
            if escaped {
                switch c {
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// Every sample in the fixture.
    static func all() throws -> [SecretSample] {
        let text = try String(contentsOfFile: redactionFixture("secrets.tsv"), encoding: .utf8)
        return try text.split(separator: "\n").enumerated().map { index, row in
            let columns = row.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
            try #require(columns.count == 3, "secrets.tsv:\(index + 1) needs three tab-separated columns")
            return SecretSample(rule: unescape(columns[0]), secret: unescape(columns[1]), line: unescape(columns[2]),
                                number: index + 1)
        }
    }
}

/// Path of a file in `Fixtures/redaction`.
func redactionFixture(_ name: String) -> String {
    let relative = "Fixtures/redaction/" + name
    return Bundle.module.path(forResource: relative, ofType: nil) ?? Bundle.module.bundlePath + "/" + relative
}

@Suite("Redaction corpus")
struct RedactionCorpusTests {
    @Test func corpusIsLargeAndVaried() throws {
        let samples = try SecretSample.all()
        #expect(samples.count >= 60)
        let builtin = Set(BuiltinRule.names)
        for sample in samples {
            #expect(builtin.contains(sample.rule), "\(sample.testDescription): unknown rule")
            #expect(sample.line.contains(sample.secret), "\(sample.testDescription): secret not in line")
        }
        let secretRules = BuiltinRule.allCases.filter { $0.rule.isSecret }.map(\.rule.name)
        for rule in secretRules {
            #expect(samples.contains { $0.rule == rule }, "no sample for \(rule)")
        }
    }

    @Test(arguments: try SecretSample.all())
    func secretDoesNotSurvive(_ sample: SecretSample) throws {
        let redactor = try Redactor(options: RedactionOptions())
        let out = redactor.redact(sample.line)
        #expect(!out.contains(sample.secret), "\(sample.testDescription): secret survived in \(out)")
        #expect(redactor.counts[sample.rule, default: 0] >= 1,
                "\(sample.testDescription): counts \(redactor.counts), output \(out)")
        #expect(out.contains("[REDACTED:\(sample.rule)]"))
        #expect(redactor.mapping.isEmpty)
    }

    @Test func sharedRedactorCountsEveryCorpusLine() throws {
        let samples = try SecretSample.all()
        let redactor = try Redactor(options: RedactionOptions())
        for sample in samples {
            let before = redactor.counts[sample.rule, default: 0]
            _ = redactor.redact(sample.line)
            #expect(redactor.counts[sample.rule, default: 0] > before, "\(sample.testDescription)")
        }
    }

    @Test func ordinaryLinesComeOutByteIdentical() throws {
        let text = try String(contentsOfFile: redactionFixture("ordinary.txt"), encoding: .utf8)
        let lines = text.split(separator: "\n").map(String.init)
        #expect(lines.count >= 100)
        let redactor = try Redactor(options: RedactionOptions())
        for line in lines {
            let out = redactor.redact(line)
            #expect(Array(out.utf8) == Array(line.utf8), "changed: \(line)\n     -> \(out)")
        }
        #expect(redactor.counts.values.allSatisfy { $0 == 0 })
        #expect(redactor.mapping.isEmpty)
        // The whole file as one text (a multi-line message) stays identical too.
        #expect(redactor.redact(text) == text)
    }
}
