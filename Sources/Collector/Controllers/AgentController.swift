import Foundation
import Hummingbird
import Shared

/// The endpoints agents call: enroll, bundles, heartbeats, their own tickets.
public struct AgentController: Sendable {
    let store: any CollectorStore
    let ingestor: BundleIngestor
    let heartbeats: HeartbeatRecorder
    let limits: CollectorLimits

    /// Creates the controller.
    public init(store: any CollectorStore, ingestor: BundleIngestor, heartbeats: HeartbeatRecorder, limits: CollectorLimits) {
        self.store = store
        self.ingestor = ingestor
        self.heartbeats = heartbeats
        self.limits = limits
    }

    /// `POST /enroll` (no auth: the secret in the body is the credential).
    public var enrollRoutes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.post("enroll", use: enroll)
        return routes
    }

    /// `POST /bundles`, `POST /heartbeats`, `GET /hosts/self/tickets`, behind `HostAuthMiddleware`.
    public var hostRoutes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.add(middleware: HostAuthMiddleware(store: store))
        routes.post("bundles", use: uploadBundle)
        routes.post("heartbeats", use: heartbeat)
        routes.get("hosts/self/tickets", use: ownTickets)
        return routes
    }

    @Sendable func enroll(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<EnrollResponse> {
        let body = try await request.decodeJSON(EnrollRequest.self, limit: limits.maxJSONBodyBytes)
        let hostname = body.hostname.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (1...255).contains(hostname.utf8.count) else {
            throw APIError.badRequest("invalid_hostname", "hostname must be 1 to 255 bytes")
        }
        let machineID = body.machineID.lowercased()
        guard (1...128).contains(machineID.utf8.count),
              machineID.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) || $0 == "-" || $0 == "_" }) else {
            throw APIError.badRequest("invalid_machine_id", "machineID must be 1 to 128 letters, digits, '-' or '_' (the content of /etc/machine-id)")
        }
        guard let secret = try await store.enrollmentSecret(hash: Secrets.hash(body.secret)) else {
            throw APIError.unauthorized("invalid_secret", "the enrollment secret is not known; ask an admin for one (`helpline-collector admin secret create`)")
        }
        let now = Date()
        if secret.revokedAt != nil {
            throw APIError.unauthorized("secret_revoked", "this enrollment secret was revoked; ask an admin for a new one")
        }
        if let expires = secret.expiresAt, expires <= now {
            throw APIError.unauthorized("secret_expired", "this enrollment secret expired; ask an admin for a new one")
        }
        let token = Secrets.generate(.hostToken)
        let (host, created) = try await store.enrollHost(id: UUID().uuidString.lowercased(), machineID: machineID, hostname: hostname,
                                                         agentVersion: body.agentVersion.map { String($0.prefix(64)) },
                                                         tokenHash: Secrets.hash(token), secretID: secret.id, now: now)
        context.logger.info(created ? "host enrolled" : "host re-enrolled", metadata: ["host.id": .string(host.id), "hostname": .string(hostname)])
        return JSONResponse(EnrollResponse(hostID: host.id, hostToken: token, hostname: host.hostname, enrolledAt: host.enrolledAt,
                                           reenrolled: !created),
                            status: created ? .created : .ok)
    }

    @Sendable func uploadBundle(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<BundleReceipt> {
        let host = try context.requireHost()
        let outcome = try await ingestor.ingest(host: host, request: request, logger: context.logger)
        return JSONResponse(outcome.receipt, status: outcome.receipt.duplicate ? .ok : .created)
    }

    @Sendable func heartbeat(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<HeartbeatAck> {
        let host = try context.requireHost()
        let (beat, body) = try await request.decodeJSONKeepingBody(Heartbeat.self, limit: limits.maxJSONBodyBytes)
        guard BundleSchema.readable.contains(beat.schemaVersion) else {
            throw APIError(.unprocessableContent, code: "unsupported_schema",
                           "heartbeat schema version \(beat.schemaVersion) is not supported (this collector reads \(BundleSchema.readable)); update the collector")
        }
        if let claimed = beat.host.hostID, claimed.lowercased() != host.id {
            throw APIError.forbidden("host_mismatch", "the heartbeat says it comes from host \(claimed.prefix(64)), but the token belongs to host \(host.id)")
        }
        let now = Date()
        // The body as sent is stored (it decoded as a Heartbeat, so it reads back the same):
        // encoding the decoded value again cost about a tenth of a heartbeat's CPU.
        try await heartbeats.record(HeartbeatRow(hostID: host.id, receivedAt: now, heartbeat: beat,
                                                 body: String(decoding: body, as: UTF8.self)))
        return JSONResponse(HeartbeatAck(hostID: host.id, receivedAt: now), status: .accepted)
    }

    @Sendable func ownTickets(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<HostTicketList> {
        let host = try context.requireHost()
        let limit = try Paging.limit(request, default: 50, max: 200)
        return JSONResponse(HostTicketList(tickets: try await store.hostTickets(hostID: host.id, limit: limit)))
    }
}

/// Query parameters shared by list endpoints.
enum Paging {
    static func limit(_ request: Request, default value: Int, max: Int) throws -> Int {
        guard let text = request.uri.queryParameters["limit"] else { return value }
        guard let n = Int(text), (1...max).contains(n) else {
            throw APIError.badRequest("invalid_query", "limit must be a whole number from 1 to \(max)")
        }
        return n
    }

    static func offset(_ request: Request) throws -> Int {
        guard let text = request.uri.queryParameters["offset"] else { return 0 }
        guard let n = Int(text), n >= 0, n <= 10_000_000 else {
            throw APIError.badRequest("invalid_query", "offset must be a whole number from 0")
        }
        return n
    }
}
