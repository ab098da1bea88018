import Foundation
import Synchronization
import Testing
@testable import Agent
@testable import Shared

/// The real agent binary against the real collector on 127.0.0.1, through libcurl.
/// Needs the full build: without `helpline-collector` every test here fails (never skips),
/// naming what is missing.
@Suite(.serialized) struct DeliveryTests {
    func enrolled(_ world: AgentWorld, _ collector: LiveCollector, server: String? = nil) throws {
        let r = try world.helpline(["enroll", "--server", server ?? collector.url, "--secret", collector.enrollmentSecret])
        #expect(r.status == 0, "\(r.error)")
    }

    @Test func enrollRequestAndStatus() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }

        // Not enrolled yet: its own exit code, but the user still gets an answer — the bundle
        // is collected, diagnosed here and kept in the spool to be sent once enrolled.
        // The laptop fixture, with this machine's id: a bundle kept before enrollment is taken
        // by the collector for the machine it names (the fixture's own id would not be ours).
        let sysroot = world.dir.file("sysroot")
        try FileManager.default.copyItem(atPath: fixturePath("sysroot-laptop"), toPath: sysroot)
        try FileManager.default.removeItem(atPath: sysroot + "/etc/machine-id")
        try FileManager.default.copyItem(atPath: "/etc/machine-id", toPath: sysroot + "/etc/machine-id")
        let raw = try world.helpline(["request", "--json", "--note", "before enrolling", "--sysroot", sysroot, "--journal-directory", world.journal])
        let before = (status: raw.status, answer: try? BundleJSON.decoder().decode(RequestFlow.Answer.self, from: Data(raw.output.utf8)),
                      error: raw.error + raw.output)
        #expect(before.status == ExitCodes.notEnrolled)
        #expect(before.answer?.outcome == "not_enrolled")
        let keptBefore = try #require(before.answer?.keptAt, "\(before.error)")
        let keptID = try #require(before.answer?.bundleID)
        #expect(FileManager.default.fileExists(atPath: keptBefore))
        #expect(keptBefore.hasPrefix(world.state + "/spool/"))
        #expect(before.answer?.localFindings?.isEmpty == false, "the laptop fixture has problems the rules know")
        #expect(before.answer?.message.contains("Found on this computer:") == true)
        #expect(before.answer?.message.contains(keptBefore) == true, "the user is told where the bundle is")

        try enrolled(world, collector)
        let mode = try FileManager.default.attributesOfItem(atPath: world.state + "/enrollment.json")[.posixPermissions] as? Int
        #expect(mode == 0o600, "the host token file must be readable by its owner only")

        let r = try world.request(note: "the printer does not print")
        #expect(r.status == 0, "\(r.error)")
        let answer = try #require(r.answer)
        #expect(answer.outcome == "delivered")
        let receipt = try #require(answer.receipt)
        #expect(receipt.ticketID > 0)
        #expect(receipt.ticketURL == "\(collector.url)/tickets/\(receipt.ticketID)", "the link names the port really bound")
        #expect(answer.message.contains("Ticket #\(receipt.ticketID)"))
        #expect(answer.localFindings?.isEmpty == false, "--json carries the local findings beside the help desk's")
        // The bundle kept before enrollment was sent along (the collector took it by machine id).
        struct Stored: Decodable { var bundleID: String }
        #expect(try collector.get("/api/v1/bundles/\(keptID)", as: Stored.self).bundleID == keptID)
        #expect(!FileManager.default.fileExists(atPath: keptBefore))
        // Nothing left behind in the agent's outgoing folder or spool.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: world.state + "/outgoing"))?.isEmpty ?? true)

        // The text form, as a person sees it: the same problem again joins the open ticket.
        let text = try world.helpline(["request", "--note", "again", "--sysroot", fixturePath("sysroot-laptop"), "--journal-directory", world.journal])
        #expect(text.status == 0)
        #expect(text.output.contains("Added to your open ticket #\(receipt.ticketID)"), "\(text.output)")
        #expect(text.output.contains("The help desk found:"))
        #expect(text.output.contains("What you can do:"))

        let status = try world.helpline(["status", "--json"])
        #expect(status.status == 0, "\(status.error)")
        #expect(status.output.contains("\"id\" : \(receipt.ticketID)"))
        let human = try world.helpline(["status"])
        #expect(human.output.contains("#\(receipt.ticketID)"))
        #expect(human.output.contains("Nothing is waiting to be sent."))
    }

    @Test func reenrollingNeedsTheHeldTokenOrAnAdministratorsApproval() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        try world.dir.write("secret", collector.enrollmentSecret + "\n")
        chmod(world.dir.file("secret"), 0o600)
        let enroll = ["enroll", "--server", collector.url, "--secret-file", world.dir.file("secret")]
        let path = world.state + "/enrollment.json"
        func saved() throws -> AgentState.Enrollment {
            try BundleJSON.decoder().decode(AgentState.Enrollment.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        }
        let first = try world.helpline(enroll)
        #expect(first.status == 0, "\(first.error)")
        let original = try saved()

        // Holding the current token: re-enrolled at once, same host, new token.
        let again = try world.helpline(enroll)
        #expect(again.status == 0, "\(again.error)")
        #expect(again.output.contains("again; the old token no longer works"))
        let renewed = try saved()
        #expect(renewed.hostID == original.hostID)
        #expect(renewed.hostToken != original.hostToken)

        // The token is lost (state folder wiped but the key kept): parked until approved.
        try FileManager.default.removeItem(atPath: path)
        let pending = try world.helpline(enroll)
        #expect(pending.status == ExitCodes.notEnrolled, "\(pending.output)")
        #expect(pending.error.contains("already enrolled with the collector"), "\(pending.error)")
        #expect(pending.error.contains("helpline-collector admin host approve <hostname or host id>"))
        #expect(!FileManager.default.fileExists(atPath: path))

        _ = try collector.admin(["host", "approve", original.hostID])
        let approved = try world.helpline(enroll)
        #expect(approved.status == 0, "\(approved.error)")
        #expect(try saved().hostID == original.hostID)
        let r = try world.request()
        #expect(r.status == 0, "\(r.error)")
        #expect(r.answer?.outcome == "delivered")
    }

    /// Offline, the user gets the local findings at once; the help desk's answer, once the
    /// bundle arrives, names the same top problem.
    @Test func offlineTheUserHearsTheLocalFindingsAndTheHelpDeskAgrees() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let port = freePort()
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start(port: port)
        try enrolled(world, collector)
        collector.stop()

        // As a person sees it in a terminal-less run: the message carries the findings.
        let text = try world.helpline(["request", "--note", "slow", "--sysroot", fixturePath("sysroot-laptop"), "--journal-directory", world.journal])
        #expect(text.status == ExitCodes.spooled)
        #expect(text.error.contains("Found on this computer:"), "\(text.error)")
        #expect(text.error.contains("What you can do:"))
        let json = try world.request(note: "slow")
        #expect(json.status == ExitCodes.spooled)
        let local = try #require(json.answer?.localFindings)
        let top = try #require(local.first)

        try collector.start(port: port)
        defer { collector.stop() }
        let flush = try world.helpline(["spool", "flush"])
        #expect(flush.status == 0, "\(flush.error)")
        struct Tickets: Decodable { struct T: Decodable { var topRuleID: String? }; var tickets: [T] }
        let tickets = try collector.get("/api/v1/tickets", as: Tickets.self).tickets
        #expect(!tickets.isEmpty)
        #expect(tickets.allSatisfy { $0.topRuleID == top.ruleID }, "local top finding \(top.ruleID), tickets \(tickets.map(\.topRuleID))")
    }

    /// A request's redaction mapping is kept in `mappings/` (0600) for `mapping_retention`:
    /// each request deletes the mappings written longer ago than that, one second past the
    /// edge, and keeps one a second short of it and whatever else is in the folder.
    @Test func redactionMappingsAreKeptForTheirRetentionOnly() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        try world.dir.write("agent.conf", "retries = 1\nconnect_timeout = 2s\nredact_hostnames = true\nmapping_retention = 2d\n")
        let mappings = world.state + "/mappings"
        try FileManager.default.createDirectory(atPath: mappings, withIntermediateDirectories: true)
        let retention: TimeInterval = 2 * 86_400
        let now = Date()
        for (name, age) in [("old.map.json", retention + 1), ("young.map.json", retention - 60), ("notes.txt", retention * 10)] {
            try world.dir.write("state/mappings/" + name, "{}")
            try FileManager.default.setAttributes([.modificationDate: now.addingTimeInterval(-age)], ofItemAtPath: mappings + "/" + name)
        }
        let r = try world.request()
        #expect(r.status == ExitCodes.notEnrolled, "\(r.error)")
        let id = try #require(r.answer?.bundleID)
        let names = Set(try FileManager.default.contentsOfDirectory(atPath: mappings))
        #expect(names == ["young.map.json", "notes.txt", "\(id).map.json"], "\(names)")
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: mappings + "/\(id).map.json")[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let mapping = try JSONDecoder().decode([String: String].self, from: Data(contentsOf: URL(fileURLWithPath: mappings + "/\(id).map.json")))
        #expect(mapping.keys.contains { $0.hasPrefix("[host-") }, "\(mapping)")

        // The function at its edge, on a clock of its own: exactly the retention old stays.
        let edge = world.dir.file("edge")
        let written = Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down))
        try world.dir.write("edge/a.map.json", "{}")
        try FileManager.default.setAttributes([.modificationDate: written], ofItemAtPath: edge + "/a.map.json")
        #expect(RequestFlow.pruneMappings(in: edge, olderThan: .seconds(86_400), now: written.addingTimeInterval(86_400)) == 0)
        #expect(RequestFlow.pruneMappings(in: edge, olderThan: .seconds(86_400), now: written.addingTimeInterval(86_401)) == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: edge).isEmpty)
    }

    @Test func collectorDownSpoolsThenFlushDeliversExactlyOnce() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let port = freePort()
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start(port: port)
        try enrolled(world, collector)
        collector.stop()

        let r = try world.request()
        #expect(r.status == ExitCodes.spooled, "\(r.error)")
        #expect(r.answer?.outcome == "spooled")
        #expect(r.answer?.message.contains("will be sent automatically") == true)
        let waiting = try world.helpline(["spool", "list"])
        #expect(waiting.output.contains("Waiting to be sent: 1"))

        try collector.start(port: port)
        defer { collector.stop() }
        let flush = try world.helpline(["spool", "flush"])
        #expect(flush.status == 0, "\(flush.error)")
        #expect(flush.output.contains("ticket #"))
        #expect(try collector.ticketCount() == 1)
        // A second flush has nothing to do; still one ticket.
        let again = try world.helpline(["spool", "flush"])
        #expect(again.output.contains("Nothing is waiting"))
        #expect(try collector.ticketCount() == 1)
    }

    /// A spooled upload can outlast systemd's watchdog (the daemon flushes in its own process):
    /// the flush reports that bytes are moving, about once a second, and the daemon pings the
    /// watchdog from that. Here the proxy holds the upload until stall_timeout (4 s) gives up.
    @Test func aFlushSaysItIsAliveWhileAnUploadRuns() async throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let port = freePort()
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start(port: port)
        defer { collector.stop() }
        try enrolled(world, collector)
        let proxy = try FaultProxy(upstream: collector.port, plan: ["hang"])
        let spooled = try world.request(["--server", "http://127.0.0.1:\(freePort())"])
        #expect(spooled.status == ExitCodes.spooled, "\(spooled.error)")

        let state = AgentState(directory: world.state)
        let enrollment = try #require(try state.enrollment())
        var config = AgentConfig()
        config.server = proxy.url
        config.stallTimeout = .seconds(4)
        let delivery = Delivery(state: state, config: config, enrollment: enrollment)
        let pings = Mutex(0)
        let started = ContinuousClock.now
        let results = try #require(await delivery.flushSpool(force: true, moving: { pings.withLock { $0 += 1 } }))
        let took = ContinuousClock.now - started
        #expect(results.count == 1 && results.first?.delivered == false, "\(results.map(\.line))")
        let count = pings.withLock { $0 }
        #expect(took >= .seconds(4) && count >= 3, "\(count) pings in \(took)")
        #expect(count <= Int(took.components.seconds) + 1, "at most one a second: \(count) in \(took)")
    }

    /// 10 minutes, plus the bundle's bytes at the slowest rate the stall guard allows
    /// (1 KiB/s): a large bundle on a slow link is not cut at a fixed time and failed forever.
    @Test func anUploadMayTakeTenMinutesPlusItsBytesAtTheSlowestRateAllowed() {
        #expect(CollectorClient.uploadTimeout(bytes: 0) == .seconds(600))
        #expect(CollectorClient.uploadTimeout(bytes: 1023) == .seconds(600))
        #expect(CollectorClient.uploadTimeout(bytes: 20_480_000) == .seconds(600 + 20_000))
        #expect(CollectorClient.uploadTimeout(bytes: -1) == .seconds(600))
    }

    @Test func a503ThenSuccessDeliversOnce() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        try enrolled(world, collector)
        let proxy = try FaultProxy(upstream: collector.port, plan: ["503"])
        let r = try world.request(["--server", proxy.url])
        #expect(r.status == 0, "\(r.error)")
        #expect(r.answer?.outcome == "delivered")
        #expect(r.answer?.receipt?.duplicate == false, "the 503 was never forwarded, so the retry is the first the collector saw")

        // The proxy's log: the first upload got the 503, the retry passed, and nothing else came.
        let log = proxy.entries(within: 5) { $0.count >= 2 }
        try #require(log.count >= 2, "the proxy saw \(log)")
        #expect(log[0].action == "503" && log[0].method == "POST" && log[0].path == "/api/v1/bundles", "\(log)")
        #expect(log[1].action == "pass" && log[1].method == "POST" && log[1].path == "/api/v1/bundles", "\(log)")
        #expect(log[1].time - log[0].time >= 1.0, "Retry-After: 1 was not waited out: \(log)")
        #expect(proxy.entries(within: 1).count == 2, "one 503 and one retry, nothing more: \(proxy.entries())")
        #expect(try collector.ticketCount() == 1)
    }

    @Test func aLostAnswerIsRetriedAndStillMakesOneTicket() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        try enrolled(world, collector)
        // The collector takes the bundle, but its answer never reaches the agent.
        let proxy = try FaultProxy(upstream: collector.port, plan: ["drop"])
        let r = try world.request(["--server", proxy.url])
        #expect(r.status == 0, "\(r.error)")
        #expect(r.answer?.receipt?.duplicate == true, "the retry must have been answered from the first delivery")
        #expect(try collector.ticketCount() == 1)
    }

    @Test func tooLargeIs413AndTheBundleIsKept() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"), extraArguments: ["--limit", "max_bundle_bytes=2000"])
        try collector.start()
        defer { collector.stop() }
        // rejected/ keeps the spool's limits: 2 bundles here.
        try world.dir.write("agent.conf", "retries = 3\nconnect_timeout = 2s\nstall_timeout = 5s\nspool_max_bundles = 2\n")
        try enrolled(world, collector)
        var keptAt: [String] = []
        for _ in 0..<3 {
            let big = try world.request()
            #expect(big.status == ExitCodes.rejected, "\(big.error)")
            let kept = try #require(big.answer?.keptAt)
            #expect(kept.hasPrefix(world.state + "/rejected/"), "\(kept)")
            #expect(FileManager.default.fileExists(atPath: kept))
            #expect(try BundleReader.read(path: kept).manifest.bundleID == big.answer?.bundleID, "the kept bundle is whole")
            #expect(big.answer?.message.contains("413") == true)
            keptAt.append(kept)
        }
        // The oldest went when the third was set aside; the two newest stay.
        #expect(!FileManager.default.fileExists(atPath: keptAt[0]))
        #expect(try FileManager.default.contentsOfDirectory(atPath: world.state + "/rejected").sorted()
                == keptAt.dropFirst().map { ($0 as NSString).lastPathComponent }.sorted())
        #expect(try collector.ticketCount() == 0)
    }

    @Test func clientErrorsAreReportedNotRetriedAndTheBundleIsKept() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        try enrolled(world, collector)

        // 401: a token the collector does not know.
        let path = world.state + "/enrollment.json"
        var enrollment = try BundleJSON.decoder().decode(AgentState.Enrollment.self, from: Data(contentsOf: URL(fileURLWithPath: path)))
        let good = enrollment
        enrollment.hostToken = "hlh_not_a_real_token"
        try BundleJSON.encoder().encode(enrollment).write(to: URL(fileURLWithPath: path))
        let unauthorized = try world.request()
        #expect(unauthorized.status == ExitCodes.rejected)
        #expect(unauthorized.answer?.message.contains("401") == true)

        // 403: a manifest naming another host than the token's.
        enrollment = good
        enrollment.hostID = UUID().uuidString.lowercased()
        try BundleJSON.encoder().encode(enrollment).write(to: URL(fileURLWithPath: path))
        let forbidden = try world.request()
        #expect(forbidden.status == ExitCodes.rejected)
        #expect(forbidden.answer?.message.contains("403") == true, "\(forbidden.error)")
        #expect(try collector.ticketCount() == 0)
        #expect(Spool(directory: world.state + "/spool", maxBundles: 20, maxBytes: 1 << 30).items().isEmpty,
                "a refused bundle is not retried from the spool")
    }

    @Test func invalidBundleIs422() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"), extraArguments: ["--limit", "max_members=3"])
        try collector.start()
        defer { collector.stop() }
        try enrolled(world, collector)
        let r = try world.request()
        #expect(r.status == ExitCodes.rejected)
        #expect(r.answer?.message.contains("422") == true)
        #expect(r.answer?.message.contains("too_many_members") == true)
        #expect(FileManager.default.fileExists(atPath: r.answer?.keptAt ?? "/nonexistent"))
    }

    @Test func daemonSendsHeartbeatsAndCollectsForOrdinaryUsers() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        try enrolled(world, collector)
        let socket = world.dir.file("agent.sock")

        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: productsDirectory + "/helpline")
        daemon.arguments = ["daemon", "--state-dir", world.state, "--socket", socket, "--heartbeat-interval", "1h"]
        var env = ProcessInfo.processInfo.environment
        env["HELPLINE_CONFIG"] = world.dir.file("agent.conf")
        daemon.environment = env
        daemon.standardError = FileHandle.nullDevice
        try world.dir.write("agent.conf", "retries = 2\n")
        try daemon.run()
        defer { daemon.terminate(); daemon.waitForExit(upTo: 30) }

        // The first heartbeat arrives.
        let hostID = try BundleJSON.decoder().decode(AgentState.Enrollment.self,
                                                     from: Data(contentsOf: URL(fileURLWithPath: world.state + "/enrollment.json"))).hostID
        struct Detail: Decodable {
            struct Latest: Decodable { var heartbeat: Heartbeat }
            var latestHeartbeat: Latest?
        }
        var beat: Heartbeat?
        // Up to 60 s: the heartbeat child samples CPU and processes, slow when the whole suite
        // runs in parallel on 2 cores (it once took over 15 s there).
        for _ in 0..<240 where beat == nil {
            beat = try? collector.get("/api/v1/hosts/\(hostID)", as: Detail.self).latestHeartbeat?.heartbeat
            if beat == nil { Thread.sleep(forTimeInterval: 0.25) }
        }
        let heartbeat = try #require(beat)
        #expect(heartbeat.host.hostID == hostID)
        #expect(heartbeat.system?.hostname.isEmpty == false)

        // A request through the daemon's socket, from a user who is not root (DaemonSocketTests
        // checks the peer credentials in detail).
        for _ in 0..<40 where !FileManager.default.fileExists(atPath: socket) { Thread.sleep(forTimeInterval: 0.1) }
        try #require(geteuid() == 0, "this test creates a throwaway user, so it must run as root (scripts/test.sh runs it in the test container)")
        let user = try ThrowawayUser()
        defer { user.remove() }
        chmod(world.dir.path, 0o755)
        let r = try user.runAs([productsDirectory + "/helpline", "request", "--json", "--note", "via daemon", "--daemon-socket", socket])
        #expect(r.status == 0, "\(r.error)")
        let answer = try BundleJSON.decoder().decode(RequestFlow.Answer.self, from: Data(r.output.utf8))
        #expect(answer.outcome == "delivered")
        #expect(try collector.ticketCount() == 1)
    }
}

/// TLS: a CA and server certificate made by the test with openssl. Fails, never skips, when
/// openssl or the collector is missing.
@Suite(.serialized) struct TLSDeliveryTests {
    func makeCertificates(_ dir: TempDir) throws {
        try #require(FileManager.default.isExecutableFile(atPath: "/usr/bin/openssl"),
                     "/usr/bin/openssl is missing: the TLS test makes its certificates with it; scripts/setup.sh installs it (Debian package openssl)")
        let steps: [[String]] = [
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Helpline Test CA",
             "-keyout", dir.file("ca.key"), "-out", dir.file("ca.pem")],
            ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", dir.file("server.key"), "-out", dir.file("server.csr")],
        ]
        for s in steps { #expect(try run("/usr/bin/openssl", s).status == 0) }
        try dir.write("ext.cnf", "subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        let sign = try run("/usr/bin/openssl", ["x509", "-req", "-in", dir.file("server.csr"), "-CA", dir.file("ca.pem"), "-CAkey", dir.file("ca.key"),
                                                "-CAcreateserial", "-days", "1", "-extfile", dir.file("ext.cnf"), "-out", dir.file("server.pem")])
        #expect(sign.status == 0, "\(sign.error)")
    }

    /// `sha256//<base64>` of the public key in `pem`, as curl's --pinnedpubkey wants.
    func pin(_ pem: String) throws -> String {
        let r = try run("/bin/sh", ["-c", "openssl x509 -in '\(pem)' -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64"])
        return "sha256//" + r.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func trustedCAAndPinnedKeyDeliverAMismatchedPinRefuses() throws {
        try #require(LiveCollector.available, Comment(rawValue: LiveCollector.missing))
        let world = try AgentWorld(); defer { world.cleanup() }
        try makeCertificates(world.dir)
        let collector = LiveCollector(dataDir: world.dir.file("data"),
                                      extraArguments: ["--tls-certificate", world.dir.file("server.pem"), "--tls-key", world.dir.file("server.key")])
        collector.scheme = "https"
        try collector.start()
        defer { collector.stop() }

        // Without the CA the certificate is not trusted: nothing is sent.
        let untrusted = try world.helpline(["enroll", "--server", collector.url, "--secret", collector.enrollmentSecret])
        #expect(untrusted.status == ExitCodes.notEnrolled)
        #expect(untrusted.error.lowercased().contains("certificate") || untrusted.error.contains("refusing"))

        let good = try pin(world.dir.file("server.pem"))
        try world.dir.write("agent.conf", "retries = 2\nca_file = \(world.dir.file("ca.pem"))\npinned_public_key = \(good)\n")
        let enroll = try world.helpline(["enroll", "--server", collector.url, "--secret", collector.enrollmentSecret])
        #expect(enroll.status == 0, "\(enroll.error)")
        let r = try world.request()
        #expect(r.status == 0, "\(r.error)")
        #expect(r.answer?.outcome == "delivered")

        // A different pinned key: refuses to send; the bundle is kept for later, and the user hears why.
        try world.dir.write("agent.conf", "retries = 2\nca_file = \(world.dir.file("ca.pem"))\npinned_public_key = sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
        let pinned = try world.request()
        #expect(pinned.status == ExitCodes.spooled)
        #expect(pinned.error.lowercased().contains("pinned") || pinned.error.lowercased().contains("public key"))
        #expect(try collector.ticketCount() == 1)
    }
}
