import Foundation
import Testing
@testable import Agent

/// The daemon sends each heartbeat from a child `helpline daemon --heartbeat-once` (issue 12,
/// "Small at rest"); the child's failures still reach the daemon's log, and the daemon's loop
/// goes on. Delivery to a real collector is `DeliveryTests.daemonSendsHeartbeatsAndCollectsForOrdinaryUsers`.
@Suite struct DaemonHeartbeatProcessTests {
    /// Runs one tick of the daemon on `state` (enrollment written by the caller); returns its stderr.
    private func oneTick(_ dir: TempDir) throws -> (status: Int32, error: String) {
        try dir.write("agent.conf", "retries = 1\n")
        var env = ProcessInfo.processInfo.environment
        env["NOTIFY_SOCKET"] = nil
        let r = try run(productsDirectory + "/helpline",
                        ["daemon", "--state-dir", dir.file("state"), "--socket", dir.file("agent.sock"),
                         "--config", dir.file("agent.conf"), "--ticks", "1"],
                        environment: env, timeout: 60)
        return (r.status, r.error)
    }

    private func enrollment(server: String) -> String {
        #"{"server":"\#(server)","hostID":"h-1","hostToken":"t","hostname":"test","enrolledAt":"2026-01-01T00:00:00Z"}"#
    }

    @Test func anUnreachableCollectorIsLoggedByTheChildAndTheDaemonGoesOn() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try dir.write("state/enrollment.json", enrollment(server: "http://127.0.0.1:\(freePort())"))
        let r = try oneTick(dir)
        #expect(r.status == 0, "\(r.error)")
        #expect(r.error.contains("heartbeat not delivered: cannot reach http://127.0.0.1:"), "\(r.error)")
        #expect(r.error.contains("stopped"), "\(r.error)")
    }

    @Test func aDamagedEnrollmentIsNamedNotTakenForNotEnrolled() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try dir.write("state/enrollment.json", "{ not json")
        let r = try oneTick(dir)
        #expect(r.status == 0, "\(r.error)")
        #expect(r.error.contains("heartbeat not sent:") && r.error.contains("is damaged"), "\(r.error)")
        #expect(!r.error.contains("not enrolled"), "\(r.error)")
    }

    @Test func notEnrolledSaysSoAndSendsNothing() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let r = try oneTick(dir)
        #expect(r.status == 0, "\(r.error)")
        #expect(r.error.contains("not enrolled; no heartbeat"), "\(r.error)")
    }

    @Test func clockTimeIsLocalHoursMinutesSeconds() {
        let text = ClockTime.local(Date(timeIntervalSince1970: 0))
        #expect(text.count == 8 && text.split(separator: ":").count == 3, "\(text)")
        #expect(text.split(separator: ":").allSatisfy { $0.count == 2 && $0.allSatisfy(\.isNumber) }, "\(text)")
    }
}
