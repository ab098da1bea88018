import Foundation
import Testing
@testable import Agent
@testable import Shared

/// Issue #9's weak spots in delivery, each through the real `helpline` binary, libcurl and the
/// real collector on 127.0.0.1: Retry-After, the stall timeout, an HTTP proxy, and a full spool.
/// Fails (never skips) without the collector binary or python3.
@Suite(.serialized) struct DeliveryWeakSpotTests {
    func enrolled(_ world: AgentWorld, _ collector: LiveCollector, environment: [String: String] = [:]) throws {
        let r = try world.helpline(["enroll", "--server", collector.url, "--secret", collector.enrollmentSecret], environment: environment)
        try #require(r.status == 0, "enroll failed: \(r.error)")
    }

    @Test func a429WithRetryAfterIsWaitedOutThenDeliveredOnce() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        try enrolled(world, collector)
        // Retry-After: 3 is well above the agent's own first backoff (0.5–0.75 s), so a retry
        // sooner than 3 s means the header was ignored.
        let proxy = try FaultProxy(upstream: collector.port, plan: ["429:3"])
        let r = try world.request(["--server", proxy.url])
        #expect(r.status == ExitCodes.delivered, "\(r.error)")
        #expect(r.answer?.outcome == "delivered")

        let log = proxy.entries(within: 10) { $0.count >= 2 }
        try #require(log.count >= 2, "the proxy saw \(log)")
        #expect(log[0].action == "429:3" && log[0].path == "/api/v1/bundles", "\(log)")
        #expect(log[1].action == "pass" && log[1].method == "POST" && log[1].path == "/api/v1/bundles", "\(log)")
        let waited = log[1].time - log[0].time
        #expect(waited >= 3.0, "the retry came \(waited) s after the 429, before its Retry-After: 3")
        #expect(waited < 3.0 + 5, "the retry came \(waited) s after the 429; Retry-After asked for 3")
        #expect(proxy.entries(within: 1).count == 2, "one 429 and one retry, nothing more: \(proxy.entries())")
        #expect(r.answer?.receipt?.duplicate == false)
        #expect(try collector.ticketCount() == 1)
    }

    @Test func aStalledUploadGivesUpAfterTheStallTimeoutIsSpooledAndALaterFlushDelivers() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        try enrolled(world, collector)
        let stall = 2.0
        try world.dir.write("agent.conf", "retries = 2\nconnect_timeout = 2s\nstall_timeout = \(Int(stall))s\n")
        // Both attempts are read in full and never answered.
        let proxy = try FaultProxy(upstream: collector.port, plan: ["hang", "hang"])
        let r = try world.request(["--server", proxy.url])
        #expect(r.status == ExitCodes.spooled, "\(r.error)")
        #expect(r.answer?.outcome == "spooled")
        #expect(r.answer?.message.contains("stall_timeout") == true, "the user hears it timed out: \(r.answer?.message ?? r.error)")

        // Each attempt: the proxy read the whole upload ("hang"), then the agent hung up ("closed").
        let log = proxy.entries(within: 10) { $0.count >= 4 }
        try #require(log.count >= 4, "the proxy saw \(log)")
        for attempt in 0..<2 {
            let hang = try #require(log.first { $0.index == attempt && $0.action == "hang" }, "\(log)")
            let closed = try #require(log.first { $0.index == attempt && $0.action == "closed" }, "\(log)")
            let waited = closed.time - hang.time
            // The agent's own stall clock restarts whenever a byte moves and libcurl calls it
            // about once a second: it gives up between stall_timeout and a second or so after.
            #expect(waited >= stall - 0.5, "attempt \(attempt) gave up after \(waited) s, before stall_timeout = \(stall) s")
            #expect(waited <= stall + 2.0, "attempt \(attempt) waited \(waited) s for a stalled collector (stall_timeout = \(stall) s)")
        }
        #expect(log.filter { $0.action != "closed" }.count == 2, "retries = 2 means two attempts: \(log)")
        #expect(try collector.ticketCount() == 0)
        let waiting = try world.helpline(["spool", "list"])
        #expect(waiting.output.contains("Waiting to be sent: 1"), "\(waiting.output)")

        // The proxy passes from now on: the flush delivers it, through the same proxy.
        let flush = try world.helpline(["spool", "flush", "--server", proxy.url])
        #expect(flush.status == 0, "\(flush.error)")
        #expect(flush.output.contains("ticket #"), "\(flush.output)")
        let after = proxy.entries(within: 5) { $0.count >= 5 }
        #expect(after.count == 5 && after[4].action == "pass" && after[4].path == "/api/v1/bundles", "\(after)")
        #expect(try collector.ticketCount() == 1)
        #expect(try world.helpline(["spool", "list"]).output.contains("Nothing is waiting to be sent."))
    }

    /// libcurl also reads these; emptied so only `proxy =` in agent.conf decides (a no_proxy
    /// naming 127.0.0.1 in the test runner's environment would route around the proxy).
    static let noProxyVariables = ["http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy", "NO_PROXY"]
        .reduce(into: [String: String]()) { $0[$1] = "" }

    @Test func theConfiguredProxyCarriesEveryCallAndADeadProxyIsNotRoutedAround() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start()
        defer { collector.stop() }
        let proxy = try ForwardProxy()
        try world.dir.write("agent.conf", "retries = 1\nconnect_timeout = 2s\nproxy = \(proxy.url)\n")
        let env = Self.noProxyVariables

        try enrolled(world, collector, environment: env)
        let r = try world.request(environment: env)
        #expect(r.status == ExitCodes.delivered, "\(r.error)")
        #expect(r.answer?.outcome == "delivered")
        let status = try world.helpline(["status", "--json"], environment: env)
        #expect(status.status == 0, "\(status.error)")

        // The proxy saw each call in absolute form (how a client speaks to a forward proxy),
        // naming the collector: so libcurl really went through it.
        let expected = [("POST", "/api/v1/enroll"), ("POST", "/api/v1/bundles"), ("GET", "/api/v1/hosts/self/tickets")]
        let log = proxy.entries(within: 5) { $0.count >= expected.count }
        #expect(log.map(\.kind) == Array(repeating: "forward", count: expected.count), "\(log)")
        #expect(log.map(\.method) == expected.map(\.0), "\(log)")
        #expect(log.map(\.target) == expected.map { collector.url + $0.1 }, "\(log)")
        #expect(try collector.ticketCount() == 1)

        // The proxy goes away: the agent does not fall back to a direct connection (which would
        // deliver, the collector being up), it spools and names the proxy.
        proxy.stop()
        let down = try world.request(note: "printer still broken", environment: env)
        #expect(down.status == ExitCodes.spooled, "\(down.error)")
        #expect(down.answer?.outcome == "spooled")
        #expect(down.answer?.message.contains(proxy.url) == true, "the user hears which proxy failed: \(down.answer?.message ?? down.error)")
    }

    @Test func aFullSpoolEvictsScheduledBundlesOldestFirstThenKeepsNothingAndExits7() throws {
        let world = try AgentWorld(); defer { world.cleanup() }
        let port = freePort()
        let collector = LiveCollector(dataDir: world.dir.file("data"))
        try collector.start(port: port)
        try enrolled(world, collector)
        collector.stop()
        try world.dir.write("agent.conf", "retries = 1\nconnect_timeout = 2s\nspool_max_bundles = 3\n")

        // Two scheduled bundles already wait (the daemon's kind, not a user's request).
        let spool = Spool(directory: AgentState(directory: world.state).spoolDirectory, maxBundles: 3, maxBytes: 1 << 30)
        let maker = SpoolTests()
        let (po, older) = try maker.bundle(world.dir, reason: .scheduled, created: Date(timeIntervalSinceNow: -7200))
        let (pn, newer) = try maker.bundle(world.dir, reason: .scheduled, created: Date(timeIntervalSinceNow: -3600))
        try spool.add(bundleAt: pn, manifest: newer)
        try spool.add(bundleAt: po, manifest: older)

        var requests: [String] = []
        func spooledRequest(_ note: String) throws {
            let r = try world.request(note: note)
            #expect(r.status == ExitCodes.spooled, "\(note): \(r.error)")
            requests.append(try #require(r.answer?.bundleID, "\(note): \(r.error)"))
        }
        try spooledRequest("first")     // three fit: nothing evicted
        #expect(spool.items().map(\.bundleID) == [older.bundleID, newer.bundleID] + requests)
        try spooledRequest("second")    // the oldest scheduled goes
        #expect(spool.items().map(\.bundleID) == [newer.bundleID] + requests)
        try spooledRequest("third")     // then the other one
        #expect(spool.items().map(\.bundleID) == requests)

        // Full of users' requests: neither sent nor kept, exit 7, the bundle left whole where it was.
        let full = try world.request(note: "fourth")
        #expect(full.status == ExitCodes.notKept, "\(full.error)")
        #expect(full.answer?.outcome == "not_kept")
        #expect(full.answer?.message.contains("spool is full") == true, "\(full.answer?.message ?? full.error)")
        let kept = try #require(full.answer?.keptAt, "\(full.error)")
        #expect(try BundleReader.read(path: kept).manifest.bundleID == full.answer?.bundleID, "the bundle not kept is whole at \(kept)")
        #expect(spool.items().map(\.bundleID) == requests, "the three waiting requests are untouched")
        let list = try world.helpline(["spool", "list"])
        #expect(list.output.contains("Waiting to be sent: 3"), "\(list.output)")

        // The collector is back: all three waiting requests go, none of the evicted ones.
        try collector.start(port: port)
        defer { collector.stop() }
        let flush = try world.helpline(["spool", "flush"])
        #expect(flush.status == 0, "\(flush.error)")
        #expect(flush.output.components(separatedBy: "Sent the bundle").count - 1 == 3, "\(flush.output)")
        #expect(spool.items().isEmpty)
    }
}
