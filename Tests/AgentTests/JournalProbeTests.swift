import Foundation
import Testing
@testable import Agent
@testable import Shared

/// Collects from real journal files (written by systemd-journal-remote) through sd-journal.
@Suite(.serialized) struct JournalProbeTests {
    static let boot = "0123456789abcdef0123456789abcdef"
    static let oldBoot = "fedcba9876543210fedcba9876543210"

    /// A sysroot that only says which boot is current.
    func sysroot(_ dir: TempDir, boot: String = boot) throws -> String {
        let uuid = boot.enumerated().map { i, c in [8, 12, 16, 20].contains(i) ? "-\(c)" : "\(c)" }.joined()
        try dir.write("root/proc/sys/kernel/random/boot_id", uuid + "\n")
        try dir.write("root/proc/sys/kernel/hostname", "fixture-host\n")
        return dir.file("root")
    }

    /// Collects the fixture journal in `dir` (with `redactor` when given, to read its counts).
    func collect(_ dir: TempDir, now: Date, redactor: Redactor? = nil, configure: (inout CollectOptions) -> Void = { _ in }) throws
        -> (JournalProbe.Outcome, [JournalEntry]) {
        var options = CollectOptions()
        options.sysroot = try sysroot(dir)
        options.journalDirectory = dir.file("journal")
        configure(&options)
        let redactor = try redactor ?? Redactor(options: options.redaction)
        let context = ProbeContext(sysroot: options.sysroot, now: now, options: options, redactor: redactor)
        let collected = Collected()
        let outcome = try JournalProbe.collect(context) { chunk in collected.append(chunk) }
        var entries: [JournalEntry] = []
        try collected.bytes.withUnsafeBytes { raw in try JournalLineCodec.forEachEntry(in: raw) { entries.append($0) } }
        return (outcome, entries)
    }

    @Test func windowTakesTheLastHourWarningsOf72HoursAndKernelMessagesOfThisBoot() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        let h = 3600.0
        try JournalFixture.write([
            .init(realtime: ago(100 * h, from: now), bootID: Self.oldBoot, [("MESSAGE", "kernel: previous boot"), ("PRIORITY", "6"), ("_TRANSPORT", "kernel")]),
            .init(realtime: ago(99 * h, from: now), bootID: Self.oldBoot, [("MESSAGE", "error 99h ago"), ("PRIORITY", "3"), ("_TRANSPORT", "syslog")]),
            .init(realtime: ago(90 * h, from: now), bootID: Self.boot, [("MESSAGE", "Linux version 6.1.0"), ("PRIORITY", "5"), ("_TRANSPORT", "kernel")]),
            .init(realtime: ago(80 * h, from: now), bootID: Self.boot, [("MESSAGE", "info 80h ago"), ("PRIORITY", "6"), ("_TRANSPORT", "syslog")]),
            .init(realtime: ago(48 * h, from: now), bootID: Self.boot, [("MESSAGE", "warning 48h ago"), ("PRIORITY", "4"), ("_TRANSPORT", "syslog")]),
            .init(realtime: ago(47 * h, from: now), bootID: Self.boot, [("MESSAGE", "info 47h ago"), ("PRIORITY", "6"), ("_TRANSPORT", "syslog")]),
            .init(realtime: ago(2 * h, from: now), bootID: Self.boot, [("MESSAGE", "kernel info 2h ago"), ("PRIORITY", "6"), ("_TRANSPORT", "kernel")]),
            .init(realtime: ago(1800, from: now), bootID: Self.boot, [("MESSAGE", "debug 30m ago"), ("PRIORITY", "7"), ("_TRANSPORT", "journal")]),
            .init(realtime: ago(60, from: now), bootID: Self.boot, [("MESSAGE", "info 1m ago"), ("PRIORITY", "6"), ("_TRANSPORT", "stdout")]),
        ], to: dir.file("journal"))
        let (outcome, entries) = try collect(dir, now: now)
        #expect(entries.map { $0.message ?? "" } == ["Linux version 6.1.0", "warning 48h ago", "kernel info 2h ago", "debug 30m ago", "info 1m ago"])
        #expect(outcome.output.status == .ok)
        #expect(outcome.output.items == 5)
        #expect(outcome.window?.kernelBootID == Self.boot)
        #expect(outcome.window?.firstCursor == entries.first?.locator)
        #expect(outcome.window?.lastCursor == entries.last?.locator)
        #expect(entries.first?.locator == "b=\(Self.boot);t=" + String(entries[0].realtime, radix: 16))
        #expect(entries.map(\.realtime) == entries.map(\.realtime).sorted(), "oldest first")
    }

    @Test func sinceWidensTheWindow() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        try JournalFixture.write([
            .init(realtime: ago(5 * 3600, from: now), bootID: Self.boot, [("MESSAGE", "info 5h ago"), ("PRIORITY", "6")]),
            .init(realtime: ago(60, from: now), bootID: Self.boot, [("MESSAGE", "info 1m ago"), ("PRIORITY", "6")]),
        ], to: dir.file("journal"))
        let (_, narrow) = try collect(dir, now: now)
        #expect(narrow.count == 1)
        let (_, wide) = try collect(dir, now: now) { $0.allSince = .seconds(6 * 3600) }
        #expect(wide.map(\.message) == ["info 5h ago", "info 1m ago"])
    }

    /// A window longer than the time since 1970 starts at 1970: before, `now - window` wrapped
    /// round to the far future and the bundle silently held no journal at all.
    @Test func aWindowLongerThanTheEpochTakesEverythingInsteadOfNothing() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        try JournalFixture.write([
            .init(realtime: ago(900 * 86_400, from: now), bootID: Self.oldBoot, [("MESSAGE", "info 900 days ago"), ("PRIORITY", "6")]),
            .init(realtime: ago(60, from: now), bootID: Self.boot, [("MESSAGE", "info 1m ago"), ("PRIORITY", "6")]),
        ], to: dir.file("journal"))
        for days: Int64 in [1000, 100_000, 106_751_991] {
            let (outcome, entries) = try collect(dir, now: now) {
                $0.allSince = .seconds(days * 86_400)
                $0.importantSince = $0.allSince
            }
            #expect(entries.map(\.message) == ["info 900 days ago", "info 1m ago"], "window of \(days) days")
            #expect(outcome.output.status == .ok)
        }
    }

    @Test func entryCapKeepsTheNewestAndSaysWhereItCut() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        let entries = (0..<50).map { i in
            JournalFixture.Entry(realtime: ago(Double(50 - i) * 10, from: now), bootID: Self.boot, [("MESSAGE", "line \(i)"), ("PRIORITY", "6")])
        }
        try JournalFixture.write(entries, to: dir.file("journal"))
        let (atCap, all) = try collect(dir, now: now) { $0.maxJournalEntries = 50 }
        #expect(all.count == 50)
        #expect(atCap.output.truncated == false)
        let (outcome, kept) = try collect(dir, now: now) { $0.maxJournalEntries = 20 }
        #expect(kept.count == 20)
        #expect(kept.first?.message == "line 30")
        #expect(kept.last?.message == "line 49")
        #expect(outcome.output.truncated)
        #expect(outcome.output.status == .partial)
        #expect(outcome.output.truncation?.contains("20 entries") == true)
    }

    @Test func byteCapKeepsTheNewest() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        let big = String(repeating: "x", count: 1000)
        try JournalFixture.write((0..<40).map { i in
            JournalFixture.Entry(realtime: ago(Double(40 - i), from: now), bootID: Self.boot, [("MESSAGE", "\(i) \(big)"), ("PRIORITY", "6")])
        }, to: dir.file("journal"))
        let (outcome, kept) = try collect(dir, now: now) { $0.maxJournalBytes = 20_000 }
        #expect(kept.count < 40 && kept.count >= 10)
        #expect(kept.last?.message?.hasPrefix("39 ") == true)
        #expect(outcome.output.truncated)
        var size = 0
        for e in kept { var b: [UInt8] = []; JournalLineCodec.append(e, to: &b); size += b.count }
        #expect(size <= 20_000)
    }

    @Test func nonUTF8MessagesSurviveWithTheirBytes() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        let raw: [UInt8] = Array("usb 1-1: bad name ".utf8) + [0xC3, 0x28, 0xFF] + Array(" end".utf8)
        try JournalFixture.write([
            .init(realtime: ago(10, from: now), bootID: Self.boot, rawFields: [("MESSAGE", raw), ("PRIORITY", Array("6".utf8))]),
        ], to: dir.file("journal"))
        let (_, entries) = try collect(dir, now: now)
        #expect(entries.count == 1)
        #expect(entries[0].messageBytes == raw)
        #expect(entries[0].message?.hasPrefix("usb 1-1: bad name") == true)
    }

    @Test func coredumpEntriesKeepTheirFieldsButNotTheEnvironment() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        try JournalFixture.write([
            .init(realtime: ago(30, from: now), bootID: Self.boot, [
                ("MESSAGE", "Process 4242 (firefox) of user 1000 dumped core.\n\nStack trace of thread 4242:\n#0  0x00007f raise (libc.so.6)"),
                ("MESSAGE_ID", "fc2e22bc6ee647b6b90729ab34a250b1"), ("PRIORITY", "2"), ("SYSLOG_IDENTIFIER", "systemd-coredump"),
                ("COREDUMP_EXE", "/usr/lib/firefox/firefox"), ("COREDUMP_SIGNAL_NAME", "SIGSEGV"), ("COREDUMP_SIGNAL", "11"),
                ("COREDUMP_PID", "4242"), ("COREDUMP_ENVIRON", "AWS_SECRET_ACCESS_KEY=abc"), ("COREDUMP_PROC_MAPS", "7f00-7f01 r-xp"),
            ]),
        ], to: dir.file("journal"))
        let (_, entries) = try collect(dir, now: now)
        let cd = try #require(entries.first?.coredump)
        #expect(cd["EXE"] == "/usr/lib/firefox/firefox")
        #expect(cd["SIGNAL_NAME"] == "SIGSEGV")
        #expect(cd["PID"] == "4242")
        #expect(cd["ENVIRON"] == nil)
        #expect(cd["PROC_MAPS"] == nil)
        #expect(entries.first?.messageID == "fc2e22bc6ee647b6b90729ab34a250b1")
        #expect(entries.first?.message?.contains("\n#0 ") == true)
    }

    @Test func everyKeptFieldIsExtracted() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let now = Date()
        try JournalFixture.write([
            .init(realtime: ago(5, from: now), bootID: Self.boot, [
                ("MESSAGE", "Started Session 3"), ("PRIORITY", "6"), ("SYSLOG_FACILITY", "3"), ("SYSLOG_IDENTIFIER", "systemd"),
                ("_SYSTEMD_UNIT", "init.scope"), ("_SYSTEMD_USER_UNIT", "gnome-shell.service"), ("_PID", "1"), ("_COMM", "systemd"),
                ("_EXE", "/usr/lib/systemd/systemd"), ("_TRANSPORT", "journal"), ("MESSAGE_ID", "8d45620c1a4348dbb17410da57c60c66"),
            ]),
        ], to: dir.file("journal"))
        let (_, entries) = try collect(dir, now: now)
        let e = try #require(entries.first)
        #expect(e.bootID == Self.boot)
        #expect(e.priority == 6)
        #expect(e.facility == 3)
        #expect(e.identifier == "systemd")
        #expect(e.unit == "init.scope")
        #expect(e.userUnit == "gnome-shell.service")
        #expect(e.pid == 1)
        #expect(e.comm == "systemd")
        #expect(e.exe == "/usr/lib/systemd/systemd")
        #expect(e.transport == "journal")
        #expect(e.messageID == "8d45620c1a4348dbb17410da57c60c66")
    }

    @Test func noJournalIsSkippedNotFatal() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try FileManager.default.createDirectory(atPath: dir.file("journal"), withIntermediateDirectories: true)
        let (outcome, entries) = try collect(dir, now: Date())
        #expect(entries.isEmpty)
        #expect(outcome.output.status == .skipped)
        #expect(outcome.output.error?.contains("no journal found") == true)
    }
}

/// Collects sink output across threads.
final class Collected: @unchecked Sendable {
    // @unchecked: guarded by `lock`.
    private let lock = NSLock()
    private var data: [UInt8] = []
    func append(_ chunk: [UInt8]) { lock.lock(); data += chunk; lock.unlock() }
    var bytes: [UInt8] { lock.lock(); defer { lock.unlock() }; return data }
}
