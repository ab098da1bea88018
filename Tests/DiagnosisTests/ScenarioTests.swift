import Foundation
import Testing
@testable import Diagnosis
import Shared

/// End to end, per category: real journal files (systemd-journal-remote), the laptop sysroot with
/// a planted fault, the real `helpline collect`, then `DiagnosisEngine.diagnose(bundleAt:)`.
@Suite(.serialized) struct ScenarioTests {
    /// The sysroot fixture's boot (`/proc/sys/kernel/random/boot_id`), as journal entries carry it.
    static let boot = "9a7d5c3e1b2f4e6a8c0d2f4b6a8c0e1d"
    var helpline: String { productsDirectory + "/helpline" }

    /// A fault to plant: journal lines and changes to the healthy sysroot.
    struct Plant {
        var journal: (Date) -> [JournalExport.Entry] = { _ in [] }
        var files: [String: String] = [:]
    }

    /// The laptop fixture made healthy: room on /, no failed units, no OOM kills, no CPU hog.
    static let healthyFiles: [String: String] = [
        "helpline-fixture/units.json": #"{"failed": []}"#,
        "helpline-fixture/proc2/4100/stat": "4100 (cc1plus) R 4099 4100 4100 0 -1 4194560 1234 0 12 0 30212 812 0 0 20 0 1 0 9300000 3700162560 301120 18446744073709551615 94571234512896 94571234600000 140723456789504 0 0 0 0 4096 134301435 0 0 0 17 4 0 0 0 0 0 0 0 0 0 0 0 0 0\n",
    ]

    static func statvfs(rootAvailableBlocks: Int, rootFreeBlocks: Int) throws -> String {
        let text = try String(contentsOfFile: fixturePath("sysroot-laptop/helpline-fixture/statvfs.json"), encoding: .utf8)
        var object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: [String: Int]])
        object["/"]!["bavail"] = rootAvailableBlocks
        object["/"]!["bfree"] = rootFreeBlocks
        return String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    }

    /// Builds the scenario, collects a bundle with the real agent and diagnoses it.
    func diagnose(_ plant: Plant, now: Date = Date()) throws -> (findings: [Finding], planted: [JournalExport.Entry]) {
        let dir = try TempDir(); defer { dir.cleanup() }
        try FileManager.default.copyItem(atPath: fixturePath("sysroot-laptop"), toPath: dir.file("root"))
        var files = Self.healthyFiles
        files["helpline-fixture/statvfs.json"] = try Self.statvfs(rootAvailableBlocks: 30_000_000, rootFreeBlocks: 33_000_000)
        var vmstat = try String(contentsOfFile: dir.file("root/proc/vmstat"), encoding: .utf8)
        vmstat = vmstat.replacingOccurrences(of: "oom_kill 2", with: "oom_kill 0")
        files["proc/vmstat"] = vmstat
        files.merge(plant.files) { _, new in new }
        for (path, text) in files { try dir.write("root/" + path, text) }

        // Ordinary traffic around the planted lines, so rules must pick them out.
        let background = (0..<40).map { i in
            daemon(Double(3000 - i * 60), "systemd", "Started session-\(i).scope - Session \(i) of User alice.", unit: "init.scope", now: now)
        }
        let planted = plant.journal(now)
        try JournalExport.write(background + planted, bootID: Self.boot, to: dir.file("journal"))
        let r = try run(helpline, ["collect", "--sysroot", dir.file("root"), "--journal-directory", dir.file("journal"),
                                   "--output", dir.file("bundle.tar.gz")])
        guard r.status == 0 else { throw TestFailure("helpline collect failed: \(r.error)") }
        let engine = try DiagnosisEngine()
        let findings = try engine.diagnose(bundleAt: dir.file("bundle.tar.gz"))
        // The collector's way: one read, the session fed from its own BundleReader.
        let session = engine.session()
        let contents = try BundleReader.read(path: dir.file("bundle.tar.gz")) { session.consume($0) }
        #expect(session.finish(contents: contents) == findings)
        return (findings, planted)
    }

    /// The top finding is `rule`, and its journal evidence points at planted lines (by cursor).
    /// `alsoRules` must be raised too, with planted evidence.
    func expectTop(_ rule: String, category: FindingCategory, _ plant: Plant, alsoRules: [String] = [],
                   sourceLocation: SourceLocation = #_sourceLocation) throws {
        let (findings, planted) = try diagnose(plant)
        let top = try #require(findings.first, "no findings", sourceLocation: sourceLocation)
        #expect(top.ruleID == rule, "top is \(top.ruleID): \(findings.map { "\($0.ruleID)/\($0.severity)" })", sourceLocation: sourceLocation)
        #expect(top.category == category, sourceLocation: sourceLocation)
        let cursors = Set(planted.map { "b=\(Self.boot);t=" + String(UInt64($0.realtime), radix: 16) })
        for e in top.evidence where e.kind == "journal" {
            #expect(e.cursor.map(cursors.contains) == true, "evidence \(e.value) is not a planted line", sourceLocation: sourceLocation)
        }
        for also in alsoRules {
            let f = try #require(findings.first { $0.ruleID == also }, "\(also) not raised", sourceLocation: sourceLocation)
            let journal = f.evidence.filter { $0.kind == "journal" }
            #expect(!f.evidence.isEmpty && journal.allSatisfy { $0.cursor.map(cursors.contains) == true }, sourceLocation: sourceLocation)
        }
        if !planted.isEmpty {
            #expect(top.evidence.contains { $0.kind == "journal" } || top.evidence.contains { $0.kind == "metric" }, sourceLocation: sourceLocation)
        }
    }

    @Test func healthyLaptopWithDesktopNoiseRaisesNothingAboveLow() throws {
        let (findings, _) = try diagnose(Plant(journal: { now in
            JournalRuleTests.healthyNoise.enumerated().map { i, e in
                var fields: [(String, String)] = [("MESSAGE", e.message ?? ""), ("PRIORITY", "\(e.priority ?? 6)"), ("_TRANSPORT", e.transport ?? "journal"),
                                                  ("SYSLOG_IDENTIFIER", e.identifier ?? "kernel")]
                if e.transport == "kernel" { fields.append(("SYSLOG_FACILITY", "0")) }
                return JournalExport.Entry(realtime: ago(Double(2400 - i * 60), from: now), fields: fields)
            }
        }))
        #expect(findings.allSatisfy { $0.severity <= .low }, "\(findings.map { "\($0.ruleID)/\($0.severity)" })")
    }

    @Test func diskFull() throws {
        try expectTop("disk.space_low", category: .disk, Plant(
            journal: { now in [daemon(300, "rsyslogd", "file '/var/log/syslog': write error: No space left on device", priority: 3, now: now)] },
            files: ["helpline-fixture/statvfs.json": try Self.statvfs(rootAvailableBlocks: 1_800_000, rootFreeBlocks: 4_800_000)]))
        let (findings, _) = try diagnose(Plant(
            journal: { now in [daemon(300, "rsyslogd", "file '/var/log/syslog': write error: No space left on device", priority: 3, now: now)] },
            files: ["helpline-fixture/statvfs.json": try Self.statvfs(rootAvailableBlocks: 1_800_000, rootFreeBlocks: 4_800_000)]))
        #expect(findings.first?.severity == .critical)
        #expect(findings.first?.title.contains("/ is 97 % full") == true)
        #expect(findings.contains { $0.ruleID == "disk.no_space_errors" })
    }

    @Test func memoryOOMKills() throws {
        try expectTop("memory.oom_kill", category: .memory, Plant(
            journal: { now in [
                kernel(900, "firefox-esr invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0", priority: 4, now: now),
                kernel(899, "oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice/user-1000.slice,task=firefox-esr,pid=2210,uid=1000", priority: 6, now: now),
                kernel(899, "Out of memory: Killed process 2210 (firefox-esr) total-vm:11450132kB, anon-rss:6283900kB, file-rss:0kB, shmem-rss:1220kB, UID:1000 pgtables:18432kB oom_score_adj:0", now: now),
            ] },
            files: ["proc/vmstat": "oom_kill 1\n"]), alsoRules: ["memory.oom_kill_counter"])
    }

    @Test func serviceCrashLoopAndStartLimit() throws {
        let units = #"{"failed":[{"name":"cups.service","description":"CUPS Scheduler","loadState":"loaded","activeState":"failed","subState":"failed","restarts":5,"result":"start-limit-hit"}]}"#
        // units.json says it is failed now (the top); the journal says why (start limit, crash loop).
        try expectTop("service.failed_units", category: .service, Plant(
            journal: { now in
                var lines: [JournalExport.Entry] = []
                for i in 1...5 {
                    let t = Double(1200 - i * 30)
                    lines.append(daemon(t, "systemd", "cups.service: Main process exited, code=exited, status=1/FAILURE", priority: 5, unit: "init.scope", now: now))
                    lines.append(daemon(t - 1, "systemd", "cups.service: Scheduled restart job, restart counter is at \(i).", unit: "init.scope", now: now))
                }
                lines.append(daemon(1000, "systemd", "cups.service: Start request repeated too quickly.", priority: 4, unit: "init.scope", now: now))
                lines.append(daemon(1000, "systemd", "cups.service: Failed with result 'start-limit-hit'.", priority: 4, unit: "init.scope", now: now))
                return lines
            },
            files: ["helpline-fixture/units.json": units]), alsoRules: ["service.start_limit_hit", "service.crash_loop"])
    }

    @Test func applicationCrash() throws {
        try expectTop("crash.coredump", category: .crash, Plant(journal: { now in (0..<3).map { i in
            daemon(Double(1500 - i * 200), "systemd-coredump", "Process \(4242 + i) (evince) of user 1000 dumped core.\n\nStack trace of thread \(4242 + i):\n#0  0x00007f2a1b2c3d4e n/a (libpoppler.so.126 + 0x1c3d4e)",
                   priority: 2, unit: "systemd-coredump@0-1234-0.service",
                   extra: [("MESSAGE_ID", "fc2e22bc6ee647b6b90729ab34a250b1"), ("COREDUMP_EXE", "/usr/bin/evince"), ("COREDUMP_SIGNAL_NAME", "SIGSEGV"),
                           ("COREDUMP_PID", "\(4242 + i)"), ("COREDUMP_COMM", "evince")], now: now)
        } }))
        let (findings, _) = try diagnose(Plant(journal: { now in [
            daemon(600, "systemd-coredump", "Process 4242 (evince) of user 1000 dumped core.", priority: 2,
                   extra: [("MESSAGE_ID", "fc2e22bc6ee647b6b90729ab34a250b1"), ("COREDUMP_EXE", "/usr/bin/evince"), ("COREDUMP_SIGNAL_NAME", "SIGSEGV")], now: now)] }))
        #expect(findings.first?.detail.contains("/usr/bin/evince") == true)
        #expect(findings.first?.detail.contains("SIGSEGV") == true)
    }

    @Test func storageErrorsAndReadOnlyRemount() throws {
        try expectTop("storage.remounted_readonly", category: .storage, Plant(journal: { now in [
            kernel(700, "nvme0n1: I/O Cmd(0x2) @ LBA 123456, 8 blocks, I/O Error (sct 0x2 / sc 0x81) MORE", now: now),
            kernel(700, "I/O error, dev nvme0n1, sector 123456 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2", now: now),
            kernel(690, "EXT4-fs error (device nvme0n1p2): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0", priority: 2, now: now),
            kernel(690, "EXT4-fs (nvme0n1p2): Remounting filesystem read-only", priority: 2, now: now),
        ] }), alsoRules: ["storage.io_error", "storage.filesystem_error", "storage.nvme_error"])
    }

    @Test func sataDiskFailing() throws {
        try expectTop("storage.io_error", category: .storage, Plant(journal: { now in
            [kernel(800, "ata1.00: exception Emask 0x0 SAct 0x100000 SErr 0x0 action 0x0", now: now),
             kernel(800, "ata1.00: failed command: READ FPDMA QUEUED", now: now),
             kernel(800, "ata1.00: error: { UNC }", now: now)]
            + (0..<25).map { i in kernel(Double(790 - i), "blk_update_request: I/O error, dev sda, sector \(123456 + i * 8) op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", now: now) }
        }), alsoRules: ["storage.ata_error"])
    }

    @Test func wifiFirmwareCrashAndDrops() throws {
        try expectTop("network.wifi_firmware_crash", category: .network, Plant(journal: { now in
            [kernel(1500, "iwlwifi 0000:00:14.3: Microcode SW error detected. Restarting 0x0.", now: now)]
            + (0..<4).map { i in daemon(Double(1400 - i * 300), "wpa_supplicant", "wlp2s0: CTRL-EVENT-DISCONNECTED bssid=aa:bb:cc:dd:ee:ff reason=4", unit: "wpa_supplicant.service", now: now) }
        }), alsoRules: ["network.wifi_disconnects"])
    }

    @Test func dnsFailures() throws {
        try expectTop("dns.resolution_failures", category: .dns, Plant(journal: { now in (0..<6).map { i in
            daemon(Double(1200 - i * 60), "packagekitd", "Failed to download: Temporary failure in name resolution", priority: 4, unit: "packagekit.service", now: now)
        } }))
    }

    @Test func gpuHang() throws {
        try expectTop("gpu.hang", category: .gpu, Plant(journal: { now in [
            kernel(500, "i915 0000:00:02.0: [drm] GPU HANG: ecode 12:1:85dffffb, in gnome-shell [1523]", priority: 6, now: now),
            kernel(500, "i915 0000:00:02.0: [drm] Resetting chip for stopped heartbeat on rcs0", priority: 5, now: now),
        ] }))
    }

    @Test func thermalThrottling() throws {
        try expectTop("thermal.throttling", category: .thermal, Plant(journal: { now in (0..<12).map { i in
            kernel(Double(2000 - i * 100), "CPU\(i % 4): Core temperature above threshold, cpu clock throttled (total events = \(100 + i))", priority: 2, now: now)
        } }))
    }

    @Test func timeSync() throws {
        try expectTop("time.sync_failure", category: .time, Plant(journal: { now in (0..<6).map { i in
            daemon(Double(2400 - i * 300), "systemd-timesyncd", "Timed out waiting for reply from 185.125.190.56:123 (ntp.ubuntu.com).", unit: "systemd-timesyncd.service", now: now)
        } }))
    }

    @Test func suspendFailure() throws {
        try expectTop("power.suspend_failure", category: .power, Plant(journal: { now in [
            kernel(900, "xhci_hcd 0000:00:14.0: PM: dpm_run_callback(): pci_pm_suspend+0x0/0x160 returns -16", now: now),
            kernel(900, "xhci_hcd 0000:00:14.0: PM: failed to suspend async: error -16", now: now),
            kernel(900, "PM: Some devices failed to suspend, or early wake event detected", now: now),
            daemon(899, "systemd-sleep", "Failed to put system to sleep. System resumed again: Device or resource busy", priority: 3, unit: "systemd-suspend.service", now: now),
        ] }))
    }

    @Test func usbOverCurrent() throws {
        try expectTop("usb.overcurrent", category: .usb, Plant(journal: { now in [
            kernel(400, "usb 1-1: device descriptor read/64, error -71", now: now),
            kernel(399, "usb usb1-port1: over-current condition", now: now),
        ] }))
    }

    @Test func cpuHog() throws {
        // The fixture's own second sample: cc1plus used 48 ticks over 500 ms, 96 % of a core.
        let stat = try String(contentsOfFile: fixturePath("sysroot-laptop/helpline-fixture/proc2/4100/stat"), encoding: .utf8)
        try expectTop("cpu.hog_process", category: .cpu, Plant(files: ["helpline-fixture/proc2/4100/stat": stat]))
    }

    @Test func highLoad() throws {
        try expectTop("load.high", category: .load, Plant(files: ["proc/loadavg": "31.20 29.85 20.10 40/1187 48213\n"]))
    }
}
