import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
@testable import Collector
@testable import Shared

/// Every route × every kind of credential, from one table. A route added to the router without
/// a row here fails `everyRouteHasARow`, so nobody adds an endpoint without deciding who may
/// call it.
@Suite struct AccessControlTests {
    /// Who may call a route.
    enum Audience: String {
        /// Anyone (health, metrics, enrollment: the body is the credential).
        case anyone
        /// An enrolled, unrevoked host's own token.
        case host
        /// A technician or admin: API token or web session.
        case technician
        /// An admin: API token or web session.
        case admin
        /// No credential opens it: only a request signed with a backend's inbound secret
        /// (IntegrationTests checks the signed side).
        case signed
    }

    /// The table: "METHOD /path" → audience.
    static let table: [String: Audience] = [
        "GET /healthz": .anyone,
        "GET /readyz": .anyone,
        "GET /metrics": .anyone,
        "POST /api/v1/enroll": .anyone,
        "POST /api/v1/bundles": .host,
        "POST /api/v1/heartbeats": .host,
        "GET /api/v1/hosts/self/tickets": .host,
        "GET /api/v1/tickets": .technician,
        "GET /api/v1/tickets/{id}": .technician,
        "PATCH /api/v1/tickets/{id}": .technician,
        "POST /api/v1/tickets/{id}/comments": .technician,
        "POST /api/v1/tickets/{id}/split": .technician,
        "GET /api/v1/tickets/{id}/bundles": .technician,
        "GET /api/v1/incidents": .technician,
        "GET /api/v1/incidents/{incidentID}": .technician,
        "GET /api/v1/hosts": .technician,
        "GET /api/v1/hosts/{hostID}": .technician,
        "GET /api/v1/hosts/{hostID}/bundles": .technician,
        "GET /api/v1/bundles/{bundleID}": .technician,
        "GET /api/v1/bundles/{bundleID}/raw": .admin,
        "GET /api/v1/bundles/{bundleID}/journal": .technician,
        "GET /api/v1/bundles/{bundleID}/members/**": .technician,
        "POST /api/v1/query": .technician,
        "POST /api/v1/hosts/{hostID}/bundle-requests": .technician,
        "GET /api/v1/hosts/{hostID}/bundle-requests": .technician,
        "GET /api/v1/hosts/self/bundle-requests": .host,
        "POST /api/v1/inventory": .host,
        "GET /api/v1/query/schema": .technician,
        "POST /api/v1/hosts/{hostID}/revoke": .admin,
        "POST /api/v1/hosts/{hostID}/enrollment/approve": .admin,
        "GET /api/v1/integrations/deliveries": .admin,
        "POST /api/v1/integrations/deliveries/{deliveryID}/retry": .admin,
        "POST /api/v1/integrations/{backend}/inbound": .signed,
        "GET /api/v1/rules": .technician,
        "GET /api/v1/rules/{ruleID}": .technician,
        "PUT /api/v1/rules/{ruleID}/fix": .technician,
        "DELETE /api/v1/rules/{ruleID}/fix": .technician,
    ]

    /// A kind of credential and the audiences it belongs to.
    struct Credential: CustomStringConvertible {
        var description: String
        var headers: HTTPFields
        var opens: Set<Audience>
    }

    private func router(_ tc: TestCollector) throws -> Router<CollectorRequestContext> {
        buildRouter(configuration: tc.configuration,
                    dependencies: CollectorDependencies(store: tc.store, diagnoser: EmptyDiagnoser(), metrics: tc.metrics, freeSpace: tc.freeSpace),
                    blobs: try BlobStore(dataDirectory: tc.configuration.dataDirectory))
    }

    @Test func everyRouteHasARow() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let routes = Set(try router(tc).routes.map { "\($0.method) \($0.path)" })
        // The pages have their own table (WebAccessTests): they answer with redirects and forms.
        let rows = Set(Self.table.keys).union(WebAccessTests.table.keys)
        #expect(routes.count == rows.count && routes.count >= 45)
        let missing = routes.subtracting(rows).sorted()
        let stale = rows.subtracting(routes).sorted()
        #expect(missing.isEmpty, "routes without an access-control row: \(missing)")
        #expect(stale.isEmpty, "rows for routes that no longer exist: \(stale)")
    }

    @Test func everyRouteAnswersEveryCredentialAsTheTableSays() async throws {
        let tc = try await TestCollector()
        defer { Task { await tc.close() } }
        let now = Date()
        let technician = try await tc.apiToken("tech", role: .technician)
        let admin = try await tc.apiToken("root", role: .admin)
        let expired = try await tc.apiToken("old", role: .admin, expiresAt: now.addingTimeInterval(-60))
        let revokedAPI = try await tc.apiToken("gone", role: .admin)
        _ = try await tc.store.revokeAPIToken(name: "gone", now: now)
        _ = try await tc.store.addUser(name: "alice", role: .technician, passwordHash: Secrets.hashPassword("pw", cost: 4), now: now)
        _ = try await tc.store.addUser(name: "bob", role: .admin, passwordHash: Secrets.hashPassword("pw", cost: 4), now: now)
        let aliceSession = Secrets.generate(.session), bobSession = Secrets.generate(.session), oldSession = Secrets.generate(.session)
        try await tc.store.createSession(userName: "alice", hash: Secrets.hash(aliceSession), expiresAt: now.addingTimeInterval(3600), now: now)
        try await tc.store.createSession(userName: "bob", hash: Secrets.hash(bobSession), expiresAt: now.addingTimeInterval(3600), now: now)
        try await tc.store.createSession(userName: "bob", hash: Secrets.hash(oldSession), expiresAt: now.addingTimeInterval(-1), now: now)

        try await tc.app().test(.router) { client in
            let host = try await enroll(client, secret: tc.enrollmentSecret, machineID: "acl-host")
            let other = try await enroll(client, secret: tc.enrollmentSecret, machineID: "acl-other")
            let revoked = try await enroll(client, secret: tc.enrollmentSecret, machineID: "acl-revoked")
            _ = try await tc.store.revokeHost(id: revoked.hostID, now: now)
            let manifest = sampleManifest(hostID: host.hostID, machineID: "acl-host")
            let receipt = try decode(BundleReceipt.self, try await upload(client, token: host.hostToken, try makeBundle(manifest: manifest)))

            func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }
            func cookie(_ session: String) -> HTTPFields {
                [.cookie: "\(TechnicianAuthMiddleware.sessionCookie)=\(session)", .origin: "https://helpline.test"]
            }
            let credentials: [Credential] = [
                Credential(description: "none", headers: [:], opens: [.anyone]),
                Credential(description: "malformed", headers: [.authorization: "Bearer"], opens: [.anyone]),
                Credential(description: "wrong scheme", headers: [.authorization: "Basic \(Data("admin:pw".utf8).base64EncodedString())"], opens: [.anyone]),
                Credential(description: "unknown token", headers: bearer(Secrets.generate(.apiToken)), opens: [.anyone]),
                Credential(description: "expired API token", headers: bearer(expired), opens: [.anyone]),
                Credential(description: "revoked API token", headers: bearer(revokedAPI), opens: [.anyone]),
                Credential(description: "revoked host", headers: bearer(revoked.hostToken), opens: [.anyone]),
                Credential(description: "host token", headers: bearer(host.hostToken), opens: [.anyone, .host]),
                Credential(description: "another host's token", headers: bearer(other.hostToken), opens: [.anyone, .host]),
                Credential(description: "technician token", headers: bearer(technician), opens: [.anyone, .technician]),
                Credential(description: "admin token", headers: bearer(admin), opens: [.anyone, .technician, .admin]),
                Credential(description: "technician session", headers: cookie(aliceSession), opens: [.anyone, .technician]),
                Credential(description: "admin session", headers: cookie(bobSession), opens: [.anyone, .technician, .admin]),
                Credential(description: "expired session", headers: cookie(oldSession), opens: [.anyone]),
            ]

            func concrete(_ path: String) -> String {
                path.replacingOccurrences(of: "{id}", with: String(receipt.ticketID))
                    .replacingOccurrences(of: "{incidentID}", with: "1")
                    .replacingOccurrences(of: "{hostID}", with: other.hostID)
                    .replacingOccurrences(of: "{bundleID}", with: manifest.bundleID)
                    .replacingOccurrences(of: "**", with: BundleMember.system)
                    .replacingOccurrences(of: "{deliveryID}", with: "1")
                    .replacingOccurrences(of: "{backend}", with: "webhook")
                    .replacingOccurrences(of: "{ruleID}", with: "disk.space_low")
            }
            for (route, audience) in Self.table.sorted(by: { $0.key < $1.key }) {
                let parts = route.split(separator: " ", maxSplits: 1)
                let method = HTTPRequest.Method(rawValue: String(parts[0]))!
                // Revoking is the one action that changes who may call: do it last, on the other host.
                let uri = concrete(String(parts[1]))
                for credential in credentials where !(route.hasSuffix("/revoke") && credential.opens.contains(.admin)) {
                    var headers = credential.headers
                    headers[.contentType] = "application/json"
                    let response = try await client.execute(uri: uri, method: method, headers: headers, body: ByteBuffer(string: "{}"))
                    let status = response.status.code
                    if credential.opens.contains(audience) {
                        #expect(status != 401 && status != 403, "\(route) with \(credential): \(status) \(errorCode(response) ?? "")")
                    } else if audience == .admin && credential.opens.contains(.technician) {
                        #expect(status == 403, "\(route) with \(credential): \(status), expected 403")
                    } else {
                        #expect(status == 401, "\(route) with \(credential): \(status), expected 401")
                    }
                }
            }
            // Finally an admin revokes: allowed, and afterwards the host's token is refused.
            let revoke = try await client.execute(uri: "/api/v1/hosts/\(other.hostID)/revoke", method: .post, headers: bearer(admin))
            #expect(revoke.status == .ok)
            let after = try await client.execute(uri: "/api/v1/hosts/self/tickets", method: .get, headers: bearer(other.hostToken))
            #expect(after.status == .unauthorized)
        }
    }
}
