import Foundation
import Testing
@testable import Diagnosis
import Shared

/// Each built-in YAML rule on crafted entries in the formats the real kernel drivers and daemons print.
struct JournalRuleTests {
    /// A case: entries that must raise `rule` (and the top finding's severity).
    struct Case: CustomTestStringConvertible, Sendable {
        var rule: String
        var severity: Severity
        var entries: [JournalEntry]
        var testDescription: String { rule }
    }

    static func repeated(_ n: Int, every seconds: Double = 60, _ make: (Int) -> JournalEntry) -> [JournalEntry] {
        (0..<n).map { i in make(i) }.enumerated().map { i, e in
            var e = e; e.realtime -= Int64(Double(n - i) * seconds * 1_000_000); return e
        }
    }

    static let cases: [Case] = [
        Case(rule: "disk.no_space_errors", severity: .high, entries: [
            logLine("Error writing to /var/log/app.log: No space left on device", identifier: "rsyslogd", priority: 3)]),
        Case(rule: "memory.oom_kill", severity: .high, entries: [
            kernelEntry("firefox invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0", priority: 4),
            kernelEntry("oom-kill:constraint=CONSTRAINT_NONE,nodemask=(null),cpuset=/,mems_allowed=0,global_oom,task_memcg=/user.slice/user-1000.slice/user@1000.service/app.slice/app-firefox.scope,task=firefox,pid=4242,uid=1000", priority: 6),
            kernelEntry("Out of memory: Killed process 4242 (firefox) total-vm:11450132kB, anon-rss:6283900kB, file-rss:0kB, shmem-rss:1220kB, UID:1000 pgtables:18432kB oom_score_adj:100"),
        ]),
        Case(rule: "memory.oomd_kill", severity: .high, entries: [
            logLine("Killed /user.slice/user-1000.slice/user@1000.service/app.slice/app-gnome-firefox-4242.scope due to memory pressure for /user.slice/user-1000.slice/user@1000.service being 72.50% > 50.00% for > 20s with reclaim activity", identifier: "systemd-oomd", unit: "systemd-oomd.service", priority: 5),
        ]),
        Case(rule: "service.crash_loop", severity: .medium, entries: repeated(4) { i in
            logLine("cups.service: Scheduled restart job, restart counter is at \(i + 1).", identifier: "systemd", unit: "init.scope") }),
        Case(rule: "service.start_limit_hit", severity: .high, entries: [
            logLine("cups.service: Start request repeated too quickly.", identifier: "systemd", unit: "init.scope", priority: 4),
            logLine("cups.service: Failed with result 'start-limit-hit'.", identifier: "systemd", unit: "init.scope", priority: 4)]),
        Case(rule: "service.failed", severity: .medium, entries: [
            logLine("cups.service: Main process exited, code=exited, status=1/FAILURE", identifier: "systemd", unit: "init.scope", priority: 5),
            logLine("cups.service: Failed with result 'exit-code'.", identifier: "systemd", unit: "init.scope", priority: 4)]),
        Case(rule: "crash.coredump", severity: .medium, entries: [
            logLine("Process 4242 (evince) of user 1000 dumped core.\n\nStack trace of thread 4242:\n#0  0x00007f raise (libc.so.6 + 0x3c)",
                  identifier: "systemd-coredump", priority: 2, messageID: "fc2e22bc6ee647b6b90729ab34a250b1",
                  coredump: ["EXE": "/usr/bin/evince", "SIGNAL_NAME": "SIGSEGV"])]),
        Case(rule: "crash.segfault", severity: .medium, entries: repeated(3) { _ in
            kernelEntry("evince[4242]: segfault at 0 ip 00007f1e2c3b4d5e sp 00007ffd1a2b3c40 error 4 in libpoppler.so.126[7f1e2c200000+1a0000] likely on CPU 3 (core 1, socket 0)", priority: 6) }),
        Case(rule: "storage.ata_error", severity: .high, entries: [
            kernelEntry("ata1.00: exception Emask 0x0 SAct 0x100000 SErr 0x0 action 0x0"),
            kernelEntry("ata1.00: failed command: READ FPDMA QUEUED"),
            kernelEntry("ata1.00: status: { DRDY ERR }"),
            kernelEntry("ata1.00: error: { UNC }")]),
        Case(rule: "storage.io_error", severity: .high, entries: [
            kernelEntry("blk_update_request: I/O error, dev sda, sector 123456 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"),
            kernelEntry("I/O error, dev sda, sector 123464 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2")]),
        Case(rule: "storage.io_error", severity: .high, entries: [
            kernelEntry("I/O error, dev vda, sector 2048 op 0x1:(WRITE) flags 0x800 phys_seg 1 prio class 2")]),
        Case(rule: "storage.nvme_error", severity: .high, entries: [
            kernelEntry("nvme nvme0: I/O tag 123 (0x007b) opcode 0x2 (Read) QID 4 timeout, aborting req_op:READ(0) size:4096", priority: 4),
            kernelEntry("nvme nvme0: I/O 123 QID 4 timeout, reset controller", priority: 4),
            kernelEntry("nvme nvme0: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff", priority: 4)]),
        Case(rule: "storage.filesystem_error", severity: .high, entries: [
            kernelEntry("EXT4-fs error (device nvme0n1p2): ext4_lookup:1855: inode #1311: comm ls: iget: checksum invalid", priority: 2)]),
        Case(rule: "storage.filesystem_error", severity: .high, entries: [
            kernelEntry("BTRFS warning (device sda1): csum failed root 5 ino 257 off 0 csum 0x8941f998 expected csum 0x1d4ac8a4 mirror 1", priority: 4)]),
        Case(rule: "storage.filesystem_error", severity: .high, entries: [
            kernelEntry("XFS (dm-0): Metadata corruption detected at xfs_dinode_verify+0x1a0/0x5d0 [xfs], inode 0x1234 dinode", priority: 1)]),
        Case(rule: "storage.remounted_readonly", severity: .critical, entries: [
            kernelEntry("EXT4-fs (nvme0n1p2): Remounting filesystem read-only", priority: 2)]),
        Case(rule: "network.wifi_disconnects", severity: .medium, entries: repeated(3, every: 600) { _ in
            logLine("wlp2s0: CTRL-EVENT-DISCONNECTED bssid=aa:bb:cc:dd:ee:ff reason=4", identifier: "wpa_supplicant", unit: "wpa_supplicant.service") }),
        Case(rule: "network.wifi_disconnects", severity: .medium, entries: repeated(3, every: 600) { _ in
            kernelEntry("wlp2s0: deauthenticating from aa:bb:cc:dd:ee:ff by local choice (Reason: 4=DISASSOC_DUE_TO_INACTIVITY)", priority: 6) }),
        Case(rule: "network.connection_failed", severity: .medium, entries: repeated(2) { _ in
            logLine("<info>  [1790000000.1234] device (wlp2s0): state change: config -> failed (reason 'supplicant-timeout', sys-iface-state: 'managed')",
                  identifier: "NetworkManager", transport: "syslog", unit: "NetworkManager.service") }),
        Case(rule: "network.wifi_firmware_crash", severity: .high, entries: [
            kernelEntry("iwlwifi 0000:00:14.3: Microcode SW error detected. Restarting 0x0.")]),
        Case(rule: "network.wifi_firmware_crash", severity: .high, entries: [
            kernelEntry("ath10k_pci 0000:02:00.0: firmware crashed! (guid 73b30611-5b1e-4bdd-90b4-64c81eb947b6)")]),
        Case(rule: "network.wifi_firmware_crash", severity: .high, entries: [
            kernelEntry("ath11k_pci 0000:01:00.0: firmware crashed: MHI_CB_EE_RDDM", priority: 4)]),
        Case(rule: "network.link_flapping", severity: .medium, entries: repeated(3) { _ in
            kernelEntry("e1000e 0000:00:1f.6 enp0s31f6: NIC Link is Down", priority: 6) }),
        Case(rule: "network.link_flapping", severity: .medium, entries: repeated(3) { _ in
            kernelEntry("igb 0000:01:00.0 enp1s0: igb: enp1s0 NIC Link is Down", priority: 6) }),
        Case(rule: "dns.resolution_failures", severity: .medium, entries: repeated(3) { _ in
            logLine("apt: Temporary failure in name resolution", identifier: "packagekitd", priority: 4) }),
        Case(rule: "dns.dnssec_failures", severity: .medium, entries: repeated(3) { _ in
            logLine("DNSSEC validation failed for question example.com IN A: signature-expired", identifier: "systemd-resolved", priority: 5) }),
        Case(rule: "dns.degraded_feature_set", severity: .low, entries: [
            logLine("Using degraded feature set UDP instead of UDP+EDNS0 for DNS server 192.168.1.1.", identifier: "systemd-resolved", priority: 4)]),
        Case(rule: "dns.dnsmasq_overloaded", severity: .medium, entries: repeated(2) { _ in
            logLine("Maximum number of concurrent DNS queries reached (max: 150)", identifier: "dnsmasq", priority: 4) }),
        Case(rule: "gpu.hang", severity: .high, entries: [
            kernelEntry("i915 0000:00:02.0: [drm] GPU HANG: ecode 12:1:85dffffb, in gnome-shell [1523]", priority: 6),
            kernelEntry("i915 0000:00:02.0: [drm] Resetting chip for stopped heartbeat on rcs0", priority: 5)]),
        Case(rule: "gpu.hang", severity: .high, entries: [
            kernelEntry("[drm:amdgpu_job_timedout [amdgpu]] *ERROR* ring gfx_0.0.0 timeout, signaled seq=6662176, emitted seq=6662178"),
            kernelEntry("amdgpu 0000:03:00.0: amdgpu: GPU reset begin!", priority: 4)]),
        Case(rule: "gpu.hang", severity: .high, entries: [
            kernelEntry("nouveau 0000:01:00.0: fifo: fault 00 [READ] at 0000000000d2b000 engine 00 [GR] client 0f [GPC0/PROP_0] reason 02 [PTE] on channel 2")]),
        Case(rule: "gpu.hang", severity: .high, entries: [
            kernelEntry("NVRM: Xid (PCI:0000:01:00): 79, pid=2210, GPU has fallen off the bus.", priority: 4)]),
        Case(rule: "thermal.throttling", severity: .medium, entries: [
            kernelEntry("CPU0: Core temperature above threshold, cpu clock throttled (total events = 12)", priority: 2)]),
        Case(rule: "thermal.critical_shutdown", severity: .critical, entries: [
            kernelEntry("thermal thermal_zone0: critical temperature reached (105 C), shutting down", priority: 0)]),
        Case(rule: "time.sync_failure", severity: .medium, entries: repeated(5) { _ in
            logLine("Timed out waiting for reply from 185.125.190.56:123 (ntp.ubuntu.com).", identifier: "systemd-timesyncd", priority: 6) }),
        Case(rule: "time.sync_failure", severity: .medium, entries: repeated(5) { _ in
            logLine("Can't synchronise: no selectable sources", identifier: "chronyd", priority: 4) }),
        Case(rule: "power.suspend_failure", severity: .high, entries: [
            kernelEntry("xhci_hcd 0000:00:14.0: PM: failed to suspend async: error -16"),
            kernelEntry("PM: Some devices failed to suspend, or early wake event detected"),
            logLine("Failed to put system to sleep. System resumed again: Device or resource busy", identifier: "systemd-sleep", priority: 3)]),
        Case(rule: "usb.enumeration_errors", severity: .medium, entries: [
            kernelEntry("usb 1-1: device descriptor read/64, error -71"),
            kernelEntry("usb 1-1: device not accepting address 5, error -71")]),
        Case(rule: "usb.overcurrent", severity: .high, entries: [kernelEntry("usb usb1-port2: over-current condition")]),
        Case(rule: "usb.disconnect_storm", severity: .medium, entries: repeated(5, every: 30) { i in
            kernelEntry("usb 1-2: USB disconnect, device number \(i + 3)", priority: 6) }),
        Case(rule: "cpu.machine_check", severity: .medium, entries: [
            kernelEntry("mce: [Hardware Error]: Machine check events logged", priority: 4),
            kernelEntry("mce: [Hardware Error]: CPU 2: Machine Check: 0 Bank 4: e600000000020408", priority: 2)]),
        Case(rule: "memory.ecc_corrected", severity: .medium, entries: [
            kernelEntry("EDAC MC0: 1 CE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x12345 offset:0x0 grain:32 syndrome:0x0)", priority: 4)]),
        Case(rule: "memory.ecc_uncorrected", severity: .critical, entries: [
            kernelEntry("EDAC MC0: 1 UE memory read error on CPU_SrcID#0_Ha#0_Chan#1_DIMM#0 (channel:1 slot:0 page:0x12345 offset:0x0 grain:32)", priority: 0)]),
        Case(rule: "storage.smart_warning", severity: .high, entries: [
            logLine("Device: /dev/sda [SAT], 8 Currently unreadable (pending) sectors", identifier: "smartd", transport: "syslog", priority: 2),
            logLine("Device: /dev/sda [SAT], 8 Offline uncorrectable sectors", identifier: "smartd", transport: "syslog", priority: 2)]),
        Case(rule: "storage.smart_failed", severity: .critical, entries: [
            logLine("Device: /dev/sdd [SAT], FAILED SMART self-check. BACK UP DATA NOW!", identifier: "smartd", transport: "syslog", priority: 2)]),
        Case(rule: "crash.kernel_oops", severity: .high, entries: [
            kernelEntry("BUG: kernel NULL pointer dereference, address: 0000000000000008", priority: 1),
            kernelEntry("Oops: 0000 [#1] PREEMPT SMP NOPTI", priority: 4)]),
        Case(rule: "storage.fsck_needed", severity: .critical, entries: [
            logLine("/dev/nvme0n1p2: UNEXPECTED INCONSISTENCY; RUN fsck MANUALLY.", identifier: "systemd-fsck", priority: 3)]),
        Case(rule: "load.hung_tasks", severity: .high, entries: [
            kernelEntry("INFO: task jbd2/sda1-8:312 blocked for more than 120 seconds.")]),
        // Issue 13's families: formats besides the rules' own examples where the programs print several.
        Case(rule: "auth.account_locked", severity: .high, entries: [
            logLine("pam_faillock(sudo:auth): Consecutive login failures for user devops account temporarily locked", identifier: "sudo", transport: "syslog", priority: 5)]),
        Case(rule: "auth.password_expired", severity: .medium, entries: [
            logLine("pam_sss(login:auth): received for user alice: 12 (Authentication token is no longer valid; new one required)", identifier: "login", transport: "syslog", priority: 5)]),
        Case(rule: "auth.login_failures", severity: .medium, entries: repeated(5) { _ in
            logLine("pam_unix(polkit-1:auth): authentication failure; logname=alice uid=1000 euid=0 tty= ruser=alice rhost=  user=alice", identifier: "polkit-agent-helper-1", transport: "syslog", priority: 5) }),
        Case(rule: "auth.ssh_bruteforce", severity: .medium, entries: repeated(10, every: 5) { i in
            logLine("Failed password for root from 203.0.113.9 port \(50000 + i) ssh2", identifier: "sshd", transport: "syslog", priority: 5) }),
        Case(rule: "auth.kerberos_clock_skew", severity: .high, entries: [
            logLine("Clock skew too great", identifier: "krb5_child", priority: 3)]),
        Case(rule: "auth.domain_unreachable", severity: .medium, entries: repeated(3) { _ in
            logLine("Cannot contact any KDC for realm 'AD.EXAMPLE.ORG'", identifier: "krb5_child", priority: 3) }),
        Case(rule: "auth.certificate_rejected", severity: .medium, entries: repeated(2) { _ in
            logLine("Error performing TLS handshake: The certificate is NOT trusted. The certificate issuer is unknown.", identifier: "evolution-source-registry", priority: 4) }),
        Case(rule: "network.vpn_tls_failed", severity: .medium, entries: [
            logLine("TLS Error: TLS handshake failed", identifier: "nm-openvpn", unit: "NetworkManager.service", priority: 3)]),
        Case(rule: "network.vpn_auth_failed", severity: .high, entries: [
            logLine("AUTH: Received control message: AUTH_FAILED", identifier: "nm-openvpn", unit: "NetworkManager.service", priority: 3)]),
        Case(rule: "network.wireguard_handshake", severity: .medium, entries: repeated(3, every: 5) { i in
            kernelEntry("wireguard: wg0: Handshake for peer 1 (198.51.100.4:51820) did not complete after 5 seconds, retrying (try \(i + 2))", priority: 7) }),
        Case(rule: "network.vpn_plugin_failed", severity: .medium, entries: repeated(2) { _ in
            logLine("<warn>  [1790000000.9300] vpn-connection[0x5650752f63b0,dcff9b1e-1f4e-4516-bb9d-90d483953ba1,\"Office\",13:(tun1)]: VPN plugin: failed: connect-failed (1)", identifier: "NetworkManager", priority: 4) }),
        Case(rule: "network.nfs_server_not_responding", severity: .high, entries: [
            kernelEntry("nfs: server 10.20.0.5 not responding, still trying", priority: 5)]),
        Case(rule: "network.cifs_errors", severity: .high, entries: [
            kernelEntry("CIFS: VFS: \\\\nas.local Send error in SessSetup = -13")]),
        Case(rule: "network.automount_failed", severity: .medium, entries: [
            logLine("mount(nfs): nfs: mount failure nas:/volume1/home on /home/bob", identifier: "automount", priority: 3)]),
        Case(rule: "printing.queue_stopped", severity: .high, entries: [
            logLine("[Job 7] Job stopped due to filter errors; please consult the error_log file for details.", identifier: "cupsd", priority: 3)]),
        Case(rule: "printing.printer_unreachable", severity: .medium, entries: repeated(2) { _ in
            logLine("[Job 9] The printer is not responding.", identifier: "cupsd", priority: 4) }),
        Case(rule: "audio.codec_errors", severity: .medium, entries: [
            kernelEntry("sof-audio-pci-intel-tgl 0000:00:1f.3: ipc tx timed out for 0x30001000 (msg/reply size: 48/0)")]),
        Case(rule: "audio.device_busy", severity: .medium, entries: repeated(2) { _ in
            logLine("spa.alsa: 'hw:0,3': playback open failed: Device or resource busy", identifier: "pipewire", priority: 3) }),
        Case(rule: "bluetooth.adapter_errors", severity: .medium, entries: repeated(2) { _ in
            kernelEntry("Bluetooth: hci0: command 0x0c03 tx timeout") }),
        Case(rule: "bluetooth.connect_failed", severity: .medium, entries: repeated(3) { _ in
            logLine("src/service.c:btd_service_connect() a2dp-sink profile connect failed for 70:BF:92:11:22:33: Device or resource busy", identifier: "bluetoothd", priority: 3) }),
        Case(rule: "display.link_training_failed", severity: .medium, entries: repeated(2) { _ in
            kernelEntry("[drm:intel_dp_start_link_train [i915]] *ERROR* failed to train DP, aborting") }),
        Case(rule: "display.dock_errors", severity: .medium, entries: repeated(2) { _ in
            kernelEntry("thunderbolt 0000:00:0d.2: 0:3: timeout reading config space 1 from 0x39") }),
        Case(rule: "software.packages_broken", severity: .high, entries: [
            logLine("E: Sub-process /usr/bin/dpkg returned an error code (1)", identifier: "unattended-upgrade", priority: 3)]),
        Case(rule: "software.package_lock_held", severity: .medium, entries: repeated(3, every: 3600) { _ in
            logLine("E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 982 (apt-get)", identifier: "PackageKit", priority: 3) }),
        Case(rule: "software.update_failed", severity: .medium, entries: repeated(2, every: 3600) { _ in
            logLine("refresh-cache transaction /6409_aaeabbad from uid 1000 finished with failed after 2605ms", identifier: "PackageKit") }),
        Case(rule: "time.clock_offset", severity: .high, entries: [
            logLine("adjusting local clock by -1834.442957s", identifier: "ntpd", priority: 5)]),
        Case(rule: "disk.quota_exceeded", severity: .high, entries: [
            kernelEntry("dm-1: write failed, group block limit reached.", priority: 4)]),
        Case(rule: "power.hibernate_no_swap", severity: .high, entries: [
            logLine("Not enough suitable swap space for hibernation available on compatible block devices and file systems", identifier: "systemd-logind", priority: 3)]),
    ]

    @Test(arguments: cases) func ruleFiresOnRealMessageFormats(_ c: Case) throws {
        let findings = sharedEngine.diagnose(journal: c.entries)
        let f = try #require(findings.first { $0.ruleID == c.rule }, "no \(c.rule) among \(findings.map(\.ruleID))")
        #expect(f.severity == c.severity)
        #expect(!f.title.contains("?"), "unfilled placeholder in \(f.title)")
        let journal = f.evidence.filter { $0.kind == "journal" }
        #expect(!journal.isEmpty)
        for e in journal {
            #expect(c.entries.contains { $0.locator == e.cursor }, "evidence cursor \(e.cursor ?? "nil") is not a planted entry")
        }
        #expect(f.lastSeen == c.entries.map(\.date).max())
    }

    @Test func rulesGroupPerDeviceAndRenderCaptures() throws {
        let f = sharedEngine.diagnose(journal: [
            kernelEntry("I/O error, dev sda, sector 1 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"),
            kernelEntry("I/O error, dev sdb, sector 2 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"),
            kernelEntry("I/O error, dev sdb, sector 3 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0"),
        ]).filter { $0.ruleID == "storage.io_error" }
        #expect(f.count == 2)
        let sdb = try #require(f.first { $0.title.contains("sdb") })
        #expect(sdb.detail.contains("2 I/O errors"))
        #expect(sdb.detail.contains("latest sector 3"))
    }

    /// Each line shape names its device and error through the same captures, so the detail
    /// shows the one the latest line named (it used to print "not named" after a real name).
    @Test func suspendFailureNamesTheDeviceOnce() throws {
        for (line, device, error) in [("xhci_hcd 0000:00:14.0: PM: failed to suspend async: error -16", "xhci_hcd 0000:00:14.0", "-16"),
                                      ("xhci_hcd 0000:00:14.0: PM: dpm_run_callback(): pci_pm_suspend+0x0/0x160 returns -16", "xhci_hcd 0000:00:14.0", "-16"),
                                      ("PM: Device 0000:00:1f.3 failed to suspend async: error -5", "0000:00:1f.3", "-5"),
                                      ("PM: Some devices failed to suspend, or early wake event detected", "not named", "not given")] {
            let f = try #require(sharedEngine.diagnose(journal: [kernelEntry(line)]).first { $0.ruleID == "power.suspend_failure" }, "\(line)")
            #expect(f.detail.contains("(device \(device), error \(error),"), "\(line): \(f.detail)")
        }
    }

    @Test func thresholdWindowIsSliding() {
        // Three Wi-Fi drops spread over three hours do not make a pattern; three within an hour do.
        let spread = Self.repeated(3, every: 3600) { _ in
            logLine("wlp2s0: CTRL-EVENT-DISCONNECTED bssid=aa:bb:cc:dd:ee:ff reason=4", identifier: "wpa_supplicant") }
        #expect(!sharedEngine.diagnose(journal: spread).contains { $0.ruleID == "network.wifi_disconnects" })
        let close = spread + Self.repeated(2, every: 60) { _ in
            logLine("wlp2s0: CTRL-EVENT-DISCONNECTED bssid=aa:bb:cc:dd:ee:ff reason=4", identifier: "wpa_supplicant") }
        #expect(sharedEngine.diagnose(journal: close.sorted { $0.realtime < $1.realtime }).contains { $0.ruleID == "network.wifi_disconnects" })
    }

    /// Times at both ends of Int64 (entries built in code, not parsed from a bundle, which
    /// bounds them): the window's span is checked, not trapped on.
    @Test func aWindowSpanningInt64sWholeRangeIsNotMet() {
        let line = "wlp2s0: CTRL-EVENT-DISCONNECTED bssid=aa:bb:cc:dd:ee:ff reason=4"
        var entries = [logLine(line, identifier: "wpa_supplicant"), logLine(line, identifier: "wpa_supplicant"), logLine(line, identifier: "wpa_supplicant")]
        entries[0].realtime = .min
        entries[1].realtime = 0
        entries[2].realtime = .max
        #expect(!sharedEngine.diagnose(journal: entries).contains { $0.ruleID == "network.wifi_disconnects" })
    }

    @Test func locallyGeneratedDisconnectsAndOpticalDrivesAreIgnored() {
        let entries = Self.repeated(5) { _ in
            logLine("wlp2s0: CTRL-EVENT-DISCONNECTED bssid=aa:bb:cc:dd:ee:ff reason=3 locally_generated=1", identifier: "wpa_supplicant") }
            + [kernelEntry("I/O error, dev sr0, sector 0 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2")]
        #expect(sharedEngine.diagnose(journal: entries).isEmpty)
    }

    @Test func escalationRaisesSeverity() {
        let many = Self.repeated(12) { i in logLine("cups.service: Scheduled restart job, restart counter is at \(i + 1).", identifier: "systemd") }
        let f = sharedEngine.diagnose(journal: many).first { $0.ruleID == "service.crash_loop" }
        #expect(f?.severity == .high)
        #expect(f?.title == "The service cups.service keeps crashing and restarting")
        #expect(f?.detail.contains("restart counter at 12") == true)
    }

    @Test func evidenceIsCappedWithACount() throws {
        let many = (0..<30).map { i in kernelEntry("I/O error, dev sda, sector \(i) op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", secondsAgo: Double(100 - i)) }
        let f = try #require(sharedEngine.diagnose(journal: many).first { $0.ruleID == "storage.io_error" })
        #expect(f.severity == .critical)
        let journal = f.evidence.filter { $0.kind == "journal" }
        #expect(journal.count == 5)
        #expect(journal.last?.value.contains("sector 29 ") == true)  // the latest is always shown
        #expect(f.evidence.last?.value == "30 matching entries (5 shown, and 25 more)")
    }

    @Test func genericUnitFindingsFoldIntoTheSpecificOneWithTheSameSubject() throws {
        let f = sharedEngine.diagnose(journal: [
            kernelEntry("PM: Not enough free swap", secondsAgo: 120),
            logLine("systemd-hibernate.service: Failed with result 'exit-code'.", identifier: "systemd", priority: 4, secondsAgo: 119),
            logLine("cups.service: Failed with result 'exit-code'.", identifier: "systemd", priority: 4, secondsAgo: 60),
        ])
        #expect(f.map(\.ruleID) == ["power.hibernate_no_swap", "service.failed"], "\(f.map(\.ruleID))")
        let hibernate = f[0]
        #expect(hibernate.subject == "systemd-hibernate.service")
        #expect(hibernate.evidence.map(\.label) == ["kernel", "folded.service.failed", "systemd"])
        #expect(hibernate.evidence[1].value == "The service systemd-hibernate.service failed (exit-code)")
        #expect(hibernate.lastSeen == Date(timeIntervalSince1970: testNow.timeIntervalSince1970 - 119))
        // A failure no specific rule explains stays a finding of its own, with its unit as subject.
        #expect(f[1].subject == "cups.service")
        // Without the specific finding nothing is folded.
        let alone = sharedEngine.diagnose(journal: [logLine("systemd-hibernate.service: Failed with result 'exit-code'.", identifier: "systemd", priority: 4)])
        #expect(alone.map(\.ruleID) == ["service.failed"])
    }

    @Test func errorTemplatesMaskNumbersIdsHexAndPaths() {
        #expect(ErrorClusters.template("sync of /home/alice/x-12.dat failed: code 0x1f4 after 3 retries (pid 4242)")
                == "sync of <path> failed: code # after # retries (pid #)")
        #expect(ErrorClusters.template("usb 1-2:  device   not accepting address 5, error -71") == "usb #: device not accepting address #, error #")
        #expect(ErrorClusters.template("Failed to connect to org.freedesktop.UPower") == "Failed to connect to org.freedesktop.UPower")
        #expect(ErrorClusters.template(String(repeating: "x ", count: 500)).utf8.count <= ErrorClusters.templateBytes)
    }

    /// The template as first written (a token copied byte by byte): the scanner over the
    /// message's own bytes must give the same text for every message.
    static func referenceTemplate(_ message: String) -> String {
        var out: [UInt8] = []
        var token: [UInt8] = []
        var digit = false, slash = false
        func flush() {
            guard !token.isEmpty else { return }
            if slash || digit {
                var end = token.count
                while end > 0, [UInt8(ascii: ":"), UInt8(ascii: "."), UInt8(ascii: "-")].contains(token[end - 1]) { end -= 1 }
                out += Array((slash ? "<path>" : "#").utf8)
                out += token[end...]
            } else {
                out += token
            }
            token.removeAll(keepingCapacity: true)
            digit = false; slash = false
        }
        var n = 0
        for b in message.utf8 {
            n += 1
            if n > ErrorClusters.templateBytes { break }
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): token.append(b); digit = true
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"), UInt8(ascii: "."),
                 UInt8(ascii: ":"), UInt8(ascii: "-"), 0x80...0xFF:
                token.append(b)
            case UInt8(ascii: "/"): token.append(b); slash = true
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"):
                flush()
                if out.last != UInt8(ascii: " ") && !out.isEmpty { out.append(UInt8(ascii: " ")) }
            default:
                flush()
                out.append(b)
            }
        }
        flush()
        while out.last == UInt8(ascii: " ") { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }

    @Test func errorTemplatesAgreeWithTheReferenceOnRandomMessages() {
        // Seeded: the same messages every run. Pieces chosen to hit every branch: tokens with
        // digits, paths, trailing punctuation, whitespace runs, other bytes, non-ASCII, the 240-byte cut.
        let pieces = ["sda2:", "/dev/sda", "0x1f4.", "retries.", "-71", "a-b-", " ", "  ", "\t", "\n", "(", ")", ",", "é", "日本",
                      "err", "x", "1", "/", ":", ".", "-", "usb 1-2:", "=", "\"q\"", String(repeating: "z", count: 120)]
        var state: UInt64 = 13
        func next() -> UInt64 {  // SplitMix64
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        for _ in 0..<3000 {
            var m = ""
            for _ in 0..<Int(next() % 40) { m += pieces[Int(next() % UInt64(pieces.count))] }
            #expect(ErrorClusters.template(m) == Self.referenceTemplate(m), "\(m.debugDescription)")
        }
    }

    @Test func onlyRepeatedUnexplainedErrorsBecomeLowFindings() throws {
        let once = sharedEngine.diagnose(journal: [logLine("widget exploded at 0xdead", identifier: "acme", priority: 3)])
        #expect(once.isEmpty)
        let lines = (0..<4).map { i in logLine("widget exploded at 0x\(i)beef in /opt/acme/\(i)", identifier: "acme", priority: 3, secondsAgo: Double(100 - i)) }
            + [logLine("widget is fine", identifier: "acme", priority: 6)]
            // A matched line is explained, whatever its priority.
            + [kernelEntry("I/O error, dev sda, sector 8 op 0x0:(READ) flags 0x0 phys_seg 1 prio class 0", priority: 3)]
        let f = sharedEngine.diagnose(journal: lines)
        let u = try #require(f.first { $0.ruleID == "unrecognised.errors" })
        #expect(u.severity == .low && u.category == .other && u.subject == "acme")
        #expect(u.detail.contains("4 error-level messages") && u.detail.contains("\"widget exploded at # in <path>\""), "\(u.detail)")
        #expect(f.filter { $0.ruleID == "unrecognised.errors" }.count == 1)
        #expect(f.first?.ruleID == "storage.io_error")
    }

    /// What a healthy desktop prints all day: nothing above low.
    static let healthyNoise: [JournalEntry] = [
        logLine("gkr-pam: unable to locate daemon control file", identifier: "gdm-password]", priority: 5),
        logLine("Window manager warning: Overwriting existing binding of keysym 31 with keysym 31 (keycode a).", identifier: "gnome-shell", transport: "stdout", priority: 4),
        logLine("JS ERROR: TypeError: this._windowActor is null", identifier: "gnome-shell", transport: "stdout", priority: 3),
        kernelEntry("audit: type=1400 audit(1790000000.123:456): apparmor=\"ALLOWED\" operation=\"open\" profile=\"snap.firefox\" name=\"/proc/12/stat\"", priority: 5),
        logLine("<info>  [1790000000.1234] dhcp4 (wlp2s0): state changed new lease, address=192.168.1.23", identifier: "NetworkManager", transport: "syslog"),
        logLine("<info>  [1790000000.1234] device (wlp2s0): state change: activated -> deactivating (reason 'sleeping', sys-iface-state: 'managed')", identifier: "NetworkManager", transport: "syslog"),
        logLine("<info>  [1790000000.1234] device (wlp2s0): state change: deactivating -> disconnected (reason 'sleeping', sys-iface-state: 'managed')", identifier: "NetworkManager", transport: "syslog"),
        logLine("E: [alsa-sink-ALC257 Analog] alsa-sink.c: ALSA woke us up to write new data to the device, but there was actually nothing to write.", identifier: "pulseaudio", transport: "syslog", priority: 3),
        logLine("Using degraded feature set UDP instead of UDP+EDNS0 for DNS server 192.168.1.1.", identifier: "systemd-resolved", priority: 4),
        kernelEntry("wlp2s0: deauthenticating from 11:22:33:44:55:66 by local choice (Reason: 3=DEAUTH_LEAVING)", priority: 6),
        logLine("wlp2s0: CTRL-EVENT-DISCONNECTED bssid=11:22:33:44:55:66 reason=3 locally_generated=1", identifier: "wpa_supplicant"),
        kernelEntry("usb 1-3: new high-speed USB device number 7 using xhci_hcd", priority: 6),
        kernelEntry("usb 1-3: USB disconnect, device number 7", priority: 6),
        kernelEntry("e1000e 0000:00:1f.6 enp0s31f6: NIC Link is Down", priority: 6),
        logLine("Timed out waiting for reply from 185.125.190.56:123 (ntp.ubuntu.com).", identifier: "systemd-timesyncd"),
        logLine("Initial synchronization to time server 185.125.190.57:123 (ntp.ubuntu.com).", identifier: "systemd-timesyncd"),
        logLine("logrotate.service: Deactivated successfully.", identifier: "systemd"),
        logLine("Finished apt-daily.service - Daily apt download activities.", identifier: "systemd"),
        logLine("pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)", identifier: "CRON", transport: "syslog"),
        kernelEntry("EXT4-fs (nvme0n1p2): re-mounted. Quota mode: none.", priority: 6),
        kernelEntry("i915 0000:00:02.0: [drm] GT0: HuC: authenticated!", priority: 6),
        logLine("ATTENTION: default value of option mesa_glthread overridden by environment.", identifier: "firefox", transport: "stdout"),
        logLine("Device: /dev/sda [SAT], SMART Prefailure Attribute: 1 Raw_Read_Error_Rate changed from 117 to 118", identifier: "smartd", transport: "syslog"),
        logLine("Device: /dev/sda [SAT], SMART Usage Attribute: 194 Temperature_Celsius changed from 64 to 62", identifier: "smartd", transport: "syslog"),
    ]

    @Test func healthyDesktopNoiseStaysQuiet() {
        let findings = sharedEngine.diagnose(contents: healthyContents(), journal: Self.healthyNoise)
        #expect(findings.allSatisfy { $0.severity <= .low }, "\(findings.map { "\($0.ruleID) \($0.severity)" })")
    }

    @Test func everyBuiltInRuleIsListed() {
        let ids = sharedEngine.rules.map(\.id)
        #expect(Set(ids).count == ids.count)
        for c in Self.cases { #expect(ids.contains(c.rule)) }
        #expect(sharedEngine.rules.filter { $0.kind == .metric }.count == MetricRules.builtIn.count)
        // Every journal rule has a test case above.
        let tested = Set(Self.cases.map(\.rule))
        for r in sharedEngine.rules where r.kind == .journal { #expect(tested.contains(r.id), "\(r.id) has no test case") }
    }
}

/// Messages far longer than any rule needs stay cheap and still match on their start.
struct LongMessageTests {
    @Test func regexSeesOnlyTheStartOfHugeMessages() throws {
        let trace = String(repeating: "#1  0x00007f2a1b2c3d4e n/a (libpoppler.so.126 + 0x1c3d4e)\n", count: 5000)
        let e = logLine("Process 4242 (evince) of user 1000 dumped core.\n\n" + trace, identifier: "systemd-coredump", priority: 2,
                        messageID: "fc2e22bc6ee647b6b90729ab34a250b1")
        let f = try #require(sharedEngine.diagnose(journal: [e]).first)
        #expect(f.ruleID == "crash.coredump")
        #expect(f.title == "evince crashed")
        #expect(f.evidence.first?.value.count ?? 0 <= 501)  // evidence messages are cut at 500 characters
    }
}
