import Foundation
import PostgresNIO
import Shared

/// Bundles, tickets, incidents, retention, the ticket queue and rule knowledge on PostgreSQL:
/// `SQLiteStore.swift` (from "Bundles and tickets"), `SQLiteStore+Web.swift` (queue, ticket
/// page) and `SQLiteStore+Rules.swift` in PostgreSQL's dialect, with the same results,
/// ordering and messages.
extension PostgresStore {
    // MARK: Bundles and tickets

    public func bundleReceipt(bundleID: String) async throws -> (hostID: String, receipt: BundleReceipt)? {
        let found = try await read { c in try await Self.receipt(c, bundleID: bundleID).map { StoredReceipt(hostID: $0.hostID, receipt: $0.receipt) } }
        return found.map { ($0.hostID, $0.receipt) }
    }

    /// A bundle's host and receipt (a tuple is not `Sendable` across the transaction).
    private struct StoredReceipt: Sendable {
        var hostID: String
        var receipt: BundleReceipt
    }

    private static func receipt(_ c: PGConnection, bundleID: String) async throws -> (hostID: String, receipt: BundleReceipt)? {
        guard let row = try await c.one("SELECT host_id, receipt FROM bundles WHERE bundle_id = \(bundleID)") else { return nil }
        return (try row["host_id"], try decode(BundleReceipt.self, try row["receipt"], what: "receipt of bundle \(bundleID)"))
    }

    public func commitBundle(_ bundle: NewBundle, findings: [Finding], policy: any TicketPolicy) async throws -> BundleCommitResult {
        do {
            // Exclusive: the receipt check, ticket choice and incident counting below see every
            // bundle another collector committed before, as on SQLite's single writer.
            return try await write { c in
                if let existing = try await Self.receipt(c, bundleID: bundle.bundleID) {
                    return .duplicate(hostID: existing.hostID, receipt: existing.receipt)
                }
                var open = BoundSQL()
                let openCondition = "t.host_id = \(try open.bind(bundle.hostID)) AND t.status IN ('open', 'in_progress', 'waiting_on_user')"
                let openTickets = try await Self.ticketSummaries(c, where: openCondition, open, limit: 100, offset: 0)
                let ticketID: Int64
                let joined: Bool
                var joinReason: String?
                // A bundle a technician asked for joins the ticket it was asked from.
                let request = try await Self.answeredBundleRequest(c, bundle)
                let decision: TicketDecision
                if let request, let asked = request.ticketID,
                   try await c.one("SELECT 1 AS one FROM tickets WHERE id = \(asked) AND host_id = \(bundle.hostID)") != nil {
                    decision = .join(ticketID: asked, reason: "Bundle \(bundle.bundleID) answers \(request.requestedBy)'s request #\(request.id) for fresh information.")
                } else {
                    decision = policy.decide(bundle: bundle, findings: findings, openTickets: openTickets)
                }
                switch decision {
                case .open(let new):
                    guard let row = try await c.one("""
                        INSERT INTO tickets (host_id, status, priority, title, note, top_rule_id, created_at, updated_at, requested_by)
                        VALUES (\(bundle.hostID), 'open', \(new.priority.rawValue), \(Self.text(TicketService.clippedTitle(new.title))), \(Self.text(new.note)),
                                \(Self.text(new.topRuleID)), \(bundle.receivedAt), \(bundle.receivedAt), \(Self.text(bundle.requestedBy)))
                        RETURNING id
                        """) else { throw StoreError(.corrupt, "the new ticket for bundle \(bundle.bundleID) has no id") }
                    ticketID = try row["id"]
                    joined = false
                    try await Self.recordEvent(c, .ticketOpened, ticketID: ticketID, bundleID: bundle.bundleID, now: bundle.receivedAt)
                case .join(let id, let reason):
                    guard try await c.count("UPDATE tickets SET updated_at = \(bundle.receivedAt) WHERE id = \(id) RETURNING 1") == 1 else {
                        throw StoreError(.notFound, "ticket \(id) chosen for bundle \(bundle.bundleID) does not exist")
                    }
                    try await c.execute("""
                        INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                        VALUES (\(id), 'helpline', \(Self.text(reason)), false, \(bundle.receivedAt))
                        """)
                    ticketID = id
                    joined = true
                    joinReason = reason
                    try await Self.recordEvent(c, .ticketJoined, ticketID: id, bundleID: bundle.bundleID, detail: reason, now: bundle.receivedAt)
                }
                // Known fixes technicians attached to these rules: the receipt carries them in the
                // technician advice; the finding rows keep the rule's advice and the fix apart.
                let fixes = try await Self.ruleFixes(c, ruleIDs: Set(findings.map(\.ruleID)))
                let receipt = policy.receipt(bundle: bundle, ticketID: ticketID, joined: joined,
                                             findings: findings.map { f in fixes[f.ruleID].map { $0.applied(to: f) } ?? f })
                guard let inserted = try await c.one("""
                    INSERT INTO bundles (bundle_id, host_id, sha256, compressed_bytes, uncompressed_bytes, journal_entries, reason,
                                         created_at, received_at, manifest, members, receipt)
                    VALUES (\(bundle.bundleID), \(bundle.hostID), \(bundle.sha256), \(bundle.compressedBytes), \(bundle.uncompressedBytes),
                            \(bundle.journalEntries), \(bundle.manifest.reason.rawValue), \(bundle.manifest.createdAt), \(bundle.receivedAt),
                            \(try Self.encode(bundle.manifest)), \(try Self.encode(bundle.members)), \(try Self.encode(receipt)))
                    RETURNING id
                    """) else { throw StoreError(.corrupt, "bundle \(bundle.bundleID) has no row id") }
                let bundleRow: Int64 = try inserted["id"]
                try await c.execute("""
                    INSERT INTO ticket_bundles (ticket_id, bundle_row, joined_at, join_reason)
                    VALUES (\(ticketID), \(bundleRow), \(bundle.receivedAt), \(Self.text(joinReason)))
                    """)
                for (rank, f) in receipt.findings.enumerated() {
                    let fix = fixes[f.ruleID]
                    let advice = fix?.ruleAdvice(from: f.technicianAdvice) ?? f.technicianAdvice
                    try await c.execute("""
                        INSERT INTO findings (ticket_id, bundle_row, rule_id, category, severity, confidence, title, detail, user_advice,
                                              technician_advice, evidence, last_seen, rank, subject, known_fix, known_fix_link, known_fix_by, known_fix_at)
                        VALUES (\(ticketID), \(bundleRow), \(Self.text(f.ruleID)), \(f.category.rawValue), \(f.severity.rawValue),
                                \(min(max(f.confidence, 0), 1)), \(Self.text(f.title)), \(Self.text(f.detail)), \(Self.text(f.userAdvice)), \(Self.text(advice)),
                                \(try Self.encode(f.evidence)), \(f.lastSeen), \(rank), \(Self.text(f.subject)),
                                \(fix?.text), \(fix?.link), \(fix?.updatedBy), \(fix?.updatedAt))
                        """)
                }
                try await c.execute("UPDATE hosts SET last_seen_at = \(bundle.receivedAt) WHERE id = \(bundle.hostID)")
                try await Self.linkIncidents(c, findings: receipt.findings, now: bundle.receivedAt, threshold: policy.incidentThreshold)
                if request != nil {
                    // The user sees it happened (helpline status shows visible comments).
                    try await c.execute("""
                        INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                        VALUES (\(ticketID), 'helpline', 'Helpline collected fresh information from this computer, as the help desk asked.',
                                true, \(bundle.receivedAt))
                        """)
                }
                return .stored(receipt)
            }
        } catch let error where PGConnection.isUniqueViolation(error) {
            // Another writer (another collector on a shared database) won the race for this id.
            guard let existing = try await bundleReceipt(bundleID: bundle.bundleID) else { throw error }
            return .duplicate(hostID: existing.hostID, receipt: existing.receipt)
        }
    }

    /// Inside the commit of a bundle: the pending request it answers (same host, not
    /// delivered, not expired), marked delivered. Nil when it answers none. (As
    /// `SQLiteStore.claimBundleRequest`.)
    private static func answeredBundleRequest(_ c: PGConnection, _ bundle: NewBundle) async throws -> BundleRequestRecord? {
        guard bundle.manifest.reason == .technicianRequest, let id = bundle.manifest.bundleRequestID else { return nil }
        guard let row = try await c.one("""
            SELECT id, host_id, ticket_id, requested_by, note, created_at, expires_at FROM bundle_requests
            WHERE id = \(id) AND host_id = \(bundle.hostID) AND delivered_at IS NULL AND expires_at > \(bundle.receivedAt)
            FOR UPDATE
            """) else { return nil }
        try await c.execute("UPDATE bundle_requests SET delivered_at = \(bundle.receivedAt), bundle_id = \(bundle.bundleID) WHERE id = \(id)")
        return BundleRequestRecord(id: try row["id"], hostID: try row["host_id"], ticketID: try row["ticket_id"], requestedBy: try row["requested_by"],
                                   note: try row["note"], createdAt: try row["created_at"], expiresAt: try row["expires_at"],
                                   deliveredAt: nil, bundleID: nil)
    }

    public func hostUsage(hostID: String, since: Date) async throws -> HostUsage {
        try await read { c in
            let window = try await c.one("""
                SELECT count(*) AS n, min(received_at) AS oldest FROM bundles WHERE host_id = \(hostID) AND received_at >= \(since)
                """)
            let bytes = try await c.one("""
                SELECT coalesce(sum(compressed_bytes), 0)::bigint AS bytes FROM bundles WHERE host_id = \(hostID) AND NOT expired
                """)
            return HostUsage(bundlesInWindow: try window?["n"] ?? 0, oldestInWindow: try window.flatMap { try $0["oldest"] as Date? }, liveBytes: try bytes?["bytes"] ?? 0)
        }
    }

    public func isBlobReferenced(sha256: String) async throws -> Bool {
        try await read { c in try await c.one("SELECT 1 AS one FROM bundles WHERE sha256 = \(sha256) LIMIT 1") != nil }
    }

    public func liveBlobDigests() async throws -> Set<String> {
        try await read { c in
            Set(try await c.all("SELECT DISTINCT sha256 FROM bundles WHERE NOT expired").map { try $0["sha256"] as String })
        }
    }

    static let bundleColumns = """
        b.id AS row_id, b.bundle_id, b.host_id, b.sha256, b.compressed_bytes, b.uncompressed_bytes, b.journal_entries, b.reason,
        b.created_at, b.received_at, b.expired, b.expired_at, b.members, b.manifest,
        (SELECT string_agg(tb.ticket_id::text, ',') FROM ticket_bundles tb WHERE tb.bundle_row = b.id) AS ticket_ids
        """

    static func bundle(_ row: PGRow) throws -> BundleRecord {
        let id: String = try row["bundle_id"]
        let tickets = (try row["ticket_ids"] as String?)?.split(separator: ",").compactMap { Int64($0) } ?? []
        return BundleRecord(bundleID: id, hostID: try row["host_id"], sha256: try row["sha256"], compressedBytes: try row["compressed_bytes"],
                            uncompressedBytes: try row["uncompressed_bytes"], journalEntries: try row["journal_entries"], reason: try row["reason"],
                            createdAt: try row["created_at"], receivedAt: try row["received_at"], expired: try row["expired"],
                            expiredAt: try row["expired_at"], ticketIDs: tickets.sorted(),
                            members: try decode([BundleContents.Member].self, try row["members"], what: "members of bundle \(id)"),
                            manifest: try decode(Manifest.self, try row["manifest"], what: "manifest of bundle \(id)"))
    }

    public func bundle(id: String) async throws -> BundleRecord? {
        try await read { c in
            var q = BoundSQL()
            let sql = "SELECT \(Self.bundleColumns) FROM bundles b WHERE b.bundle_id = \(try q.bind(id))"
            return try await c.one(q.query(sql)).map(Self.bundle)
        }
    }

    public func bundles(ticketID: Int64) async throws -> [BundleRecord] {
        try await read { c in try await Self.bundles(c, ticketID: ticketID) }
    }

    private static func bundles(_ c: PGConnection, ticketID: Int64) async throws -> [BundleRecord] {
        var q = BoundSQL()
        let sql = """
            SELECT \(bundleColumns) FROM bundles b JOIN ticket_bundles t ON t.bundle_row = b.id
            WHERE t.ticket_id = \(try q.bind(ticketID)) ORDER BY b.received_at, b.id
            """
        return try await c.all(q.query(sql)).map(bundle)
    }

    public func bundles(hostID: String, limit: Int, offset: Int) async throws -> [BundleRecord] {
        try await read { c in
            var q = BoundSQL()
            let sql = """
                SELECT \(Self.bundleColumns) FROM bundles b WHERE b.host_id = \(try q.bind(hostID))
                ORDER BY b.received_at DESC, b.id DESC LIMIT \(try q.bind(Self.rowLimit(limit))) OFFSET \(try q.bind(max(offset, 0)))
                """
            return try await c.all(q.query(sql)).map(Self.bundle)
        }
    }

    /// Tickets matching `condition`, newest change first. `condition` is always built from
    /// constants of this file, its values bound in `bound`.
    private static func ticketSummaries(_ c: PGConnection, where condition: String, _ bound: BoundSQL,
                                limit: Int, offset: Int) async throws -> [TicketSummary] {
        var q = bound
        let sql = """
            SELECT t.id, t.host_id, h.hostname, t.status, t.priority, t.title, t.assignee, t.top_rule_id, t.created_at,
                   t.updated_at, t.first_response_at, t.resolved_at, t.requested_by, t.category,
                   (SELECT count(*) FROM ticket_bundles tb WHERE tb.ticket_id = t.id) AS bundle_count
            FROM tickets t JOIN hosts h ON h.id = t.host_id
            WHERE \(condition) ORDER BY t.updated_at DESC, t.id DESC LIMIT \(try q.bind(Self.rowLimit(limit))) OFFSET \(try q.bind(max(offset, 0)))
            """
        return try await c.all(q.query(sql)).map { row in
            guard let status = TicketStatus(rawValue: try row["status"]), let priority = TicketPriority(rawValue: try row["priority"]) else {
                throw StoreError(.corrupt, "ticket \(try row["id"] as Int64) has an unknown status or priority")
            }
            return TicketSummary(id: try row["id"], hostID: try row["host_id"], hostname: try row["hostname"], status: status, priority: priority,
                                 title: try row["title"], assignee: try row["assignee"], topRuleID: try row["top_rule_id"],
                                 createdAt: try row["created_at"], updatedAt: try row["updated_at"], firstResponseAt: try row["first_response_at"],
                                 resolvedAt: try row["resolved_at"], bundleCount: try row["bundle_count"], requestedBy: try row["requested_by"],
                                 category: (try row["category"] as String?).flatMap(FindingCategory.init(rawValue:)))
        }
    }

    /// The ticket `id` alone, or nil.
    private static func ticketSummary(_ c: PGConnection, id: Int64) async throws -> TicketSummary? {
        var q = BoundSQL()
        let condition = "t.id = \(try q.bind(id))"
        return try await ticketSummaries(c, where: condition, q, limit: 1, offset: 0).first
    }

    public func tickets(_ filter: TicketFilter) async throws -> [TicketSummary] {
        try await read { c in
            var q = BoundSQL()
            var conditions: [String] = []
            if let status = filter.status { conditions.append("t.status = \(try q.bind(status.rawValue))") }
            if let host = filter.hostID { conditions.append("t.host_id = \(try q.bind(host))") }
            return try await Self.ticketSummaries(c, where: conditions.isEmpty ? "true" : conditions.joined(separator: " AND "), q,
                                                  limit: filter.limit, offset: filter.offset)
        }
    }

    private static func comments(_ c: PGConnection, ticketID: Int64, visibleOnly: Bool) async throws -> [TicketComment] {
        try await c.all("""
            SELECT id, author, body, visible_to_user, created_at FROM ticket_comments
            WHERE ticket_id = \(ticketID) AND (visible_to_user OR NOT \(visibleOnly)) ORDER BY id
            """).map {
            TicketComment(id: try $0["id"], author: try $0["author"], body: try $0["body"], visibleToUser: try $0["visible_to_user"],
                          createdAt: try $0["created_at"])
        }
    }

    public func ticket(id: Int64) async throws -> TicketDetail? {
        try await read { c in
            guard let summary = try await Self.ticketSummary(c, id: id) else { return nil }
            let note = try await c.one("SELECT note FROM tickets WHERE id = \(id)").flatMap { try $0["note"] as String? }
            let findings = try await c.all("""
                SELECT b.bundle_id, f.* FROM findings f JOIN bundles b ON b.id = f.bundle_row
                WHERE f.ticket_id = \(id) ORDER BY f.bundle_row, f.rank
                """).map { row -> TicketFinding in
                let finding = Finding(
                    ruleID: try row["rule_id"], category: FindingCategory(rawValue: try row["category"]) ?? .other,
                    severity: Severity(rawValue: try row["severity"]) ?? .info, confidence: try row["confidence"], title: try row["title"],
                    detail: try row["detail"], userAdvice: try row["user_advice"], technicianAdvice: try row["technician_advice"],
                    evidence: try Self.decode([Evidence].self, try row["evidence"], what: "evidence of a finding on ticket \(id)"),
                    lastSeen: try row["last_seen"], subject: try row["subject"])
                let fix = try (try row["known_fix"] as String?).map {
                    RuleFix(ruleID: finding.ruleID, text: $0, link: try row["known_fix_link"], updatedBy: (try row["known_fix_by"] as String?) ?? "?",
                            updatedAt: (try row["known_fix_at"] as Date?) ?? Date(timeIntervalSince1970: 0))
                }
                return TicketFinding(bundleID: try row["bundle_id"], finding: finding, knownFix: fix)
            }
            return TicketDetail(ticket: summary, note: note, findings: findings,
                                comments: try await Self.comments(c, ticketID: id, visibleOnly: false),
                                bundles: try await Self.bundles(c, ticketID: id), remoteLinks: try await Self.remoteLinks(c, ticketID: id))
        }
    }

    public func hostTickets(hostID: String, requestedBy: String?, limit: Int) async throws -> [HostTicket] {
        try await read { c in
            var q = BoundSQL()
            var condition = "t.host_id = \(try q.bind(hostID))"
            if let requestedBy { condition += " AND t.requested_by = \(try q.bind(requestedBy))" }
            var out: [HostTicket] = []
            for t in try await Self.ticketSummaries(c, where: condition, q, limit: limit, offset: 0) {
                out.append(HostTicket(id: t.id, status: t.status, title: t.title, assignee: t.assignee, createdAt: t.createdAt, updatedAt: t.updatedAt,
                                      replies: try await Self.comments(c, ticketID: t.id, visibleOnly: true), requestedBy: t.requestedBy))
            }
            return out
        }
    }

    /// Inside the commit of a bundle: opens or grows the incident of each medium-or-worse rule
    /// seen on `threshold.hosts` hosts within the window, and links every ticket of the window
    /// with it. Counting and linking are one statement each, whatever the incident's size: a
    /// statement per ticket made each bundle of a common problem cost a round trip per earlier
    /// ticket (BENCHMARKS.md, issue 15). Runs inside an exclusive write, so two collectors never
    /// open two incidents for one rule (the partial unique index `incidents_open_rule` would
    /// refuse the second anyway).
    static func linkIncidents(_ c: PGConnection, findings: [Finding], now: Date, threshold: (hosts: Int, window: TimeInterval)) async throws {
        guard threshold.hosts > 0 else { return }
        let since = now.addingTimeInterval(-threshold.window)
        for (ruleID, title) in findings.incidentRules {
            let hosts: Int64 = try await c.one("""
                SELECT count(DISTINCT t.host_id) AS hosts FROM findings f
                JOIN tickets t ON t.id = f.ticket_id
                JOIN bundles b ON b.id = f.bundle_row
                WHERE f.rule_id = \(Self.text(ruleID)) AND b.received_at >= \(since)
                """)?["hosts"] ?? 0
            guard hosts >= threshold.hosts else { continue }
            let incidentID: Int64
            if let open = try await c.one("SELECT id FROM incidents WHERE rule_id = \(Self.text(ruleID)) AND status = 'open'") {
                incidentID = try open["id"]
                try await c.execute("UPDATE incidents SET host_count = GREATEST(host_count, \(hosts)), updated_at = \(now) WHERE id = \(incidentID)")
            } else {
                guard let row = try await c.one("""
                    INSERT INTO incidents (rule_id, title, status, host_count, created_at, updated_at)
                    VALUES (\(Self.text(ruleID)), \(Self.text("\(title) (\(ruleID)) on \(hosts) hosts")), 'open', \(hosts), \(now), \(now))
                    RETURNING id
                    """) else { throw StoreError(.corrupt, "the new incident for rule \(ruleID) has no id") }
                incidentID = try row["id"]
                try await Self.recordEvent(c, .incidentOpened, incidentID: incidentID, now: now)
            }
            try await c.execute("""
                INSERT INTO incident_tickets (incident_id, ticket_id)
                SELECT DISTINCT \(incidentID)::bigint, f.ticket_id FROM findings f JOIN bundles b ON b.id = f.bundle_row
                WHERE f.rule_id = \(Self.text(ruleID)) AND b.received_at >= \(since)
                ON CONFLICT DO NOTHING
                """)
        }
    }

    public func incidents(limit: Int) async throws -> [IncidentRecord] {
        try await read { c in
            var out: [IncidentRecord] = []
            for row in try await c.all("SELECT id FROM incidents ORDER BY updated_at DESC, id DESC LIMIT \(Self.rowLimit(limit))") {
                if let incident = try await Self.incident(c, id: try row["id"]) { out.append(incident) }
            }
            return out
        }
    }

    public func incident(id: Int64) async throws -> IncidentRecord? {
        try await read { c in try await Self.incident(c, id: id) }
    }

    static func incident(_ c: PGConnection, id: Int64) async throws -> IncidentRecord? {
        guard let row = try await c.one("SELECT * FROM incidents WHERE id = \(id)") else { return nil }
        let tickets = try await c.all("SELECT ticket_id FROM incident_tickets WHERE incident_id = \(id) ORDER BY ticket_id").map { try $0["ticket_id"] as Int64 }
        return IncidentRecord(id: try row["id"], ruleID: try row["rule_id"], title: try row["title"], status: try row["status"],
                              hostCount: try row["host_count"], createdAt: try row["created_at"], updatedAt: try row["updated_at"], ticketIDs: tickets)
    }

    public func splitBundle(ticketID: Int64, bundleID: String, author: String, now: Date) async throws -> Int64? {
        try await write { c in
            guard let ticket = try await c.one("SELECT host_id, priority, requested_by FROM tickets WHERE id = \(ticketID)"),
                  let found = try await c.one("""
                      SELECT b.id, b.manifest FROM bundles b JOIN ticket_bundles tb ON tb.bundle_row = b.id
                      WHERE b.bundle_id = \(bundleID.lowercased()) AND tb.ticket_id = \(ticketID)
                      """) else { return nil }
            let bundleRow: Int64 = try found["id"]
            let count: Int = try await c.one("SELECT count(*) AS n FROM ticket_bundles WHERE ticket_id = \(ticketID)")?["n"] ?? 0
            guard count > 1 else {
                throw StoreError(.conflict, "bundle \(bundleID) is the only bundle of ticket \(ticketID); there is nothing to split it from")
            }
            let top = try await c.one("SELECT rule_id, title, severity FROM findings WHERE bundle_row = \(bundleRow) ORDER BY rank LIMIT 1")
            let split = TicketService.splitTicket(findingTitle: try top?["title"], manifest: try found["manifest"], from: ticketID)
            let topRule: String? = try top?["rule_id"]
            let hostID: String = try ticket["host_id"]
            let priority: String = try ticket["priority"]
            let requestedBy: String? = try ticket["requested_by"]
            guard let inserted = try await c.one("""
                INSERT INTO tickets (host_id, status, priority, title, note, top_rule_id, created_at, updated_at, requested_by)
                VALUES (\(hostID), 'open', \(priority), \(Self.text(split.title)), \(Self.text(split.note)), \(topRule), \(now), \(now), \(requestedBy))
                RETURNING id
                """) else { throw StoreError(.corrupt, "the ticket split from ticket \(ticketID) has no id") }
            let newID: Int64 = try inserted["id"]
            try await c.execute("""
                UPDATE ticket_bundles SET ticket_id = \(newID), join_reason = NULL WHERE ticket_id = \(ticketID) AND bundle_row = \(bundleRow)
                """)
            try await c.execute("UPDATE findings SET ticket_id = \(newID) WHERE ticket_id = \(ticketID) AND bundle_row = \(bundleRow)")
            try await c.execute("""
                INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                VALUES (\(ticketID), \(Self.text(author)), \(Self.text("Bundle \(bundleID) was split off into ticket #\(newID).")), false, \(now))
                """)
            try await c.execute("""
                INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                VALUES (\(newID), \(Self.text(author)), \(Self.text("Split off from ticket #\(ticketID) (bundle \(bundleID)).")), false, \(now))
                """)
            try await c.execute("UPDATE tickets SET updated_at = \(now) WHERE id = \(ticketID)")
            try await Self.recordSplit(c, ticketID: ticketID, bundleID: bundleID.lowercased(), newTicketID: newID, actor: author, now: now)
            try await Self.recordEvent(c, .ticketOpened, ticketID: newID, bundleID: bundleID.lowercased(),
                                       detail: "split off from ticket #\(ticketID)", now: now)
            return newID
        }
    }

    public func addComment(ticketID: Int64, author: String, body: String, visibleToUser: Bool, now: Date) async throws -> TicketComment? {
        try await write { c in
            guard try await c.one("SELECT 1 AS one FROM tickets WHERE id = \(ticketID)") != nil else { return nil }
            guard let row = try await c.one("""
                INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                VALUES (\(ticketID), \(Self.text(author)), \(Self.text(body)), \(visibleToUser), \(now))
                RETURNING id
                """) else { throw StoreError(.corrupt, "the new comment on ticket \(ticketID) has no id") }
            let id: Int64 = try row["id"]
            try await c.execute("UPDATE tickets SET updated_at = \(now) WHERE id = \(ticketID)")
            if visibleToUser {
                try await c.execute("UPDATE tickets SET first_response_at = \(now) WHERE id = \(ticketID) AND first_response_at IS NULL")
                // Only replies the user may see leave Helpline: internal notes stay internal.
                try await Self.recordEvent(c, .ticketUpdated, ticketID: ticketID, commentID: id, detail: "reply by \(author)", now: now)
            }
            return TicketComment(id: id, author: author, body: body, visibleToUser: visibleToUser, createdAt: now)
        }
    }

    public func updateTicket(id: Int64, status: TicketStatus?, priority: TicketPriority?, assignee: String?,
                             now: Date) async throws -> TicketSummary? {
        try await write { c in
            guard let before = try await Self.ticketSummary(c, id: id) else { return nil }
            if let status {
                try await Self.setStatus(c, ticketID: id, status, now: now)
            }
            if let priority {
                try await c.execute("UPDATE tickets SET priority = \(priority.rawValue), updated_at = \(now) WHERE id = \(id)")
            }
            if let assignee {
                let value: String? = assignee.isEmpty ? nil : Self.text(assignee) as String
                try await c.execute("UPDATE tickets SET assignee = \(value), updated_at = \(now) WHERE id = \(id)")
            }
            let after = try await Self.ticketSummary(c, id: id)
            if let after {
                var changed: [String] = []
                if after.status != before.status { changed.append("status: \(after.status.rawValue)") }
                if after.priority != before.priority { changed.append("priority: \(after.priority.rawValue)") }
                if after.assignee != before.assignee { changed.append("assignee: \(after.assignee ?? "nobody")") }
                if !changed.isEmpty {
                    let resolved = after.status != before.status && !after.status.isActive
                    try await Self.recordEvent(c, resolved ? .ticketResolved : .ticketUpdated, ticketID: id,
                                               detail: changed.joined(separator: ", "), now: now)
                }
            }
            return after
        }
    }

    // MARK: Retention

    public func bundlesToExpire(receivedBefore: Date, keepPerHost: Int, limit: Int) async throws -> [BundleRecord] {
        try await read { c in
            var q = BoundSQL()
            // b.id breaks ties of received_at as SQLite's index order (expired, received_at, rowid) does.
            let sql = """
                SELECT \(Self.bundleColumns) FROM bundles b WHERE NOT b.expired AND (
                    b.received_at < \(try q.bind(receivedBefore)) OR b.id IN (
                        SELECT ranked.id FROM (
                            SELECT id, row_number() OVER (PARTITION BY host_id ORDER BY received_at DESC, id DESC) AS n
                            FROM bundles WHERE NOT expired) AS ranked
                        WHERE ranked.n > \(try q.bind(keepPerHost))))
                ORDER BY b.received_at, b.id LIMIT \(try q.bind(Self.rowLimit(limit)))
                """
            return try await c.all(q.query(sql)).map(Self.bundle)
        }
    }

    public func markExpired(bundleIDs: [String], reason: String, now: Date) async throws {
        try await write { c in
            for id in bundleIDs {
                guard let row = try await c.one("""
                    UPDATE bundles SET expired = true, expired_at = \(now) WHERE bundle_id = \(id) AND NOT expired RETURNING id
                    """) else { continue }
                let bundleRow: Int64 = try row["id"]
                // Its journal index stops answering with it; `purgeJournalIndexes` removes the
                // rows afterwards, in bounded transactions.
                try await c.execute("DELETE FROM journal_indexes WHERE bundle_row = \(bundleRow)")
                try await c.execute("""
                    INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                    SELECT tb.ticket_id, 'helpline', \(Self.text("Bundle \(id) expired (\(reason)); its findings stay on this ticket, its raw data is gone.")),
                           false, \(now)
                    FROM ticket_bundles tb WHERE tb.bundle_row = \(bundleRow)
                    """)
            }
        }
    }

    // MARK: Queue

    public func ticketQueue(_ query: TicketQuery) async throws -> TicketQueuePage {
        try await read { c in
            // Every condition is a constant of this file; values are bound.
            var q = BoundSQL()
            var conditions: [String] = []
            if !query.statuses.isEmpty {
                conditions.append("t.status = ANY(\(try q.bind(query.statuses.map(\.rawValue))))")
            }
            if let p = query.priority {
                conditions.append("t.priority = \(try q.bind(p.rawValue))")
            }
            if let category = query.category {
                // A technician's reclassification wins over the top finding's category.
                conditions.append("""
                    coalesce(t.category, (SELECT f.category FROM findings f WHERE f.ticket_id = t.id ORDER BY f.bundle_row, f.rank LIMIT 1)) = \
                    \(try q.bind(category.rawValue))
                    """)
            }
            if let h = query.host, !h.isEmpty {
                conditions.append("strpos(\(Self.asciiLower("h.hostname")), \(try q.bind(Self.asciiLowercased(h)))) > 0")
            }
            if let a = query.assignee {
                if a.isEmpty { conditions.append("t.assignee IS NULL") } else {
                    conditions.append("t.assignee = \(try q.bind(a))")
                }
            }
            if let text = query.text, !text.isEmpty {
                let needle = try q.bind(Self.asciiLowercased(Self.text(text)))
                conditions.append("(strpos(\(Self.asciiLower("t.title")), \(needle)) > 0 OR strpos(\(Self.asciiLower("coalesce(t.note, '')")), \(needle)) > 0)")
            }
            let condition = conditions.isEmpty ? "true" : conditions.joined(separator: " AND ")
            let order: String
            switch query.sort {
            case .priority:
                order = "CASE t.priority WHEN 'urgent' THEN 0 WHEN 'high' THEN 1 WHEN 'normal' THEN 2 ELSE 3 END, t.updated_at DESC, t.id DESC"
            case .updated: order = "t.updated_at DESC, t.id DESC"
            case .created: order = "t.created_at DESC, t.id DESC"
            case .oldest: order = "t.created_at, t.id"
            // COLLATE "C": SQLite compares text by its bytes, whatever the database's locale.
            case .host: order = "h.hostname COLLATE \"C\", t.updated_at DESC, t.id DESC"
            }
            let total: Int = try await c.one(q.query("SELECT count(*) AS n FROM tickets t JOIN hosts h ON h.id = t.host_id WHERE \(condition)"))?["n"] ?? 0
            var page = q
            let pageSQL = """
                SELECT t.id FROM tickets t JOIN hosts h ON h.id = t.host_id WHERE \(condition) ORDER BY \(order)
                LIMIT \(try page.bind(Self.rowLimit(query.limit))) OFFSET \(try page.bind(max(query.offset, 0)))
                """
            let ids = try await c.all(page.query(pageSQL)).map { try $0["id"] as Int64 }
            var rows: [QueueRow] = []
            for id in ids {
                guard let summary = try await Self.ticketSummary(c, id: id) else { continue }
                var category = summary.category
                if category == nil { category = try await Self.topCategory(c, ticketID: id) }
                let incident: Int64? = try await c.one("""
                    SELECT i.id FROM incidents i JOIN incident_tickets it ON it.incident_id = i.id
                    WHERE it.ticket_id = \(id) AND i.status = 'open' ORDER BY i.id DESC LIMIT 1
                    """)?["id"]
                rows.append(QueueRow(ticket: summary, category: category, incidentID: incident))
            }
            return TicketQueuePage(total: total, rows: rows)
        }
    }

    /// A LIMIT as SQLite reads it: a negative one means no limit (PostgreSQL refuses it; NULL
    /// is its "no limit"). Negative offsets are 0 on both.
    private static func rowLimit(_ limit: Int) -> Int? { limit < 0 ? nil : limit }

    /// SQL lowering ASCII letters only, as SQLite's `lower()` does (PostgreSQL's `lower()`
    /// also folds other letters, by the database's locale).
    private static func asciiLower(_ expression: String) -> String {
        "translate(\(expression), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
    }

    /// `s` with its ASCII letters lowered, as SQLite's `lower()`.
    private static func asciiLowercased(_ s: String) -> String {
        String(String.UnicodeScalarView(s.unicodeScalars.map { ("A"..."Z").contains($0) ? Unicode.Scalar($0.value + 32)! : $0 }))
    }

    // MARK: Ticket page

    public func joinReasons(ticketID: Int64) async throws -> [String: String] {
        try await read { c in
            var reasons: [String: String] = [:]
            for row in try await c.all("""
                SELECT b.bundle_id, tb.join_reason FROM ticket_bundles tb JOIN bundles b ON b.id = tb.bundle_row
                WHERE tb.ticket_id = \(ticketID) AND tb.join_reason IS NOT NULL
                """) {
                reasons[try row["bundle_id"]] = try row["join_reason"] as String
            }
            return reasons
        }
    }

    public func previousBundle(of bundleID: String) async throws -> BundleRecord? {
        try await read { c in
            guard let row = try await c.one("SELECT id, host_id, received_at FROM bundles WHERE bundle_id = \(bundleID)") else { return nil }
            var q = BoundSQL()
            let host = try q.bind(try row["host_id"] as String)
            let received = try q.bind(try row["received_at"] as Date)
            let sql = """
                SELECT \(Self.bundleColumns) FROM bundles b
                WHERE b.host_id = \(host) AND (b.received_at < \(received) OR (b.received_at = \(received) AND b.id < \(try q.bind(try row["id"] as Int64))))
                ORDER BY b.received_at DESC, b.id DESC LIMIT 1
                """
            return try await c.one(q.query(sql)).map(Self.bundle)
        }
    }

    public func incidentsOf(ticketID: Int64) async throws -> [IncidentRecord] {
        try await read { c in
            var out: [IncidentRecord] = []
            for row in try await c.all("SELECT incident_id FROM incident_tickets WHERE ticket_id = \(ticketID) ORDER BY incident_id DESC") {
                if let incident = try await Self.incident(c, id: try row["incident_id"]) { out.append(incident) }
            }
            return out
        }
    }

    // MARK: Rule knowledge

    public func ruleFixes() async throws -> [String: RuleFix] {
        try await read { c in
            var out: [String: RuleFix] = [:]
            for fix in try await c.all("SELECT * FROM rule_fixes").map(Self.ruleFix) { out[fix.ruleID] = fix }
            return out
        }
    }

    public func setRuleFix(_ fix: RuleFix, audit: AuditEntry) async throws {
        try await write { c in
            try await c.execute("""
                INSERT INTO rule_fixes (rule_id, text, link, updated_by, updated_at)
                VALUES (\(Self.text(fix.ruleID)), \(Self.text(fix.text)), \(Self.text(fix.link)), \(Self.text(String(fix.updatedBy.prefix(128)))), \(fix.updatedAt))
                ON CONFLICT (rule_id) DO UPDATE SET text = excluded.text, link = excluded.link,
                    updated_by = excluded.updated_by, updated_at = excluded.updated_at
                """)
            try await Self.insertAudit(c, audit)
        }
    }

    public func deleteRuleFix(ruleID: String, audit: AuditEntry) async throws -> Bool {
        try await write { c in
            guard try await c.count("DELETE FROM rule_fixes WHERE rule_id = \(ruleID) RETURNING 1") > 0 else { return false }
            try await Self.insertAudit(c, audit)
            return true
        }
    }

    public func ruleStats() async throws -> [String: RuleStats] {
        try await read { c in
            var out: [String: RuleStats] = [:]
            // Grouped counts, each answered from an index alone. Bundle rows are numbered in the
            // order they arrive, so a rule's newest bundle row is its last hit.
            for row in try await c.all("""
                SELECT g.rule_id, g.n, b.received_at AS last_hit
                FROM (SELECT rule_id, count(*) AS n, max(bundle_row) AS last_row FROM findings GROUP BY rule_id) g
                LEFT JOIN bundles b ON b.id = g.last_row
                """) {
                let rule: String = try row["rule_id"]
                out[rule, default: RuleStats()].findings = try row["n"]
                out[rule, default: RuleStats()].lastHitAt = try row["last_hit"]
            }
            for row in try await c.all("SELECT top_rule_id, count(*) AS n FROM tickets WHERE top_rule_id IS NOT NULL GROUP BY top_rule_id") {
                out[try row["top_rule_id"], default: RuleStats()].topTickets = try row["n"]
            }
            for row in try await c.all("SELECT rule_id, count(*) AS n FROM rule_events WHERE kind = 'split' GROUP BY rule_id") {
                out[try row["rule_id"], default: RuleStats()].splits = try row["n"]
            }
            // A ticket reclassified twice is one ticket the rule got wrong.
            for row in try await c.all("""
                SELECT rule_id, count(DISTINCT coalesce(ticket_id, -id)) AS n FROM rule_events WHERE kind = 'reclassified' GROUP BY rule_id
                """) {
                out[try row["rule_id"], default: RuleStats()].reclassified = try row["n"]
            }
            return out
        }
    }

    public func ruleEvents(ruleID: String, limit: Int) async throws -> [RuleEvent] {
        try await read { c in
            try await c.all("SELECT * FROM rule_events WHERE rule_id = \(ruleID) ORDER BY id DESC LIMIT \(Self.rowLimit(limit))").map { row in
                RuleEvent(id: try row["id"], ruleID: try row["rule_id"], kind: RuleEvent.Kind(rawValue: try row["kind"]) ?? .split,
                          ticketID: try row["ticket_id"], actor: try row["actor"], detail: try row["detail"], createdAt: try row["created_at"])
            }
        }
    }

    public func reclassifyTicket(id: Int64, category: FindingCategory, by actor: String, now: Date) async throws -> TicketSummary? {
        try await write { c in
            guard let before = try await Self.ticketSummary(c, id: id) else { return nil }
            let diagnosed = try await Self.topCategory(c, ticketID: id)
            let current = before.category ?? diagnosed
            guard current != category else { return before }
            try await c.execute("UPDATE tickets SET category = \(category.rawValue), updated_at = \(now) WHERE id = \(id)")
            let from = current?.rawValue ?? "none"
            if let rule = before.topRuleID {
                try await c.execute("""
                    INSERT INTO rule_events (rule_id, kind, ticket_id, actor, detail, created_at)
                    VALUES (\(rule), 'reclassified', \(id), \(Self.text(String(actor.prefix(128)))), \("\(from) → \(category.rawValue)"), \(now))
                    """)
            }
            let body = "Reclassified from \(from) to \(category.rawValue)" + (before.topRuleID.map { " (the top finding, \($0), had it wrong)" } ?? "") + "."
            try await c.execute("""
                INSERT INTO ticket_comments (ticket_id, author, body, visible_to_user, created_at)
                VALUES (\(id), \(Self.text(actor)), \(Self.text(body)), false, \(now))
                """)
            try await Self.recordEvent(c, .ticketUpdated, ticketID: id, detail: "category: \(category.rawValue) (was \(from); reclassified by \(actor))", now: now)
            return try await Self.ticketSummary(c, id: id)
        }
    }

    /// The category of a ticket's top finding (its first bundle's best-ranked finding).
    static func topCategory(_ c: PGConnection, ticketID: Int64) async throws -> FindingCategory? {
        let category: String? = try await c.one("""
            SELECT category FROM findings WHERE ticket_id = \(ticketID) ORDER BY bundle_row, rank LIMIT 1
            """)?["category"]
        return category.flatMap(FindingCategory.init(rawValue:))
    }

    /// The known fixes of these rules, for the findings a bundle brings.
    static func ruleFixes(_ c: PGConnection, ruleIDs: Set<String>) async throws -> [String: RuleFix] {
        guard !ruleIDs.isEmpty else { return [:] }
        var out: [String: RuleFix] = [:]
        for fix in try await c.all("SELECT * FROM rule_fixes WHERE rule_id = ANY(\(ruleIDs.map { text($0) }))").map(ruleFix) {
            out[fix.ruleID] = fix
        }
        return out
    }

    /// Records a split against the rule that topped the ticket it was split from.
    static func recordSplit(_ c: PGConnection, ticketID: Int64, bundleID: String, newTicketID: Int64, actor: String, now: Date) async throws {
        guard let rule = try await c.one("SELECT top_rule_id FROM tickets WHERE id = \(ticketID)").flatMap({ try $0["top_rule_id"] as String? }) else {
            return
        }
        try await c.execute("""
            INSERT INTO rule_events (rule_id, kind, ticket_id, actor, detail, created_at)
            VALUES (\(rule), 'split', \(ticketID), \(Self.text(String(actor.prefix(128)))), \("bundle \(bundleID) → ticket #\(newTicketID)"), \(now))
            """)
    }

    static func ruleFix(_ row: PGRow) throws -> RuleFix {
        RuleFix(ruleID: try row["rule_id"], text: try row["text"], link: try row["link"], updatedBy: try row["updated_by"], updatedAt: try row["updated_at"])
    }
}

/// SQL assembled from constant pieces of this file with every value bound: `bind` appends a
/// value and answers its placeholder (`$1`, `$2`, …).
private struct BoundSQL {
    var binds = PostgresBindings()

    /// Binds `value`; its placeholder.
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value) throws -> String {
        try binds.append(value)
        return "$\(binds.count)"
    }

    /// Binds `value` or NULL; its placeholder.
    mutating func bind<Value: PostgresThrowingDynamicTypeEncodable>(_ value: Value?) throws -> String {
        try binds.append(value)
        return "$\(binds.count)"
    }

    /// The query `sql` (whose placeholders came from `bind`) with these bindings.
    func query(_ sql: String) -> PostgresQuery { PostgresQuery(unsafeSQL: sql, binds: binds) }
}
