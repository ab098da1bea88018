import Foundation
import Testing
@testable import Diagnosis
import Shared

/// The desk problems of issue 13 end to end, one family at a time: real journal files
/// (systemd-journal-remote) in formats other than the rules' own examples where the daemons
/// print several, planted among ordinary traffic, collected by the real `helpline collect`,
/// diagnosed from the bundle. Each names the expected top finding and its subject.
@Suite(.serialized) struct FamilyScenarioTests {
    let scenarios = ScenarioTests()

    /// The top finding is `rule` of `category` about `subject`, and its journal evidence is planted lines only.
    func expectTop(_ rule: String, category: FindingCategory, subject: String?, _ plant: ScenarioTests.Plant,
                   sourceLocation: SourceLocation = #_sourceLocation) throws -> [Finding] {
        let (findings, planted) = try scenarios.diagnose(plant)
        let top = try #require(findings.first, "no findings", sourceLocation: sourceLocation)
        #expect(top.ruleID == rule, "top is \(top.ruleID): \(findings.map { "\($0.ruleID)/\($0.severity)" })", sourceLocation: sourceLocation)
        #expect(top.category == category, sourceLocation: sourceLocation)
        #expect(top.subject == subject, "subject \(top.subject ?? "nil")", sourceLocation: sourceLocation)
        let cursors = Set(planted.map { "b=\(ScenarioTests.boot);t=" + String(UInt64($0.realtime), radix: 16) })
        let journal = top.evidence.filter { $0.kind == "journal" }
        #expect(!journal.isEmpty, sourceLocation: sourceLocation)
        for e in journal {
            #expect(e.cursor.map(cursors.contains) == true, "evidence \(e.value) is not a planted line", sourceLocation: sourceLocation)
        }
        return findings
    }

    @Test func accountLockedAfterFailedSignIns() throws {
        let findings = try expectTop("auth.account_locked", category: .auth, subject: "alice", .init(journal: { now in
            (0..<3).map { i in daemon(Double(900 - i * 20), "gdm-password]", "pam_unix(gdm-password:auth): authentication failure; logname= uid=0 euid=0 tty=/dev/tty1 ruser= rhost=  user=alice", priority: 5, transport: "syslog", now: now) }
            + [daemon(840, "gdm-password]", "pam_faillock(gdm-password:auth): Consecutive login failures for user alice account temporarily locked", priority: 5, transport: "syslog", now: now)]
        }))
        #expect(findings.first?.severity == .high)
    }

    @Test func vpnTLSHandshakeKeepsFailingAndItsUnitFailureFoldsIn() throws {
        let unit = "openvpn-client@office.service"
        let findings = try expectTop("network.vpn_tls_failed", category: .network, subject: unit, .init(journal: { now in
            var lines: [JournalExport.Entry] = []
            for i in 0..<3 {
                let t = Double(1500 - i * 120)
                lines.append(daemon(t, "openvpn", "TLS Error: TLS key negotiation failed to occur within 60 seconds (check your network connectivity)",
                                    priority: 3, unit: unit, now: now))
                lines.append(daemon(t - 1, "openvpn", "TLS Error: TLS handshake failed", priority: 3, unit: unit, now: now))
            }
            lines.append(daemon(1100, "systemd", "\(unit): Failed with result 'exit-code'.", priority: 4, unit: "init.scope", now: now))
            return lines
        }))
        #expect(!findings.contains { $0.ruleID == "service.failed" }, "the unit's failure is folded: \(findings.map(\.ruleID))")
        #expect(findings.first?.evidence.contains { $0.label == "folded.service.failed" } == true)
    }

    @Test func nfsServerNotResponding() throws {
        _ = try expectTop("network.nfs_server_not_responding", category: .network, subject: "files.corp.example.com", .init(journal: { now in [
            kernel(700, "nfs: server files.corp.example.com not responding, still trying", priority: 5, now: now),
            kernel(400, "nfs: server files.corp.example.com not responding, timed out", priority: 5, now: now),
        ] }))
    }

    @Test func cifsShareGone() throws {
        _ = try expectTop("network.cifs_errors", category: .network, subject: "fs01", .init(journal: { now in [
            kernel(600, "CIFS: VFS: \\\\fs01 has not responded in 180 seconds. Reconnecting...", now: now),
        ] }))
    }

    @Test func clockHalfAnHourOff() throws {
        // One measurement is direct evidence: no threshold.
        _ = try expectTop("time.clock_offset", category: .time, subject: "system clock", .init(journal: { now in [
            daemon(1200, "chronyd", "Selected source 192.168.1.1 (ntp.corp.example.com)", unit: "chrony.service", now: now),
            daemon(1199, "chronyd", "System clock wrong by -1823.402911 seconds", priority: 4, unit: "chrony.service", now: now),
        ] }))
    }

    @Test func hibernationWithoutSwapBeatsTheGenericUnitFailure() throws {
        let units = #"{"failed":[{"name":"systemd-hibernate.service","description":"System Hibernate","loadState":"loaded","activeState":"failed","subState":"failed","result":"exit-code"}]}"#
        let findings = try expectTop("power.hibernate_no_swap", category: .power, subject: "systemd-hibernate.service", .init(journal: { now in [
            daemon(900, "systemd-sleep", "Performing sleep operation 'hibernate'...", unit: "systemd-hibernate.service", now: now),
            kernel(899, "PM: hibernation: hibernation entry", priority: 6, now: now),
            kernel(898, "PM: Cannot find swap device, try swapon -a", now: now),
            kernel(898, "PM: Cannot get swap writer", now: now),
            daemon(897, "systemd", "systemd-hibernate.service: Main process exited, code=exited, status=1/FAILURE", priority: 5, unit: "init.scope", now: now),
            daemon(897, "systemd", "systemd-hibernate.service: Failed with result 'exit-code'.", priority: 4, unit: "init.scope", now: now),
            daemon(897, "systemd", "Failed to start systemd-hibernate.service - System Hibernate.", priority: 3, unit: "init.scope", now: now),
        ] }, files: ["helpline-fixture/units.json": units]))
        // One problem, one finding: the unit's generic findings are evidence here.
        #expect(!findings.contains { FindingFolding.genericRuleIDs.contains($0.ruleID) }, "\(findings.map(\.ruleID))")
        let labels = findings.first?.evidence.map(\.label) ?? []
        #expect(labels.contains("folded.service.failed") && labels.contains("folded.service.failed_units"), "\(labels)")
    }

    @Test func printQueueStopped() throws {
        _ = try expectTop("printing.queue_stopped", category: .printing, subject: "cups.service", .init(journal: { now in [
            daemon(500, "cupsd", "[Job 17] Backend returned status 4 (stop printer)", priority: 3, unit: "cups.service", now: now),
            daemon(500, "cupsd", "[Job 17] Printer stopped due to backend errors; please consult the error_log file for details.", priority: 3, unit: "cups.service", now: now),
        ] }))
    }

    @Test func soundChipStopsAnswering() throws {
        _ = try expectTop("audio.codec_errors", category: .audio, subject: "snd_hda_intel 0000:00:1f.3", .init(journal: { now in [
            kernel(800, "snd_hda_intel 0000:00:1f.3: No response from codec, disabling MSI: last cmd=0x001f0500", now: now),
            kernel(790, "snd_hda_intel 0000:00:1f.3: azx_get_response timeout, switching to polling mode: last cmd=0x001f0500", now: now),
        ] }))
    }

    @Test func bluetoothAdapterTimesOut() throws {
        _ = try expectTop("bluetooth.adapter_errors", category: .bluetooth, subject: "hci0", .init(journal: { now in [
            kernel(600, "Bluetooth: hci0: command 0x0c1a tx timeout", now: now),
            kernel(560, "Bluetooth: hci0: Opcode 0x0c1a failed: -110", now: now),
        ] }))
    }

    @Test func dockScreenLinkTraining() throws {
        _ = try expectTop("display.link_training_failed", category: .display, subject: "DP-3", .init(journal: { now in (0..<3).map { i in
            kernel(Double(900 - i * 30), "i915 0000:00:02.0: [drm] *ERROR* [CONNECTOR:263:DP-3][ENCODER:262:DDI TC1/PHY TC1][DPRX] Link Training failed at link rate = 810000, lane count = 2", now: now)
        } }))
    }

    @Test func packagesBroken() throws {
        _ = try expectTop("software.packages_broken", category: .software, subject: "dpkg", .init(journal: { now in [
            daemon(3000, "PackageKit", "E: dpkg was interrupted, you must manually run 'dpkg --configure -a' to correct the problem.", priority: 3, unit: "packagekit.service", now: now),
        ] }))
    }

    @Test func homeQuotaFull() throws {
        _ = try expectTop("disk.quota_exceeded", category: .disk, subject: "home quota", .init(journal: { now in [
            daemon(300, "thunderbird", "Failed to write /home/alice/.thunderbird/prefs-1.js: Disk quota exceeded", priority: 3, now: now),
        ] }))
    }

    @Test func sshPasswordGuessing() throws {
        _ = try expectTop("auth.ssh_bruteforce", category: .auth, subject: "198.51.100.77", .init(journal: { now in (0..<12).map { i in
            daemon(Double(600 - i * 10), "sshd", i % 2 == 0 ? "Failed password for invalid user test\(i) from 198.51.100.77 port \(40000 + i) ssh2"
                                                             : "Invalid user admin\(i) from 198.51.100.77 port \(40000 + i)", priority: 5, unit: "ssh.service", transport: "syslog", now: now)
        } }))
    }

    @Test func unrecognisedErrorsAreShownLowWithCountsAndSamples() throws {
        let (findings, planted) = try scenarios.diagnose(.init(journal: { now in (0..<6).map { i in
            daemon(Double(1000 - i * 60), "acme-sync", "sync of /home/alice/Acme/job-\(1000 + i).dat failed: server said 0x\(String(500 + i, radix: 16)) after \(i + 2) retries",
                   priority: 3, unit: "acme-sync.service", now: now)
        } }))
        let f = try #require(findings.first { $0.ruleID == "unrecognised.errors" }, "\(findings.map(\.ruleID))")
        #expect(f.severity == .low && f.subject == "acme-sync")
        #expect(f.title.contains("6 errors") && f.detail.contains("sync of <path> failed: server said # after # retries"), "\(f.title) | \(f.detail)")
        let journal = f.evidence.filter { $0.kind == "journal" }
        #expect(journal.count == 5 && journal.last?.value.contains("job-1005") == true)
        let cursors = Set(planted.map { "b=\(ScenarioTests.boot);t=" + String(UInt64($0.realtime), radix: 16) })
        #expect(journal.allSatisfy { $0.cursor.map(cursors.contains) == true })
        #expect(findings.allSatisfy { $0.severity <= .low })
    }

    @Test func secondHealthyDesktopWithFirmwareNoiseStaysQuiet() throws {
        let (findings, _) = try scenarios.diagnose(.init(journal: { now in [
            kernel(2900, "ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PC00.XHCI.RHUB.HS14._DSD], AE_NOT_FOUND (20230628/dswload2-162)", now: now),
            kernel(2900, "ACPI Error: AE_NOT_FOUND, During name lookup/catalog (20230628/psobject-220)", now: now),
            kernel(2899, "ACPI BIOS Error (bug): Could not resolve symbol [\\_SB.PC00.XHCI.RHUB.HS13._DSD], AE_NOT_FOUND (20230628/dswload2-162)", now: now),
            kernel(2899, "ACPI Error: AE_NOT_FOUND, During name lookup/catalog (20230628/psobject-220)", now: now),
            kernel(2898, "DMAR: [Firmware Bug]: No firmware reserved region can cover this RMRR [0x000000003e2e0000-0x000000003e2fffff], contact BIOS vendor for fixes", now: now),
            kernel(2898, "[Firmware Bug]: TSC_DEADLINE disabled due to Errata; please update microcode to version: 0x52 (or later)", priority: 4, now: now),
            kernel(2800, "rfkill: input handler disabled", priority: 6, now: now),
            daemon(2790, "systemd-rfkill", "Failed to open /dev/rfkill: No such device", priority: 3, unit: "systemd-rfkill.service", now: now),
            kernel(2000, "usb 3-2: device descriptor read/64, error -71", now: now),
            kernel(1990, "usb 3-2: new high-speed USB device number 5 using xhci_hcd", priority: 6, now: now),
            kernel(1500, "Bluetooth: hci0: Found device firmware: intel/ibt-0040-0041.sfi", priority: 6, now: now),
            daemon(1200, "gnome-shell", "Failed to connect to rfkill: Could not connect: No such file or directory", priority: 4, transport: "stdout", now: now),
        ] }))
        #expect(findings.allSatisfy { $0.severity <= .low }, "\(findings.map { "\($0.ruleID)/\($0.severity)" })")
        // The repeated firmware-table errors are shown (nothing unexplained is hidden), but low.
        #expect(findings.contains { $0.ruleID == "unrecognised.errors" && $0.subject == "kernel" })
    }
}
