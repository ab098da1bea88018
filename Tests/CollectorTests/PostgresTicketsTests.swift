import Foundation
import PostgresNIO
import Shared
import Testing
@testable import Collector

/// Tickets on PostgreSQL where SQLite cannot go: several collectors committing bundles to one
/// database at once, and agent text PostgreSQL's `text` cannot hold. Everything else is the
/// shared suites' run with `HELPLINE_TEST_STORE=postgres`.
@Suite struct PostgresTicketsTests {
    /// Two collectors (two stores, two pools) on one fresh, migrated database with `hosts`
    /// hosts `host-0`… enrolled by plain SQL.
    private func twoCollectors(hosts: Int) async throws -> (url: String, a: PostgresStore, b: PostgresStore) {
        let url = try await TestPostgres.freshDatabase()
        let a = try PostgresStore(url: url), b = try PostgresStore(url: url)
        try await a.migrate()
        let rows = (0..<hosts).map { i in
            "('host-\(i)', 'machine-\(i)', 'laptop-\(i)', '\(String(repeating: "0", count: 60) + String(format: "%04d", i))', now())"
        }
        try await TestPostgres.run(url, "INSERT INTO hosts (id, machine_id, hostname, token_hash, enrolled_at) VALUES " + rows.joined(separator: ", "))
        return (url, a, b)
    }

    private func bundle(_ id: String = UUID().uuidString.lowercased(), host: Int, at date: Date) -> NewBundle {
        let manifest = sampleManifest(id: id, hostID: "host-\(host)", machineID: "machine-\(host)")
        return NewBundle(hostID: "host-\(host)", hostname: "laptop-\(host)", sha256: String(repeating: "a", count: 64), receivedAt: date,
                         contents: BundleContents(manifest: manifest, journalEntries: 3, members: [],
                                                  compressedBytes: 100, uncompressedBytes: 300))
    }

    private func finding(_ rule: String = "net.dns_failure", severity: Severity = .high, title: String = "DNS lookups fail") -> Finding {
        Finding(ruleID: rule, category: .network, severity: severity, confidence: 0.9, title: title, detail: "resolver timed out",
                userAdvice: "Restart the computer.", technicianAdvice: "Check the resolver.")
    }

    private func scalar(_ store: PostgresStore, _ sql: String) async throws -> Int {
        try await store.read { c in try await c.one(PostgresQuery(unsafeSQL: sql))?["n"] ?? -1 }
    }

    @Test func theSameBundleFromTwoCollectorsAtOnceIsStoredOnce() async throws {
        let rounds = 8
        let (url, a, b) = try await twoCollectors(hosts: rounds)
        let policy = TicketService(publicURL: "https://helpline.example", incidentHosts: 100)
        let now = Date(timeIntervalSince1970: 1_790_000_100)
        for round in 0..<rounds {
            let nb = bundle(host: round, at: now.addingTimeInterval(Double(round)))
            async let first = a.commitBundle(nb, findings: [finding()], policy: policy)
            async let second = b.commitBundle(nb, findings: [finding()], policy: policy)
            let results = try await [first, second]
            var stored: [BundleReceipt] = [], duplicates: [(String, BundleReceipt)] = []
            for result in results {
                switch result {
                case .stored(let receipt): stored.append(receipt)
                case .duplicate(let host, let receipt): duplicates.append((host, receipt))
                }
            }
            #expect(stored.count == 1 && duplicates.count == 1, "round \(round): \(results)")
            #expect(duplicates.first?.0 == "host-\(round)")
            #expect(duplicates.first?.1 == stored.first, "the duplicate answers with the first receipt")
            #expect(stored.first?.bundleID == nb.bundleID)
        }
        #expect(try await scalar(a, "SELECT count(*) AS n FROM bundles") == rounds)
        #expect(try await scalar(a, "SELECT count(*) AS n FROM tickets") == rounds)
        #expect(try await scalar(a, "SELECT count(*) AS n FROM ticket_bundles") == rounds)
        #expect(try await scalar(a, "SELECT count(*) AS n FROM findings") == rounds)
        #expect(try await scalar(a, "SELECT count(*) AS n FROM integration_events WHERE kind = 'ticket.opened'") == rounds)
        // Both collectors read the same tickets.
        #expect(try await a.tickets(TicketFilter(limit: 100)) == b.tickets(TicketFilter(limit: 100)))
        try await a.close(); try await b.close()
        await TestPostgres.drop(url)
    }

    @Test func oneRuleOnManyHostsAtOnceOpensOneIncident() async throws {
        let hosts = 8
        let (url, a, b) = try await twoCollectors(hosts: hosts)
        let policy = TicketService(publicURL: "https://helpline.example", incidentHosts: 3, incidentWindow: 3600)
        let now = Date(timeIntervalSince1970: 1_790_000_100)
        let results = try await withThrowingTaskGroup(of: BundleCommitResult.self) { group in
            for host in 0..<hosts {
                let store = host.isMultiple(of: 2) ? a : b
                let nb = bundle(host: host, at: now.addingTimeInterval(Double(host % 3)))
                let f = finding()
                group.addTask { try await store.commitBundle(nb, findings: [f], policy: policy) }
            }
            return try await group.reduce(into: [BundleCommitResult]()) { $0.append($1) }
        }
        var tickets: [Int64] = []
        for result in results {
            guard case .stored(let receipt) = result else { Issue.record("not stored: \(result)"); continue }
            tickets.append(receipt.ticketID)
        }
        #expect(Set(tickets).count == hosts)
        let incidents = try await b.incidents(limit: 10)
        #expect(incidents.count == 1)
        #expect(incidents.first?.status == "open" && incidents.first?.ruleID == "net.dns_failure")
        #expect(incidents.first?.hostCount == hosts)
        #expect(incidents.first?.ticketIDs == tickets.sorted(), "every ticket of the rule joins the one incident")
        #expect(try await scalar(a, "SELECT count(*) AS n FROM incidents WHERE status = 'open'") == 1)
        #expect(try await scalar(a, "SELECT count(*) AS n FROM integration_events WHERE kind = 'incident.opened'") == 1)
        for id in tickets { #expect(try await a.incidentsOf(ticketID: id).map(\.id) == incidents.map(\.id)) }
        try await a.close(); try await b.close()
        await TestPostgres.drop(url)
    }

    /// Incident linking on both stores, bundle by bundle: a ticket older than the window
    /// counts for nothing and is not linked; the incident opens on the third host and links
    /// the window's tickets; the next one is linked and raises the count; a rule seen twice
    /// in a bundle links once; a low-severity rule never makes an incident.
    @Test func incidentsLinkTheWindowsTicketsOnBothStores() async throws {
        let (url, pg, _) = try await twoCollectors(hosts: 6)
        let dir = try TempDir()
        let lite = try SQLiteStore(path: dir.file("collector.sqlite"))
        try await lite.migrate()
        let secret = try await lite.createEnrollmentSecret(hash: Secrets.hash(Secrets.generate(.enrollmentSecret)), label: nil,
                                                           expiresAt: nil, maxUses: nil, now: Date())
        for i in 0..<6 {
            _ = try await lite.enrollHost(id: "host-\(i)", machineID: "machine-\(i)", hostname: "laptop-\(i)", agentVersion: nil,
                                          tokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: secret.id, now: Date())
        }
        let policy = TicketService(publicURL: "https://helpline.example", incidentHosts: 3, incidentWindow: 3600)
        let t0 = Date(timeIntervalSince1970: 1_790_000_000)
        let steps: [(host: Int, at: Double, findings: [Finding])] = [
            (0, 0, [finding()]),
            (1, 7200, [finding()]),
            (2, 7201, [finding(), finding("disk.smart_warning", severity: .low, title: "SMART warning")]),
            (3, 7202, [finding(), finding(title: "DNS lookups fail on the VPN"), finding("disk.smart_warning", severity: .low, title: "SMART warning")]),
            (4, 7203, [finding()]),
        ]
        for store in [pg as any CollectorStore, lite as any CollectorStore] {
            var tickets: [Int64] = []
            for (k, step) in steps.enumerated() {
                guard case .stored(let receipt) = try await store.commitBundle(bundle(host: step.host, at: t0.addingTimeInterval(step.at)),
                                                                               findings: step.findings, policy: policy) else {
                    Issue.record("bundle \(k) not stored"); continue
                }
                tickets.append(receipt.ticketID)
                let incidents = try await store.incidents(limit: 10)
                switch k {
                case 0, 1, 2: #expect(incidents.isEmpty, "\(store): step \(k)")
                case 3, 4:
                    #expect(incidents.count == 1, "\(store): step \(k)")
                    #expect(incidents.first?.ruleID == "net.dns_failure")
                    #expect(incidents.first?.ticketIDs == Array(tickets[1...]), "\(store): step \(k): the window's tickets, not the old one")
                    #expect(incidents.first?.hostCount == k, "\(store): step \(k): hosts 1…\(k) in the window")
                default: break
                }
            }
        }
        #expect(try await pg.incidents(limit: 10).map(\.ticketIDs) == lite.incidents(limit: 10).map(\.ticketIDs))
        try await lite.close()
        dir.cleanup()
        try await pg.close()
        await TestPostgres.drop(url)
    }

    @Test func agentTextWithNULIsStoredWithAReplacement() async throws {
        let (url, a, b) = try await twoCollectors(hosts: 1)
        let policy = TicketService(publicURL: "https://helpline.example")
        let f = finding(title: "unit cups\u{0}.service failed")
        let result = try await a.commitBundle(bundle(host: 0, at: Date(timeIntervalSince1970: 1_790_000_100)), findings: [f], policy: policy)
        guard case .stored(let receipt) = result else { throw TestPostgresError("not stored: \(result)") }
        let detail = try #require(try await b.ticket(id: receipt.ticketID))
        #expect(detail.findings.map(\.finding.title) == ["unit cups\u{FFFD}.service failed"])
        #expect(detail.ticket.title.contains("\u{FFFD}") && !detail.ticket.title.contains("\u{0}"))
        try await a.close(); try await b.close()
        await TestPostgres.drop(url)
    }

    /// On a database whose collation is not byte order (ICU en-US), the queue sorts by host
    /// and filters by host and text exactly as SQLite does: byte order, ASCII-only folding.
    @Test func theQueueSortsAndFiltersAsSQLiteWhateverTheCollation() async throws {
        let url = try await TestPostgres.freshDatabase(icuCollation: true)
        let pg = try PostgresStore(url: url)
        try await pg.migrate()
        let dir = try TempDir()
        defer { dir.cleanup() }
        let lite = try SQLiteStore(path: dir.file("db.sqlite"))
        try await lite.migrate()
        let names = ["b-host", "B-host", "a-host", "Ä-host", "a_host", "a-Host"]
        let policy = TicketService(publicURL: "https://helpline.example", incidentHosts: 100)
        let at = Date(timeIntervalSince1970: 1_790_000_100)
        for store in [pg, lite] as [any CollectorStore] {
            let secret = try await store.createEnrollmentSecret(hash: Secrets.hash(Secrets.generate(.enrollmentSecret)), label: nil,
                                                                expiresAt: nil, maxUses: nil, now: at)
            for (i, n) in names.enumerated() {
                _ = try await store.enrollHost(id: "host-\(i)", machineID: "machine-\(i)", hostname: n, agentVersion: nil,
                                               tokenHash: Secrets.hash(Secrets.generate(.hostToken)), secretID: secret.id, now: at)
                var nb = bundle(UUID().uuidString.lowercased(), host: i, at: at)
                nb.hostname = n
                let title = i.isMultiple(of: 2) ? "Printer ÄRGER on \(n)" : "printer ärger on \(n)"
                _ = try await store.commitBundle(nb, findings: [finding("print.cups_\(i)", title: title)], policy: policy)
            }
        }
        func queue(_ store: any CollectorStore, _ change: (inout TicketQuery) -> Void) async throws -> [String] {
            var q = TicketQuery()
            q.sort = .host
            change(&q)
            let page = try await store.ticketQueue(q)
            return page.rows.map(\.ticket.hostname) + ["total \(page.total)"]
        }
        let byHost = try await queue(lite) { _ in }
        #expect(byHost == ["B-host", "a-Host", "a-host", "a_host", "b-host", "Ä-host", "total 6"])
        #expect(try await queue(pg) { _ in } == byHost)
        for filter in ["A-HOST", "ä", "Ä", "-host"] {
            let expected = try await queue(lite) { $0.host = filter }
            #expect(try await queue(pg) { $0.host = filter } == expected, "host filter \(filter)")
        }
        for text in ["ärger", "ÄRGER", "PRINTER", "a-host"] {
            let expected = try await queue(lite) { $0.text = text }
            #expect(try await queue(pg) { $0.text = text } == expected, "text filter \(text)")
        }
        #expect(try await queue(pg) { $0.host = "A-HOST" } == ["a-Host", "a-host", "total 2"])
        // SQLite folds ASCII only: "ärger" finds the lower-case titles, not "ÄRGER".
        #expect(try await queue(pg) { $0.text = "ärger" } == ["B-host", "a-Host", "Ä-host", "total 3"])
        try await pg.close(); try await lite.close()
        await TestPostgres.drop(url)
    }
}
