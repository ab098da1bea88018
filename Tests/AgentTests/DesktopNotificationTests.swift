import Foundation
import Testing
@testable import Agent
@testable import Shared

/// Replies reach the user: the real daemon, at check-in, shows a desktop notification on the
/// session bus of the local user whose request opened the ticket — a real `dbus-daemon` run as
/// a throwaway user, as logind would give them at `/run/user/UID/bus` (here under a temp
/// folder), with a notification server (sd-bus, `NotificationServer`) on it. The tickets come
/// from a stub of `GET /api/v1/hosts/self/tickets` the test rewrites between check-ins. Needs
/// root (to create users) and dbus-daemon, setpriv, useradd and python3 (scripts/setup.sh);
/// fails, never skips, without them.
@Suite(.serialized) struct DesktopNotificationTests {
    var helpline: String { productsDirectory + "/helpline" }

    /// A session bus of `user` at `<runtime>/<uid>/bus`, with a notification server on it.
    final class SessionBusFixture {
        let daemon = Process()
        let server: NotificationServer

        init(for user: ThrowawayUser, runtime: String, config: String) throws {
            let folder = runtime + "/\(user.uid)"
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            chown(folder, user.uid, user.gid)
            chmod(folder, 0o700)
            // A session bus as dbus-daemon's own session.conf makes it, and one more rule: root
            // may connect too, so the test's server (root) can answer. The daemon under test
            // still comes in as the user: the server records the sender's uid.
            try """
            <!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
            <busconfig>
              <type>session</type>
              <listen>unix:path=\(folder)/bus</listen>
              <auth>EXTERNAL</auth>
              <policy context="default">
                <allow send_destination="*" eavesdrop="true"/>
                <allow eavesdrop="true"/>
                <allow own="*"/>
                <allow user="root"/>
              </policy>
            </busconfig>
            """.write(toFile: config, atomically: true, encoding: .utf8)
            chmod(config, 0o644)
            let out = Pipe()
            daemon.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            daemon.arguments = ["--reuid", String(user.uid), "--regid", String(user.gid), "--clear-groups", "--",
                                "/usr/bin/dbus-daemon", "--config-file=\(config)", "--nofork", "--print-address"]
            daemon.environment = ["PATH": "/usr/bin:/bin"]
            daemon.standardOutput = out
            daemon.standardError = FileHandle.nullDevice
            try daemon.run()
            guard let address = LineReader(out.fileHandleForReading).nextLine(before: Date().addingTimeInterval(30)),
                  address.hasPrefix("unix:") else {
                daemon.waitForExit(upTo: 0)
                throw FixtureError("dbus-daemon for \(user.name) printed no address within 30 s")
            }
            do { server = try NotificationServer(address: address) } catch {
                daemon.waitForExit(upTo: 0)
                throw error
            }
        }

        func stop() {
            server.stop()
            daemon.waitForExit(upTo: 0)
        }
    }

    /// The stub collector answering the ticket list from a file.
    final class TicketsStub {
        let process = Process()
        let file: String
        let log: String
        private(set) var port = 0

        init(dir: TempDir) throws {
            file = dir.file("tickets.json")
            log = dir.file("stub.log")
            try Data("{\"tickets\":[]}".utf8).write(to: URL(fileURLWithPath: file))
            let out = Pipe()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
            process.arguments = [fixturePath("net/tickets_stub.py"), file, log]
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            try process.run()
            let first = LineReader(out.fileHandleForReading).nextLine(before: Date().addingTimeInterval(30)) ?? ""
            guard first.hasPrefix("PORT "), let p = Int(first.dropFirst(5)) else {
                process.waitForExit(upTo: 0)
                throw FixtureError("tickets_stub.py did not start: '\(first)'")
            }
            port = p
        }

        var url: String { "http://127.0.0.1:\(port)" }

        func serve(_ tickets: [HostTicket]) throws {
            try BundleJSON.encoder().encode(HostTicketList(tickets: tickets)).write(to: URL(fileURLWithPath: file), options: .atomic)
        }

        /// Ticket-list requests so far.
        var ticketRequests: [String] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
                .filter { $0.hasPrefix("GET /api/v1/hosts/self/tickets") }
        }

        deinit { process.waitForExit(upTo: 0) }
    }

    @Test func aReplyReachesTheUsersSessionOnceAndAUserWithoutASessionIsToldWhenTheyHaveOne() throws {
        try #require(geteuid() == 0, "this test creates throwaway users, so it must run as root (scripts/test.sh does)")
        for tool in ["/usr/sbin/useradd", "/usr/sbin/userdel", "/usr/bin/setpriv", "/usr/bin/dbus-daemon", "/usr/bin/python3"] {
            try #require(FileManager.default.isExecutableFile(atPath: tool),
                         "\(tool) is missing; scripts/setup.sh installs it (Debian packages passwd, util-linux, dbus-daemon, python3)")
        }
        let dir = try TempDir(); defer { dir.cleanup() }
        chmod(dir.path, 0o755)
        let runtime = dir.file("run")
        try FileManager.default.createDirectory(atPath: runtime, withIntermediateDirectories: true)
        chmod(runtime, 0o755)
        let alice = try ThrowawayUser(), bob = try ThrowawayUser()
        defer { alice.remove(); bob.remove() }

        let stub = try TicketsStub(dir: dir)
        let state = AgentState(directory: dir.file("state"))
        try state.save(AgentState.Enrollment(server: stub.url, hostID: "h-1", hostToken: "hlh_notifytest", hostname: "test", enrolledAt: Date()))
        try dir.write("agent.conf", "retries = 1\nconnect_timeout = 2s\n")

        // Alice is logged in: she has a session bus. Bob is not (a headless login, or gone home).
        let aliceBus = try SessionBusFixture(for: alice, runtime: runtime, config: dir.file("alice-bus.conf"))
        defer { aliceBus.stop() }

        func checkIn() throws -> String {
            var env = ProcessInfo.processInfo.environment
            env["HELPLINE_CONFIG"] = dir.file("agent.conf")
            env["HELPLINE_USER_RUNTIME_ROOT"] = runtime
            let r = try run(helpline, ["daemon", "--ticks", "1", "--state-dir", state.directory, "--socket", dir.file("agent.sock"),
                                       "--heartbeat-interval", "7d"], environment: env, timeout: 120)
            #expect(r.status == 0, "daemon: \(r.error)")
            return r.error
        }
        func waitForNotifications(_ server: NotificationServer, count: Int) -> [NotificationServer.Notification] {
            let deadline = Date().addingTimeInterval(10)
            while server.notifications.count < count, Date() < deadline { usleep(20_000) }
            usleep(300_000)  // and a moment more, so an unwanted extra one would show
            return server.notifications
        }
        let t0 = Date(timeIntervalSince1970: 1_790_000_000)
        func ticket(_ id: Int64, _ user: String?, _ status: TicketStatus, _ replies: [TicketComment] = []) -> HostTicket {
            HostTicket(id: id, status: status, title: "printer \(id)", createdAt: t0, updatedAt: t0, replies: replies, requestedBy: user)
        }

        // First check-in: the daemon takes note of what is there and tells nobody about old news.
        try stub.serve([ticket(41, alice.name, .open), ticket(42, nil, .open, [TicketComment(id: 1, author: "tech", body: "root's", visibleToUser: true, createdAt: t0)]),
                        ticket(43, bob.name, .open)])
        _ = try checkIn()
        #expect(stub.ticketRequests.count == 1)
        #expect(stub.ticketRequests.first?.hasSuffix("Bearer hlh_notifytest") == true, "\(stub.ticketRequests)")
        var st = stat()
        #expect(stat(state.directory + "/notified-tickets.json", &st) == 0 && st.st_mode & 0o777 == 0o600, "the ledger is 0600")
        #expect(waitForNotifications(aliceBus.server, count: 0).isEmpty)

        // A technician replies to Alice (a reply and an internal note) and to Bob.
        let hostile = "Please <b>restart</b> & try\u{202E}again\nthanks\u{1B}[31m"
        let tickets = [
            ticket(41, alice.name, .waitingOnUser, [TicketComment(id: 7, author: "tech", body: hostile, visibleToUser: true, createdAt: t0),
                                                    TicketComment(id: 8, author: "tech", body: "internal: old printer", visibleToUser: false, createdAt: t0)]),
            ticket(42, nil, .resolved),
            ticket(43, bob.name, .open, [TicketComment(id: 9, author: "tech", body: "Bob, it is fixed", visibleToUser: true, createdAt: t0)]),
        ]
        try stub.serve(tickets)
        let log = try checkIn()
        let shown = waitForNotifications(aliceBus.server, count: 1)
        try #require(shown.count == 1, "one notification for Alice: \(shown); daemon: \(log)")
        #expect(shown[0].appName == "Helpline" && shown[0].icon == "help-browser")
        #expect(shown[0].summary == "Help desk replied on ticket #41 (waiting for you)")
        // Control and bidi characters gone, markup escaped (the server said body-markup).
        #expect(shown[0].body == "“Please &lt;b&gt;restart&lt;/b&gt; &amp; tryagain thanks [31m”\nRun helpline status to read it.")
        #expect(shown[0].senderUID == alice.uid, "the daemon came onto Alice's bus as Alice, not as root")
        #expect(!log.contains(bob.name) && !log.contains("could not tell"), "no session is no error: \(log)")

        // Restarted, same tickets: nothing new for Alice; Bob still has no session.
        _ = try checkIn()
        #expect(waitForNotifications(aliceBus.server, count: 2).count == 1, "a second check-in does not notify again")

        // Bob logs in: the reply he missed is shown now, once.
        let bobBus = try SessionBusFixture(for: bob, runtime: runtime, config: dir.file("bob-bus.conf"))
        defer { bobBus.stop() }
        _ = try checkIn()
        let bobs = waitForNotifications(bobBus.server, count: 1)
        #expect(bobs.map(\.summary) == ["Help desk replied on ticket #43"], "\(bobs)")
        #expect(bobs.first?.body == "“Bob, it is fixed”\nRun helpline status to read it.")
        #expect(bobs.first?.senderUID == bob.uid)
        _ = try checkIn()
        #expect(waitForNotifications(bobBus.server, count: 2).count == 1)
        #expect(aliceBus.server.notifications.count == 1)

        // Switched off: the daemon does not even ask for the tickets.
        try dir.write("agent.conf", "retries = 1\nconnect_timeout = 2s\nnotify_replies = false\n")
        let asked = stub.ticketRequests.count
        var later = tickets
        later[0].replies.append(TicketComment(id: 10, author: "tech", body: "anything else?", visibleToUser: true, createdAt: t0))
        try stub.serve(later)
        _ = try checkIn()
        #expect(stub.ticketRequests.count == asked)
        #expect(waitForNotifications(aliceBus.server, count: 2).count == 1)

        // Back on, but the collector is away: one line in the log, the record untouched.
        try dir.write("agent.conf", "retries = 1\nconnect_timeout = 2s\n")
        let record = try Data(contentsOf: URL(fileURLWithPath: state.directory + "/notified-tickets.json"))
        stub.process.waitForExit(upTo: 0)
        let away = try checkIn()
        #expect(away.components(separatedBy: "tickets not checked for replies").count == 2, "\(away)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: state.directory + "/notified-tickets.json")) == record)
        #expect(aliceBus.server.notifications.count == 1)
    }
}
