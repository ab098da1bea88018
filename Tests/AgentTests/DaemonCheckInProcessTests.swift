import Foundation
import Testing
@testable import Agent
@testable import Shared

/// The daemon's check-in (technicians' requests for fresh bundles, reply notifications) runs
/// in a child `helpline daemon --check-in-once`, as heartbeats do (issue 12, "Small at rest"):
/// against the real collector, a technician's request is answered with a bundle on its
/// ticket, while the daemon's own process never maps libcurl, keeps systemd's watchdog fed
/// through the collection, is the only process that talks to systemd, and gives its binary's
/// pages back after the work (`RestingMemory`).
@Suite(.serialized) struct DaemonCheckInProcessTests {
    @Test func aBundleRequestIsAnsweredFromTheChildWhileTheDaemonStaysSmallAndAlive() throws {
        try #require(LiveCollector.available, Comment(rawValue: LiveCollector.missing))
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        let enroll = try world.helpline(["enroll", "--server", collector.url, "--secret", collector.enrollmentSecret])
        try #require(enroll.status == 0, "enroll failed: \(enroll.error)")
        let first = try world.request()
        let ticket = try #require(first.answer?.receipt?.ticketID, "no ticket: \(first.error)")
        let hostID = try BundleJSON.decoder().decode(AgentState.Enrollment.self,
                                                     from: Data(contentsOf: URL(fileURLWithPath: world.state + "/enrollment.json"))).hostID

        // A technician asks this computer for fresh information on the ticket.
        let ask = try run("/usr/bin/curl", ["-sS", "-H", "Authorization: Bearer \(collector.apiToken)", "-H", "Content-Type: application/json",
                                            "-d", #"{"ticketID": \#(ticket), "note": "after the update"}"#,
                                            collector.url + "/api/v1/hosts/\(hostID)/bundle-requests"])
        struct Created: Decodable { var id: Int64 }
        let request = try #require(try? BundleJSON.decoder().decode(Created.self, from: Data(ask.output.utf8)),
                                   "the bundle request was not made: \(ask.output) \(ask.error)")

        // The daemon as systemd runs it, with a watchdog of 3 s (the unit's is 5 min): pings
        // must keep coming while the child collects. Not 1 s: on a loaded 2-core CI machine
        // the daemon was once not scheduled for 1.6 s between two pings.
        let notify = try NotifySocket(path: world.dir.file("notify.sock"))
        let watchdog = 3.0
        let logPath = world.dir.file("daemon.log")
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let log = try #require(FileHandle(forWritingAtPath: logPath))
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: productsDirectory + "/helpline")
        daemon.arguments = ["daemon", "--state-dir", world.state, "--socket", world.dir.file("agent.sock"), "--heartbeat-interval", "1h"]
        var env = ProcessInfo.processInfo.environment
        env["HELPLINE_CONFIG"] = world.dir.file("agent.conf")
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = String(Int(watchdog * 1_000_000))
        env["WATCHDOG_PID"] = nil
        daemon.environment = env
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = log
        try daemon.run()
        defer { daemon.waitForExit(upTo: 0) }
        let pid = daemon.processIdentifier

        // The check-in collects and sends the bundle, then looks at replies; wait for the
        // check-in child to be gone (the daemon's children are listed by the kernel).
        let answered = "request #\(request.id): delivered (ticket #\(ticket))"
        func text() -> String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
        func children() -> String {
            ((try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespaces)
        }
        let deadline = Date().addingTimeInterval(180)
        while daemon.isRunning, Date() < deadline, !(text().contains(answered) && children().isEmpty) {
            notify.receive(within: 0.2) { _ in false }
        }
        #expect(text().contains(answered), "\(text())")
        try #require(daemon.isRunning, "the daemon exited: \(text())")
        #expect(children().isEmpty, "the check-in child is still running after 180 s")
        let answeredIDs = try BundleJSON.decoder().decode([Int64].self, from: Data(contentsOf: URL(fileURLWithPath: world.state + "/bundle-requests-answered.json")))
        #expect(answeredIDs == [request.id])
        #expect(try collector.ticketCount() == 1, "the fresh bundle joined the ticket it was asked for")

        // The daemon itself never sent anything over HTTP: libcurl, opened on first use and
        // never closed, is not in its memory map.
        let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
        #expect(!maps.contains("libcurl"), "libcurl is mapped in the daemon")
        // And having worked, it gives back its binary's pages (RestingMemory) before it sleeps:
        // just after the child, so give it a moment.
        var mappings = try executableMappings(pid: pid)
        let advised = Date().addingTimeInterval(10)
        while !(mappings.allSatisfy { $0.flags.contains("rr") }), Date() < advised {
            usleep(100_000)
            mappings = try executableMappings(pid: pid)
        }
        #expect(!mappings.isEmpty && mappings.allSatisfy { $0.flags.contains("rr") }, "\(mappings)")

        // systemd heard only from the daemon, and never longer than the watchdog apart,
        // collection included.
        let messages = notify.receive(within: 2 * watchdog) { _ in false }
        #expect(!messages.isEmpty && messages.allSatisfy { $0.pid == pid }, "a message not from the daemon (pid \(pid)): \(messages)")
        let pings = messages.filter { $0.fields.contains("WATCHDOG=1") }.map(\.time)
        let gaps = zip(pings.dropFirst(), pings).map { $0 - $1 }
        #expect(pings.count >= 4 && (gaps.max() ?? .infinity) < watchdog, "watchdog gaps \(gaps) with WATCHDOG_USEC = \(watchdog) s")

        kill(pid, SIGTERM)
        #expect(daemon.waitForExit(upTo: 30), "the daemon did not stop within 30 s of SIGTERM")
    }
}
