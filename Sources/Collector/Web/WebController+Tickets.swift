import Foundation
import Hummingbird
import Shared

extension WebController {
    static let pageSize = 50

    static func priorityClass(_ p: TicketPriority) -> String { "prio-\(p.rawValue)" }

    static func statusLabel(_ s: TicketStatus) -> String { s.rawValue.replacingOccurrences(of: "_", with: " ") }

    static func queueRow(_ row: QueueRow, now: Date) -> QueuePage.Row {
        let t = row.ticket
        return QueuePage.Row(id: t.id, href: "/tickets/\(t.id)", title: WebFormat.untrusted(t.title, max: 300), priority: t.priority.rawValue,
                             priorityClass: priorityClass(t.priority), status: statusLabel(t.status),
                             hostname: WebFormat.untrusted(t.hostname, max: 255), hostHref: "/hosts/\(WebLinks.encode(t.hostID))",
                             category: row.category?.rawValue ?? "—", age: WebFormat.age(t.createdAt, now: now),
                             created: WebFormat.time(t.createdAt), updated: WebFormat.age(t.updatedAt, now: now),
                             assignee: t.assignee.map { WebFormat.untrusted($0, max: 64) } ?? "—", bundles: t.bundleCount,
                             incidentHref: row.incidentID.map { "/incidents/\($0)" }, incidentID: row.incidentID)
    }

    static func incidentLink(_ i: IncidentRecord, now: Date) -> QueuePage.IncidentLink {
        QueuePage.IncidentLink(href: "/incidents/\(i.id)", title: WebFormat.untrusted(i.title, max: 300), hosts: i.hostCount,
                               since: WebFormat.age(i.createdAt, now: now))
    }

    static func options<T: RawRepresentable & Equatable>(_ all: [T], selected: T?, any: String?) -> [SelectOption] where T.RawValue == String {
        (any.map { [SelectOption(value: "", label: $0, selected: selected == nil)] } ?? [])
            + all.map { SelectOption(value: $0.rawValue, label: $0.rawValue.replacingOccurrences(of: "_", with: " "), selected: $0 == selected) }
    }

    /// A query parameter of at most `max` bytes, or 400.
    static func parameter(_ request: Request, _ name: String, max: Int = 256) throws -> String? {
        // Forms submitted with GET write spaces as `+` (application/x-www-form-urlencoded),
        // which a URI's own query decoding leaves alone: decode the query as a form.
        guard let query = request.uri.query, let value = try WebForm.parse(query)[name] else { return nil }
        guard value.utf8.count <= max else { throw APIError.badRequest("invalid_query", "\(name) is at most \(max) bytes") }
        return value.isEmpty ? nil : value
    }

    // MARK: Queue

    @Sendable func queue(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let me = try user(context)
        var query = TicketQuery()
        let statusText = try Self.parameter(request, "status") ?? "active"
        switch statusText {
        case "active": query.statuses = [.open, .inProgress, .waitingOnUser]
        case "all": query.statuses = []
        default:
            guard let s = TicketStatus(rawValue: statusText) else {
                throw APIError.badRequest("invalid_query", "status is active, all or one of \(TicketStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            query.statuses = [s]
        }
        if let p = try Self.parameter(request, "priority") {
            guard let priority = TicketPriority(rawValue: p) else { throw APIError.badRequest("invalid_query", "unknown priority") }
            query.priority = priority
        }
        if let c = try Self.parameter(request, "category") {
            guard let category = FindingCategory(rawValue: c) else { throw APIError.badRequest("invalid_query", "unknown category") }
            query.category = category
        }
        query.host = try Self.parameter(request, "host")
        query.text = try Self.parameter(request, "q", max: 1024)
        let assigneeText = try Self.parameter(request, "assignee", max: 64)
        switch assigneeText {
        case nil: break
        case "me": query.assignee = me.name
        case "none": query.assignee = ""
        case let name?: query.assignee = name
        }
        if let s = try Self.parameter(request, "sort") {
            guard let sort = TicketSort(rawValue: s) else { throw APIError.badRequest("invalid_query", "sort is one of \(TicketSort.allCases.map(\.rawValue).joined(separator: ", "))") }
            query.sort = sort
        }
        let pageNumber = try Self.parameter(request, "page").map { text -> Int in
            guard let n = Int(text), (1...100_000).contains(n) else { throw APIError.badRequest("invalid_query", "page is 1 to 100000") }
            return n
        } ?? 1
        query.limit = Self.pageSize
        query.offset = (pageNumber - 1) * Self.pageSize
        let result = try await store.ticketQueue(query)
        let now = Date()
        let incidents = try await store.incidents(limit: 20).filter { $0.status == "open" }.map { Self.incidentLink($0, now: now) }
        let users = try await store.users()
        func link(page: Int?, assignee: String? = assigneeText) -> String {
            WebLinks.link("/tickets", [("status", statusText == "active" ? nil : statusText), ("priority", query.priority?.rawValue),
                                       ("category", query.category?.rawValue), ("host", query.host), ("assignee", assignee),
                                       ("q", query.text), ("sort", query.sort == .priority ? nil : query.sort.rawValue),
                                       ("page", page.map(String.init))])
        }
        let statusOptions = [SelectOption(value: "active", label: "not resolved", selected: statusText == "active"),
                             SelectOption(value: "all", label: "any status", selected: statusText == "all")]
            + TicketStatus.allCases.map { SelectOption(value: $0.rawValue, label: Self.statusLabel($0), selected: statusText == $0.rawValue) }
        let assigneeOptions = [SelectOption(value: "", label: "anyone", selected: assigneeText == nil),
                               SelectOption(value: "me", label: "me", selected: assigneeText == "me"),
                               SelectOption(value: "none", label: "unassigned", selected: assigneeText == "none")]
            + users.map { SelectOption(value: $0.name, label: $0.name, selected: assigneeText == $0.name) }
        let model = QueuePage(
            chrome: PageChrome(context: context, title: "Tickets", section: "queue"),
            rows: result.rows.map { Self.queueRow($0, now: now) }, total: result.total,
            first: result.rows.isEmpty ? 0 : query.offset + 1, last: query.offset + result.rows.count,
            previousHref: pageNumber > 1 ? link(page: pageNumber - 1) : nil,
            nextHref: query.offset + result.rows.count < result.total ? link(page: pageNumber + 1) : nil,
            statusOptions: statusOptions, priorityOptions: Self.options(TicketPriority.allCases, selected: query.priority, any: "any priority"),
            categoryOptions: Self.options(FindingCategory.allCases, selected: query.category, any: "any category"),
            assigneeOptions: assigneeOptions,
            sortOptions: TicketSort.allCases.map { SelectOption(value: $0.rawValue, label: $0.rawValue, selected: $0 == query.sort) },
            host: query.host ?? "", text: query.text ?? "", mineHref: link(page: nil, assignee: "me"), incidents: incidents,
            empty: result.rows.isEmpty, hasIncidents: !incidents.isEmpty)
        return try page("queue", model)
    }

    // MARK: Ticket

    func ticketID(_ context: CollectorRequestContext) throws -> Int64 {
        guard let id = context.parameters.get("id", as: Int64.self), id > 0 else {
            throw APIError.badRequest("invalid_ticket_id", "a ticket number is a positive whole number")
        }
        return id
    }

    /// Reads the typed members of a live bundle; nil (with the reason) when it cannot.
    func snapshot(_ record: BundleRecord) async -> (BundleSnapshot?, String?) {
        guard !record.expired else { return (nil, "bundle \(record.bundleID) expired under the retention policy") }
        guard blobs.exists(record.sha256) else { return (nil, "the stored file of bundle \(record.bundleID) is missing") }
        let path = blobs.path(for: record.sha256)
        let bundleLimits = limits.bundleLimits
        let maxBytes = min(limits.maxJSONMemberBytes, 64 << 20)
        do {
            let members = try await reads.run { deadline in
                try BundleArchive(path: path, limits: bundleLimits, deadline: deadline).members(BundleSnapshot.names, maxBytes: maxBytes)
            }
            return (BundleSnapshot(members), nil)
        } catch {
            return (nil, "could not read bundle \(record.bundleID): \(APIError.known(error, retryAfter: limits.retryAfterSeconds)?.message ?? "\(error)")")
        }
    }

    static func evidenceView(_ e: Evidence, bundleID: String) -> EvidenceView {
        let isJournal = e.kind == "journal"
        var href: String?
        if isJournal {
            href = WebLinks.link("/bundles/\(bundleID)/journal", [("around", e.cursor), ("at", e.time.map { String(Int64(($0.timeIntervalSince1970 * 1_000_000).rounded())) })])
                + (e.cursor == nil ? "" : "#cited")
        }
        return EvidenceView(isJournal: isJournal, label: WebFormat.untrusted(e.label, max: 300), value: WebFormat.untrusted(e.value, max: 4096),
                            time: e.time.map { WebFormat.time($0) } ?? "", journalHref: href, context: [])
    }

    static func findingView(_ f: TicketFinding) -> FindingView {
        let x = f.finding
        return FindingView(title: WebFormat.untrusted(x.title, max: 300), ruleID: WebFormat.untrusted(x.ruleID, max: 200), severity: x.severity.rawValue,
                           category: x.category.rawValue, subject: WebFormat.untrusted(x.subject, max: 200),
                           confidence: WebFormat.percent(x.confidence * 100),
                           detail: WebFormat.untrusted(x.detail), userAdvice: WebFormat.untrusted(x.userAdvice),
                           technicianAdvice: WebFormat.untrusted(x.technicianAdvice), lastSeen: x.lastSeen.map { WebFormat.time($0) } ?? "",
                           bundleID: f.bundleID, evidence: x.evidence.prefix(50).map { evidenceView($0, bundleID: f.bundleID) },
                           ruleHref: "/rules/\(WebLinks.encode(x.ruleID))", knownFix: f.knownFix.map(KnownFixView.init))
    }

    /// Error-level journal messages (priority err or worse) of `bundle` that `previous` did not
    /// have, numbers folded so "port 4242" and "port 4243" count as one message. From the
    /// journal indexes; while either is missing it is asked for and the line says so.
    func newErrorMessages(_ bundle: BundleRecord, since previous: BundleRecord) async throws -> [String] {
        let errors = BundleArchive.JournalFilter(maxPriority: 3)
        guard let now = try await store.journalPage(bundleID: bundle.bundleID, filter: errors, offset: 0, limit: 1000),
              let before = try await store.journalPage(bundleID: previous.bundleID, filter: errors, offset: 0, limit: 1000) else {
            for b in [bundle, previous] where !b.expired && blobs.exists(b.sha256) {
                await indexer.request(bundleID: b.bundleID, path: blobs.path(for: b.sha256))
            }
            return ["New error messages: shown once both journals are indexed (a moment after they are first read)."]
        }
        func shape(_ e: JournalEntry) -> String {
            String((e.message ?? "").map { $0.isNumber ? "#" : $0 }.prefix(300))
        }
        let known = Set(before.entries.map(shape))
        var seen = Set<String>()
        var out: [String] = []
        for e in now.entries where !known.contains(shape(e)) && seen.insert(shape(e)).inserted {
            out.append("New error: \(WebFormat.untrusted(e.identifier ?? e.unit ?? "?", max: 100)): \(WebFormat.untrusted(e.message ?? "", max: 300))")
        }
        if out.count > 8 { out = Array(out.prefix(8)) + ["… and \(out.count - 8) more new error messages"] }
        return out
    }

    /// The findings' views, with a few journal lines around each cited entry when the bundle's
    /// journal is indexed (and the index asked for when it is not), and links to that spot.
    func withContext(_ findings: [TicketFinding]) async throws -> [FindingView] {
        var views = findings.map(Self.findingView)
        var budget = 12  // cited entries looked up per page
        var asked: Set<String> = []
        for (i, f) in findings.enumerated() {
            for (j, e) in f.finding.evidence.prefix(50).enumerated() where e.kind == "journal" {
                guard let cursor = e.cursor, budget > 0 else { continue }
                budget -= 1
                if let ctx = try await store.journalContext(bundleID: f.bundleID, locator: cursor, before: 2, after: 2), let offset = ctx.offset {
                    views[i].evidence[j].context = ctx.entries.map { entry in
                        let cited = entry.locator == cursor
                        return JournalLineView(time: WebFormat.journalTime(entry.realtime), priority: WebFormat.priority(entry.priority),
                                               priorityClass: "p\(min(max(entry.priority ?? 6, 0), 7))",
                                               source: WebFormat.untrusted(entry.unit ?? entry.userUnit ?? entry.identifier ?? "—", max: 200),
                                               message: WebFormat.untrusted(entry.message ?? "", max: 4096), cited: cited, anchor: "")
                    }
                    views[i].evidence[j].journalHref = WebLinks.link("/bundles/\(f.bundleID)/journal",
                                                                     [("offset", String(max(offset - 20, 0))), ("around", cursor)]) + "#cited"
                } else if !asked.contains(f.bundleID), let record = try await store.bundle(id: f.bundleID), !record.expired, blobs.exists(record.sha256) {
                    asked.insert(f.bundleID)
                    await indexer.request(bundleID: f.bundleID, path: blobs.path(for: record.sha256))
                }
            }
        }
        return views
    }

    @Sendable func ticket(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let id = try ticketID(context)
        guard let detail = try await store.ticket(id: id) else { throw APIError.notFound("ticket \(id)") }
        let t = detail.ticket
        let now = Date()
        let reasons = try await store.joinReasons(ticketID: id)
        let incidents = try await store.incidentsOf(ticketID: id).map { Self.incidentLink($0, now: now) }
        let users = try await store.users()
        // The host at the time: the newest bundle of the ticket, against the host's bundle before it.
        var summary: HostSummaryView?
        var changes: [ChangeView] = []
        var changesAgainst: String?
        var problem: String?
        if let latest = detail.bundles.last {
            let (snap, why) = await snapshot(latest)
            problem = why
            if let snap {
                summary = snap.summary(from: "the bundle of \(WebFormat.time(latest.receivedAt))")
                if let previous = try await store.previousBundle(of: latest.bundleID) {
                    let (old, _) = await snapshot(previous)
                    if let old {
                        changes = snap.changes(since: old).map(ChangeView.init)
                        changes += try await newErrorMessages(latest, since: previous).map(ChangeView.init)
                        changesAgainst = "\(WebFormat.time(previous.receivedAt)) (\(previous.bundleID.prefix(8)))"
                    }
                }
            }
        }
        // The newest bundle's findings lead; an earlier bundle's show only where the newest
        // has no finding of the same rule and title (a repeat usually finds the same things).
        let newestID = detail.bundles.last?.bundleID
        var newest = detail.findings.filter { $0.bundleID == newestID }
        if newest.isEmpty { newest = detail.findings }
        var seen = Set(newest.map { $0.finding.ruleID + "\u{0}" + $0.finding.title })
        var earlier: [TicketFinding] = []
        for f in detail.findings.reversed() where f.bundleID != newestID && newest.count != detail.findings.count {
            if seen.insert(f.finding.ruleID + "\u{0}" + f.finding.title).inserted { earlier.append(f) }
        }
        let bundles = detail.bundles.map { b in
            TicketPage.BundleRow(id: b.bundleID, href: "/bundles/\(b.bundleID)", received: WebFormat.time(b.receivedAt),
                                 reason: b.reason.replacingOccurrences(of: "_", with: " "), joinReason: reasons[b.bundleID].map { WebFormat.untrusted($0, max: 1000) },
                                 size: WebFormat.bytes(b.compressedBytes), entries: b.journalEntries, expired: b.expired,
                                 canSplit: detail.bundles.count > 1 && reasons[b.bundleID] != nil)
        }
        let comments = detail.comments.map {
            TicketPage.CommentView(author: WebFormat.untrusted($0.author, max: 128), body: WebFormat.untrusted($0.body, max: 65536),
                                   time: WebFormat.time($0.createdAt), visible: $0.visibleToUser, system: $0.author == "helpline")
        }
        let model = TicketPage(
            chrome: PageChrome(context: context, title: "#\(t.id) \(WebFormat.untrusted(t.title, max: 120))", section: "queue"),
            id: t.id, title: WebFormat.untrusted(t.title, max: 300), status: Self.statusLabel(t.status), priority: t.priority.rawValue,
            priorityClass: Self.priorityClass(t.priority), assignee: t.assignee.map { WebFormat.untrusted($0, max: 64) } ?? "unassigned",
            hostname: WebFormat.untrusted(t.hostname, max: 255), hostHref: "/hosts/\(WebLinks.encode(t.hostID))",
            requestedBy: t.requestedBy.map { WebFormat.untrusted($0, max: 64) }, created: WebFormat.time(t.createdAt),
            age: WebFormat.age(t.createdAt, now: now), note: detail.note.map { WebFormat.untrusted($0, max: 65536) },
            findings: try await withContext(newest), noFindings: detail.findings.isEmpty,
            findingsFrom: detail.bundles.count > 1 ? detail.bundles.last.map { WebFormat.time($0.receivedAt) } : nil,
            earlierFindings: try await withContext(earlier), hasEarlierFindings: !earlier.isEmpty, earlierCount: earlier.count, summary: summary,
            changes: changes, changesAgainst: changesAgainst, bundles: bundles, comments: comments, incidents: incidents,
            statusOptions: Self.options(TicketStatus.allCases, selected: t.status, any: nil),
            priorityOptions: Self.options(TicketPriority.allCases, selected: t.priority, any: nil),
            assigneeOptions: [SelectOption(value: "", label: "unassigned", selected: t.assignee == nil)]
                + users.map { SelectOption(value: $0.name, label: $0.name, selected: $0.name == t.assignee) },
            categoryOptions: [SelectOption(value: "", label: "as diagnosed" + (detail.findings.first.map { " (\($0.finding.category.rawValue))" } ?? ""),
                                           selected: t.category == nil)]
                + FindingCategory.allCases.map { SelectOption(value: $0.rawValue, label: $0.rawValue, selected: $0 == t.category) },
            reclassifiedAs: t.category?.rawValue,
            formAction: "/tickets/\(t.id)", summaryProblem: problem,
            bundleRequests: try await store.bundleRequests(hostID: nil, ticketID: t.id, limit: 20).map { BundleRequestView($0, now: now) },
            remoteLinks: detail.remoteLinks.map(RemoteLinkView.init))
        return try page("ticket", model)
    }

    @Sendable func comment(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try self.user(context)
        let id = try ticketID(context)
        let form = try await form(request, context)
        let body = (form["body"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !body.isEmpty, body.utf8.count <= 64 * 1024 else {
            throw APIError.badRequest("invalid_comment", "a comment is 1 byte to 64 KiB of text")
        }
        let visible = form["visibility"] != "internal"
        guard try await store.addComment(ticketID: id, author: user.name, body: body, visibleToUser: visible, now: Date()) != nil else {
            throw APIError.notFound("ticket \(id)")
        }
        await audit(context, "comment_added", "ticket \(id)", visible ? "visible to the user" : "internal")
        return try Redirect(location: "/tickets/\(id)#comments").response(from: request, context: context)
    }

    @Sendable func update(request: Request, context: CollectorRequestContext) async throws -> Response {
        let id = try ticketID(context)
        let form = try await form(request, context)
        let status = try form["status"].flatMap { $0.isEmpty ? nil : $0 }.map { text -> TicketStatus in
            guard let s = TicketStatus(rawValue: text) else { throw APIError.badRequest("invalid_status", "unknown status \(text.prefix(40))") }
            return s
        }
        let priority = try form["priority"].flatMap { $0.isEmpty ? nil : $0 }.map { text -> TicketPriority in
            guard let p = TicketPriority(rawValue: text) else { throw APIError.badRequest("invalid_priority", "unknown priority \(text.prefix(40))") }
            return p
        }
        let category = try form["category"].flatMap { $0.isEmpty ? nil : $0 }.map { text -> FindingCategory in
            guard let c = FindingCategory(rawValue: text) else { throw APIError.badRequest("invalid_category", "unknown category \(text.prefix(40))") }
            return c
        }
        let assignee = form["assignee"]
        try await store.checkAssignee(assignee)
        guard let before = try await store.ticket(id: id)?.ticket else { throw APIError.notFound("ticket \(id)") }
        var changed: [String] = []
        if let category, try await store.reclassifyTicket(id: id, category: category, by: try user(context).name, now: Date())?.category != before.category {
            changed.append("reclassified \(before.category?.rawValue ?? "as diagnosed") → \(category.rawValue)" + (before.topRuleID.map { " (top rule \($0))" } ?? ""))
        }
        guard try await store.updateTicket(id: id, status: status, priority: priority, assignee: assignee, now: Date()) != nil else {
            throw APIError.notFound("ticket \(id)")
        }
        if let status, status != before.status { changed.append("status \(before.status.rawValue) → \(status.rawValue)") }
        if let priority, priority != before.priority { changed.append("priority \(before.priority.rawValue) → \(priority.rawValue)") }
        if let assignee, assignee != (before.assignee ?? "") { changed.append("assignee \(before.assignee ?? "none") → \(assignee.isEmpty ? "none" : assignee)") }
        await audit(context, "ticket_updated", "ticket \(id)", changed.joined(separator: ", "))
        return try Redirect(location: "/tickets/\(id)").response(from: request, context: context)
    }

    @Sendable func split(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try self.user(context)
        let id = try ticketID(context)
        let form = try await form(request, context)
        let bundleID = (form["bundle"] ?? "").lowercased()
        guard UUID(uuidString: bundleID) != nil else { throw APIError.badRequest("invalid_bundle_id", "choose a bundle of this ticket") }
        do {
            guard let newID = try await store.splitBundle(ticketID: id, bundleID: bundleID, author: user.name, now: Date()) else {
                throw APIError.notFound("bundle \(bundleID) on ticket \(id)")
            }
            await audit(context, "bundle_split", "ticket \(id)", "bundle \(bundleID) → ticket \(newID)")
            return try Redirect(location: "/tickets/\(newID)").response(from: request, context: context)
        } catch let e as StoreError where e.kind == .conflict {
            throw APIError(.conflict, code: "only_bundle", e.message)
        }
    }

    /// `POST /tickets/{id}/request-bundle` and `POST /hosts/{id}/request-bundle`: ask the
    /// host for a fresh bundle (joining the ticket when asked from one).
    @Sendable func requestBundle(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try self.user(context)
        let form = try await form(request, context)
        let hostID: String
        var askedFrom: Int64?
        let back: String
        if context.parameters.get("id") != nil {
            let id = try self.ticketID(context)
            guard let ticket = try await store.ticket(id: id)?.ticket else { throw APIError.notFound("ticket \(id)") }
            hostID = ticket.hostID
            askedFrom = id
            back = "/tickets/\(id)#bundles"
        } else {
            hostID = context.parameters.get("hostID") ?? ""
            back = "/hosts/\(WebLinks.encode(hostID))"
        }
        let record = try await BundleRequests.create(store: store, limits: limits, hostID: hostID, ticketID: askedFrom, by: user.name, note: form["note"])
        await audit(context, "bundle_requested", "host \(hostID)", "request \(record.id)" + (askedFrom.map { " for ticket \($0)" } ?? ""))
        return try Redirect(location: back).response(from: request, context: context)
    }
}
