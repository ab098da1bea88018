import Foundation
import Hummingbird
import Shared

extension WebController {
    // MARK: Hosts

    @Sendable func hostsPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let now = Date()
        let rows = try await store.hosts().prefix(5000).map { h in
            HostsPage.Row(href: "/hosts/\(WebLinks.encode(h.id))", hostname: WebFormat.untrusted(h.hostname, max: 255),
                          agentVersion: WebFormat.untrusted(h.agentVersion ?? "—", max: 64), lastSeen: WebFormat.age(h.lastSeenAt, now: now),
                          enrolled: WebFormat.time(h.enrolledAt), revoked: h.revokedAt != nil, pending: h.pendingEnrollment != nil)
        }
        return try page("hosts", HostsPage(chrome: PageChrome(context: context, title: "Hosts", section: "hosts"), rows: Array(rows)))
    }

    /// An SVG polyline's points for values 0–100 over a 300×60 box, oldest on the left.
    static func sparkline(_ values: [Double]) -> String {
        guard values.count > 1 else { return values.isEmpty ? "" : "0,\(60 - WebFormat.meter(values[0]) * 0.6) 300,\(60 - WebFormat.meter(values[0]) * 0.6)" }
        let step = 300.0 / Double(values.count - 1)
        return values.enumerated().map { i, v in
            String(format: "%.1f,%.1f", Double(i) * step, 60 - WebFormat.meter(v) * 0.6)
        }.joined(separator: " ")
    }

    @Sendable func hostPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let id = context.parameters.get("hostID") ?? ""
        guard id.utf8.count <= 128, let host = try await store.host(id: id) else { throw APIError.notFound("host \(id.prefix(64))") }
        let now = Date()
        let history = try await store.healthHistory(hostID: id, limit: limits.heartbeatHistory).reversed()
        func chart(_ label: String, _ value: (HealthPoint) -> Double?) -> HostPage.Chart {
            let points = history.compactMap { h in value(h).flatMap { $0.isFinite ? $0 : nil }.map { (h.at, $0) } }
            return HostPage.Chart(label: label, points: Self.sparkline(points.map(\.1)), latest: points.last.map { WebFormat.percent($0.1) } ?? "—",
                                  from: WebFormat.time(points.first?.0), to: WebFormat.time(points.last?.0), hasData: !points.isEmpty)
        }
        let charts = [chart("Memory used", \.memoryUsedPercent), chart("Fullest disk", \.maxDiskUsedPercent)]
        var summary: HostSummaryView?
        if let latest = try await store.latestHeartbeat(hostID: id) {
            var snap = BundleSnapshot([:])
            snap.system = latest.heartbeat.system
            snap.memory = latest.heartbeat.memory
            snap.disks = DiskInfo(filesystems: latest.heartbeat.filesystems, blockDevices: [])
            snap.units = UnitsInfo(failed: latest.heartbeat.failedUnits)
            summary = snap.summary(from: "the heartbeat of \(WebFormat.time(latest.receivedAt))")
        }
        let tickets = try await store.tickets(TicketFilter(hostID: id, limit: 50)).map {
            Self.queueRow(QueueRow(ticket: $0, category: nil, incidentID: nil), now: now)
        }
        let bundles = try await store.bundles(hostID: id, limit: 30, offset: 0).map { b in
            TicketPage.BundleRow(id: b.bundleID, href: "/bundles/\(b.bundleID)", received: WebFormat.time(b.receivedAt),
                                 reason: b.reason.replacingOccurrences(of: "_", with: " "), joinReason: nil, size: WebFormat.bytes(b.compressedBytes),
                                 entries: b.journalEntries, expired: b.expired, canSplit: false)
        }
        let model = HostPage(
            chrome: PageChrome(context: context, title: WebFormat.untrusted(host.hostname, max: 120), section: "hosts"),
            hostname: WebFormat.untrusted(host.hostname, max: 255), id: host.id, machineID: WebFormat.untrusted(host.machineID, max: 128),
            agentVersion: WebFormat.untrusted(host.agentVersion ?? "—", max: 64), enrolled: WebFormat.time(host.enrolledAt),
            lastSeen: host.lastSeenAt.map { "\(WebFormat.time($0)) (\(WebFormat.age($0, now: now)) ago)" } ?? "never",
            revoked: host.revokedAt.map { WebFormat.time($0) }, summary: summary, charts: charts, tickets: tickets, bundles: bundles,
            bundleRequests: try await store.bundleRequests(hostID: host.id, ticketID: nil, limit: 20).map { BundleRequestView($0, now: now) },
            requestAction: "/hosts/\(WebLinks.encode(host.id))/request-bundle", revokedHost: host.revokedAt != nil)
        return try page("host", model)
    }

    // MARK: Incidents

    @Sendable func incidentsPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let now = Date()
        let rows = try await store.incidents(limit: 200).map { i in
            IncidentsPage.Row(href: "/incidents/\(i.id)", title: WebFormat.untrusted(i.title, max: 300), ruleID: WebFormat.untrusted(i.ruleID, max: 200),
                              status: i.status, hosts: i.hostCount, since: WebFormat.time(i.createdAt), updated: WebFormat.age(i.updatedAt, now: now),
                              tickets: i.ticketIDs.count)
        }
        return try page("incidents", IncidentsPage(chrome: PageChrome(context: context, title: "Incidents", section: "incidents"), rows: rows))
    }

    @Sendable func incidentPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        guard let text = context.parameters.get("incidentID"), let id = Int64(text), id > 0 else {
            throw APIError.badRequest("invalid_id", "incident numbers are positive whole numbers")
        }
        guard let incident = try await store.incident(id: id) else { throw APIError.notFound("incident \(id)") }
        let now = Date()
        var rows: [QueuePage.Row] = []
        for ticketID in incident.ticketIDs.suffix(200).reversed() {
            if let t = try await store.ticket(id: ticketID)?.ticket {
                rows.append(Self.queueRow(QueueRow(ticket: t, category: nil, incidentID: id), now: now))
            }
        }
        let model = IncidentPage(chrome: PageChrome(context: context, title: "Incident \(id)", section: "incidents"), id: id,
                                 title: WebFormat.untrusted(incident.title, max: 300), ruleID: WebFormat.untrusted(incident.ruleID, max: 200),
                                 status: incident.status, hosts: incident.hostCount, since: WebFormat.time(incident.createdAt),
                                 updated: WebFormat.time(incident.updatedAt), tickets: rows)
        return try page("incident", model)
    }

    // MARK: Audit

    @Sendable func auditPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        _ = try requireAdmin(context)
        let pageNumber = try Self.parameter(request, "page").map { text -> Int in
            guard let n = Int(text), (1...100_000).contains(n) else { throw APIError.badRequest("invalid_query", "page is 1 to 100000") }
            return n
        } ?? 1
        let size = 200
        let entries = try await store.auditLog(limit: size + 1, offset: (pageNumber - 1) * size)
        let rows = entries.prefix(size).map { e in
            AuditPage.Row(time: WebFormat.time(e.at), actor: WebFormat.untrusted(e.actor, max: 128), action: e.action,
                          target: WebFormat.untrusted(e.target, max: 256), detail: WebFormat.untrusted(e.detail, max: 1024))
        }
        let model = AuditPage(chrome: PageChrome(context: context, title: "Audit log", section: "audit"), rows: Array(rows),
                              previousHref: pageNumber > 1 ? "/admin/audit?page=\(pageNumber - 1)" : nil,
                              nextHref: entries.count > size ? "/admin/audit?page=\(pageNumber + 1)" : nil)
        return try page("audit", model)
    }
}
