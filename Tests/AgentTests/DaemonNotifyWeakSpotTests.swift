import Foundation
import Testing
@testable import Agent

/// `helpline daemon` and systemd's notify protocol, on a real `NOTIFY_SOCKET` the test binds,
/// as systemd does for `Type=notify` with `WatchdogSec=`: READY=1 once it is up, WATCHDOG=1
/// at least every WATCHDOG_USEC, STOPPING=1 when SIGTERM asks it to stop, then a clean exit.
@Suite(.serialized) struct DaemonNotifyWeakSpotTests {
    @Test func readyThenWatchdogPingsInTimeThenStoppingOnSIGTERM() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let notify = try NotifySocket(path: dir.file("notify.sock"))
        try dir.write("agent.conf", "retries = 1\n")
        let watchdog = 1.0

        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: productsDirectory + "/helpline")
        // Not enrolled: no network, so each tick is quick and only the notify protocol is tested.
        daemon.arguments = ["daemon", "--state-dir", dir.file("state"), "--socket", dir.file("agent.sock"), "--heartbeat-interval", "7d"]
        var env = ProcessInfo.processInfo.environment
        env["HELPLINE_CONFIG"] = dir.file("agent.conf")
        env["NOTIFY_SOCKET"] = notify.path
        env["WATCHDOG_USEC"] = String(Int(watchdog * 1_000_000))
        env["WATCHDOG_PID"] = nil
        daemon.environment = env
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer { daemon.waitForExit(upTo: 0) }

        func has(_ field: String) -> ([NotifySocket.Message]) -> Bool { { $0.contains { $0.fields.contains(field) } } }
        let early = notify.receive(within: 30, until: has("READY=1"))
        let ready = try #require(early.first { $0.fields.contains("READY=1") }, "no READY=1 within 30 s: \(early)")
        #expect(ready.fields.contains { $0.hasPrefix("STATUS=sending heartbeats every") }, "\(ready)")

        // Four watchdog periods: pings keep coming, never further apart than WATCHDOG_USEC
        // (the daemon aims for half of it, as sd_watchdog_enabled(3) advises).
        let since = monotonicSeconds()
        let all = notify.receive(within: 4 * watchdog) { _ in false }
        let pings = all.filter { $0.time >= since && $0.fields.contains("WATCHDOG=1") }.map(\.time)
        #expect(pings.count >= 4, "\(pings.count) WATCHDOG=1 in \(4 * watchdog) s with WATCHDOG_USEC = \(watchdog) s: \(all)")
        let gaps = zip(pings.dropFirst(), pings).map { $0 - $1 }
        #expect((gaps.max() ?? .infinity) < watchdog, "a watchdog gap of \(gaps.max() ?? .infinity) s; systemd would have killed it: \(gaps)")
        #expect(!all.contains { $0.fields.contains("STOPPING=1") }, "STOPPING=1 before anyone asked it to stop: \(all)")

        // SIGTERM, as `systemctl stop` sends: STOPPING=1, then it exits 0 on its own.
        try #require(daemon.isRunning, "the daemon exited by itself (status \(daemon.terminationStatus))")
        kill(daemon.processIdentifier, SIGTERM)
        let end = notify.receive(within: 15, until: has("STOPPING=1"))
        #expect(has("STOPPING=1")(end), "no STOPPING=1 within 15 s of SIGTERM: \(end.suffix(5))")
        #expect(daemon.waitForExit(upTo: 15), "the daemon did not exit within 15 s of SIGTERM (it was SIGKILLed)")
        #expect(daemon.terminationReason == .exit, "it died of signal \(daemon.terminationStatus) instead of stopping in order")
        #expect(daemon.terminationStatus == 0)
    }
}
