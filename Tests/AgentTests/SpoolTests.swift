import Foundation
import Testing
@testable import Agent
@testable import Shared

@Suite struct SpoolTests {
    /// Writes a small real bundle with `reason` and returns its path and manifest.
    func bundle(_ dir: TempDir, reason: BundleReason, padding: Int = 0, created: Date = Date()) throws -> (String, Manifest) {
        let id = UUID().uuidString.lowercased()
        let path = dir.file("b-\(id).tar.gz")
        let writer = try BundleWriter(path: path, level: 1)
        if padding > 0 {
            var rng = SystemRandomNumberGenerator()
            try writer.add("attachments/noise", bytes: (0..<padding).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        let manifest = Manifest(bundleID: id, createdAt: created, agentVersion: "t", host: HostIdentity(hostname: "h"), reason: reason)
        _ = try writer.finish(manifest: manifest)
        return (path, manifest)
    }

    @Test func addedBundlesSurviveAndListOldestFirst() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let spool = Spool(directory: dir.file("spool"), maxBundles: 5, maxBytes: 1 << 20)
        let (p1, m1) = try bundle(dir, reason: .userRequest, created: Date(timeIntervalSinceNow: -60))
        let (p2, m2) = try bundle(dir, reason: .scheduled)
        try spool.add(bundleAt: p2, manifest: m2)
        try spool.add(bundleAt: p1, manifest: m1)
        #expect(!FileManager.default.fileExists(atPath: p1), "the bundle moves into the spool")
        let items = spool.items()
        #expect(items.map(\.bundleID) == [m1.bundleID, m2.bundleID])
        #expect(try BundleReader.read(path: spool.bundlePath(m1.bundleID)).manifest.bundleID == m1.bundleID)
    }

    @Test func countLimitEvictsTheOldestScheduledBundleNeverAUserRequest() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let spool = Spool(directory: dir.file("spool"), maxBundles: 2, maxBytes: 1 << 20)
        let (pu, mu) = try bundle(dir, reason: .userRequest, created: Date(timeIntervalSinceNow: -120))
        let (ps, ms) = try bundle(dir, reason: .scheduled, created: Date(timeIntervalSinceNow: -60))
        try spool.add(bundleAt: pu, manifest: mu)
        try spool.add(bundleAt: ps, manifest: ms)
        let (pn, mn) = try bundle(dir, reason: .userRequest)
        let evicted = try spool.add(bundleAt: pn, manifest: mn)
        #expect(evicted == [ms.bundleID])
        #expect(Set(spool.items().map(\.bundleID)) == [mu.bundleID, mn.bundleID])

        // Full of users' requests: a third one is refused, and its file stays where it was.
        let (pr, mr) = try bundle(dir, reason: .userRequest)
        #expect(throws: SpoolError.self) { try spool.add(bundleAt: pr, manifest: mr) }
        #expect(FileManager.default.fileExists(atPath: pr))
        #expect(spool.items().count == 2)
    }

    @Test func byteLimitAtAndOverItsEdge() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (p1, m1) = try bundle(dir, reason: .scheduled, padding: 50_000)
        let size = Int(try FileManager.default.attributesOfItem(atPath: p1)[.size] as! UInt64)
        let exact = Spool(directory: dir.file("exact"), maxBundles: 10, maxBytes: size)
        try exact.add(bundleAt: p1, manifest: m1)
        #expect(exact.items().count == 1)
        let (p2, m2) = try bundle(dir, reason: .userRequest, padding: 50_000)
        let tooSmall = Spool(directory: dir.file("small"), maxBundles: 10, maxBytes: 1000)
        let error = #expect(throws: SpoolError.self) { try tooSmall.add(bundleAt: p2, manifest: m2) }
        #expect(error?.description.contains("larger than the whole spool") == true)
        #expect(FileManager.default.fileExists(atPath: p2))
    }

    /// The size on disk of the bundle at `path`.
    func size(_ path: String) throws -> Int {
        Int(try #require(try FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64))
    }

    @Test func evictionTakesScheduledBundlesOldestFirstAcrossSeveralAddsAndNeverAUsers() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let spool = Spool(directory: dir.file("spool"), maxBundles: 4, maxBytes: 1 << 20)
        // Added out of age order, so "oldest" must come from createdAt, not from when each was spooled.
        let (ps2, ms2) = try bundle(dir, reason: .scheduled, created: Date(timeIntervalSinceNow: -200))
        let (pu1, mu1) = try bundle(dir, reason: .userRequest, created: Date(timeIntervalSinceNow: -300))
        let (ps3, ms3) = try bundle(dir, reason: .scheduled, created: Date(timeIntervalSinceNow: -100))
        let (ps1, ms1) = try bundle(dir, reason: .scheduled, created: Date(timeIntervalSinceNow: -400))
        for (p, m) in [(ps2, ms2), (pu1, mu1), (ps3, ms3), (ps1, ms1)] { #expect(try spool.add(bundleAt: p, manifest: m).isEmpty) }
        #expect(spool.items().map(\.bundleID) == [ms1, mu1, ms2, ms3].map(\.bundleID))

        let (pu2, mu2) = try bundle(dir, reason: .userRequest, created: Date(timeIntervalSinceNow: -50))
        #expect(try spool.add(bundleAt: pu2, manifest: mu2) == [ms1.bundleID], "the oldest scheduled goes first")
        let (pu3, mu3) = try bundle(dir, reason: .userRequest, created: Date(timeIntervalSinceNow: -40))
        #expect(try spool.add(bundleAt: pu3, manifest: mu3) == [ms2.bundleID], "then the next oldest scheduled, not the older user request")
        // A newer scheduled bundle may push out an older scheduled one…
        let (ps4, ms4) = try bundle(dir, reason: .scheduled, created: Date(timeIntervalSinceNow: -30))
        #expect(try spool.add(bundleAt: ps4, manifest: ms4) == [ms3.bundleID])
        let (pu4, mu4) = try bundle(dir, reason: .userRequest, created: Date(timeIntervalSinceNow: -20))
        #expect(try spool.add(bundleAt: pu4, manifest: mu4) == [ms4.bundleID])
        #expect(spool.items().map(\.bundleID) == [mu1, mu2, mu3, mu4].map(\.bundleID))
        for gone in [ms1, ms2, ms3, ms4] {
            #expect(!FileManager.default.fileExists(atPath: spool.bundlePath(gone.bundleID)), "an evicted bundle's file goes too")
        }

        // …but never a user's request: full of them, both kinds of newcomer are refused and stay put.
        let (ps5, ms5) = try bundle(dir, reason: .scheduled)
        let scheduledError = #expect(throws: SpoolError.self) { try spool.add(bundleAt: ps5, manifest: ms5) }
        #expect(scheduledError?.description.contains("full of users' requests") == true, "\(String(describing: scheduledError))")
        let (pu5, mu5) = try bundle(dir, reason: .userRequest)
        let userError = #expect(throws: SpoolError.self) { try spool.add(bundleAt: pu5, manifest: mu5) }
        #expect(userError?.description.contains("the spool is full (4 bundles") == true, "\(String(describing: userError))")
        #expect(FileManager.default.fileExists(atPath: ps5) && FileManager.default.fileExists(atPath: pu5))
        #expect(spool.items().map(\.bundleID) == [mu1, mu2, mu3, mu4].map(\.bundleID))
    }

    @Test func byteLimitExactlyFullFitsOneByteOverEvictsAndABigNewcomerEvictsSeveral() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        // Random padding does not compress, so each bundle's size is known once written.
        func three() throws -> [(String, Manifest)] {
            try [-300.0, -200, -100].map { try bundle(dir, reason: .scheduled, padding: 20_000, created: Date(timeIntervalSinceNow: $0)) }
        }
        let first = try three()
        let sizes = try first.map { try size($0.0) }
        let total = sizes.reduce(0, +)

        // Exactly at the limit: all three fit, nothing evicted.
        let exact = Spool(directory: dir.file("exact"), maxBundles: 10, maxBytes: total)
        for (p, m) in first { #expect(try exact.add(bundleAt: p, manifest: m).isEmpty) }
        #expect(exact.items().reduce(0) { $0 + $1.bytes } == total)
        // One byte under: the third evicts the oldest.
        let second = try three()
        let secondTotal = try second.map { try size($0.0) }.reduce(0, +)
        let short = Spool(directory: dir.file("short"), maxBundles: 10, maxBytes: secondTotal - 1)
        #expect(try short.add(bundleAt: second[0].0, manifest: second[0].1).isEmpty)
        #expect(try short.add(bundleAt: second[1].0, manifest: second[1].1).isEmpty)
        #expect(try short.add(bundleAt: second[2].0, manifest: second[2].1) == [second[0].1.bundleID])

        // A user's bundle bigger than any one scheduled bundle: as many go as needed, oldest first.
        let (pu, mu) = try bundle(dir, reason: .userRequest, padding: 30_000)
        let u = try size(pu)
        #expect(u > sizes[0] && u < sizes[0] + sizes[1], "the fixture needs exactly two evictions")
        #expect(try exact.add(bundleAt: pu, manifest: mu) == [first[0].1.bundleID, first[1].1.bundleID])
        #expect(exact.items().map(\.bundleID) == [first[2].1.bundleID, mu.bundleID])
        #expect(exact.items().reduce(0) { $0 + $1.bytes } <= total)
    }

    @Test func bundlesMadeInTheSameSecondListAndEvictInTheOrderTheyWereMade() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        // The state file keeps createdAt to the second, so these five tie on it.
        let second = Date(timeIntervalSince1970: 1_800_000_000)
        var made: [(String, Manifest)] = []
        for _ in 0..<5 {
            made.append(try bundle(dir, reason: .scheduled, created: second))
            usleep(20_000)  // distinct file times even on a coarse filesystem clock
        }
        let spool = Spool(directory: dir.file("spool"), maxBundles: 5, maxBytes: 1 << 20)
        for (p, m) in made.reversed() { try spool.add(bundleAt: p, manifest: m) }
        for _ in 0..<3 { #expect(spool.items().map(\.bundleID) == made.map(\.1.bundleID), "oldest first, the same every time") }
        let (pu, mu) = try bundle(dir, reason: .userRequest, created: second)
        #expect(try spool.add(bundleAt: pu, manifest: mu) == [made[0].1.bundleID], "the first made is the oldest")
    }

    @Test func aRefusedBundleEvictsNothing() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let (ps, ms) = try bundle(dir, reason: .scheduled, padding: 10_000, created: Date(timeIntervalSinceNow: -200))
        let (pu1, mu1) = try bundle(dir, reason: .userRequest, padding: 20_000, created: Date(timeIntervalSinceNow: -100))
        let (pu2, mu2) = try bundle(dir, reason: .userRequest, padding: 25_000)
        let s = try size(ps), u1 = try size(pu1), u2 = try size(pu2)
        // Room for the scheduled bundle, the first request and 5 000 bytes: the second request
        // alone would fit, but even with the scheduled one gone it does not fit beside the first.
        let limit = s + u1 + 5_000
        try #require(u2 <= limit && u1 + u2 > limit, "the fixture must reach the eviction, not the bundle-larger-than-the-spool check")
        let spool = Spool(directory: dir.file("spool"), maxBundles: 10, maxBytes: limit)
        try spool.add(bundleAt: ps, manifest: ms)
        try spool.add(bundleAt: pu1, manifest: mu1)
        #expect(throws: SpoolError.self) { try spool.add(bundleAt: pu2, manifest: mu2) }
        #expect(FileManager.default.fileExists(atPath: pu2))
        #expect(spool.items().map(\.bundleID) == [ms.bundleID, mu1.bundleID],
                "evicting the scheduled bundle could not make room, so it must still be there")
        #expect(FileManager.default.fileExists(atPath: spool.bundlePath(ms.bundleID)))
    }

    @Test func aFailedFlushBacksOffAndKeepsTheBundle() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let state = AgentState(directory: dir.file("state"))
        var config = AgentConfig()
        config.connectTimeout = .seconds(2)
        // Nothing listens on port 1: libcurl is refused at once.
        let enrollment = AgentState.Enrollment(server: "http://127.0.0.1:1", hostID: "h", hostToken: "t", hostname: "h", enrolledAt: Date())
        let delivery = Delivery(state: state, config: config, enrollment: enrollment)
        let (p, m) = try bundle(dir, reason: .userRequest)
        try delivery.spool.add(bundleAt: p, manifest: m)

        let now = Date()
        let first = try #require(await delivery.flushSpool(force: false, now: now))
        #expect(first.count == 1 && first[0].delivered == false)
        let item = try #require(delivery.spool.items().first)
        #expect(item.attempts == 1)
        #expect(item.lastError?.contains("cannot reach") == true)
        #expect((item.nextAttemptAt ?? now) > now)
        // Not due yet: a second flush leaves it alone; forced, it tries again.
        #expect(try #require(await delivery.flushSpool(force: false, now: now)).isEmpty)
        #expect(try #require(await delivery.flushSpool(force: true, now: now)).count == 1)
        #expect(delivery.spool.items().first?.attempts == 2)
        #expect(FileManager.default.fileExists(atPath: delivery.spool.bundlePath(m.bundleID)))
    }

    @Test func crashLeftoversAreRepaired() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let spool = Spool(directory: dir.file("spool"), maxBundles: 5, maxBytes: 1 << 20)
        try spool.prepare()
        // A bundle whose state file was never written (crash between the two renames)…
        let (p, m) = try bundle(dir, reason: .userRequest)
        try FileManager.default.moveItem(atPath: p, toPath: spool.bundlePath(m.bundleID))
        // …a state file whose bundle is gone, a half-written temporary file an interrupted
        // write left behind, and one another process is writing right now.
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir.file("spool/deadbeef.json")))
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir.file("spool/x.tar.gz.tmp-1234")))
        try Self.age(dir.file("spool/x.tar.gz.tmp-1234"), by: Spool.staleAfter + 1)
        try Data("y".utf8).write(to: URL(fileURLWithPath: dir.file("spool/y.json.tmp-5678")))
        let items = spool.items()
        #expect(items.map(\.bundleID) == [m.bundleID])
        #expect(items.first?.reason == .userRequest)
        let left = try FileManager.default.contentsOfDirectory(atPath: dir.file("spool")).sorted()
        #expect(left == ["\(m.bundleID).json", "\(m.bundleID).tar.gz", "y.json.tmp-5678"], "a write in flight is left alone")
    }

    /// Sets `path`'s modification time `seconds` into the past.
    static func age(_ path: String, by seconds: TimeInterval) throws {
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-seconds)], ofItemAtPath: path)
    }

    /// An unreadable bundle without a state file is set aside to rejected/ once it is older than
    /// any write in flight, instead of being decompressed again at every listing and never
    /// counted; a fresh one is left for the process writing it.
    @Test func anUnreadableBundleIsSetAsideOnceItIsStale() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let spool = Spool(directory: dir.file("spool"), maxBundles: 5, maxBytes: 1 << 20)
        try spool.prepare()
        let broken = UUID().uuidString.lowercased()
        try Data([0x1f, 0x8b, 0x08, 0x00, 0x01, 0x02]).write(to: URL(fileURLWithPath: spool.bundlePath(broken)))
        #expect(spool.items().isEmpty)
        #expect(FileManager.default.fileExists(atPath: spool.bundlePath(broken)), "fresh: perhaps still being written")
        try Self.age(spool.bundlePath(broken), by: Spool.staleAfter + 1)
        #expect(spool.items().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: spool.bundlePath(broken)))
        #expect(FileManager.default.fileExists(atPath: dir.file("rejected/\(broken).tar.gz")))
        #expect(spool.items().isEmpty)
    }

    /// When the state file cannot be written, the bundle stays where it was: `add` promises the
    /// file at `path` is untouched when it throws (the caller then tells the user where it is).
    @Test func aStateFileThatCannotBeWrittenLeavesTheBundleWhereItWas() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let spool = Spool(directory: dir.file("spool"), maxBundles: 5, maxBytes: 1 << 20)
        try spool.prepare()
        let (p, m) = try bundle(dir, reason: .userRequest)
        // A directory where the state file goes: its rename fails.
        try FileManager.default.createDirectory(atPath: dir.file("spool/\(m.bundleID).json"), withIntermediateDirectories: false)
        #expect(throws: SpoolError.self) { try spool.add(bundleAt: p, manifest: m) }
        #expect(FileManager.default.fileExists(atPath: p))
        #expect(!FileManager.default.fileExists(atPath: spool.bundlePath(m.bundleID)))
    }
}

@Suite struct AgentConfigTests {
    @Test func parsesEverySetting() throws {
        var c = AgentConfig()
        try c.apply(text: """
            # Helpline agent
            server = https://help.example.com
            ca_file = /etc/helpline/ca.pem
            pinned_public_key = sha256//AAAA
            proxy = http://proxy:3128   # corporate proxy
            connect_timeout = 5s
            stall_timeout = 1m
            retries = 5
            since = 2h
            spool_max_bundles = 7
            spool_max_bytes = 64MB
            heartbeat_interval = 5m
            """, source: "agent.conf")
        #expect(c.server == "https://help.example.com")
        #expect(c.caFile == "/etc/helpline/ca.pem")
        #expect(c.pinnedPublicKey == "sha256//AAAA")
        #expect(c.proxy == "http://proxy:3128")
        #expect(c.connectTimeout == .seconds(5))
        #expect(c.stallTimeout == .seconds(60))
        #expect(c.retries == 5)
        #expect(c.since == "2h")
        #expect(c.spoolMaxBundles == 7)
        #expect(c.spoolMaxBytes == 64_000_000)
        #expect(c.heartbeatInterval == .seconds(300))
    }

    @Test(arguments: ["server", "retries = many", "retries = 0", "connect_timeout = soon", "colour = blue", "spool_max_bytes = lots"])
    func badLinesNameFileAndLine(_ line: String) {
        var c = AgentConfig()
        let error = #expect(throws: AgentConfigError.self) { try c.apply(text: "# ok\n" + line, source: "/etc/helpline/agent.conf") }
        #expect(error?.description.hasPrefix("/etc/helpline/agent.conf:2:") == true)
    }

    /// `user_requests_per_hour` at its edges: 1 and 1000 are taken, 0 and 1001 refused.
    @Test func userRequestsPerHourIsCheckedAtItsEdges() throws {
        for n in [1, 1000] {
            var c = AgentConfig()
            try c.apply(text: "user_requests_per_hour = \(n)\n", source: "agent.conf")
            #expect(c.userRequestsPerHour == n)
        }
        #expect(AgentConfig().userRequestsPerHour == 10)
        for n in [0, 1001] {
            var c = AgentConfig()
            #expect(throws: AgentConfigError.self) { try c.apply(text: "user_requests_per_hour = \(n)\n", source: "agent.conf") }
        }
    }

    /// Per user, at most `pendingPerUser` connections at once and `perHour` requests in any
    /// hour (the oldest leaving the window frees a place); root and other users are not held
    /// back by one user.
    @Test func userRequestLimiterAtItsEdges() {
        let limiter = UserRequestLimiter(perHour: 3, pendingPerUser: 2)
        #expect(limiter.enter(1000) && limiter.enter(1000))
        #expect(!limiter.enter(1000), "a third connection of one user")
        #expect(limiter.enter(1001), "another user")
        #expect((0..<50).allSatisfy { _ in limiter.enter(0) }, "root")
        limiter.leave(1000)
        #expect(limiter.enter(1000), "a place freed")

        let t0 = ContinuousClock.now
        #expect(limiter.request(1000, now: t0) == nil)
        #expect(limiter.request(1000, now: t0 + .seconds(10)) == nil)
        #expect(limiter.request(1000, now: t0 + .seconds(20)) == nil)
        #expect(limiter.request(1000, now: t0 + .seconds(30)) == .seconds(3570), "the fourth waits until the first is an hour old")
        #expect(limiter.request(1001, now: t0 + .seconds(30)) == nil, "another user's count is their own")
        #expect(limiter.request(1000, now: t0 + .seconds(3599)) == .seconds(1))
        #expect(limiter.request(1000, now: t0 + .seconds(3600)) == nil, "the first left the window")
        #expect(limiter.request(0, now: t0 + .seconds(3600)) == nil)
    }

    @Test func configWindowAppliesWhereFlagsKeepTheirDefaults() throws {
        var c = AgentConfig()
        try c.apply(text: "since = 2h\nimportant_since = 5d\n", source: "agent.conf")
        let defaults = try CollectionFlags.parse([]).options(defaultsFrom: c)
        #expect(defaults.allSince == .seconds(7200))
        #expect(defaults.importantSince == .seconds(5 * 86_400))
        let flagged = try CollectionFlags.parse(["--since", "30m"]).options(defaultsFrom: c)
        #expect(flagged.allSince == .seconds(1800), "a flag wins over the config file")
        let explicitDefault = try CollectionFlags.parse(["--since", "1h"]).options(defaultsFrom: c)
        #expect(explicitDefault.allSince == .seconds(3600), "--since 1h given is kept, though it is the default's value")
        #expect(try DaemonCommand.daemonOptions(for: DaemonRequest(note: "x", since: "1h"), config: c).allSince == .seconds(3600))
    }

    @Test func environmentOverridesTheFileAndAMissingExplicitFileIsAnError() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        try dir.write("agent.conf", "server = https://file.example\n")
        let c = try AgentConfig.load(path: dir.file("agent.conf"), environment: ["HELPLINE_SERVER": "https://env.example"])
        #expect(c.server == "https://env.example")
        #expect(throws: AgentConfigError.self) { try AgentConfig.load(path: dir.file("missing.conf"), environment: [:]) }
    }

    @Test func aSetAsideFolderKeepsTheSpoolsLimitsOldestFirstAndNeverTheBundleJustSetAside() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let folder = dir.file("rejected")
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        // Five bundles of 1,000 bytes, a minute apart, the first the oldest; and a file that is no bundle.
        for i in 0..<5 {
            let path = folder + "/b\(i).tar.gz"
            try Data(repeating: UInt8(i), count: 1000).write(to: URL(fileURLWithPath: path))
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSinceNow: Double(i - 10) * 60)], ofItemAtPath: path)
        }
        try Data("x".utf8).write(to: URL(fileURLWithPath: folder + "/notes.txt"))
        func left() throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: folder).sorted() }

        // At the count limit (5 of 5): nothing goes.
        #expect(Spool.pruneSetAside(folder, keeping: "b4.tar.gz", maxBundles: 5, maxBytes: 5000).isEmpty)
        // One under it: the oldest goes.
        #expect(Spool.pruneSetAside(folder, keeping: "b4.tar.gz", maxBundles: 4, maxBytes: 5000) == ["b0.tar.gz"])
        // Bytes: 2,999 hold two bundles of 1,000 and not a third.
        #expect(Spool.pruneSetAside(folder, keeping: "b4.tar.gz", maxBundles: 100, maxBytes: 2999).sorted() == ["b1.tar.gz", "b2.tar.gz"])
        #expect(try left() == ["b3.tar.gz", "b4.tar.gz", "notes.txt"])
        // The bundle just set aside stays even when it is the oldest, and alone over the bytes.
        #expect(Spool.pruneSetAside(folder, keeping: "b3.tar.gz", maxBundles: 1, maxBytes: 10) == ["b4.tar.gz"])
        #expect(try left() == ["b3.tar.gz", "notes.txt"])
    }
}
