import Foundation
import Testing
@testable import Agent
@testable import Shared

/// The secret corpus planted in journal messages, a process's command line and the note:
/// none of it survives into the bundle; ordinary log lines pass untouched.
@Suite(.serialized) struct SecretCorpusBundleTests {
    static let boot = "9a7d5c3e1b2f4e6a8c0d2f4b6a8c0e1d"

    struct Sample { var rule: String; var secret: String; var line: String }

    static func unescape(_ s: Substring) -> String {
        var out = ""
        var escaping = false
        for c in s {
            if escaping {
                switch c {
                case "n": out.append("\n")
                case "r": out.append("\r")
                case "t": out.append("\t")
                default: out.append(c)
                }
                escaping = false
            } else if c == "\\" {
                escaping = true
            } else {
                out.append(c)
            }
        }
        return out
    }

    static func corpus() throws -> [Sample] {
        try String(contentsOfFile: fixturePath("redaction/secrets.tsv"), encoding: .utf8)
            .split(separator: "\n").map { row in
                let cols = row.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false)
                return Sample(rule: String(cols[0]), secret: unescape(cols[1]), line: unescape(cols[2]))
            }
    }

    @Test func noSecretSurvivesAnywhereInTheBundle() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let samples = try Self.corpus()
        #expect(samples.count >= 60)
        let ordinary = try String(contentsOfFile: fixturePath("redaction/ordinary.txt"), encoding: .utf8)
            .split(separator: "\n").map(String.init)
        let now = Date()
        var entries: [JournalFixture.Entry] = []
        for (i, s) in samples.enumerated() {
            entries.append(.init(realtime: ago(Double(1800 - i), from: now), bootID: Self.boot,
                                 [("MESSAGE", s.line), ("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", "app"), ("_TRANSPORT", "journal")]))
        }
        for (i, line) in ordinary.enumerated() {
            entries.append(.init(realtime: ago(Double(900 - i), from: now), bootID: Self.boot,
                                 [("MESSAGE", line), ("PRIORITY", "6"), ("SYSLOG_IDENTIFIER", "desktop"), ("_TRANSPORT", "journal")]))
        }
        try JournalFixture.write(entries, to: dir.file("journal"))

        // The laptop, with one more process whose command line carries secrets.
        let root = dir.file("root")
        #expect(try run("/bin/cp", ["-a", fixturePath("sysroot-laptop"), root]).status == 0)
        try FileManager.default.copyItem(atPath: root + "/proc/812", toPath: root + "/proc/9999")
        let cmdline = samples.prefix(8).map(\.line).joined(separator: " ").replacingOccurrences(of: "\n", with: " ")
        try Data((cmdline.split(separator: " ").joined(separator: "\0") + "\0").utf8).write(to: URL(fileURLWithPath: root + "/proc/9999/cmdline"))
        let stat = try String(contentsOfFile: root + "/proc/9999/stat", encoding: .utf8)
        try Data(stat.replacingOccurrences(of: "812 (", with: "9999 (").utf8).write(to: URL(fileURLWithPath: root + "/proc/9999/stat"))
        try? FileManager.default.removeItem(atPath: root + "/helpline-fixture/proc2")

        let note = "it broke after I typed " + samples.suffix(6).map(\.line).joined(separator: " and ")
        let r = try run(productsDirectory + "/helpline", ["collect", "--sysroot", root, "--journal-directory", dir.file("journal"),
                                                          "--output", dir.file("b.tar.gz"), "--note", note])
        #expect(r.status == 0, "\(r.error)")

        // Everything the bundle holds, decompressed, as one text.
        let gunzip = try run("/bin/sh", ["-c", "gzip -dc '\(dir.file("b.tar.gz"))'"])
        #expect(gunzip.status == 0)
        let everything = gunzip.output
        #expect(everything.contains("manifest.json"))
        for s in samples {
            #expect(!everything.contains(s.secret), "secret of rule \(s.rule) survived: \(s.secret)")
        }
        // Ordinary lines arrive byte-identical.
        var messages: [String] = []
        let contents = try BundleReader.read(path: dir.file("b.tar.gz")) { if $0.identifier == "desktop" { messages.append($0.message ?? "") } }
        #expect(messages == ordinary)
        // The manifest counts per rule, and the process's command line was redacted too.
        for rule in Set(samples.map(\.rule)) {
            #expect((contents.manifest.redactions[rule] ?? 0) > 0, "no count for \(rule)")
        }
        let planted = try #require(contents.processes?.processes.first { $0.pid == 9999 })
        #expect(planted.commandLine.contains("[REDACTED:"))
        #expect(contents.note?.contains("[REDACTED:") == true)
        #expect(contents.manifest.note == contents.note)
    }
}
