import Foundation
import Testing
@testable import Agent
@testable import Shared

/// The organisation's redaction (agent.conf `rules_dir`, `redact_*`) on every path the daemon
/// collects by, and the structured fields (mount sources and points, process owners, the
/// hostname) that go through the redactor like free text.
@Suite(.serialized) struct DaemonRedactionTests {
    /// A folder with `org.rules` holding a rule for `ORGSECRET-<digits>`, and the config naming it.
    private func organisationRules(_ dir: TempDir) throws -> AgentConfig {
        try dir.write("rules/org.rules", "orgsecret: ORGSECRET-[0-9]+\n")
        // The built-in rules alone leave the string: only the organisation's rule removes it.
        #expect(try Redactor().redact("x ORGSECRET-4242 y") == "x ORGSECRET-4242 y")
        var config = AgentConfig()
        try config.apply(text: "rules_dir = \(dir.file("rules"))\nredact_usernames = yes\n", source: "agent.conf")
        return config
    }

    @Test func agentConfRedactionKeysAreReadAndCheckedAndLocalFlagsOnlyAdd() throws {
        var config = AgentConfig()
        try config.apply(text: """
            rules_dir = /etc/helpline/redaction.d
            redact_emails = true
            redact_usernames = on
            redact_ips = false
            redact_macs = no
            redact_hostnames = yes
            """, source: "agent.conf")
        #expect(config.redaction.organisationRulesDirectory == "/etc/helpline/redaction.d")
        #expect(config.redaction.switchesOn == ["emails", "usernames", "hostnames"])
        let relative = #expect(throws: AgentConfigError.self) { try config.apply(text: "rules_dir = rules.d\n", source: "agent.conf") }
        #expect(relative?.description.contains("agent.conf:1: rules_dir 'rules.d' is not an absolute path") == true)
        let notBool = #expect(throws: AgentConfigError.self) { try config.apply(text: "\nredact_ips = sometimes\n", source: "agent.conf") }
        #expect(notBool?.description == "agent.conf:2: redact_ips 'sometimes' is not true or false")

        // A local run keeps every redaction agent.conf turns on and adds its own; its
        // --rules-dir applies besides the organisation's, not instead.
        let local = try CollectionFlags.parse(["--redact-ips", "--rules-dir", "/tmp/mine"]).options(defaultsFrom: config).redaction
        #expect(local.switchesOn == ["emails", "usernames", "ips", "hostnames"])
        #expect(local.rulesDirectories == ["/etc/helpline/redaction.d", "/tmp/mine"])

        // Over the socket a user can add redactions, never remove them; an unknown one is refused.
        let daemon = try DaemonCommand.daemonOptions(for: DaemonRequest(redact: ["macs"]), config: config).redaction
        #expect(daemon.switchesOn == ["emails", "usernames", "macs", "hostnames"])
        #expect(daemon.organisationRulesDirectory == "/etc/helpline/redaction.d")
        #expect(try DaemonCommand.daemonOptions(for: DaemonRequest(), config: config).redaction == config.redaction)
        #expect(throws: InputValueError.self) { try DaemonCommand.daemonOptions(for: DaemonRequest(redact: ["nothing"]), config: config) }
    }

    @Test func anOrdinaryUsersRequestThroughTheDaemonUsesAgentConfRules() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let config = try organisationRules(dir)
        // A live process whose command line carries the string.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        holder.arguments = ["-c", "import time; time.sleep(120)", "ORGSECRET-5678"]
        try holder.run()
        defer { kill(holder.processIdentifier, SIGKILL); holder.waitUntilExit() }

        let listener = try DaemonSocket(path: dir.file("agent.sock"))
        defer { listener.stopListening() }
        // Not enrolled: the daemon collects and keeps the bundle in its spool.
        DaemonCommand.serve(listener, state: AgentState(directory: dir.file("state")), config: config, log: DaemonLog())
        let fd = try #require(SocketLines.connect(path: listener.path))
        defer { close(fd) }
        var deadlines = SocketDeadlines()
        deadlines.answer = .seconds(300)
        let client = deadlines
        // On a thread of its own, so the daemon's task has the test's cooperative thread.
        let asked = await Collection.onThread(name: "test-client") {
            DaemonClient.ask(fd: fd, request: DaemonRequest(note: "printer says ORGSECRET-1234", since: "5m"),
                             progress: nil, deadlines: client)
        }
        let answer = try #require(asked)
        #expect(answer.outcome == "not_enrolled", "\(answer.message)")
        let kept = try #require(answer.keptAt, "\(answer)")
        let bundle = try BundleReader.read(path: kept)
        #expect(bundle.manifest.note == "printer says [REDACTED:orgsecret]")
        #expect(bundle.note.map { !$0.contains("ORGSECRET-1234") } ?? false)
        let held = try #require(bundle.processes?.processes.first { $0.pid == Int(holder.processIdentifier) })
        #expect(held.commandLine.contains("[REDACTED:orgsecret]"), "\(held.commandLine)")
        #expect(!held.commandLine.contains("ORGSECRET-5678"), "\(held.commandLine)")
        #expect(bundle.manifest.redactions["orgsecret", default: 0] >= 2)
    }

    @Test func theHeartbeatUsesAgentConfRulesAndRedactsMountSources() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let config = try organisationRules(dir)
        let tree = try FixtureCopy("sysroot-laptop")
        defer { tree.cleanup() }
        // firefox-esr is the process with the most memory, so it is among the heartbeat's top processes.
        try tree.write("/proc/2210/cmdline", "/usr/lib/firefox-esr/firefox-esr\0--profile\0ORGSECRET-4242\0")
        try appendFTPMount(tree)

        let beat = try await HeartbeatSnapshot.take(hostID: "h-1", spooled: 0, redaction: config.redaction, sysroot: tree.root)
        let text = String(decoding: try BundleJSON.encoder().encode(beat), as: UTF8.self)
        let firefox = try #require(beat.topProcesses.first { $0.pid == 2210 }, "\(beat.topProcesses.map(\.pid))")
        #expect(firefox.commandLine.contains("[REDACTED:orgsecret]"), "\(firefox.commandLine)")
        #expect(!text.contains("ORGSECRET-4242"))
        let ftp = try #require(beat.filesystems.first { $0.mountPoint == "/mnt/ftp" }, "\(beat.filesystems.map(\.mountPoint))")
        #expect(!ftp.device.contains("s3cretpass"), "\(ftp.device)")
        #expect(!text.contains("s3cretpass"))
        // redact_usernames is on: neither process owners nor mount points name alice.
        #expect(!beat.topProcesses.contains { $0.user == "alice" })
        #expect(!beat.filesystems.contains { $0.mountPoint.contains("alice") }, "\(beat.filesystems.map(\.mountPoint))")
    }

    @Test func aBadRulesDirMeansNoHeartbeatRatherThanAnUnredactedOne() async throws {
        var config = AgentConfig()
        try config.apply(text: "rules_dir = /nonexistent/helpline-rules\n", source: "agent.conf")
        await #expect(throws: RedactionError.self) {
            _ = try await HeartbeatSnapshot.take(hostID: "h-1", spooled: 0, redaction: config.redaction, sysroot: fixturePath("sysroot-laptop"))
        }
    }

    @Test func disksJSONCarriesNoCredentialsFromAMountSource() throws {
        let tree = try FixtureCopy("sysroot-laptop")
        defer { tree.cleanup() }
        try appendFTPMount(tree)
        let out = try DisksProbe().collect(fixtureContext(tree.root))
        let text = String(decoding: out.bytes, as: UTF8.self)
        #expect(!text.contains("s3cretpass"), "\(text)")
        let d = try decode(DiskInfo.self, out)
        let ftp = try #require(d.filesystems.first { $0.mountPoint == "/mnt/ftp" })
        // The user and host stay for the technician; the password is gone.
        #expect(ftp.device.contains("ftp.example.com"), "\(ftp.device)")
        #expect(ftp.device.contains("[REDACTED:"), "\(ftp.device)")
        #expect(out.unreadable.contains { $0.hasPrefix("statvfs /mnt/ftp ") })
    }

    @Test func identifierRedactionReachesProcessOwnersMountPointsAndTheManifestHostname() throws {
        let root = fixturePath("sysroot-laptop")
        var options = CollectOptions()
        options.sysroot = root
        options.redaction.usernames = true
        options.redaction.hostnames = true
        let redactor = try Redactor(options: options.redaction, identities: RedactionIdentities.read(sysroot: root))
        let context = ProbeContext(sysroot: root, now: Date(timeIntervalSince1970: 1_717_500_000), options: options, redactor: redactor)
        // Without the switches these fields do name alice and her laptop (the test could fail).
        let plain = try fixtureContext(root)
        #expect(try decode(ProcessList.self, ProcessesProbe().collect(plain)).processes.contains { $0.user == "alice" })
        #expect(HostIdentity.read(context: plain, hostID: nil).hostname == "t14-alice")

        let processes = try decode(ProcessList.self, ProcessesProbe().collect(context)).processes
        #expect(!processes.isEmpty)
        #expect(!processes.contains { $0.user == "alice" })
        #expect(processes.contains { $0.user?.hasPrefix("[user-") == true })
        let disks = try decode(DiskInfo.self, DisksProbe().collect(context))
        #expect(disks.filesystems.contains { $0.mountPoint.hasPrefix("/media/[user-") }, "\(disks.filesystems.map(\.mountPoint))")
        let host = HostIdentity.read(context: context, hostID: nil)
        #expect(host.hostname != "t14-alice")
        #expect(host.hostname.contains("[host-"), "\(host.hostname)")
    }

    /// Adds a curlftpfs mount whose source carries a password to the tree's mountinfo.
    private func appendFTPMount(_ tree: FixtureCopy) throws {
        let path = tree.path("/proc/self/mountinfo")
        var text = try String(contentsOfFile: path, encoding: .utf8)
        if !text.hasSuffix("\n") { text += "\n" }
        text += "130 28 0:90 / /mnt/ftp rw,nosuid,nodev,relatime shared:600 - fuse.curlftpfs curlftpfs#ftp://bob:s3cretpass@ftp.example.com/ rw,user_id=0,group_id=0\n"
        try text.write(toFile: path, atomically: false, encoding: .utf8)
    }
}
