import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// Enrollment and bundle upload through the router: every answer and what it leaves behind.
@Suite struct IngestTests {
    @Test func enrollUploadAndDuplicate() async throws {
        let finding = Finding(ruleID: "disk.space_low", category: .disk, severity: .high, confidence: 0.9, title: "Disk almost full",
                              detail: "/home is 97% full", userAdvice: "Empty the trash", technicianAdvice: "Check ~/.cache", subject: "/home")
        let tc = try await TestCollector(diagnoser: FixedDiagnoser(findings: [finding]))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let manifest = sampleManifest(hostID: host.hostID)
            let bytes = try makeBundle(manifest: manifest)
            let first = try await upload(client, token: host.hostToken, bytes)
            #expect(first.status == .created)
            let receipt = try decode(BundleReceipt.self, first)
            #expect(receipt.bundleID == manifest.bundleID)
            #expect(receipt.duplicate == false)
            #expect(receipt.ticketURL == "https://helpline.test/tickets/\(receipt.ticketID)")
            #expect(receipt.findings == [finding])

            let again = try await upload(client, token: host.hostToken, bytes)
            #expect(again.status == .ok)
            var expected = receipt
            expected.duplicate = true
            #expect(try decode(BundleReceipt.self, again) == expected)

            let tickets = try await tc.store.tickets(TicketFilter())
            #expect(tickets.count == 1)
            #expect(tickets.first?.title == "Disk almost full — “wifi keeps dropping”", "the top finding, then the user's note")
            #expect(tickets.first?.priority == .high)
            #expect(tc.blobFiles.count == 1)
            #expect(tc.tempFiles.isEmpty)
            let detail = try #require(try await tc.store.ticket(id: receipt.ticketID))
            #expect(detail.findings.map(\.finding) == [finding])
            #expect(detail.note == "wifi keeps dropping")
        }
    }

    @Test func concurrentDuplicatesOpenOneTicket() async throws {
        let tc = try await TestCollector(limits: ["max_uploads_per_host": 100])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let bytes = try makeBundle(manifest: sampleManifest(hostID: host.hostID))
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<6 { group.addTask { try await upload(client, token: host.hostToken, bytes).status } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .created }.count == 1)
            #expect(statuses.filter { $0 == .ok }.count == 5)
            #expect(try await tc.store.tickets(TicketFilter()).count == 1)
            #expect(tc.blobFiles.count == 1)
            #expect(tc.tempFiles.isEmpty)
        }
    }

    @Test func reenrollingTheSameMachineKeepsTheHostAndReplacesTheToken() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let a = try await enroll(client, secret: tc.enrollmentSecret)
            let b = try await enroll(client, secret: tc.enrollmentSecret, currentHostToken: a.hostToken)
            #expect(a.hostID == b.hostID)
            #expect(a.hostToken != b.hostToken)
            #expect(b.reenrolled)
            let bytes = try makeBundle(manifest: sampleManifest(hostID: a.hostID))
            let old = try await upload(client, token: a.hostToken, bytes)
            #expect(old.status == .unauthorized)
            #expect(errorCode(old) == "invalid_token")
            #expect(try await upload(client, token: b.hostToken, bytes).status == .created)
        }
    }

    @Test func enrollmentSecretsBadRevokedExpired() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let revoked = Secrets.generate(.enrollmentSecret)
        let r = try await tc.store.createEnrollmentSecret(hash: Secrets.hash(revoked), label: nil, expiresAt: nil, maxUses: nil, now: Date())
        _ = try await tc.store.revokeEnrollmentSecret(id: r.id, now: Date())
        let expired = Secrets.generate(.enrollmentSecret)
        _ = try await tc.store.createEnrollmentSecret(hash: Secrets.hash(expired), label: nil, expiresAt: Date(timeIntervalSinceNow: -1), maxUses: nil, now: Date())
        try await tc.app().test(.router) { client in
            for (secret, code) in [("hle_nope", "invalid_secret"), (revoked, "secret_revoked"), (expired, "secret_expired")] {
                let body = try BundleJSON.encoder().encode(EnrollRequest(secret: secret, hostname: "h", machineID: "m1", agentVersion: nil))
                let response = try await client.execute(uri: "/api/v1/enroll", method: .post, headers: [.contentType: "application/json"],
                                                        body: ByteBuffer(bytes: body))
                #expect(response.status == .unauthorized)
                #expect(errorCode(response) == code)
            }
            let bad = try await client.execute(uri: "/api/v1/enroll", method: .post, headers: [.contentType: "application/json"],
                                               body: ByteBuffer(string: "{\"secret\": 1}"))
            #expect(bad.status == .badRequest)
            #expect(errorCode(bad) == "invalid_json")
            let badMachine = try BundleJSON.encoder().encode(EnrollRequest(secret: tc.enrollmentSecret, hostname: "h", machineID: "../etc", agentVersion: nil))
            let r2 = try await client.execute(uri: "/api/v1/enroll", method: .post, headers: [.contentType: "application/json"],
                                              body: ByteBuffer(bytes: badMachine))
            #expect(r2.status == .badRequest)
            #expect(errorCode(r2) == "invalid_machine_id")
        }
        #expect(try await tc.store.hosts().isEmpty)
    }

    @Test func hostCannotPostAsAnotherHost() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let a = try await enroll(client, secret: tc.enrollmentSecret, machineID: "machine-a")
            let b = try await enroll(client, secret: tc.enrollmentSecret, machineID: "machine-b")
            let asB = try await upload(client, token: a.hostToken, try makeBundle(manifest: sampleManifest(hostID: b.hostID)))
            #expect(asB.status == .forbidden)
            #expect(errorCode(asB) == "host_mismatch")
            let noHostID = try await upload(client, token: a.hostToken,
                                            try makeBundle(manifest: sampleManifest(hostID: nil, machineID: "machine-b")))
            #expect(noHostID.status == .forbidden)
            // B reusing A's bundle id: conflict, not A's receipt.
            let m = sampleManifest(hostID: a.hostID, machineID: "machine-a")
            #expect(try await upload(client, token: a.hostToken, try makeBundle(manifest: m)).status == .created)
            var stolen = m
            stolen.host = HostIdentity(hostID: b.hostID, hostname: "b", machineID: "machine-b")
            let conflict = try await upload(client, token: b.hostToken, try makeBundle(manifest: stolen))
            #expect(conflict.status == .conflict)
            #expect(errorCode(conflict) == "bundle_id_conflict")
            #expect(try await tc.store.tickets(TicketFilter()).count == 1)
            #expect(tc.blobFiles.count == 1)
            #expect(tc.tempFiles.isEmpty)
        }
    }

    @Test func authAndContentTypeErrors() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let bytes = try makeBundle(manifest: sampleManifest(hostID: host.hostID))
            let none = try await client.execute(uri: "/api/v1/bundles", method: .post, headers: [.contentType: "application/gzip"],
                                                body: ByteBuffer(bytes: bytes))
            #expect(none.status == .unauthorized)
            #expect(errorCode(none) == "missing_token")
            #expect(none.headers[.wwwAuthenticate] != nil)
            let bad = try await upload(client, token: "hlh_forged", bytes)
            #expect(bad.status == .unauthorized)
            #expect(errorCode(bad) == "invalid_token")
            let wrongType = try await upload(client, token: host.hostToken, bytes, contentType: "text/plain")
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(errorCode(wrongType) == "unsupported_media_type")
            #expect(try await upload(client, token: host.hostToken, bytes, contentType: "application/x-gzip").status == .created)
            let unknown = try await client.execute(uri: "/api/v1/nothing-here", method: .get)
            #expect(unknown.status == .notFound)
            #expect(errorCode(unknown) == "not_found")
            // An API token is not a host token.
            let api = try await tc.apiToken()
            #expect(try await upload(client, token: api, bytes).status == .unauthorized)
        }
    }

    /// The foundation's hostile cases, through HTTP: each answers its code, and nothing stays.
    @Test(arguments: HostileCase.all)
    func hostileBundlesAreRejectedAndLeaveNothing(_ hostile: HostileCase) async throws {
        let tc = try await TestCollector(limits: ["max_bundle_bytes": 64 << 10, "max_members": 8])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let response = try await upload(client, token: host.hostToken, try hostile.bytes(host.hostID))
            #expect(response.status.code == hostile.status, "\(hostile.name)")
            #expect(errorCode(response) == hostile.code, "\(hostile.name)")
        }
        #expect(try await tc.store.counts().liveBundles == 0)
        #expect(try await tc.store.tickets(TicketFilter()).isEmpty)
        #expect(tc.blobFiles.isEmpty)
        #expect(tc.tempFiles.isEmpty)
        #expect(tc.metrics.render().contains("helpline_bundles_rejected_total{reason=\"\(hostile.code)\"} 1"))
    }

    @Test func tooManyUploadsAnswers429AtTheLimit() async throws {
        let gate = AsyncGate()
        let tc = try await TestCollector(limits: ["max_concurrent_uploads": 2, "max_uploads_per_host": 100, "retry_after_seconds": 7],
                                         diagnoser: FixedDiagnoser(findings: [], gate: gate))
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            // Two uploads hold both slots (they wait in diagnosis)…
            async let first = upload(client, token: host.hostToken, try makeBundle(manifest: sampleManifest(hostID: host.hostID)))
            async let second = upload(client, token: host.hostToken, try makeBundle(manifest: sampleManifest(hostID: host.hostID)))
            try await gate.waitForEntered(2)
            // …so the third is refused at once.
            let third = try await upload(client, token: host.hostToken, try makeBundle(manifest: sampleManifest(hostID: host.hostID)))
            #expect(third.status == .tooManyRequests)
            // Spread between retry_after_seconds and twice that.
            #expect((7...14).contains(Int(third.headers[.retryAfter] ?? "") ?? 0))
            #expect(errorCode(third) == "too_many_uploads")
            await gate.open()
            #expect(try await first.status == .created)
            #expect(try await second.status == .created)
            // A slot is free again.
            #expect(try await upload(client, token: host.hostToken, try makeBundle(manifest: sampleManifest(hostID: host.hostID))).status == .created)
        }
        #expect(tc.tempFiles.isEmpty)
        #expect(tc.blobFiles.count == 3)
    }

    @Test func diskBelowItsFloorAnswers503AtTheEdge() async throws {
        let floorMB = 10
        let disk = FakeFreeSpace(0)
        let tc = try await TestCollector(limits: ["min_free_disk_mb": floorMB, "retry_after_seconds": 9], freeSpace: disk)
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let floor = Int64(floorMB) << 20
            // The edge: the floor plus the declared body must stay free.
            let bytes = try makeBundle(manifest: sampleManifest(hostID: host.hostID))
            disk.set(floor + Int64(bytes.count) - 1)
            let refused = try await upload(client, token: host.hostToken, bytes)
            #expect(refused.status == .serviceUnavailable)
            #expect(refused.headers[.retryAfter] == "9")
            #expect(errorCode(refused) == "disk_full")
            disk.set(floor + Int64(bytes.count))
            #expect(try await upload(client, token: host.hostToken, bytes).status == .created)
            disk.set(floor)
            let ready = try await client.execute(uri: "/readyz", method: .get)
            #expect(ready.status == .ok)
            disk.set(floor - 1)
            #expect(try await client.execute(uri: "/readyz", method: .get).status == .serviceUnavailable)
        }
        #expect(tc.blobFiles.count == 1)
        #expect(tc.tempFiles.isEmpty)
    }

    @Test func declaredSizeOverTheLimitIsRefusedBeforeReading() async throws {
        let tc = try await TestCollector(limits: ["max_bundle_bytes": 1000])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret)
            let response = try await client.execute(uri: "/api/v1/bundles", method: .post, headers: [
                .authorization: "Bearer \(host.hostToken)", .contentType: "application/gzip", .contentLength: "5000",
            ], body: ByteBuffer(bytes: [UInt8](repeating: 0, count: 5000)))
            #expect(response.status == .contentTooLarge)
            #expect(errorCode(response) == "compressed_too_large")
        }
    }
}

/// A hostile upload and the answer it must get.
struct HostileCase: Sendable, CustomTestStringConvertible {
    let name: String
    let status: Int
    let code: String
    let bytes: @Sendable (String) throws -> [UInt8]
    var testDescription: String { name }

    static let all: [HostileCase] = [
        HostileCase(name: "not gzip", status: 422, code: "corrupt_gzip") { _ in Array("hello, this is not gzip".utf8) },
        HostileCase(name: "truncated gzip", status: 422, code: "truncated_gzip") { host in
            let full = try makeBundle(manifest: sampleManifest(hostID: host))
            return Array(full.prefix(full.count / 2))
        },
        HostileCase(name: "empty body", status: 422, code: "truncated_gzip") { _ in [] },
        HostileCase(name: "too large compressed", status: 413, code: "compressed_too_large") { host in
            var random = SystemRandomNumberGenerator()
            let noise = (0..<(100 << 10)).map { _ in UInt8.random(in: 0...255, using: &random) }
            return try makeBundle(manifest: sampleManifest(hostID: host), attachment: noise, level: 1)
        },
        HostileCase(name: "decompression bomb", status: 422, code: "compression_ratio_exceeded") { host in
            try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(hostID: host))),
                               RawMember(name: "attachments/zeros", data: [UInt8](repeating: 0, count: 20 << 20))]), level: 9)
        },
        HostileCase(name: "path traversal", status: 422, code: "unsafe_path") { host in
            try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(hostID: host))),
                               RawMember(name: "../etc/passwd", data: [1])]))
        },
        HostileCase(name: "absolute path", status: 422, code: "unsafe_path") { host in
            try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(hostID: host))),
                               RawMember(name: "/etc/passwd", data: [1])]))
        },
        HostileCase(name: "symlink", status: 422, code: "unsupported_member_type") { host in
            try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(hostID: host))),
                               RawMember(name: "link", typeflag: UInt8(ascii: "2"))]))
        },
        HostileCase(name: "duplicate member", status: 422, code: "duplicate_member") { host in
            try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(hostID: host))),
                               RawMember(name: "note.txt", data: [65]), RawMember(name: "note.txt", data: [66])]))
        },
        HostileCase(name: "too many members", status: 422, code: "too_many_members") { host in
            try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(hostID: host)))]
                              + (0..<9).map { RawMember(name: "attachments/f\($0)", data: [1]) }))
        },
        HostileCase(name: "no manifest", status: 422, code: "missing_manifest") { _ in
            try gzip(craftTar([RawMember(name: "note.txt", data: [65])]))
        },
        HostileCase(name: "unsupported schema", status: 422, code: "unsupported_schema") { host in
            try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(hostID: host, schema: 99)))]))
        },
        HostileCase(name: "manifest not JSON", status: 422, code: "invalid_json") { _ in
            try gzip(craftTar([RawMember(name: "manifest.json", data: Array("{nope".utf8))]))
        },
        HostileCase(name: "bad bundle id", status: 422, code: "invalid_manifest") { host in
            try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(id: "not-a-uuid", hostID: host)))]))
        },
        HostileCase(name: "bad journal line", status: 422, code: "invalid_json") { host in
            try gzip(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(hostID: host))),
                               RawMember(name: "journal.jsonl", data: Array("{\"ts\": \"x\"}\n".utf8))]))
        },
        HostileCase(name: "tar cut short", status: 422, code: "corrupt_tar") { host in
            try gzip(Array(craftTar([RawMember(name: "manifest.json", data: try manifestBytes(sampleManifest(hostID: host)))],
                                    endMarker: false).dropLast(100)))
        },
    ]
}
