import Foundation
import Testing
@testable import Agent
@testable import Shared

/// A user account created for one test and deleted after it (`useradd --system`, no home).
struct ThrowawayUser {
    let name: String
    let uid: uid_t
    let gid: gid_t

    /// Creates the account.
    /// - Throws: when useradd fails or the account cannot be looked up.
    init() throws {
        name = "hltest" + UUID().uuidString.lowercased().prefix(8)
        let r = try AgentTests.run("/usr/sbin/useradd", ["--system", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", name],
                        timeout: 30)
        guard r.status == 0 else { throw FixtureError("useradd \(name) failed (\(r.status)): \(r.error)") }
        guard let pw = getpwnam(name) else { throw FixtureError("useradd made \(name), but getpwnam cannot find it") }
        uid = pw.pointee.pw_uid
        gid = pw.pointee.pw_gid
    }

    /// Runs `arguments` as this user (real and effective ids, no supplementary groups), with a
    /// minimal environment.
    func runAs(_ arguments: [String], timeout: TimeInterval = 60) throws -> (status: Int32, output: String, error: String) {
        try AgentTests.run("/usr/bin/setpriv", ["--reuid", String(uid), "--regid", String(gid), "--clear-groups", "--"] + arguments,
                           environment: ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent", "LANG": "C.UTF-8"], timeout: timeout)
    }

    /// Deletes the account (and its group).
    func remove() { _ = try? AgentTests.run("/usr/sbin/userdel", [name], timeout: 30) }
}

/// The daemon's socket with a real client that is not root: a throwaway user the test
/// creates, so the uid the daemon sees comes from the kernel (SO_PEERCRED) for an account
/// that really is unprivileged. Needs root (to create the user), which the test container
/// has; fails, never skips, without it.
@Suite(.serialized) struct DaemonSocketTests {
    var helpline: String { productsDirectory + "/helpline" }

    /// An ordinary user hears each finding's title, severity and advice for them; the
    /// evidence (system journal lines they could not read themselves), the technician's detail
    /// and advice, and the subject stay out of the answer.
    @Test func anOrdinaryUserGetsFindingsWithoutTheJournalLinesBehindThem() throws {
        // Titles and advice are filled from what the rule matched: they go through the mask.
        let finding = Finding(ruleID: "auth.login_failures", category: .auth, severity: .medium, confidence: 0.8,
                              title: "Signing in as bob keeps failing", detail: "12 failures for bob from 10.0.0.5",
                              userAdvice: "If this was not you (from 10.0.0.5), tell your technician", technicianAdvice: "Look at bob's account",
                              evidence: [Evidence(kind: "journal", label: "sshd", value: "Failed password for bob from 10.0.0.5")],
                              lastSeen: Date(), subject: "bob")
        let full = RequestFlow.Answer(outcome: "delivered", message: "ok",
                                      receipt: BundleReceipt(bundleID: "b", ticketID: 7, ticketURL: "https://h/tickets/7", findings: [finding]),
                                      bundleID: "b", localFindings: [finding], exitCode: 0)
        let redactor = try Redactor(options: RedactionOptions(usernames: true, ipAddresses: true),
                                    identities: RedactionIdentities(usernames: ["bob"]))
        let shown = full.forOrdinaryUser { redactor.redact($0) }
        for f in (shown.localFindings ?? []) + (shown.receipt?.findings ?? []) {
            #expect(f.title.hasPrefix("Signing in as ") && f.title.hasSuffix(" keeps failing") && f.userAdvice.hasPrefix("If this was not you"))
            #expect(f.severity == .medium && f.ruleID == finding.ruleID)
            #expect(f.evidence.isEmpty && f.detail.isEmpty && f.technicianAdvice.isEmpty && f.subject == nil && f.lastSeen == nil)
        }
        #expect(shown.localFindings?.count == 1 && shown.receipt?.findings.count == 1 && shown.receipt?.ticketID == 7)
        let text = String(decoding: try BundleJSON.encoder().encode(shown), as: UTF8.self)
        #expect(!text.contains("bob") && !text.contains("10.0.0.5"), "\(text)")
    }

    @Test func anOrdinaryUsersRequestIsTakenUnderTheKernelsNameForThemAndOddRequestsAreRefused() throws {
        try #require(geteuid() == 0, "this test creates a throwaway user, so it must run as root (scripts/test.sh runs it in the test container)")
        for tool in ["/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/bin/setpriv", "/usr/bin/python3"] {
            try #require(FileManager.default.isExecutableFile(atPath: tool),
                         "\(tool) is missing; scripts/setup.sh installs it (Debian packages passwd, util-linux, python3)")
        }
        let user = try ThrowawayUser()
        defer { user.remove() }
        let dir = try TempDir(); defer { dir.cleanup() }
        chmod(dir.path, 0o755)
        let socket = dir.file("agent.sock")
        try dir.write("agent.conf", "retries = 1\nuser_requests_per_hour = 5\n")

        // The daemon, as root, not enrolled: it answers every request with not_enrolled.
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: helpline)
        daemon.arguments = ["daemon", "--state-dir", dir.file("state"), "--socket", socket, "--heartbeat-interval", "7d"]
        var env = ProcessInfo.processInfo.environment
        env["HELPLINE_CONFIG"] = dir.file("agent.conf")
        daemon.environment = env
        let log = Pipe()
        daemon.standardError = log
        daemon.standardOutput = FileHandle.nullDevice
        try daemon.run()
        defer { daemon.waitForExit(upTo: 0) }
        let lines = LineReader(log.fileHandleForReading)
        var seen: [String] = []
        func waitForLog(_ text: String) -> Bool {
            let deadline = Date().addingTimeInterval(30)
            while let line = lines.nextLine(before: deadline) {
                seen.append(line)
                if line.contains(text) { return true }
            }
            return false
        }
        try #require(waitForLog("started;"), "the daemon did not start within 30 s: \(seen)")
        for _ in 0..<250 where !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
        try #require(FileManager.default.fileExists(atPath: socket), "the daemon did not create its socket: \(seen)")

        // The client really runs unprivileged.
        let id = try user.runAs(["/usr/bin/id", "-u"])
        #expect(id.output.trimmingCharacters(in: .whitespacesAndNewlines) == String(user.uid))
        #expect(user.uid != 0)

        // `helpline request` as that user goes through the socket, and the daemon names the
        // user the kernel vouches for.
        let request = try user.runAs([helpline, "request", "--json", "--note", "printer", "--daemon-socket", socket])
        #expect(request.status == ExitCodes.notEnrolled, "\(request.error)")
        let answer = try BundleJSON.decoder().decode(RequestFlow.Answer.self, from: Data(request.output.utf8))
        #expect(answer.outcome == "not_enrolled", "the root daemon answered, not a local collection by the user")
        // What the daemon read of the system journal for this user stays with the help desk.
        #expect((answer.localFindings ?? []).allSatisfy { $0.evidence.isEmpty && $0.detail.isEmpty && $0.technicianAdvice.isEmpty },
                "\(answer.localFindings ?? [])")
        #expect(waitForLog("request from \(user.name) (pid "), "the daemon must log the peer's user from SO_PEERCRED: \(seen)")

        // A hand-made client claiming to be root, asking for an absurd window: the claim is
        // ignored (the kernel's uid is used) and the window is refused, not wrapped.
        // client.py SOCKET REQUEST HELD TIMEOUT: holds HELD silent connections open, then sends
        // REQUEST (one JSON line) and prints the last line of the answer.
        let script = """
        import socket, sys, time
        path, request, held, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
        silent = []
        for _ in range(held):
            c = socket.socket(socket.AF_UNIX); c.connect(path); silent.append(c)
        if held:
            time.sleep(0.5)
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(timeout)
        s.connect(path)
        s.sendall(request.encode() + b"\\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        print(data.decode().strip().split("\\n")[-1])
        """
        try dir.write("client.py", script)
        let claim = #"{"note": "x", "since": "9223372036854775807d", "requestedBy": "root", "user": "root"}"#
        let forged = try user.runAs(["/usr/bin/python3", dir.file("client.py"), socket, claim, "0", "60"])
        #expect(forged.status == 0, "\(forged.error)")
        let reply = try BundleJSON.decoder().decode(DaemonMessage.self, from: Data(forged.output.utf8))
        #expect(reply.answer?.outcome == "collection_failed", "\(forged.output)")
        #expect(reply.answer?.message.contains("--since '9223372036854775807d' is too long; give 1s to 3650d") == true, "\(forged.output)")
        #expect(waitForLog("request from \(user.name): refused"), "logged under the kernel's name for the peer, not 'root': \(seen)")
        #expect(!seen.contains { $0.contains("request from root") })

        // A client that asks and hangs up at once (Ctrl-C): the daemon's progress lines then meet
        // a closed socket, an EPIPE to handle, not a SIGPIPE that ends the daemon for everyone.
        let hangUp = """
        import json, socket, sys
        s = socket.socket(socket.AF_UNIX)
        s.connect(sys.argv[1])
        s.sendall(json.dumps({"note": "bye"}).encode() + b"\\n")
        s.close()
        """
        try dir.write("hangup.py", hangUp)
        #expect(try user.runAs(["/usr/bin/python3", dir.file("hangup.py"), socket]).status == 0)
        #expect(waitForLog("request from \(user.name): "), "the daemon finished the abandoned request: \(seen)")
        usleep(200_000)
        #expect(daemon.isRunning, "a client hanging up must not kill the daemon (status \(daemon.isRunning ? 0 : daemon.terminationStatus))")
        // Still there, and a hand-made client's note over the limit (`helpline request` checks it
        // before sending) is refused: it would make a bundle the collector refuses.
        let long = #"{"note": "\#(String(repeating: "n", count: NoteFlags.maxNoteBytes + 1))"}"#
        let after = try user.runAs(["/usr/bin/python3", dir.file("client.py"), socket, long, "0", "60"])
        let tooLong = try? BundleJSON.decoder().decode(DaemonMessage.self, from: Data(after.output.utf8))
        #expect(tooLong?.answer?.outcome == "collection_failed", "\(after.output) \(after.error)")
        #expect(tooLong?.answer?.message.contains("over the \(NoteFlags.maxNoteBytes) a note may hold") == true, "\(after.output)")

        // user_requests_per_hour = 5: the forged and the abandoned requests counted too; the
        // fifth is taken, the sixth is not, and says why and what to do.
        let fifth = try user.runAs([helpline, "request", "--json", "--note", "fifth", "--daemon-socket", socket])
        #expect(fifth.status == ExitCodes.notEnrolled, "\(fifth.error)")
        let sixth = try user.runAs([helpline, "request", "--json", "--note", "sixth", "--daemon-socket", socket])
        #expect(sixth.status == ExitCodes.notTaken, "\(sixth.output) \(sixth.error)")
        let refused = try? BundleJSON.decoder().decode(RequestFlow.Answer.self, from: Data(sixth.output.utf8))
        #expect(refused?.outcome == "not_taken" && refused?.message.contains("user_requests_per_hour") == true, "\(sixth.output)")
        #expect(waitForLog("refused, 5 this hour"), "the refusal is logged under the user's name: \(seen)")

        // Two silent connections held open: a third connection of the same user is answered at
        // once, without waiting in the queue behind them.
        let third = try user.runAs(["/usr/bin/python3", dir.file("client.py"), socket, #"{"action": "status"}"#, "2", "5"])
        #expect(third.status == 0, "answered within 5 s: \(third.error)")
        let busy = try? BundleJSON.decoder().decode(DaemonMessage.self, from: Data(third.output.utf8))
        #expect(busy?.answer?.outcome == "not_taken" && busy?.problem?.contains("already have 2 requests") == true, "\(third.output)")

        // The user cannot read the daemon's state folder (host token, key, spool).
        let peek = try user.runAs(["/usr/bin/python3", "-c", "import os, sys; os.listdir(sys.argv[1])", dir.file("state")])
        #expect(peek.status != 0)
        #expect(peek.error.contains("PermissionError"), "\(peek.error)")
    }
}
