import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Shared

/// The integrations' HTTP side: the admin's delivery list and retry action (admin role), and
/// the signed inbound webhook through which a remote tracker reports status changes (no
/// user credential: the HMAC signature is the credential).
public struct IntegrationController: Sendable {
    let store: any CollectorStore
    let backends: [String: IntegrationBackend]
    let limits: CollectorLimits
    let publicURL: String?

    /// Creates the controller.
    public init(store: any CollectorStore, backends: [IntegrationBackend], limits: CollectorLimits, publicURL: String? = nil) {
        self.store = store
        var byName: [String: IntegrationBackend] = [:]
        for b in backends { byName[b.name] = b }
        self.backends = byName
        self.limits = limits
        self.publicURL = publicURL
    }

    /// Admin routes, relative to `/api/v1`.
    public var adminRoutes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.add(middleware: TechnicianAuthMiddleware(store: store, minimumRole: .admin, publicURL: publicURL))
        routes.get("integrations/deliveries", use: list)
        routes.post("integrations/deliveries/{deliveryID}/retry", use: retry)
        return routes
    }

    /// The inbound webhook, relative to `/api/v1`: authenticated by its signature only.
    public var inboundRoutes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.post("integrations/{backend}/inbound", use: inbound)
        return routes
    }

    /// A backend as the admin API shows it: never a secret.
    struct BackendView: Codable, Sendable {
        var name: String
        var kind: String
        var url: String
        var inbound: Bool
        /// Whose certificates are trusted: `none` (plain HTTP), `system` or `ca_file`.
        var trust: IntegrationBackend.Trust
        /// How many CAs the backend's `ca_file` holds; absent without one.
        var caCertificates: Int?
    }

    /// `GET /integrations/deliveries` answer.
    struct DeliveryList: Codable, Sendable {
        var backends: [BackendView]
        var deliveries: [IntegrationDeliveryRecord]
    }

    /// The configured backends, by name.
    var backendViews: [BackendView] {
        backends.values.sorted { $0.name < $1.name }.map {
            BackendView(name: $0.name, kind: $0.kind.rawValue, url: IntegrationHTTP.shown($0.url), inbound: $0.inboundSecret != nil,
                        trust: $0.trust, caCertificates: $0.trustedCAs?.count)
        }
    }

    /// `GET /integrations/deliveries?status=dead&limit=50&offset=0`: newest first.
    @Sendable func list(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<DeliveryList> {
        _ = try context.requireUser()
        let q = request.uri.queryParameters
        var status: IntegrationDeliveryStatus?
        if let s = q["status"] {
            guard let parsed = IntegrationDeliveryStatus(rawValue: String(s)) else {
                throw APIError.badRequest("invalid_query", "status is one of \(IntegrationDeliveryStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = parsed
        }
        let limit = try Self.number(q["limit"].map(String.init), name: "limit", range: 1...500) ?? 100
        let offset = try Self.number(q["offset"].map(String.init), name: "offset", range: 0...10_000_000) ?? 0
        return JSONResponse(DeliveryList(backends: backendViews,
                                         deliveries: try await store.deliveries(status: status, limit: limit, offset: offset)))
    }

    static func number(_ text: String?, name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let text else { return nil }
        guard let n = Int(text), range.contains(n) else {
            throw APIError.badRequest("invalid_query", "\(name) is a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// `POST /integrations/deliveries/{id}/retry`: a dead, skipped or waiting delivery goes again now.
    @Sendable func retry(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<IntegrationDeliveryRecord> {
        let user = try context.requireUser()
        guard let text = context.parameters.get("deliveryID"), let id = Int64(text), id > 0,
              let record = try await store.delivery(id: id) else {
            throw APIError.notFound("delivery \(context.parameters.get("deliveryID")?.prefix(20) ?? "")")
        }
        guard try await store.retryDelivery(id: id, now: Date()) else {
            throw APIError(.conflict, code: "not_retryable", "delivery \(id) is \(record.status.rawValue); only dead, skipped or waiting deliveries can be retried")
        }
        try? await store.recordAudit(AuditEntry(at: Date(), actor: user.name, action: "integration_retry", target: "delivery \(id)",
                                                detail: "\(record.backend) \(record.event.kind.rawValue)"))
        context.logger.notice("integration delivery retried", metadata: ["delivery": "\(id)", "by": .string(user.name)])
        return JSONResponse(try await store.delivery(id: id) ?? record)
    }

    /// The inbound body: which remote issue, and its status there.
    struct InboundStatus: Codable, Sendable {
        var remoteKey: String
        var status: String

        enum CodingKeys: String, CodingKey {
            case remoteKey = "remote_key", status
        }
    }

    /// What the inbound route answers.
    struct InboundResult: Codable, Sendable {
        var ticketID: Int64
        var status: TicketStatus
    }

    /// `POST /integrations/{backend}/inbound`, signed like the outbound webhook
    /// (`Helpline-Timestamp`, `Helpline-Signature`). Order of checks: body size (413), backend
    /// and signature (401, the same answer for an unknown backend, a stale timestamp and a
    /// wrong signature, so the route tells an attacker nothing), replay (409), body (400/422),
    /// remote key (404).
    @Sendable func inbound(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<InboundResult> {
        let limit = limits.integrationInboundMaxBodyBytes
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "body_too_large", "the body is larger than integration_inbound_max_body_bytes (\(limit))")
        }
        let body = Data(buffer: buffer)
        let refused = APIError.unauthorized("bad_signature", "the request is not signed with this backend's inbound_secret, or its Helpline-Timestamp is outside the replay window; see docs/integrations.md")
        let name = context.parameters.get("backend") ?? ""
        guard let backend = backends[name], let key = backend.inboundSecret else { throw refused }
        let now = Date()
        let window = TimeInterval(limits.integrationReplayWindowSeconds)
        let signature: String
        do {
            signature = try WebhookSignature.verify(key: key.value, timestampHeader: request.headers[values: HTTPField.Name(WebhookSignature.timestampHeader)!].first,
                                                    signatureHeader: request.headers[values: HTTPField.Name(WebhookSignature.signatureHeader)!].first,
                                                    body: body, now: now, window: window)
        } catch {
            context.logger.notice("inbound integration webhook refused", metadata: ["backend": .string(String(name.prefix(64))), "why": "\(error)"])
            throw refused
        }
        let update: InboundStatus
        do { update = try JSONDecoder().decode(InboundStatus.self, from: body) } catch {
            throw APIError.badRequest("invalid_json", "the body must be {\"remote_key\": \"…\", \"status\": \"…\"}: \(BundleJSONErrors.describe(error))")
        }
        guard (1...200).contains(update.remoteKey.utf8.count), (1...200).contains(update.status.utf8.count) else {
            throw APIError(.unprocessableContent, code: "invalid_field", "remote_key and status are 1 to 200 bytes")
        }
        guard let status = backend.statusMap[update.status.lowercased()] else {
            throw APIError(.unprocessableContent, code: "unknown_status",
                           "\(name) has no Helpline status for “\(update.status.prefix(200))”; add it to the backend's status_map")
        }
        // Replays are remembered for twice the window: a timestamp up to a window in the
        // future stays valid that long.
        switch try await store.applyRemoteStatus(backend: name, remoteKey: update.remoteKey, remoteStatus: update.status, status: status,
                                                 signature: signature, seenSince: now.addingTimeInterval(-2 * window), now: now) {
        case .applied(let ticketID, let status):
            context.logger.info("remote status applied", metadata: ["backend": .string(name), "ticket.id": "\(ticketID)", "status": .string(status.rawValue)])
            return JSONResponse(InboundResult(ticketID: ticketID, status: status))
        case .unknownRemoteKey:
            throw APIError.notFound("\(name) issue \(update.remoteKey.prefix(200))")
        case .replayed:
            throw APIError(.conflict, code: "replayed", "this signed request was already received; sign each request anew")
        }
    }
}
