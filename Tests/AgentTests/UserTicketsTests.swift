import Foundation
import Testing
@testable import Agent
@testable import Shared

/// On a computer root enrolled, ordinary users see the tickets their own requests opened —
/// through the daemon, which knows them from the kernel — with the technicians' replies, and
/// never another user's.
@Suite(.serialized) struct UserTicketsTests {
    var helpline: String { productsDirectory + "/helpline" }

    @Test func eachUserSeesTheirOwnTicketsAndRepliesThroughTheDaemon() throws {
        try #require(geteuid() == 0, "this test creates throwaway users, so it must run as root (scripts/test.sh does)")
        let world = try AgentWorld(); defer { world.cleanup() }
        chmod(world.dir.path, 0o755)
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        let enroll = try world.helpline(["enroll", "--server", collector.url, "--secret", collector.enrollmentSecret])
        try #require(enroll.status == 0, "\(enroll.error)")
        let alice = try ThrowawayUser(), bob = try ThrowawayUser()
        defer { alice.remove(); bob.remove() }

        let socket = world.dir.file("agent.sock")
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: helpline)
        daemon.arguments = ["daemon", "--state-dir", world.state, "--socket", socket, "--heartbeat-interval", "7d"]
        var env = ProcessInfo.processInfo.environment
        env["HELPLINE_CONFIG"] = world.dir.file("agent.conf")
        daemon.environment = env
        daemon.standardError = FileHandle.nullDevice
        daemon.standardOutput = FileHandle.nullDevice
        try daemon.run()
        defer { daemon.terminate(); daemon.waitForExit(upTo: 15) }
        for _ in 0..<500 where !FileManager.default.fileExists(atPath: socket) { usleep(20_000) }
        try #require(FileManager.default.fileExists(atPath: socket), "the daemon did not create its socket")

        // Alice asks for help through the daemon; a ticket opens under her name.
        let asked = try alice.runAs([helpline, "request", "--json", "--note", "alice: the printer", "--daemon-socket", socket], timeout: 120)
        #expect(asked.status == 0, "\(asked.error)")
        let answer = try BundleJSON.decoder().decode(RequestFlow.Answer.self, from: Data(asked.output.utf8))
        let ticket = try #require(answer.receipt?.ticketID)
        // Root asks too (its request is not Alice's).
        let rootAsked = try world.request(note: "root: disk")
        #expect(rootAsked.status == 0, "\(rootAsked.error)")

        // A technician answers Alice, visibly, and writes an internal note.
        for (body, visible) in [("Replaced the toner, try again", true), ("internal: printer is old", false)] {
            let json = "{\"body\":\"\(body)\",\"visibleToUser\":\(visible)}"
            let r = try run("/usr/bin/curl", ["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", "-H", "Authorization: Bearer \(collector.apiToken)",
                                              "-H", "Content-Type: application/json", "-d", json, collector.url + "/api/v1/tickets/\(ticket)/comments"])
            #expect(r.output == "201")
        }

        struct Status: Decodable { var tickets: [HostTicket]?; var error: String? }
        func status(_ user: ThrowawayUser) throws -> Status {
            let r = try user.runAs([helpline, "status", "--json", "--daemon-socket", socket])
            #expect(r.status == 0, "\(user.name): \(r.error)")
            return try BundleJSON.decoder().decode(Status.self, from: Data(r.output.utf8))
        }
        let hers = try #require(try status(alice).tickets)
        #expect(hers.map(\.id) == [ticket], "Alice sees her ticket only, not root's")
        #expect(hers.first?.requestedBy == alice.name)
        #expect(hers.first?.replies.map(\.body) == ["Replaced the toner, try again"], "the visible reply, not the internal note")
        let his = try #require(try status(bob).tickets)
        #expect(his.isEmpty, "Bob sees none of Alice's tickets")
        // Root sees the computer's tickets, Alice's among them.
        let all = try world.helpline(["status", "--json"])
        #expect(all.output.contains("\"id\" : \(ticket)"))
    }
}
