import Crypto
import Foundation
import Hummingbird
import NIOSSL
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// Regression tests for the defects the security review found (issue #9), one suite each.
/// Each failed on the code before its fix.
@Suite struct EnrollmentTakeoverTests {
    /// Defect 1: the shared secret plus a known machine id used to swap in a new token.
    @Test func reenrollingAKnownMachineWithoutItsTokenIsParkedAndTheVictimKeepsWorking() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let victim = try await enroll(client, secret: tc.enrollmentSecret, machineID: "victim-1")
            // The attacker knows the secret and the machine id, not the token.
            let attack = try await enrollRaw(client, EnrollRequest(secret: tc.enrollmentSecret, hostname: "evil", machineID: "victim-1",
                                                                   enrollmentKey: "hlk_attacker-key-0000000000"))
            #expect(attack.status == .conflict)
            #expect(errorCode(attack) == "approval_pending")
            #expect(!String(buffer: attack.body).contains("hlh_"))
            // No key at all: refused, and nothing an admin could approve.
            let keyless = try await enrollRaw(client, EnrollRequest(secret: tc.enrollmentSecret, hostname: "evil", machineID: "victim-1"))
            #expect(keyless.status == .conflict)
            #expect(errorCode(keyless) == "approval_required")
            // A wrong "current" token is no proof.
            let guessed = try await enrollRaw(client, EnrollRequest(secret: tc.enrollmentSecret, hostname: "evil", machineID: "victim-1",
                                                                    currentHostToken: Secrets.generate(.hostToken)))
            #expect(guessed.status == .conflict)
            // The victim's token still works and its hostname was not changed.
            let bundle = try makeBundle(manifest: sampleManifest(hostID: victim.hostID, machineID: "victim-1"))
            #expect(try await upload(client, token: victim.hostToken, bundle).status == .created)
            #expect(try await tc.store.host(id: victim.hostID)?.hostname == "laptop-42")
            // The machine itself, holding its token, rotates it.
            let rotated = try await enroll(client, secret: tc.enrollmentSecret, machineID: "victim-1", currentHostToken: victim.hostToken)
            #expect(rotated.reenrolled && rotated.hostID == victim.hostID && rotated.hostToken != victim.hostToken)
            let old = try await upload(client, token: victim.hostToken, try makeBundle(manifest: sampleManifest(hostID: victim.hostID, machineID: "victim-1")))
            #expect(old.status == .unauthorized)
            // Only one host row, still.
            #expect(try await tc.store.hosts().count == 1)
        }
    }

    /// An admin approves the parked request; the approval is for that key only.
    @Test func anApprovedReenrollmentIsGrantedToTheSameKeyOnly() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let admin = try await tc.apiToken("root", role: .admin)
        let technician = try await tc.apiToken("tech", role: .technician)
        try await tc.app().test(.router) { client in
            let first = try await enroll(client, secret: tc.enrollmentSecret, machineID: "m-approve")
            let key = "hlk_reinstalled-machine-key-1"
            let parked = try await enrollRaw(client, EnrollRequest(secret: tc.enrollmentSecret, hostname: "reinstalled", machineID: "m-approve",
                                                                   enrollmentKey: key))
            #expect(parked.status == .conflict)
            let pending = try #require(try await tc.store.host(id: first.hostID)?.pendingEnrollment)
            #expect(pending.hostname == "reinstalled" && pending.approvedAt == nil)
            #expect(pending.keyFingerprint == String(Secrets.hash(key).prefix(12)))
            // Technicians cannot approve; admins can.
            let path = "/api/v1/hosts/\(first.hostID)/enrollment/approve"
            let denied = try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer \(technician)"])
            #expect(denied.status == .forbidden)
            let approved = try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer \(admin)"])
            #expect(approved.status == .ok)
            #expect(try decode(HostRecord.self, approved).pendingEnrollment?.approvedBy == "root")
            // Another key does not inherit the approval (and replaces the request, unapproved).
            let other = try await enrollRaw(client, EnrollRequest(secret: tc.enrollmentSecret, hostname: "evil", machineID: "m-approve",
                                                                  enrollmentKey: "hlk_someone-else-key-00000"))
            #expect(other.status == .conflict)
            #expect(try await tc.store.host(id: first.hostID)?.pendingEnrollment?.approvedAt == nil)
            // So the original key must be approved again, then gets its token.
            #expect(try await enrollRaw(client, EnrollRequest(secret: tc.enrollmentSecret, hostname: "reinstalled", machineID: "m-approve",
                                                              enrollmentKey: key)).status == .conflict)
            #expect(try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer \(admin)"]).status == .ok)
            let granted = try await enroll(client, secret: tc.enrollmentSecret, machineID: "m-approve", hostname: "reinstalled", enrollmentKey: key)
            #expect(granted.reenrolled && granted.hostID == first.hostID)
            #expect(try await tc.store.host(id: first.hostID)?.pendingEnrollment == nil)
            // Nothing left to approve.
            #expect(try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer \(admin)"]).status == .conflict)
        }
    }

    @Test func aRevokedHostIsRefusedAndCannotRotateItsOwnToken() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let admin = try await tc.apiToken("root", role: .admin)
        let technician = try await tc.apiToken("tech", role: .technician)
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "m-revoke")
            let path = "/api/v1/hosts/\(host.hostID)/revoke"
            #expect(try await client.execute(uri: path, method: .post).status == .unauthorized)
            #expect(try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer \(technician)"]).status == .forbidden)
            #expect(try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer \(host.hostToken)"]).status == .unauthorized)
            let revoked = try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer \(admin)"])
            #expect(revoked.status == .ok)
            #expect(try decode(HostRecord.self, revoked).revokedAt != nil)
            #expect(try await client.execute(uri: path, method: .post, headers: [.authorization: "Bearer \(admin)"]).status == .conflict)
            let refused = try await client.execute(uri: "/api/v1/hosts/self/tickets", method: .get, headers: [.authorization: "Bearer \(host.hostToken)"])
            #expect(refused.status == .unauthorized)
            #expect(errorCode(refused) == "host_revoked")
            // Its token no longer proves anything.
            let rotate = try await enrollRaw(client, EnrollRequest(secret: tc.enrollmentSecret, hostname: "h", machineID: "m-revoke",
                                                                   currentHostToken: host.hostToken, enrollmentKey: "hlk_revoked-host-key-000"))
            #expect(rotate.status == .conflict)
            #expect(errorCode(rotate) == "approval_pending")
            let unknown = try await client.execute(uri: "/api/v1/hosts/no-such-host/revoke", method: .post, headers: [.authorization: "Bearer \(admin)"])
            #expect(unknown.status == .notFound)
        }
    }

    @Test func secretsHaveUseCountsAndExpiry() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let once = Secrets.generate(.enrollmentSecret)
        let record = try await tc.store.createEnrollmentSecret(hash: Secrets.hash(once), label: "one laptop", expiresAt: Date(timeIntervalSinceNow: 3600),
                                                               maxUses: 1, now: Date())
        try await tc.app().test(.router) { client in
            _ = try await enroll(client, secret: once, machineID: "first")
            let second = try await enrollRaw(client, EnrollRequest(secret: once, hostname: "h", machineID: "second"))
            #expect(second.status == .unauthorized)
            #expect(errorCode(second) == "secret_used_up")
            // A parked request does not spend a use (none was left to spend anyway: still refused).
        }
        let after = try #require(try await tc.store.enrollmentSecrets().first { $0.id == record.id })
        #expect(after.useCount == 1 && !after.isUsable(at: Date()))
        #expect(try await tc.store.hosts().count == 1)
    }

    @Test func oversizedEnrollmentFieldsAreRefused() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let shortKey = try await enrollRaw(client, EnrollRequest(secret: tc.enrollmentSecret, hostname: "h", machineID: "m", enrollmentKey: "short"))
            #expect(shortKey.status == .badRequest)
            #expect(errorCode(shortKey) == "invalid_enrollment_key")
            let longToken = try await enrollRaw(client, EnrollRequest(secret: tc.enrollmentSecret, hostname: "h", machineID: "m",
                                                                      currentHostToken: String(repeating: "x", count: 10_000)))
            #expect(longToken.status == .badRequest)
        }
        #expect(try await tc.store.hosts().isEmpty)
    }
}

/// Defect 2: numbers and dates from input must never reach a trapping conversion.
@Suite struct NumericTrapTests {
    @Test func saturatingConversionsNeverTrap() {
        #expect(Saturating.int64(.nan) == 0)
        #expect(Saturating.int64(.infinity) == .max)
        #expect(Saturating.int64(-.infinity) == .min)
        #expect(Saturating.int64(9.3e18) == .max)
        #expect(Saturating.int64(-9.3e18) == .min)
        #expect(Saturating.int64(9_223_372_036_854_774_784.0) == 9_223_372_036_854_774_784)
        #expect(Saturating.int64(-42.9) == -42)
        // Year 300000, the reproduced crash.
        let far = Date(timeIntervalSince1970: 9.4e12)
        #expect(Saturating.microseconds(since1970: far) == .max)
        #expect(Saturating.percentText(97.6) == "98")
        #expect(Saturating.percentText(97.6, rule: .down) == "97")
        #expect(Saturating.percentText(1e300) == "1e+300")
        #expect(Saturating.percentText(.nan) == "nan")
    }

    @Test func journalQueryExtremesAnswer400AndTheCollectorStaysUp() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let token = try await tc.apiToken()
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let manifest = sampleManifest(hostID: host.hostID)
            #expect(try await upload(client, token: host.hostToken, try makeBundle(manifest: manifest)).status == .created)
            let base = "/api/v1/bundles/\(manifest.bundleID)/journal"
            let bad = ["since=300000-01-01T00:00:00Z", "until=300000-01-01T00:00:00Z", "since=-999999-01-01T00:00:00Z",
                       "since=0000-00-00T00:00:00Z", "since=1e400", "since=NaN", "since=", "until=1969-12-31T23:59:59Z",
                       "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "limit=-1", "limit=0", "limit=9223372036854775808",
                       "offset=-1", "offset=9223372036854775808", "offset=1e9", "priority=8", "priority=-1",
                       "priority=99999999999999999999", "since=" + String(repeating: "9", count: 10_000),
                       "q=" + String(repeating: "a", count: 2000)]
            for query in bad {
                let r = try await client.execute(uri: base + "?" + query, method: .get, headers: [.authorization: "Bearer \(token)"])
                #expect(r.status == .badRequest, "\(query.prefix(60)) answered \(r.status)")
            }
            // The edges that are valid still work.
            for query in ["since=1970-01-01T00:00:00Z", "until=9999-12-31T23:59:59Z", "offset=10000000", "limit=1000"] {
                let r = try await client.execute(uri: base + "?" + query, method: .get, headers: [.authorization: "Bearer \(token)"])
                #expect(r.status == .ok, "\(query) answered \(r.status)")
            }
            for id in ["0", "-1", "99999999999999999999", "1e3", "..%2F"] {
                let r = try await client.execute(uri: "/api/v1/tickets/\(id)", method: .get, headers: [.authorization: "Bearer \(token)"])
                #expect(r.status == .badRequest || r.status == .notFound, "ticket \(id) answered \(r.status)")
            }
            let r = try await client.execute(uri: "/api/v1/incidents/99999999999999999999", method: .get, headers: [.authorization: "Bearer \(token)"])
            #expect(r.status == .badRequest)
        }
    }

    /// Metric rules turned bundle figures into `Int` for titles: 1e300 % trapped.
    @Test func absurdFiguresInABundleAreDiagnosedWithoutTrapping() async throws {
        let tc = try await TestCollector(diagnoser: try RuleDiagnoser(extraRulesDirectory: nil))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let manifest = sampleManifest(hostID: host.hostID)
            let dir = try TempDir()
            defer { dir.cleanup() }
            let writer = try BundleWriter(path: dir.file("b.tar.gz"))
            try writer.addJSON(BundleMember.system, SystemInfo(hostname: "laptop-42", machineID: manifest.host.machineID))
            try writer.addJSON(BundleMember.memory, MemoryInfo(totalBytes: 1, availableBytes: 0, freeBytes: 0, buffersBytes: 0, cachedBytes: 0, swapTotalBytes: 0, swapFreeBytes: 0))
            try writer.addJSON(BundleMember.processes, ProcessList(sampleIntervalMS: 500, processes: [
                ProcessRecord(pid: 1, ppid: 0, uid: 0, state: "R", name: "spin", commandLine: "spin", threads: 1,
                              rssBytes: .max, cpuPercent: 1e300),
            ]))
            try writer.addJSON(BundleMember.disks, DiskInfo(filesystems: [
                FilesystemUsage(mountPoint: "/", device: "/dev/sda1", fsType: "ext4", readOnly: false, sizeBytes: 1, usedBytes: .max,
                                availableBytes: 0, usedPercent: 1e300, inodesTotal: 1, inodesUsed: .max, inodesUsedPercent: 1e300),
            ], blockDevices: []))
            try writer.add(BundleMember.journal, bytes: sampleJournal(count: 3))
            let result = try writer.finish(manifest: manifest)
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: result.path)))
            let response = try await upload(client, token: host.hostToken, bytes)
            #expect(response.status == .created)
            let receipt = try decode(BundleReceipt.self, response)
            #expect(receipt.findings.contains { $0.title.contains("1e+300") })
        }
    }
}

/// Defects 3 and 4: one host cannot take every upload slot, fill the disk or flood heartbeats.
@Suite struct HostFairnessTests {
    @Test func oneHostCannotHoldEveryUploadSlot() async throws {
        let gate = AsyncGate()
        let tc = try await TestCollector(limits: ["max_concurrent_uploads": 4, "max_uploads_per_host": 2],
                                         diagnoser: FixedDiagnoser(findings: [], gate: gate))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let a = try await enroll(client, secret: tc.enrollmentSecret, machineID: "host-a")
            let b = try await enroll(client, secret: tc.enrollmentSecret, machineID: "host-b")
            func bundle(_ host: EnrollResponse, _ machine: String) throws -> [UInt8] {
                try makeBundle(manifest: sampleManifest(hostID: host.hostID, machineID: machine))
            }
            let held = [try bundle(a, "host-a"), try bundle(a, "host-a")]
            try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for bytes in held { group.addTask { try await upload(client, token: a.hostToken, bytes).status } }
                try await gate.waitForEntered(2)
                let third = try await upload(client, token: a.hostToken, try bundle(a, "host-a"))
                #expect(third.status == .tooManyRequests)
                #expect(errorCode(third) == "too_many_uploads_from_host")
                #expect(third.headers[.retryAfter] != nil)
                // Host B still gets a slot.
                let bBytes = try bundle(b, "host-b")
                group.addTask { try await upload(client, token: b.hostToken, bBytes).status }
                try await gate.waitForEntered(3)
                await gate.open()
                for try await status in group { #expect(status == .created) }
            }
        }
        #expect(tc.tempFiles.isEmpty)
    }

    @Test func perHostBundleRateAndStorageQuota() async throws {
        let tc = try await TestCollector(limits: ["host_bundles_per_hour": 2])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let a = try await enroll(client, secret: tc.enrollmentSecret, machineID: "host-a")
            let b = try await enroll(client, secret: tc.enrollmentSecret, machineID: "host-b")
            for _ in 0..<2 {
                #expect(try await upload(client, token: a.hostToken, try makeBundle(manifest: sampleManifest(hostID: a.hostID, machineID: "host-a"))).status == .created)
            }
            let third = try await upload(client, token: a.hostToken, try makeBundle(manifest: sampleManifest(hostID: a.hostID, machineID: "host-a")))
            #expect(third.status == .tooManyRequests)
            #expect(errorCode(third) == "host_rate_limited")
            let wait = Int(third.headers[.retryAfter] ?? "") ?? 0
            #expect((3500...3600).contains(wait))
            // Another host is not affected.
            #expect(try await upload(client, token: b.hostToken, try makeBundle(manifest: sampleManifest(hostID: b.hostID, machineID: "host-b"))).status == .created)
        }
        #expect(try await tc.store.hostUsage(hostID: tc.store.hosts().first { $0.machineID == "host-a" }!.id,
                                             since: Date(timeIntervalSinceNow: -3600)).bundlesInWindow == 2)
        #expect(tc.blobFiles.count == 3)
        #expect(tc.tempFiles.isEmpty)

        // Storage: 1 MiB per host; incompressible attachments fill it.
        let small = try await TestCollector(limits: ["host_max_stored_mb": 1])
        defer { Task { await small.close() } }
        try await small.app().test(.router) { client in
            let a = try await enroll(client, secret: small.enrollmentSecret, machineID: "host-a")
            var rng = SystemRandomNumberGenerator()
            func noisy() throws -> [UInt8] {
                try makeBundle(manifest: sampleManifest(hostID: a.hostID, machineID: "host-a"),
                               attachment: (0..<600_000).map { _ in UInt8.random(in: 0...255, using: &rng) }, level: 1)
            }
            #expect(try await upload(client, token: a.hostToken, try noisy()).status == .created)
            let full = try await upload(client, token: a.hostToken, try noisy())
            #expect(full.status.code == 507)
            #expect(errorCode(full) == "host_quota_exceeded")
            #expect(full.headers[.retryAfter] != nil)
        }
        #expect(small.blobFiles.count == 1)
        #expect(small.tempFiles.isEmpty)
    }

    @Test func heartbeatsKeepOnlyKnownBoundedFieldsAndAreRateLimited() async throws {
        let tc = try await TestCollector(limits: ["heartbeats_per_hour": 3, "max_heartbeat_bytes": 4096])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let a = try await enroll(client, secret: tc.enrollmentSecret, machineID: "host-a")
            func post(_ json: String) async throws -> TestResponse {
                try await client.execute(uri: "/api/v1/heartbeats", method: .post,
                                         headers: [.authorization: "Bearer \(a.hostToken)", .contentType: "application/json"],
                                         body: ByteBuffer(string: json))
            }
            let base = String(decoding: try BundleJSON.encoder().encode(
                Heartbeat(host: HostIdentity(hostID: a.hostID, hostname: "h", machineID: "host-a"), sentAt: Date(), agentVersion: "t")), as: UTF8.self)
            // Unknown keys are accepted but never stored.
            let extra = "{\"smuggled\":\"" + String(repeating: "x", count: 100) + "\"," + base.dropFirst()
            #expect(try await post(extra).status == .accepted)
            let stored = try #require(try await tc.store.latestHeartbeat(hostID: a.hostID))
            #expect(!String(decoding: try BundleJSON.encoder().encode(stored), as: UTF8.self).contains("smuggled"))
            // A known field too large as stored: 422, nothing stored.
            let huge = base.replacingOccurrences(of: "\"agentVersion\":\"t\"", with: "\"agentVersion\":\"" + String(repeating: "v", count: 8000) + "\"")
            let tooLarge = try await post(huge)
            #expect(tooLarge.status == .unprocessableContent)
            #expect(errorCode(tooLarge) == "heartbeat_too_large")
            #expect(try await post(base).status == .accepted)
            // Third accepted one was the limit (the refused one counted too): now 429.
            let limited = try await post(base)
            #expect(limited.status == .tooManyRequests)
            #expect(errorCode(limited) == "heartbeat_rate_limited")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 > 3000)
        }
    }

    @Test func rateLimiterWindowsAndWaits() {
        let limiter = HostRateLimiter(limit: 2, window: 100)
        let t0 = Date(timeIntervalSince1970: 1_000_000)
        #expect(limiter.admit("a", now: t0) == nil)
        #expect(limiter.admit("a", now: t0.addingTimeInterval(1)) == nil)
        #expect(limiter.admit("a", now: t0.addingTimeInterval(30)) == 70)
        #expect(limiter.admit("b", now: t0.addingTimeInterval(30)) == nil)
        #expect(limiter.admit("a", now: t0.addingTimeInterval(100)) == nil)
        // A clock that went backwards starts a new window rather than waiting for ages.
        #expect(limiter.admit("a", now: t0.addingTimeInterval(-1_000_000)) == nil)
    }
}

/// Defect 5 and 6: private files, credentials in a file, TLS 1.2.
@Suite struct DataDirectoryTests {
    private func mode(_ path: String) -> mode_t {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    @Test func theDataDirectoryIsPrivateAndOthersWritableIsRefused() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let data = dir.file("data/nested")
        try DataDirectory.prepare(data)
        #expect(mode(data) == 0o700)
        // An old 0755 directory is tightened, with a note.
        chmod(data, 0o755)
        #expect(try DataDirectory.prepare(data) != nil)
        #expect(mode(data) == 0o700)
        // Writable by others: refused, left as it is.
        chmod(data, 0o777)
        #expect(throws: ConfigurationError.self) { try DataDirectory.prepare(data) }
        #expect(mode(data) == 0o777)
        chmod(data, 0o770)
        #expect(throws: ConfigurationError.self) { try DataDirectory.prepare(data) }
        // A file where the folder should be.
        FileManager.default.createFile(atPath: dir.file("file"), contents: Data())
        #expect(throws: ConfigurationError.self) { try DataDirectory.prepare(dir.file("file")) }
    }

    @Test func firstStartCredentialsGoToAPrivateFileOnce() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let configuration = try CollectorConfiguration(CollectorSettings(listen: "127.0.0.1:0", dataDir: dir.file("data")))
        let store = try await openStore(configuration)
        let path = try #require(try await FirstStartCredentials.issueToFileIfFirstStart(store: store, dataDirectory: configuration.dataDirectory))
        #expect(mode(path) == 0o600)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let secret = try #require(text.split(separator: "\n").first { $0.hasPrefix("enrollment secret: hle_") })
        let hash = Secrets.hash(String(secret.dropFirst("enrollment secret: ".count)))
        #expect(try await store.enrollmentSecret(hash: hash) != nil)
        #expect(text.contains("admin login: admin "))
        #expect(try await FirstStartCredentials.issueToFileIfFirstStart(store: store, dataDirectory: configuration.dataDirectory) == nil)
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: configuration.databasePath + suffix) {
            #expect(mode(configuration.databasePath + suffix) == 0o600)
        }
        try await store.close()
    }

    @Test func blobsAndTempFilesArePrivate() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            #expect(try await upload(client, token: host.hostToken, try makeBundle(manifest: sampleManifest(hostID: host.hostID))).status == .created)
        }
        let data = tc.configuration.dataDirectory
        #expect(mode(data) == 0o700)
        #expect(mode(data + "/blobs") == 0o700 && mode(data + "/tmp") == 0o700)
        let blob = try #require(tc.blobFiles.first)
        #expect(mode(data + "/blobs/" + blob) == 0o600)
        #expect(mode((data + "/blobs/" + blob as NSString).deletingLastPathComponent) == 0o700)
    }

    @Test func tlsRefusesVersionsBelow1_2() throws {
        let pem = P256.Signing.PrivateKey().pemRepresentation
        let key = try NIOSSLPrivateKey(bytes: Array(pem.utf8), format: .pem)
        let tls = serverTLSConfiguration(certificateChain: [], privateKey: key)
        #expect(tls.minimumTLSVersion == .tlsv12)
    }
}

/// Defect 7: reads of stored blobs run on a bounded pool with a time budget.
@Suite struct BlobReadPoolTests {
    @Test func aFullPoolAnswers503AndAReadPastItsBudgetStops() async throws {
        let pool = BlobReadPool(limit: 1, budget: .milliseconds(200), retryAfter: 5)
        let release = DispatchSemaphore(value: 0)
        let started = DispatchSemaphore(value: 0)
        async let first: Int = pool.run { _ in
            started.signal()
            release.wait()
            return 1
        }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            DispatchQueue.global().async { started.wait(); c.resume() }
        }
        await #expect(throws: APIError.self) { try await pool.run { _ in 2 } }
        do {
            _ = try await pool.run { _ in 2 }
        } catch let e as APIError {
            #expect(e.code == "too_many_reads" && e.status == .serviceUnavailable)
        }
        release.signal()
        #expect(try await first == 1)
        // The slot came back; a read that runs past its deadline answers read_too_slow.
        do {
            _ = try await pool.run { deadline in
                while ContinuousClock.now < deadline + .milliseconds(50) { usleep(10_000) }
                throw BundleArchive.ReadBudgetExceeded()
            }
            Issue.record("expected read_too_slow")
        } catch let e as APIError {
            #expect(e.code == "read_too_slow" && e.status == .serviceUnavailable)
        }
        #expect(try await pool.run { _ in 3 } == 3)
    }

    @Test func anArchiveReadStopsAtItsDeadline() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let path = dir.file("b.tar.gz")
        try Data(try makeBundle(manifest: sampleManifest(hostID: "h"), journalEntries: 50_000)).write(to: URL(fileURLWithPath: path))
        let past = BundleArchive(path: path, limits: CollectorLimits().bundleLimits, deadline: ContinuousClock.now - .seconds(1))
        #expect(throws: BundleArchive.ReadBudgetExceeded.self) { try past.journal(.init(), offset: 0, limit: 10) }
        let open = BundleArchive(path: path, limits: CollectorLimits().bundleLimits, deadline: ContinuousClock.now + .seconds(60))
        #expect(try open.journal(.init(), offset: 49_990, limit: 20).entries.count == 10)
    }
}
