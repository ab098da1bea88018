import Foundation
import Testing
@testable import Agent
@testable import Shared

/// The built `helpline` binary, run on fixtures, opened with GNU tar.
@Suite(.serialized) struct CollectCommandTests {
    var helpline: String { productsDirectory + "/helpline" }
    static let boot = "0123456789abcdef0123456789abcdef"

    /// A journal and a small sysroot in `dir`.
    func makeFixtures(_ dir: TempDir, now: Date = Date()) throws {
        try JournalFixture.write([
            .init(realtime: ago(600, from: now), bootID: Self.boot, [("MESSAGE", "wlp2s0: deauthenticating from 11:22:33:44:55:66 by local choice (Reason: 3=DEAUTH_LEAVING)"),
                                                                     ("PRIORITY", "4"), ("_TRANSPORT", "kernel")]),
            .init(realtime: ago(300, from: now), bootID: Self.boot, [("MESSAGE", "Started Session 3 of User alice."), ("PRIORITY", "6"),
                                                                     ("SYSLOG_IDENTIFIER", "systemd"), ("_SYSTEMD_UNIT", "init.scope")]),
        ], to: dir.file("journal"))
        try dir.write("root/proc/sys/kernel/random/boot_id", "01234567-89ab-cdef-0123-456789abcdef\n")
        try dir.write("root/proc/sys/kernel/hostname", "fixture-laptop\n")
        try dir.write("root/etc/machine-id", "00112233445566778899aabbccddeeff\n")
    }

    @Test func versionAndHelpAnswer() throws {
        let v = try run(helpline, ["--version"])
        #expect(v.status == 0)
        #expect(v.output.trimmingCharacters(in: .whitespacesAndNewlines) == AgentVersion.current)
        let h = try run(helpline, ["--help"])
        #expect(h.status == 0)
        #expect(h.output.contains("collect"))
        #expect(h.output.contains("preview"))
    }

    /// The daemon runs sandboxed (systemd ProtectSystem=strict): in its mount namespace `/` is
    /// a read-only bind of a writable filesystem. A collection there must not report a
    /// read-only root (which made every request through the daemon a critical finding).
    @Test func aSandboxsReadOnlyViewOfRootIsNotAReadOnlyDisk() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try makeFixtures(dir)
        // A private mount namespace, as systemd makes one: the test folder stays writable (a
        // bind of its own), `/` becomes a read-only bind.
        let script = #"mount --make-rprivate / && mount --bind "$1" "$1" && mount -o remount,bind,ro / && "#
            + #"grep -q ' / / ro,' /proc/self/mountinfo && exec "$2" collect --journal-directory "$1/journal" --output "$1/out.tar.gz""#
        let r = try run("/usr/bin/unshare", ["-m", "/bin/sh", "-c", script, "sh", dir.path, helpline], cwd: dir.path)
        #expect(r.status == 0, "\(r.output) \(r.error)")
        try FileManager.default.createDirectory(atPath: dir.file("x"), withIntermediateDirectories: true)
        #expect(try run("/usr/bin/tar", ["xzf", dir.file("out.tar.gz"), "-C", dir.file("x")]).status == 0)
        let disks = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("x/disks.json")))) as? [String: Any]
        let root = (disks?["filesystems"] as? [[String: Any]])?.first { $0["mountPoint"] as? String == "/" }
        #expect(root != nil && root?["readOnly"] as? Bool == false, "\(String(describing: root))")
        #expect(!r.output.contains("read-only"), "\(r.output)")
    }

    /// `collect` applies agent.conf's redaction, as every other collection does: a bundle
    /// written to hand over by other means is cleaned by the organisation's settings too.
    @Test func collectAppliesAgentConfsRedaction() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try makeFixtures(dir)
        try dir.write("agent.conf", "redact_hostnames = true\n")
        var env = ProcessInfo.processInfo.environment
        env["HELPLINE_CONFIG"] = dir.file("agent.conf")
        let r = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal"),
                                   "--output", dir.file("out.tar.gz")], cwd: dir.path, environment: env)
        #expect(r.status == 0, "\(r.error)")
        try FileManager.default.createDirectory(atPath: dir.file("x"), withIntermediateDirectories: true)
        #expect(try run("/usr/bin/tar", ["xzf", dir.file("out.tar.gz"), "-C", dir.file("x")]).status == 0)
        let manifest = try BundleJSON.decoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir.file("x/manifest.json"))))
        #expect(manifest.host.hostname != "fixture-laptop", "hostname redaction from agent.conf: \(manifest.host.hostname)")
        // A broken agent.conf is an error, not a bundle collected without its rules.
        try dir.write("agent.conf", "redact_hostnames = maybe\n")
        let bad = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--output", dir.file("bad.tar.gz")], cwd: dir.path, environment: env)
        #expect(bad.status == ExitCodes.collectionFailed && bad.error.contains("redact_hostnames"), "\(bad.error)")
    }

    @Test func collectWritesABundleThatTarOpens() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try makeFixtures(dir)
        let r = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal"),
                                   "--output", dir.file("out.tar.gz"), "--note", "wifi drops every hour"], cwd: dir.path)
        #expect(r.status == 0, "\(r.error)")
        #expect(r.output.contains("Bundle written: \(dir.file("out.tar.gz"))"))
        #expect(r.output.contains("journal"))

        try FileManager.default.createDirectory(atPath: dir.file("x"), withIntermediateDirectories: true)
        let tar = try run("/usr/bin/tar", ["xzf", dir.file("out.tar.gz"), "-C", dir.file("x")])
        #expect(tar.status == 0, "\(tar.error)")
        let list = try run("/usr/bin/tar", ["tzf", dir.file("out.tar.gz")])
        #expect(list.output.split(separator: "\n").first == "manifest.json")

        let manifest = try BundleJSON.decoder().decode(Manifest.self, from: Data(contentsOf: URL(fileURLWithPath: dir.file("x/manifest.json"))))
        #expect(manifest.schemaVersion == 1)
        #expect(UUID(uuidString: manifest.bundleID) != nil)
        #expect(manifest.host.hostname == "fixture-laptop")
        #expect(manifest.host.machineID == "00112233445566778899aabbccddeeff")
        #expect(manifest.host.bootID == Self.boot)
        #expect(manifest.note == "wifi drops every hour")
        #expect(manifest.reason == .userRequest)
        let journalReport = try #require(manifest.probes.first { $0.name == "journal" })
        #expect(journalReport.status == .ok)
        #expect(journalReport.items == 2)
        #expect(manifest.journalWindow?.kernelBootID == Self.boot)
        for report in manifest.probes where report.member != nil {
            #expect(FileManager.default.fileExists(atPath: dir.file("x/" + report.member!)), "\(report.name)'s member is missing")
        }

        let lines = try String(contentsOfFile: dir.file("x/journal.jsonl"), encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 2)
        let first = try JSONDecoder().decode(JournalEntry.self, from: Data(lines[0].utf8))
        #expect(first.transport == "kernel")
        #expect(first.bootID == Self.boot)
        #expect(try String(contentsOfFile: dir.file("x/note.txt"), encoding: .utf8) == "wifi drops every hour")
        #expect(journalReport.bytes == (try FileManager.default.attributesOfItem(atPath: dir.file("x/journal.jsonl"))[.size] as? Int))

        // And the collector's reader accepts it.
        let contents = try BundleReader.read(path: dir.file("out.tar.gz"))
        #expect(contents.journalEntries == 2)
    }

    @Test func defaultFileNameNamesHostTimeAndId() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try makeFixtures(dir)
        let r = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal")], cwd: dir.path)
        #expect(r.status == 0, "\(r.error)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".tar.gz") }
        #expect(files.count == 1)
        let name = try #require(files.first)
        #expect(name.range(of: #"^helpline-fixture-laptop-\d{8}T\d{6}Z-[0-9a-f]{8}\.tar\.gz$"#, options: .regularExpression) != nil, "\(name)")
    }

    @Test func noJournalStillMakesABundle() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try makeFixtures(dir)
        try FileManager.default.createDirectory(atPath: dir.file("empty"), withIntermediateDirectories: true)
        let r = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--journal-directory", dir.file("empty"),
                                   "--output", dir.file("b.tar.gz")])
        #expect(r.status == 0, "\(r.error)")
        #expect(r.output.contains("skipped"))
        let contents = try BundleReader.read(path: dir.file("b.tar.gz"))
        #expect(contents.manifest.probes.first { $0.name == "journal" }?.status == .skipped)
        #expect(!contents.members.contains { $0.name == "journal.jsonl" })
    }

    @Test func badFlagsAreRefusedWithAClearMessageAndNoFile() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let r = try run(helpline, ["collect", "--since", "yesterday", "--output", dir.file("b.tar.gz")])
        #expect(r.status != 0)
        #expect(r.error.contains("--since 'yesterday' is not a duration"))
        let missing = try run(helpline, ["collect", "--journal-directory", dir.file("nope"), "--output", dir.file("b.tar.gz")])
        #expect(missing.status != 0)
        #expect(missing.error.contains("does not exist"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty)
    }

    @Test func outOfRangeNumbersAreRefusedNamingTheFlagAndRange() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try makeFixtures(dir)
        let cases: [([String], String)] = [
            (["--since", "100000d"], "--since '100000d' is too long; give 1s to 3650d"),
            (["--since", "9223372036854775807d"], "--since '9223372036854775807d' is too long; give 1s to 3650d"),
            (["--since", "1e400s"], "--since '1e400s' is not a duration"),
            (["--max-journal-entries", "99999999999999999999"], "--max-journal-entries '99999999999999999999' is too large; give 1 to 10000000"),
            (["--max-journal-bytes", "8589934592GiB"], "--max-journal-bytes '8589934592GiB' is too large; give 4KiB to 1GiB"),
            (["--cpu-sample", "0"], "--cpu-sample '0' is too short; give 10ms to 5s"),
        ]
        for (flags, message) in cases {
            let r = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal"),
                                       "--output", dir.file("b.tar.gz")] + flags)
            #expect(r.status == 64, "\(flags): a usage error, not a crash (\(r.status)): \(r.error)")
            #expect(r.error.contains(message), "\(flags): \(r.error)")
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("b.tar.gz")))

        // The longest window accepted collects the journal like a short one.
        let longest = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal"),
                                         "--output", dir.file("b.tar.gz"), "--since", "3650d", "--important-since", "3650d"])
        #expect(longest.status == 0, "\(longest.error)")
        let journal = try BundleReader.read(path: dir.file("b.tar.gz")).manifest.probes.first { $0.name == "journal" }
        #expect(journal?.items == 2)
    }

    @Test func theNoteComesFromStandardInputOrAFileAndIsBoundedAtItsLimit() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try makeFixtures(dir)
        func collect(_ extra: [String], input: String? = nil) throws -> (status: Int32, error: String, note: String?) {
            let out = dir.file("n-\(UUID().uuidString).tar.gz")
            let r = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal"), "--output", out] + extra,
                            cwd: dir.path, input: input.map { Data($0.utf8) })
            guard r.status == 0 else { return (r.status, r.error, nil) }
            let manifest = try run("/usr/bin/tar", ["xzOf", out, "manifest.json"])
            return (r.status, r.error, try BundleJSON.decoder().decode(Manifest.self, from: Data(manifest.output.utf8)).note)
        }
        // Standard input (the Get Help launcher's way: never in the arguments `ps` shows).
        let piped = try collect(["--note-file", "-"], input: "the printer jams\n")
        #expect(piped.status == 0 && piped.note == "the printer jams", "\(piped.error)")
        // A file at the limit (its one trailing newline is not part of the note), and one byte over.
        let limit = NoteFlags.maxNoteBytes
        try dir.write("at-limit.txt", String(repeating: "a", count: limit) + "\n")
        let atLimit = try collect(["--note-file", dir.file("at-limit.txt")])
        #expect(atLimit.status == 0 && atLimit.note?.utf8.count == limit, "\(atLimit.error)")
        try dir.write("over.txt", String(repeating: "a", count: limit + 1))
        let over = try collect(["--note-file", dir.file("over.txt")])
        #expect(over.status != 0 && over.error.contains("over \(limit) bytes"), "\(over.error)")
        let overInline = try collect(["--note", String(repeating: "b", count: limit + 1)])
        #expect(overInline.status != 0 && overInline.error.contains("at most \(limit)"), "\(overInline.error)")
        let both = try collect(["--note", "x", "--note-file", dir.file("at-limit.txt")])
        #expect(both.status != 0 && both.error.contains("not both"), "\(both.error)")
        let missing = try collect(["--note-file", dir.file("no-such-note.txt")])
        #expect(missing.status != 0 && missing.error.contains("no-such-note.txt"), "\(missing.error)")
    }

    @Test func unwritableOutputFailsWithExitCode3AndLeavesNothing() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try makeFixtures(dir)
        let r = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal"),
                                   "--output", dir.file("no/such/folder/b.tar.gz")])
        #expect(r.status == ExitCodes.collectionFailed)
        #expect(r.error.contains("cannot write the bundle"))
    }

    @Test func previewShowsTheRedactedJournalAndKeepsNothing() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try makeFixtures(dir)
        let r = try run(helpline, ["preview", "--probe", "journal", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal")],
                        cwd: dir.path)
        #expect(r.status == 0, "\(r.error)")
        let lines = r.output.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[1].contains("Started Session 3 of User alice."))
        let summary = try run(helpline, ["preview", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal")], cwd: dir.path)
        #expect(summary.output.contains("nothing was sent"))
        #expect(summary.output.contains("journal"))
        let unknown = try run(helpline, ["preview", "--probe", "nonsense"])
        #expect(unknown.status != 0)
        #expect(unknown.error.contains("unknown probe"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["journal", "root"])
    }
}

@Suite struct DurationTextTests {
    @Test(arguments: [("90s", 90.0), ("30m", 1800), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("500ms", 0.5), ("45", 45), ("1w", 604_800)])
    func parses(_ text: String, _ seconds: Double) {
        let d = DurationText.parse(text)
        #expect(d.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } == seconds)
    }

    @Test(arguments: ["", "yesterday", "1x", "h", "-5m", "1.5h"])
    func rejects(_ text: String) {
        #expect(DurationText.parse(text) == nil)
    }
}
