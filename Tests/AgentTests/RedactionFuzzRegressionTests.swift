import Foundation
import Testing
@testable import Agent

/// The seed corpus of the `redactor` fuzz target (fuzz/corpus/redactor), run through the
/// checks that target makes, plus the inputs the fuzzer found. A crash the fuzzer finds
/// becomes a named test here (see fuzz/README.md).
@Suite("Redaction fuzz regression")
struct RedactionFuzzRegressionTests {
    /// `fuzz/corpus/redactor`, found from this file's path (the corpus is not a test resource).
    static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fuzz/corpus/redactor").path

    /// The names of the seed files, sorted.
    static func seeds() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: corpus)) ?? []).filter { !$0.hasPrefix(".") }.sorted()
    }

    /// The redactors the target uses (fuzz/RedactorFuzz.swift): default, and every identifier rule on.
    static func redactors() throws -> [Redactor] {
        [
            try Redactor(),
            try Redactor(options: RedactionOptions(emails: true, usernames: true, ipAddresses: true, macAddresses: true,
                                                   hostnames: true),
                         identities: RedactionIdentities(usernames: ["alice", "bob"], hostnames: ["laptop-42", "ws01.corp.example"])),
        ]
    }

    /// The longest text one replacement writes: a marker, or a placeholder with a 20-digit number.
    static let longestReplacement = max(
        BuiltinRule.names.map { "[REDACTED:]".utf8.count + $0.utf8.count }.max()!,
        BuiltinRule.allCases.compactMap { rule -> Int? in
            guard case .placeholder(let prefix) = rule.rule.replacement else { return nil }
            return "[-]".utf8.count + prefix.utf8.count + 20
        }.max()!)

    @Test func seedsArePresent() {
        #expect(Self.seeds().count >= 20, "seed corpus not found at \(Self.corpus)")
    }

    @Test(arguments: RedactionFuzzRegressionTests.seeds())
    func seed(_ name: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.corpus + "/" + name))
        let text = String(decoding: data, as: UTF8.self)
        for redactor in try Self.redactors() { Self.check(text, redactor) }
    }

    /// Found by the `redactor` fuzzer: the `:` inside a marker written by the first pass made the
    /// rest of the URL's user part read as a password on the second pass, and the URL-credentials
    /// span, starting inside the marker, cut it in half (`[REDACTED:[REDACTED:url-credentials]@…`).
    @Test func aSecondPassNeverCutsAMarker() throws {
        let redactor = try Redactor()
        // As minimised by `-minimize_crash=1` (also in the seed corpus as found-marker-colon.txt).
        let minimal = redactor.redact("s://ghp_U8JZpDE0iGXlDagNCFba\u{0}@")
        #expect(minimal == "s://[REDACTED:github-token]\u{0}@")
        #expect(redactor.redact(minimal).hasPrefix("s://[REDACTED:github-token]"))
        // As found, in a git log line.
        let once = redactor.redact("git clone https://ghp_U8JZpDE0iGXlD6gNCFbaEPF.jbD0kH8Oool8D@github.com/acme/infra.git")
        #expect(once == "git clone https://[REDACTED:github-token].jbD0kH8Oool8D@github.com/acme/infra.git")
        let twice = redactor.redact(once)
        #expect(twice.contains("https://[REDACTED:github-token]"), "\(twice)")
        #expect(!twice.contains("[REDACTED:["), "\(twice)")
        Self.check(once, redactor)
    }

    /// The same cut on the first pass: text that already holds a marker keeps it whole, and the
    /// password after it still goes.
    @Test func aMarkerInsideASecretStaysWhole() throws {
        let redactor = try Redactor()
        let out = redactor.redact("https://[REDACTED:x]:hunter2@example.com/")
        #expect(out == "https://[REDACTED:x][REDACTED:url-credentials]@example.com/")
    }

    /// The `redactor` target's checks on `text`.
    static func check(_ text: String, _ redactor: Redactor, sourceLocation: SourceLocation = #_sourceLocation) {
        let before = redactor.counts.values.reduce(0, +)
        let once = redactor.redact(text)
        let replaced = redactor.counts.values.reduce(0, +) - before
        let inBytes = text.utf8.count, outBytes = once.utf8.count
        #expect(replaced <= inBytes, sourceLocation: sourceLocation)
        #expect(outBytes <= inBytes + replaced * longestReplacement, "\(text.debugDescription)", sourceLocation: sourceLocation)
        if replaced == 0 {
            #expect(once.utf8.elementsEqual(text.utf8), "nothing counted but \(once.debugDescription)", sourceLocation: sourceLocation)
        }
        #expect(replacementCharacters(once) <= replacementCharacters(text), "a span cut a character: \(once.debugDescription)",
                sourceLocation: sourceLocation)
        let twice = redactor.redact(once)
        #expect(isSubsequence(markers(in: once), of: markers(in: twice)),
                "a second pass changed a marker: \(once.debugDescription) -> \(twice.debugDescription)", sourceLocation: sourceLocation)
    }

    static func replacementCharacters(_ s: String) -> Int {
        s.unicodeScalars.reduce(0) { $0 + ($1 == "\u{FFFD}" ? 1 : 0) }
    }

    /// The markers and placeholders in `text`, in order, as the redactor itself finds them.
    static func markers(in text: String) -> [[UInt8]] {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBufferPointer { p in
            var spans: [RedactionSpan] = []
            SecretScanners.existingReplacements(p, into: &spans)
            return spans.map { Array(p[$0.start..<$0.end]) }
        }
    }

    static func isSubsequence(_ small: [[UInt8]], of large: [[UInt8]]) -> Bool {
        var rest = large[...]
        for item in small {
            guard let i = rest.firstIndex(of: item) else { return false }
            rest = rest[(i + 1)...]
        }
        return true
    }
}
