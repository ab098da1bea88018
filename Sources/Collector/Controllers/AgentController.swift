import Foundation
import Hummingbird
import Shared

/// The endpoints agents call: enroll, bundles, heartbeats, their own tickets.
public struct AgentController: Sendable {
    let store: any CollectorStore
    let ingestor: BundleIngestor
    let heartbeats: HeartbeatRecorder
    let limits: CollectorLimits
    let heartbeatRate: HostRateLimiter

    /// Creates the controller.
    public init(store: any CollectorStore, ingestor: BundleIngestor, heartbeats: HeartbeatRecorder, limits: CollectorLimits) {
        self.store = store
        self.ingestor = ingestor
        self.heartbeats = heartbeats
        self.limits = limits
        self.heartbeatRate = HostRateLimiter(limit: limits.heartbeatsPerHour)
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
        routes.get("hosts/self/bundle-requests", use: ownBundleRequests)
        routes.post("inventory", use: inventory)
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
              machineID.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) || $0 == 0x2D || $0 == 0x5F }) else {
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
        if let maxUses = secret.maxUses, secret.useCount >= maxUses {
            throw APIError.unauthorized("secret_used_up", "this enrollment secret was already used the \(maxUses) times it allows; ask an admin for a new one")
        }
        if let key = body.enrollmentKey, !(16...128).contains(key.utf8.count) {
            throw APIError.badRequest("invalid_enrollment_key", "enrollmentKey must be 16 to 128 bytes (the agent makes one)")
        }
        if let current = body.currentHostToken, current.utf8.count > 256 {
            throw APIError.badRequest("invalid_host_token", "currentHostToken is at most 256 bytes")
        }
        let token = Secrets.generate(.hostToken)
        let request = EnrollmentRequest(newHostID: UUID().uuidString.lowercased(), machineID: machineID, hostname: String(hostname.prefix(255)),
                                        agentVersion: body.agentVersion.map { String($0.prefix(64)) }, newTokenHash: Secrets.hash(token),
                                        secretID: secret.id, currentTokenHash: body.currentHostToken.map(Secrets.hash),
                                        keyHash: body.enrollmentKey.map(Secrets.hash))
        switch try await store.enroll(request, now: now) {
        case .created(let host):
            context.logger.info("host enrolled", metadata: ["host.id": .string(host.id), "hostname": .string(hostname)])
            return JSONResponse(EnrollResponse(hostID: host.id, hostToken: token, hostname: host.hostname, enrolledAt: host.enrolledAt,
                                               reenrolled: false), status: .created)
        case .reenrolled(let host):
            context.logger.notice("host re-enrolled: new token", metadata: ["host.id": .string(host.id), "hostname": .string(hostname)])
            return JSONResponse(EnrollResponse(hostID: host.id, hostToken: token, hostname: host.hostname, enrolledAt: host.enrolledAt,
                                               reenrolled: true))
        case .pendingApproval(let host, let approvable):
            context.logger.warning("re-enrollment of a known machine without its current token: parked for an admin", metadata: [
                "host.id": .string(host.id), "hostname": .string(hostname), "approvable": "\(approvable)",
            ])
            guard approvable else {
                throw APIError(.conflict, code: "approval_required",
                               "this machine is already enrolled as host \(host.id) (\(host.hostname)) and the request neither proves it holds that host's token "
                               + "nor carries an enrollmentKey an admin could approve; update the agent and run `helpline enroll` again")
            }
            let fingerprint = host.pendingEnrollment?.keyFingerprint ?? String(request.keyHash?.prefix(12) ?? "")
            throw APIError(.conflict, code: "approval_pending",
                           "this machine is already enrolled as host \(host.id) (\(host.hostname)); enrolling it again without its current token needs an admin's approval: "
                           + "`helpline-collector admin host approve \(host.id)`, then run `helpline enroll` again. "
                           + "This request's key fingerprint is \(fingerprint): the admin should see the same in `admin host list` before approving")
        case .secretUsedUp:
            throw APIError.unauthorized("secret_used_up", "this enrollment secret was already used as many times as it allows; ask an admin for a new one")
        }
    }

    @Sendable func uploadBundle(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<BundleReceipt> {
        let host = try context.requireHost()
        let outcome = try await ingestor.ingest(host: host, request: request, logger: context.logger)
        return JSONResponse(outcome.receipt, status: outcome.receipt.duplicate ? .ok : .created)
    }

    @Sendable func heartbeat(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<HeartbeatAck> {
        let host = try context.requireHost()
        if let wait = heartbeatRate.admit(host.id) {
            throw APIError.overloaded(.tooManyRequests, code: "heartbeat_rate_limited",
                                      "this host sent \(limits.heartbeatsPerHour) heartbeats this hour, the most allowed (heartbeats_per_hour); retry after \(wait) s",
                                      retryAfter: wait)
        }
        let body = try await request.collectJSON(limit: limits.maxJSONBodyBytes)
        // The hand-written reader takes what agents send (a fifth of the CPU per heartbeat
        // went to Foundation's decoder); anything outside its strict subset, and every
        // refusal, goes through Foundation as before.
        let fast = body.withUnsafeReadableBytes { HeartbeatJSON.decodeLocatingProcesses($0) }
        let beat = try fast?.heartbeat ?? Request.decodeJSON(Heartbeat.self, from: Data(buffer: body))
        guard BundleSchema.readable.contains(beat.schemaVersion) else {
            throw APIError(.unprocessableContent, code: "unsupported_schema",
                           "heartbeat schema version \(beat.schemaVersion) is not supported (this collector reads \(BundleSchema.readable)); update the collector")
        }
        if let claimed = beat.host.hostID, claimed.lowercased() != host.id {
            throw APIError.forbidden("host_mismatch", "the heartbeat says it comes from host \(claimed.prefix(64)), but the token belongs to host \(host.id)")
        }
        if let machine = beat.host.machineID, machine.lowercased() != host.machineID {
            throw APIError.forbidden("host_mismatch", "the heartbeat's machine id is not the one this token was enrolled with; a host can only report for itself")
        }
        let now = Date()
        // Only the fields this collector knows are stored: a body the strict reader took names
        // nothing else and is logged as sent, and stored without its processes (they are rows)
        // by cutting them out (re-encoding cost a sixth of the CPU per beat); any other is
        // re-encoded, since it could carry any amount of unknown keys. Either way what is
        // stored is bounded.
        let row: HeartbeatRow
        let json: String?  // for the heartbeat log
        if let fast, body.readableBytes <= limits.maxHeartbeatBytes {
            row = body.withUnsafeReadableBytes {
                HeartbeatRow(hostID: host.id, receivedAt: now, heartbeat: beat, sent: $0, processes: fast.processes)
            }
            json = heartbeats.logsHeartbeats ? String(buffer: body) : nil
        } else {
            let encoded = try BundleJSON.encoder().encode(beat)
            guard encoded.count <= limits.maxHeartbeatBytes else {
                throw APIError(.unprocessableContent, code: "heartbeat_too_large",
                               "the heartbeat is \(encoded.count) bytes as stored, over the limit of \(limits.maxHeartbeatBytes) (max_heartbeat_bytes); send fewer processes, filesystems or units")
            }
            row = HeartbeatRow(hostID: host.id, receivedAt: now, heartbeat: beat, body: try HeartbeatRow.latestJSON(beat, BundleJSON.encoder()))
            json = String(decoding: encoded, as: UTF8.self)
        }
        try await heartbeats.record(row, json: json)
        let ack = HeartbeatAck(hostID: host.id, receivedAt: now)
        guard let json = ack.fastJSON else { return JSONResponse(ack, status: .accepted) }
        // Written by hand: a JSONEncoder per answer was a twentieth of the route's CPU.
        return JSONResponse(ack, status: .accepted, encoded: json)
    }

    /// `POST /inventory`: the host's installed packages and hardware, replacing the previous ones.
    @Sendable func inventory(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<InventoryAck> {
        let host = try context.requireHost()
        let inventory = try await request.decodeJSON(Inventory.self, limit: limits.maxInventoryBytes)
        guard inventory.schemaVersion == 1 else {
            throw APIError(.unprocessableContent, code: "unsupported_schema", "inventory schema \(inventory.schemaVersion) is not known here; this collector reads 1")
        }
        guard inventory.packages.count <= limits.maxInventoryPackages else {
            throw APIError(.unprocessableContent, code: "too_many_packages", "the inventory lists \(inventory.packages.count) packages; the limit is \(limits.maxInventoryPackages) (max_inventory_packages)")
        }
        let now = Date()
        if let last = try await store.inventoryReceivedAt(hostID: host.id),
           now.timeIntervalSince(last) < Double(limits.inventoryMinIntervalMinutes) * 60, last <= now {
            let wait = Int(Double(limits.inventoryMinIntervalMinutes) * 60 - now.timeIntervalSince(last)) + 1
            throw APIError(.tooManyRequests, code: "inventory_too_soon", "an inventory arrived \(Int(now.timeIntervalSince(last))) s ago; send at most one every \(limits.inventoryMinIntervalMinutes) minutes",
                           headers: [.retryAfter: String(wait)])
        }
        try await store.recordInventory(hostID: host.id, inventory, now: now)
        return JSONResponse(InventoryAck(packages: inventory.packages.count), status: .accepted)
    }

    /// `GET /hosts/self/bundle-requests`: the fresh bundles technicians asked this host for.
    @Sendable func ownBundleRequests(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<PendingBundleRequestList> {
        let host = try context.requireHost()
        let pending = try await store.pendingBundleRequests(hostID: host.id, now: Date()).map {
            PendingBundleRequest(id: $0.id, ticketID: $0.ticketID, requestedBy: $0.requestedBy, note: $0.note,
                                 requestedAt: $0.createdAt, expiresAt: $0.expiresAt)
        }
        return JSONResponse(PendingBundleRequestList(requests: pending))
    }

    @Sendable func ownTickets(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<HostTicketList> {
        let host = try context.requireHost()
        let limit = try Paging.limit(request, default: 50, max: 200)
        // The daemon asks on behalf of a local user it identified by the kernel's peer
        // credentials: only that user's tickets. Without the parameter: every ticket (root).
        var requestedBy: String?
        if let name = request.uri.queryParameters["requestedBy"] {
            guard (1...64).contains(name.unicodeScalars.count) else {
                throw APIError.badRequest("invalid_query", "requestedBy is a local user name of 1 to 64 characters (Unicode code points)")
            }
            requestedBy = String(name)
        }
        return JSONResponse(HostTicketList(tickets: try await store.hostTickets(hostID: host.id, requestedBy: requestedBy, limit: limit)))
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
