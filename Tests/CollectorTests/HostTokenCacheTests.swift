import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// The in-memory host-token cache and the request-path helpers made faster with it: a
/// replaced token must stop working at once, whatever the cache holds.
@Suite struct HostTokenCacheTests {
    private func ownTickets(_ client: some TestClientProtocol, token: String) async throws -> HTTPResponse.Status {
        try await client.execute(uri: "/api/v1/hosts/self/tickets", method: .get, headers: [.authorization: "Bearer \(token)"]).status
    }

    @Test func reenrollmentRevokesACachedTokenAtOnce() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            let a = try await enroll(client, secret: tc.enrollmentSecret)
            // Used twice, so the second answer comes from the cache.
            #expect(try await ownTickets(client, token: a.hostToken) == .ok)
            #expect(try await ownTickets(client, token: a.hostToken) == .ok)
            #expect(tc.tokenCacheCount == 1)

            let b = try await enroll(client, secret: tc.enrollmentSecret, currentHostToken: a.hostToken)
            #expect(b.hostID == a.hostID)
            #expect(try await ownTickets(client, token: a.hostToken) == .unauthorized)
            #expect(try await ownTickets(client, token: b.hostToken) == .ok)
            let beat = Heartbeat(host: HostIdentity(hostID: a.hostID, hostname: "laptop-42"), sentAt: Date(), agentVersion: "0.1.0")
            let stale = try await client.execute(uri: "/api/v1/heartbeats", method: .post, headers: [
                .authorization: "Bearer \(a.hostToken)", .contentType: "application/json",
            ], body: ByteBuffer(bytes: try BundleJSON.encoder().encode(beat)))
            #expect(stale.status == .unauthorized)
            #expect(errorCode(stale) == "invalid_token")
        }
    }

    @Test func reenrollmentWithANewHostnameIsSeenAtOnce() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try SQLiteStore(path: dir.file("db.sqlite"))
        try await store.migrate()
        let secret = try await store.createEnrollmentSecret(hash: Secrets.hash(Secrets.generate(.enrollmentSecret)), label: nil,
                                                            expiresAt: nil, maxUses: nil, now: Date())
        let first = Secrets.hash(Secrets.generate(.hostToken))
        _ = try await store.enrollHost(id: "h1", machineID: "m1", hostname: "old-name", agentVersion: nil, tokenHash: first,
                                       secretID: secret.id, now: Date())
        #expect(try await store.host(tokenHash: first)?.hostname == "old-name")
        #expect(try await store.host(tokenHash: first)?.hostname == "old-name")
        let second = Secrets.hash(Secrets.generate(.hostToken))
        _ = try await store.enrollHost(id: "ignored", machineID: "m1", hostname: "new-name", agentVersion: nil, tokenHash: second,
                                       secretID: secret.id, now: Date())
        #expect(try await store.host(tokenHash: first) == nil)
        #expect(try await store.host(tokenHash: second)?.hostname == "new-name")
        try await store.close()
    }

    /// Another process sharing the file is not seen at once; `tokenCacheMaxAge` bounds how long.
    @Test func anotherProcessesReenrollmentIsSeenWithinMaxAge() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let here = try SQLiteStore(path: dir.file("db.sqlite"), tokenCacheMaxAge: .milliseconds(200))
        try await here.migrate()
        let there = try SQLiteStore(path: dir.file("db.sqlite"))
        let secret = try await here.createEnrollmentSecret(hash: Secrets.hash(Secrets.generate(.enrollmentSecret)), label: nil,
                                                           expiresAt: nil, maxUses: nil, now: Date())
        let old = Secrets.hash(Secrets.generate(.hostToken))
        _ = try await here.enrollHost(id: "h1", machineID: "m1", hostname: "h", agentVersion: nil, tokenHash: old,
                                      secretID: secret.id, now: Date())
        #expect(try await here.host(tokenHash: old) != nil)
        _ = try await there.enrollHost(id: "h1", machineID: "m1", hostname: "h", agentVersion: nil,
                                       tokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: secret.id, now: Date())
        #expect(try await there.host(tokenHash: old) == nil)
        try await Task.sleep(for: .milliseconds(300))
        #expect(try await here.host(tokenHash: old) == nil)
        try await here.close()
        try await there.close()
    }

    @Test func aLookupThatRacedAnInvalidationIsNotCached() {
        let cache = HostTokenCache(capacity: 10, maxAge: .seconds(60))
        let host = HostRecord(id: "h1", machineID: "m1", hostname: "h", agentVersion: nil, enrolledAt: Date(), lastSeenAt: nil)
        let ticket = cache.ticket()
        // The database read happens here, then a re-enrollment commits and invalidates.
        cache.invalidate(hostID: "h1")
        cache.insert(tokenHash: "old", host: host, ticket: ticket)
        #expect(cache.host(tokenHash: "old") == nil)
        cache.insert(tokenHash: "new", host: host, ticket: cache.ticket())
        #expect(cache.host(tokenHash: "new") == host)
    }

    @Test func aHostHoldsOneCachedTokenAndEntriesExpire() {
        let cache = HostTokenCache(capacity: 10, maxAge: .seconds(1))
        let host = HostRecord(id: "h1", machineID: "m1", hostname: "h", agentVersion: nil, enrolledAt: Date(), lastSeenAt: nil)
        cache.insert(tokenHash: "a", host: host, ticket: cache.ticket(), now: 0)
        cache.insert(tokenHash: "b", host: host, ticket: cache.ticket(), now: 0)
        #expect(cache.host(tokenHash: "a", now: 1) == nil)
        #expect(cache.host(tokenHash: "b", now: 1) == host)
        #expect(cache.host(tokenHash: "b", now: 1_000_000_001) == nil)
        #expect(cache.count == 0)
    }

    @Test func theCacheStaysWithinItsCapacity() {
        let cache = HostTokenCache(capacity: 3, maxAge: .seconds(60))
        for i in 0..<50 {
            let host = HostRecord(id: "h\(i)", machineID: "m\(i)", hostname: "h", agentVersion: nil, enrolledAt: Date(), lastSeenAt: nil)
            cache.insert(tokenHash: "t\(i)", host: host, ticket: cache.ticket())
        }
        #expect(cache.count == 3)
        #expect(cache.host(tokenHash: "t49")?.id == "h49")
        let off = HostTokenCache(capacity: 0, maxAge: .seconds(60))
        off.insert(tokenHash: "t", host: HostRecord(id: "h", machineID: "m", hostname: "h", agentVersion: nil, enrolledAt: Date(), lastSeenAt: nil),
                   ticket: off.ticket())
        #expect(off.count == 0)
    }

    @Test func bearerTokenParsing() {
        #expect(Request.bearerToken(in: "Bearer hlh_abc") == "hlh_abc")
        #expect(Request.bearerToken(in: "bearer   hlh_abc \t") == "hlh_abc")
        #expect(Request.bearerToken(in: "BEARER hlh_abc") == "hlh_abc")
        #expect(Request.bearerToken(in: "Bearer ") == nil)
        #expect(Request.bearerToken(in: "Bearer") == nil)
        #expect(Request.bearerToken(in: "Bearerhlh_abc") == nil)
        #expect(Request.bearerToken(in: "Basic dXNlcjpwYXNz") == nil)
        #expect(Request.bearerToken(in: "Bearer hlh_ä") == "hlh_ä")
    }

    @Test func tokenHashIsLowerHexSHA256() {
        #expect(Secrets.hash("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    /// With the cache off every lookup reads the token connection (`tokenReader`, on the
    /// caller's thread, outside any transaction): it must see each commit of the pool's writer
    /// at once — a new token, a replaced one, a revocation, a deleted host.
    @Test func theTokenConnectionSeesEveryCommitAtOnce() async throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let store = try SQLiteStore(path: dir.file("db.sqlite"), tokenCacheCapacity: 0)
        try await store.migrate()
        #expect(store.readsTokensOnItsOwnConnection)
        let secret = try await store.createEnrollmentSecret(hash: Secrets.hash(Secrets.generate(.enrollmentSecret)), label: nil,
                                                            expiresAt: nil, maxUses: nil, now: Date())
        let first = Secrets.hash(Secrets.generate(.hostToken))
        #expect(try await store.host(tokenHash: first) == nil)  // read before the host exists
        _ = try await store.enrollHost(id: "h1", machineID: "m1", hostname: "a", agentVersion: nil, tokenHash: first,
                                       secretID: secret.id, now: Date())
        #expect(try await store.host(tokenHash: first)?.id == "h1")
        let second = Secrets.hash(Secrets.generate(.hostToken))
        _ = try await store.enrollHost(id: "ignored", machineID: "m1", hostname: "a", agentVersion: nil, tokenHash: second,
                                       secretID: secret.id, now: Date())
        #expect(try await store.host(tokenHash: first) == nil)
        #expect(try await store.host(tokenHash: second)?.id == "h1")
        #expect(try await store.revokeHost(id: "h1", now: Date()))
        #expect(try await store.host(tokenHash: second)?.revokedAt != nil)
        try await store.close()
    }

    /// Lookups from many tasks at once, beside heartbeat writes, all answer right.
    @Test func tokenLookupsFromManyTasksBesideWrites() async throws {
        let tc = try await TestCollector(limits: ["host_token_cache_entries": 0])
        defer { Task { await tc.close() } }
        try await tc.app().test(.router) { client in
            var hosts: [EnrollResponse] = []
            for k in 0..<6 { hosts.append(try await enroll(client, secret: tc.enrollmentSecret, machineID: "machine-\(k)")) }
            let statuses = try await withThrowingTaskGroup(of: (Int, HTTPResponse.Status).self) { group in
                for round in 0..<60 {
                    let host = hosts[round % hosts.count]
                    group.addTask {
                        if round % 2 == 0 { return (round, try await ownTickets(client, token: host.hostToken)) }
                        let beat = Heartbeat(host: HostIdentity(hostID: host.hostID, hostname: "laptop"), sentAt: Date(), agentVersion: "0.1.0")
                        return (round, try await client.execute(uri: "/api/v1/heartbeats", method: .post, headers: [
                            .authorization: "Bearer \(host.hostToken)", .contentType: "application/json",
                        ], body: ByteBuffer(bytes: try BundleJSON.encoder().encode(beat))).status)
                    }
                }
                var all: [Int: HTTPResponse.Status] = [:]
                for try await (round, status) in group { all[round] = status }
                return all
            }
            #expect(statuses.count == 60)
            #expect(statuses.filter { $0.key % 2 == 0 }.allSatisfy { $0.value == .ok })
            #expect(statuses.filter { $0.key % 2 == 1 }.allSatisfy { $0.value == .accepted })
            #expect(try await ownTickets(client, token: "hlh_" + String(repeating: "0", count: 43)) == .unauthorized)
        }
    }
}
