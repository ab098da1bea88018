import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Shared

/// A list of tickets.
public struct TicketList: Codable, Sendable, Equatable {
    public var tickets: [TicketSummary]
    public var offset: Int
    public var limit: Int
}

/// A list of bundles.
public struct BundleList: Codable, Sendable, Equatable {
    public var bundles: [BundleRecord]
}

/// `POST /tickets/{id}/split` body.
public struct SplitRequest: Codable, Sendable {
    public var bundleID: String
}

/// The ticket a split bundle moved to.
public struct SplitResult: Codable, Sendable, Equatable {
    public var ticketID: Int64
}

/// A list of incidents.
public struct IncidentList: Codable, Sendable, Equatable {
    public var incidents: [IncidentRecord]
}

/// `POST /hosts/{id}/bundle-requests` body.
public struct NewBundleRequest: Codable, Sendable {
    /// The ticket the bundle should join (one of this host's).
    public var ticketID: Int64?
    /// Why, shown to nobody but technicians and written into the bundle's note (≤ 1000 Unicode code points).
    public var note: String?
}

/// A host's bundle requests.
public struct BundleRequestList: Codable, Sendable, Equatable {
    public var requests: [BundleRequestRecord]
}

/// Creating bundle requests, shared by the API and the pages.
enum BundleRequests {
    /// Validates and stores a request.
    /// - Throws: `APIError` 400 for a bad note or ticket, 404 for an unknown host or ticket,
    ///   409 when the host already has `max_pending_bundle_requests` waiting.
    static func create(store: any CollectorStore, limits: CollectorLimits, hostID: String, ticketID: Int64?, by user: String,
                       note: String?) async throws -> BundleRequestRecord {
        guard hostID.utf8.count <= 128, let host = try await store.host(id: hostID) else { throw APIError.notFound("host \(hostID.prefix(64))") }
        guard host.revokedAt == nil else { throw APIError(.conflict, code: "host_revoked", "this host was revoked; it sends nothing until it enrolls again") }
        if let ticketID, ticketID <= 0 { throw APIError.badRequest("invalid_ticket_id", "a ticket id is a positive whole number") }
        let text = note?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (text?.unicodeScalars.count ?? 0) <= 1000 else { throw APIError.badRequest("invalid_note", "a request's note is at most 1000 characters (Unicode code points)") }
        let now = Date()
        do {
            return try await store.createBundleRequest(hostID: host.id, ticketID: ticketID, requestedBy: user, note: text?.isEmpty == true ? nil : text,
                                                       now: now, expiresAt: now.addingTimeInterval(Double(limits.bundleRequestHours) * 3600),
                                                       maxPending: limits.maxPendingBundleRequests)
        } catch let e as StoreError where e.kind == .conflict {
            throw APIError(.conflict, code: "too_many_requests_waiting", e.message)
        } catch let e as StoreError where e.kind == .notFound {
            throw APIError.notFound(e.message)
        }
    }
}

/// A list of hosts.
public struct HostList: Codable, Sendable, Equatable {
    public var hosts: [HostRecord]
}

/// A host with its latest heartbeat.
public struct HostDetail: Codable, Sendable, Equatable {
    public var host: HostRecord
    public var latestHeartbeat: StoredHeartbeat?
}

/// A comment to add.
public struct NewComment: Codable, Sendable, Equatable {
    public var body: String
    /// A reply the user sees (default) or an internal note.
    public var visibleToUser: Bool?
}

/// Changes to a ticket; absent fields stay as they are.
public struct TicketUpdate: Codable, Sendable, Equatable {
    public var status: TicketStatus?
    public var priority: TicketPriority?
    /// Empty string clears it.
    public var assignee: String?
    /// Reclassify: the category the ticket really belongs in, when its top finding's rule had
    /// it wrong. Counted against that rule (`GET /rules`), noted on the ticket and audited.
    public var category: FindingCategory?
}

/// The technician API: tickets, hosts, bundles and their members. Behind
/// `TechnicianAuthMiddleware` (API token or web session).
public struct TechnicianController: Sendable {
    let store: any CollectorStore
    let blobs: BlobStore
    let limits: CollectorLimits
    let reads: BlobReadPool
    let publicURL: String?
    /// Builds a bundle's journal index the first time its journal is read.
    let indexer: JournalIndexer

    /// Creates the controller.
    public init(store: any CollectorStore, blobs: BlobStore, limits: CollectorLimits, metrics: CollectorMetrics? = nil, publicURL: String? = nil,
                indexer: JournalIndexer? = nil) {
        self.indexer = indexer ?? JournalIndexer(store: store, limits: limits, logger: Logger(label: "helpline.collector"))
        self.publicURL = publicURL
        self.store = store
        self.blobs = blobs
        self.limits = limits
        self.reads = BlobReadPool(limit: limits.maxConcurrentReads, budget: .seconds(limits.readTimeBudgetSeconds),
                                  retryAfter: limits.retryAfterSeconds, metrics: metrics)
    }

    /// The routes, relative to `/api/v1`.
    public var routes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.add(middleware: TechnicianAuthMiddleware(store: store, publicURL: publicURL))
        routes.get("tickets", use: listTickets)
        routes.get("tickets/{id}", use: getTicket)
        routes.patch("tickets/{id}", use: updateTicket)
        routes.post("tickets/{id}/comments", use: addComment)
        routes.post("tickets/{id}/split", use: splitBundle)
        routes.get("incidents", use: listIncidents)
        routes.get("incidents/{incidentID}", use: getIncident)
        routes.get("tickets/{id}/bundles", use: ticketBundles)
        routes.get("hosts", use: listHosts)
        routes.get("hosts/{hostID}", use: getHost)
        routes.get("hosts/{hostID}/bundles", use: hostBundles)
        routes.post("hosts/{hostID}/bundle-requests", use: requestBundle)
        routes.get("hosts/{hostID}/bundle-requests", use: listBundleRequests)
        routes.get("bundles/{bundleID}", use: getBundle)
        routes.get("bundles/{bundleID}/raw", use: downloadBundle)
        routes.get("bundles/{bundleID}/journal", use: journal)
        routes.get("bundles/{bundleID}/members/**", use: member)
        return routes
    }

    private func ticketID(_ context: CollectorRequestContext) throws -> Int64 {
        guard let id = context.parameters.get("id", as: Int64.self), id > 0 else {
            throw APIError.badRequest("invalid_ticket_id", "a ticket id is a positive whole number")
        }
        return id
    }

    @Sendable func listTickets(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<TicketList> {
        var filter = TicketFilter(limit: try Paging.limit(request, default: 50, max: 500), offset: try Paging.offset(request))
        if let status = request.uri.queryParameters["status"] {
            guard let s = TicketStatus(rawValue: String(status)) else {
                throw APIError.badRequest("invalid_query", "status must be one of \(TicketStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            filter.status = s
        }
        if let host = request.uri.queryParameters["hostID"] { filter.hostID = String(host) }
        return JSONResponse(TicketList(tickets: try await store.tickets(filter), offset: filter.offset, limit: filter.limit))
    }

    @Sendable func getTicket(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<TicketDetail> {
        let id = try ticketID(context)
        guard let detail = try await store.ticket(id: id) else { throw APIError.notFound("ticket \(id)") }
        return JSONResponse(detail)
    }

    /// `PATCH /tickets/{id}`: status, priority, assignee, category. What changed is written to
    /// the audit log as the ticket page's form writes it (`ticket_updated`, and
    /// `ticket_reclassified` for the category), marked "API".
    @Sendable func updateTicket(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<TicketSummary> {
        let user = try context.requireUser()
        let id = try ticketID(context)
        let update = try await request.decodeJSON(TicketUpdate.self, limit: limits.maxJSONBodyBytes)
        // Checked before anything is written, so a refused assignee leaves the category as it was too.
        try await store.checkAssignee(update.assignee)
        guard let before = try await store.ticket(id: id)?.ticket else { throw APIError.notFound("ticket \(id)") }
        if let category = update.category {
            guard let after = try await store.reclassifyTicket(id: id, category: category, by: user.name, now: Date()) else {
                throw APIError.notFound("ticket \(id)")
            }
            if after.category != before.category {
                await store.audit(context, "ticket_reclassified", "ticket \(id)",
                                  "API · category \(category.rawValue)" + (before.topRuleID.map { " · top rule \($0)" } ?? ""))
            }
        }
        let assignee = update.assignee
        guard let summary = try await store.updateTicket(id: id, status: update.status, priority: update.priority,
                                                         assignee: assignee, now: Date()) else {
            throw APIError.notFound("ticket \(id)")
        }
        var changed: [String] = []
        if let status = update.status, status != before.status { changed.append("status \(before.status.rawValue) → \(status.rawValue)") }
        if let priority = update.priority, priority != before.priority { changed.append("priority \(before.priority.rawValue) → \(priority.rawValue)") }
        if let assignee, assignee != (before.assignee ?? "") {
            changed.append("assignee \(before.assignee ?? "none") → \(assignee.isEmpty ? "none" : assignee)")
        }
        if !changed.isEmpty { await store.audit(context, "ticket_updated", "ticket \(id)", (["API"] + changed).joined(separator: " · ")) }
        return JSONResponse(summary)
    }

    @Sendable func addComment(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<TicketComment> {
        let user = try context.requireUser()
        let id = try ticketID(context)
        let new = try await request.decodeJSON(NewComment.self, limit: limits.maxJSONBodyBytes)
        let body = new.body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !body.isEmpty, body.utf8.count <= 64 * 1024 else {
            throw APIError.badRequest("invalid_comment", "a comment is 1 byte to 64 KiB of text")
        }
        guard let comment = try await store.addComment(ticketID: id, author: user.name, body: body,
                                                       visibleToUser: new.visibleToUser ?? true, now: Date()) else {
            throw APIError.notFound("ticket \(id)")
        }
        await store.audit(context, "comment_added", "ticket \(id)", "API · " + (comment.visibleToUser ? "visible to the user" : "internal"))
        return JSONResponse(comment, status: .created)
    }

    /// `POST /tickets/{id}/split` `{"bundleID": …}`: a bundle that joined as a repeat but is a
    /// different problem gets a ticket of its own.
    @Sendable func splitBundle(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<SplitResult> {
        let user = try context.requireUser()
        let id = try ticketID(context)
        let body = try await request.decodeJSON(SplitRequest.self, limit: limits.maxJSONBodyBytes)
        guard UUID(uuidString: body.bundleID) != nil else {
            throw APIError.badRequest("invalid_bundle_id", "bundleID must be the UUID of a bundle on this ticket")
        }
        do {
            guard let newID = try await store.splitBundle(ticketID: id, bundleID: body.bundleID, author: user.name, now: Date()) else {
                throw APIError.notFound("bundle \(body.bundleID) on ticket \(id)")
            }
            await store.audit(context, "bundle_split", "ticket \(id)", "API · bundle \(body.bundleID) → ticket \(newID)")
            return JSONResponse(SplitResult(ticketID: newID), status: .created)
        } catch let e as StoreError where e.kind == .conflict {
            throw APIError(.conflict, code: "only_bundle", e.message)
        }
    }

    /// `GET /incidents`: the same rule on several hosts.
    @Sendable func listIncidents(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<IncidentList> {
        JSONResponse(IncidentList(incidents: try await store.incidents(limit: try Paging.limit(request, default: 50, max: 500))))
    }

    /// `GET /incidents/{id}`.
    @Sendable func getIncident(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<IncidentRecord> {
        guard let text = context.parameters.get("incidentID"), let id = Int64(text) else {
            throw APIError.badRequest("invalid_id", "incident ids are numbers")
        }
        guard let incident = try await store.incident(id: id) else { throw APIError.notFound("incident \(id)") }
        return JSONResponse(incident)
    }

    @Sendable func ticketBundles(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<BundleList> {
        let id = try ticketID(context)
        guard try await store.ticket(id: id) != nil else { throw APIError.notFound("ticket \(id)") }
        return JSONResponse(BundleList(bundles: try await store.bundles(ticketID: id)))
    }

    @Sendable func listHosts(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<HostList> {
        JSONResponse(HostList(hosts: try await store.hosts()))
    }

    @Sendable func getHost(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<HostDetail> {
        let id = context.parameters.get("hostID") ?? ""
        guard let host = try await store.host(id: id) else { throw APIError.notFound("host \(id.prefix(64))") }
        return JSONResponse(HostDetail(host: host, latestHeartbeat: try await store.latestHeartbeat(hostID: id)))
    }

    @Sendable func hostBundles(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<BundleList> {
        let id = context.parameters.get("hostID") ?? ""
        guard try await store.host(id: id) != nil else { throw APIError.notFound("host \(id.prefix(64))") }
        let bundles = try await store.bundles(hostID: id, limit: try Paging.limit(request, default: 50, max: 500),
                                              offset: try Paging.offset(request))
        return JSONResponse(BundleList(bundles: bundles))
    }

    /// `POST /hosts/{id}/bundle-requests` `{"ticketID"?, "note"?}`: ask a host for a fresh
    /// bundle; its agent collects it at its next check-in and the bundle joins the ticket.
    @Sendable func requestBundle(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<BundleRequestRecord> {
        let user = try context.requireUser()
        let hostID = context.parameters.get("hostID") ?? ""
        let body = try await request.decodeJSON(NewBundleRequest.self, limit: limits.maxJSONBodyBytes)
        let record = try await BundleRequests.create(store: store, limits: limits, hostID: hostID, ticketID: body.ticketID,
                                                     by: user.name, note: body.note)
        return JSONResponse(record, status: .created)
    }

    /// `GET /hosts/{id}/bundle-requests`: every request for the host, newest first.
    @Sendable func listBundleRequests(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<BundleRequestList> {
        let hostID = context.parameters.get("hostID") ?? ""
        guard hostID.utf8.count <= 128, try await store.host(id: hostID) != nil else { throw APIError.notFound("host \(hostID.prefix(64))") }
        return JSONResponse(BundleRequestList(requests: try await store.bundleRequests(hostID: hostID, ticketID: nil, limit: 100)))
    }

    private func bundle(_ context: CollectorRequestContext) async throws -> BundleRecord {
        let id = (context.parameters.get("bundleID") ?? "").lowercased()
        guard UUID(uuidString: id) != nil else { throw APIError.badRequest("invalid_bundle_id", "a bundle id is a UUID") }
        guard let record = try await store.bundle(id: id) else { throw APIError.notFound("bundle \(id)") }
        return record
    }

    private func liveBlob(_ record: BundleRecord) throws -> String { try StoredBundle.livePath(record, blobs: blobs) }

    @Sendable func getBundle(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<BundleRecord> {
        JSONResponse(try await bundle(context))
    }

    /// `GET /bundles/{id}/raw`: the whole bundle as uploaded, for admins only (it holds
    /// everything the workstation sent), and written to the audit log.
    @Sendable func downloadBundle(request: Request, context: CollectorRequestContext) async throws -> Response {
        let id = (context.parameters.get("bundleID") ?? "").lowercased()
        guard UUID(uuidString: id) != nil else { throw APIError.badRequest("invalid_bundle_id", "a bundle id is a UUID") }
        let user = try context.requireUser()
        guard user.role == .admin else {
            throw APIError.forbidden("admin_only", "\(user.name) is a technician; downloading a whole bundle needs an admin")
        }
        let record = try await bundle(context)
        let path = try liveBlob(record)
        try await store.recordAudit(AuditEntry(at: Date(), actor: user.name, action: "bundle_downloaded", target: "bundle \(record.bundleID)",
                                               detail: "API · \(record.compressedBytes) bytes" + (context.clientAddress.map { " · from \($0)" } ?? "")))
        let fileIO = FileIO()
        let body = try await fileIO.loadFile(path: path, context: context)
        return Response(status: .ok, headers: [
            .contentType: "application/gzip",
            .contentDisposition: "attachment; filename=\"helpline-\(record.bundleID).tar.gz\"",
            .contentLength: String(record.compressedBytes),
        ], body: body)
    }

    /// `GET /bundles/{id}/journal`: a page from the bundle's journal index when it has one,
    /// otherwise by scanning the blob on the read pool. Both keep the same entries; the
    /// `Helpline-Journal-Source` header says which answered (`index` or `blob`), and
    /// `Server-Timing` how long the page took.
    @Sendable func journal(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<BundleArchive.JournalPage> {
        let started = ContinuousClock.now
        let record = try await bundle(context)
        let path = try liveBlob(record)
        let q = request.uri.queryParameters
        var filter = BundleArchive.JournalFilter()
        if let p = q["priority"] {
            guard let n = Int(p), (0...7).contains(n) else { throw APIError.badRequest("invalid_query", "priority is 0 (emerg) to 7 (debug)") }
            filter.maxPriority = n
        }
        // An empty parameter (an empty form field) filters nothing.
        func text(_ name: Substring, max: Int) throws -> String? {
            guard let value = q[name], !value.isEmpty else { return nil }
            guard value.utf8.count <= max else {
                throw APIError.badRequest("invalid_query", "unit, identifier and boot are at most 512 bytes and q at most 1024")
            }
            return String(value)
        }
        filter.unit = try text("unit", max: 512)
        filter.identifier = try text("identifier", max: 512)
        filter.bootID = try text("boot", max: 512)
        filter.text = try text("q", max: 1024)
        filter.since = try q["since"].map { try Self.date(String($0), name: "since") }
        filter.until = try q["until"].map { try Self.date(String($0), name: "until") }
        if let since = filter.since, let until = filter.until, since > until {
            throw APIError.badRequest("invalid_query", "since must not be after until")
        }
        let limit = try Paging.limit(request, default: 200, max: limits.journalPageMax)
        let offset = try Paging.offset(request)
        let source: String
        let page: BundleArchive.JournalPage
        if let indexed = try await store.journalPage(bundleID: record.bundleID, filter: filter, offset: offset, limit: limit) {
            (source, page) = ("index", indexed)
        } else {
            await indexer.request(bundleID: record.bundleID, path: path)
            let bundleLimits = limits.bundleLimits
            page = try await reads.run { [filter] deadline in
                try BundleArchive(path: path, limits: bundleLimits, deadline: deadline).journal(filter, offset: offset, limit: limit)
            }
            source = "blob"
        }
        let elapsed = ContinuousClock.now - started
        let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        return JSONResponse(page, headers: [.journalSource: source, .serverTiming: "journal;dur=\(String(format: "%.2f", ms))"])
    }

    @Sendable func member(request: Request, context: CollectorRequestContext) async throws -> Response {
        let record = try await bundle(context)
        let name = context.parameters.getCatchAll().joined(separator: "/")
        let bytes = try await StoredBundle.member(record, named: name, blobs: blobs, limits: limits, reads: reads)
        if let user = try? context.requireUser() {
            try? await store.recordAudit(AuditEntry(at: Date(), actor: user.name, action: "member_downloaded", target: "bundle \(record.bundleID)",
                                                    detail: "API · " + String(name.prefix(200)) + (context.clientAddress.map { " · from \($0)" } ?? "")))
        }
        let type: String
        if name.hasSuffix(".json") { type = "application/json" } else if name.hasSuffix(".jsonl") { type = "application/jsonl" }
        else if name.hasSuffix(".txt") { type = "text/plain; charset=utf-8" } else { type = "application/octet-stream" }
        return Response(status: .ok, headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// Times accepted in queries: 1970-01-01 to 9999-12-31 (journal times are microseconds
    /// since 1970; a year like 300000 is a typo or an attack, and answered 400).
    static let dateRange = Date(timeIntervalSince1970: 0)...Date(timeIntervalSince1970: 253_402_300_799)

    static func date(_ text: String, name: String) throws -> Date {
        let f = ISO8601DateFormatter()
        var parsed: Date?
        if text.utf8.count <= 64 {
            parsed = f.date(from: text)
            if parsed == nil {
                f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                parsed = f.date(from: text)
            }
        }
        guard let d = parsed else {
            throw APIError.badRequest("invalid_query", "\(name) must be an ISO 8601 time such as 2026-11-29T08:00:00Z")
        }
        guard dateRange.contains(d) else {
            throw APIError.badRequest("invalid_query", "\(name) must be between 1970-01-01 and 9999-12-31")
        }
        return d
    }
}

/// `/healthz`, `/readyz` and `/metrics`: no auth, no `/api/v1` prefix.
public struct HealthController: Sendable {
    let store: any CollectorStore
    let metrics: CollectorMetrics
    let dataDirectory: String
    let limits: CollectorLimits
    let freeSpace: any FreeSpaceProbe

    /// Creates the controller.
    public init(store: any CollectorStore, metrics: CollectorMetrics, dataDirectory: String, limits: CollectorLimits,
                freeSpace: any FreeSpaceProbe) {
        self.store = store
        self.metrics = metrics
        self.dataDirectory = dataDirectory
        self.limits = limits
        self.freeSpace = freeSpace
    }

    /// Health and readiness status.
    public struct Status: Codable, Sendable, Equatable {
        public var status: String
        public var checks: [String: String]
    }

    /// The routes.
    public var routes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.get("healthz") { _, _ in JSONResponse(Status(status: "ok", checks: [:])) }
        routes.get("readyz", use: ready)
        routes.get("metrics", use: render)
        return routes
    }

    @Sendable func ready(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<Status> {
        var checks: [String: String] = [:]
        var ok = true
        do { try await store.ping(); checks["database"] = "ok" } catch {
            checks["database"] = "unreachable"
            ok = false
        }
        let floor = Int64(limits.minFreeDiskMB) << 20
        if let free = freeSpace.availableBytes(at: dataDirectory) {
            checks["disk"] = free >= floor ? "ok" : "below floor (\(free >> 20) MiB free, floor \(limits.minFreeDiskMB) MiB)"
            ok = ok && free >= floor
        } else {
            checks["disk"] = "unknown"
        }
        return JSONResponse(Status(status: ok ? "ok" : "unavailable", checks: checks), status: ok ? .ok : .serviceUnavailable)
    }

    @Sendable func render(request: Request, context: CollectorRequestContext) async throws -> Response {
        if let counts = try? await store.counts() {
            metrics.hosts.record(counts.hosts)
            metrics.openTickets.record(counts.openTickets)
            metrics.liveBundles.record(counts.liveBundles)
        }
        return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
    }
}

extension HTTPField.Name {
    /// Which store answered a journal page: `index` or `blob`.
    static let journalSource = HTTPField.Name("Helpline-Journal-Source")!
    /// The collector's own time for a response (W3C Server-Timing).
    static let serverTiming = HTTPField.Name("Server-Timing")!
}
