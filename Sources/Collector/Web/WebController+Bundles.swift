import Foundation
import Hummingbird
import NIOCore
import Shared

extension WebController {
    func bundleRecord(_ context: CollectorRequestContext) async throws -> BundleRecord {
        let id = (context.parameters.get("bundleID") ?? "").lowercased()
        guard UUID(uuidString: id) != nil else { throw APIError.badRequest("invalid_bundle_id", "a bundle id is a UUID") }
        guard let record = try await store.bundle(id: id) else { throw APIError.notFound("bundle \(id)") }
        return record
    }

    func liveBlob(_ record: BundleRecord) throws -> String { try StoredBundle.livePath(record, blobs: blobs) }

    // MARK: Bundle

    @Sendable func bundlePage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let me = try user(context)
        let record = try await bundleRecord(context)
        let m = record.manifest
        let host = try await store.host(id: record.hostID)
        let (snap, problem) = await snapshot(record)
        let sortByMemory = try Self.parameter(request, "sort") == "memory"
        var processes = snap?.processes?.processes ?? []
        if sortByMemory { processes.sort { $0.rssBytes > $1.rssBytes } } else { processes.sort { $0.cpuPercent > $1.cpuPercent } }
        let base = "/bundles/\(record.bundleID)"
        await audit(context, "bundle_viewed", "bundle \(record.bundleID)")
        let model = BundlePage(
            chrome: PageChrome(context: context, title: "Bundle \(record.bundleID.prefix(8))", section: "queue"),
            id: record.bundleID, hostname: WebFormat.untrusted(host?.hostname ?? m.host.hostname, max: 255),
            hostHref: "/hosts/\(WebLinks.encode(record.hostID))", created: WebFormat.time(record.createdAt),
            received: WebFormat.time(record.receivedAt), reason: record.reason.replacingOccurrences(of: "_", with: " "),
            agentVersion: WebFormat.untrusted(m.agentVersion, max: 64), requestedBy: m.requestedBy.map { WebFormat.untrusted($0, max: 64) },
            note: m.note.map { WebFormat.untrusted($0, max: 65536) }, size: WebFormat.bytes(record.compressedBytes),
            uncompressed: WebFormat.bytes(record.uncompressedBytes), entries: record.journalEntries, expired: record.expired,
            journalHref: base + "/journal", rawHref: me.role == .admin && !record.expired ? base + "/raw" : nil,
            ticketLinks: record.ticketIDs.map { QueuePage.IncidentLink(href: "/tickets/\($0)", title: "#\($0)", hosts: 0, since: "") },
            probes: m.probes.prefix(64).map { p in
                BundlePage.ProbeRow(name: WebFormat.untrusted(p.name, max: 64), status: p.status.rawValue, ok: p.status == .ok,
                                    duration: "\(max(p.durationMS, 0)) ms", items: p.items, size: WebFormat.bytes(p.bytes),
                                    error: WebFormat.untrusted(p.error, max: 1000),
                                    truncation: p.truncated ? WebFormat.untrusted(p.truncation ?? "truncated", max: 1000) : "")
            },
            redactions: m.redactions.sorted { $0.key < $1.key }.prefix(64).map { BundlePage.NamedCount(name: WebFormat.untrusted($0.key, max: 64), count: $0.value) },
            hasRedactions: !m.redactions.isEmpty,
            window: m.journalWindow.map { "all entries since \(WebFormat.time($0.allSince)), priority ≤ \($0.importantPriority) since \(WebFormat.time($0.importantSince)), until \(WebFormat.time($0.until))" },
            summary: snap?.summary(from: "this bundle"),
            pressure: (snap?.memory?.pressure ?? [:]).sorted { $0.key < $1.key }.prefix(8).map { name, stall in
                let some = stall.some.map { "some \(String(format: "%.2f", $0.avg10.isFinite ? $0.avg10 : 0)) % over 10 s" } ?? "—"
                let full = stall.full.map { ", full \(String(format: "%.2f", $0.avg10.isFinite ? $0.avg10 : 0)) %" } ?? ""
                return "\(WebFormat.untrusted(name, max: 20)): \(some)\(full)"
            },
            processes: processes.prefix(100).map { p in
                BundlePage.ProcessRow(pid: p.pid, user: WebFormat.untrusted(p.user ?? String(p.uid), max: 64), name: WebFormat.untrusted(p.name, max: 64),
                                      command: WebFormat.untrusted(p.commandLine, max: 500), cpu: WebFormat.percent(p.cpuPercent),
                                      rss: WebFormat.bytes(p.rssBytes), state: WebFormat.untrusted(p.state, max: 8))
            },
            sortCPUHref: base, sortMemHref: base + "?sort=memory", sortedBy: sortByMemory ? "memory" : "CPU",
            units: (snap?.units?.failed ?? []).prefix(100).map { u in
                BundlePage.UnitRow(name: WebFormat.untrusted(u.name, max: 200), description: WebFormat.untrusted(u.description, max: 300),
                                   state: "\(WebFormat.untrusted(u.activeState, max: 32))/\(WebFormat.untrusted(u.subState, max: 32))",
                                   result: WebFormat.untrusted(u.result, max: 64), since: WebFormat.time(u.since))
            },
            hasUnits: !(snap?.units?.failed ?? []).isEmpty,
            interfaces: (snap?.network?.interfaces ?? []).prefix(64).map { i in
                BundlePage.InterfaceRow(name: WebFormat.untrusted(i.name, max: 64), state: WebFormat.untrusted(i.state, max: 32),
                                        addresses: WebFormat.untrusted(i.addresses.prefix(16).joined(separator: ", "), max: 1000))
            },
            routes: (snap?.network?.routes ?? []).prefix(64).map { r in
                WebFormat.untrusted("\(r.destination) via \(r.gateway ?? "—") dev \(r.interface)\(r.metric.map { " metric \($0)" } ?? "")", max: 300)
            },
            dns: (snap?.network?.dns ?? []).prefix(8).map { d in
                WebFormat.untrusted("\(d.servers.prefix(8).joined(separator: ", ")) (\(d.source))\(d.searchDomains.isEmpty ? "" : " search \(d.searchDomains.prefix(8).joined(separator: " "))")", max: 500)
            },
            members: record.members.prefix(300).map { mem in
                BundlePage.MemberRow(name: WebFormat.untrusted(mem.name, max: 300), size: WebFormat.bytes(mem.bytes),
                                     href: base + "/download/" + mem.name.split(separator: "/").map { WebLinks.encode($0) }.joined(separator: "/"))
            },
            problem: problem)
        return try page("bundle", model)
    }

    // MARK: Journal

    /// An ISO 8601 time, or a `datetime-local` value (`2026-12-01T14:03`, read as UTC).
    static func formTime(_ text: String, name: String) throws -> Date {
        if let d = try? TechnicianController.date(text, name: name) { return d }
        for suffix in [":00Z", "Z"] where text.utf8.count <= 32 {
            if let d = try? TechnicianController.date(text + suffix, name: name) { return d }
        }
        return try TechnicianController.date(text, name: name)
    }

    @Sendable func journalPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let record = try await bundleRecord(context)
        let path = try liveBlob(record)
        var filter = BundleArchive.JournalFilter()
        let priorityText = try Self.parameter(request, "priority")
        if let p = priorityText {
            guard let n = Int(p), (0...7).contains(n) else { throw APIError.badRequest("invalid_query", "priority is 0 (emerg) to 7 (debug)") }
            filter.maxPriority = n
        }
        filter.unit = try Self.parameter(request, "unit", max: 512)
        filter.identifier = try Self.parameter(request, "identifier", max: 512)
        filter.bootID = try Self.parameter(request, "boot", max: 512)
        filter.text = try Self.parameter(request, "q", max: 1024)
        let sinceText = try Self.parameter(request, "since", max: 64)
        let untilText = try Self.parameter(request, "until", max: 64)
        filter.since = try sinceText.map { try Self.formTime($0, name: "since") }
        filter.until = try untilText.map { try Self.formTime($0, name: "until") }
        // A finding's evidence links here with the cited entry's time (`at`, µs) and cursor
        // (`around`): the page shows the minute around it and marks the entry.
        let around = try Self.parameter(request, "around", max: 256)
        if let at = try Self.parameter(request, "at", max: 32), filter.since == nil, filter.until == nil {
            guard let us = Int64(at), us >= 0, us < 253_402_300_799_000_000 else { throw APIError.badRequest("invalid_query", "at is microseconds since 1970") }
            filter.since = Date(timeIntervalSince1970: Double(us) / 1_000_000 - 30)
            filter.until = Date(timeIntervalSince1970: Double(us) / 1_000_000 + 30)
        }
        if let since = filter.since, let until = filter.until, since > until {
            throw APIError.badRequest("invalid_query", "since must not be after until")
        }
        let limit = 200
        let offset = try Self.parameter(request, "offset").map { text -> Int in
            guard let n = Int(text), (0...100_000_000).contains(n) else { throw APIError.badRequest("invalid_query", "offset is 0 to 100000000") }
            return n
        } ?? 0
        let journal: BundleArchive.JournalPage
        if let indexed = try await store.journalPage(bundleID: record.bundleID, filter: filter, offset: offset, limit: limit) {
            journal = indexed
        } else {
            // Read from the blob this time; the index is built in the background for the next.
            await indexer.request(bundleID: record.bundleID, path: path)
            let bundleLimits = limits.bundleLimits
            journal = try await reads.run { [filter] deadline in
                try BundleArchive(path: path, limits: bundleLimits, deadline: deadline).journal(filter, offset: offset, limit: limit)
            }
        }
        await audit(context, "journal_viewed", "bundle \(record.bundleID)")
        var citedShown = false
        let lines = journal.entries.map { e in
            // Two entries can share a locator (same boot and microsecond): mark the first.
            let cited = !citedShown && around != nil && e.locator == around
            if cited { citedShown = true }
            return JournalLineView(time: WebFormat.journalTime(e.realtime), priority: WebFormat.priority(e.priority),
                                   priorityClass: "p\(min(max(e.priority ?? 6, 0), 7))",
                                   source: WebFormat.untrusted(e.unit ?? e.userUnit ?? e.identifier ?? e.comm ?? "—", max: 200),
                                   message: WebFormat.untrusted(e.message ?? e.messageBase64.map { "(binary) " + $0 } ?? "", max: 16384),
                                   cited: cited, anchor: cited ? "cited" : "")
        }
        let base = "/bundles/\(record.bundleID)/journal"
        func link(offset: Int) -> String {
            WebLinks.link(base, [("priority", priorityText), ("unit", filter.unit), ("identifier", filter.identifier), ("boot", filter.bootID),
                                 ("q", filter.text), ("since", sinceText), ("until", untilText),
                                 ("around", around), ("at", try? Self.parameter(request, "at", max: 32)), ("offset", offset == 0 ? nil : String(offset))])
        }
        let host = try await store.host(id: record.hostID)
        let model = JournalPageView(
            chrome: PageChrome(context: context, title: "Journal of \(record.bundleID.prefix(8))", section: "queue"),
            bundleID: record.bundleID, bundleHref: "/bundles/\(record.bundleID)",
            hostname: WebFormat.untrusted(host?.hostname ?? record.manifest.host.hostname, max: 255), lines: lines,
            priorityOptions: [SelectOption(value: "", label: "any priority", selected: filter.maxPriority == nil)]
                + (0...7).map { SelectOption(value: String($0), label: "\(WebFormat.priority($0)) or worse", selected: filter.maxPriority == $0) },
            unit: filter.unit ?? "", identifier: filter.identifier ?? "", boot: filter.bootID ?? "", text: filter.text ?? "", since: sinceText ?? "", until: untilText ?? "",
            first: lines.isEmpty ? 0 : offset + 1, last: offset + lines.count,
            previousHref: offset > 0 ? link(offset: max(offset - limit, 0)) : nil,
            nextHref: journal.nextOffset.map { link(offset: $0) }, empty: lines.isEmpty, around: around, action: base)
        return try page("journal", model)
    }

    // MARK: Downloads

    @Sendable func rawBundle(request: Request, context: CollectorRequestContext) async throws -> Response {
        _ = try requireAdmin(context)
        let record = try await bundleRecord(context)
        let path = try liveBlob(record)
        let body = try await FileIO().loadFile(path: path, context: context)
        await audit(context, "bundle_downloaded", "bundle \(record.bundleID)", WebFormat.bytes(record.compressedBytes))
        return Response(status: .ok, headers: [
            .contentType: "application/gzip",
            .contentDisposition: "attachment; filename=\"helpline-\(record.bundleID).tar.gz\"",
            .contentLength: String(record.compressedBytes),
            .cacheControl: "no-store",
        ], body: body)
    }

    @Sendable func memberDownload(request: Request, context: CollectorRequestContext) async throws -> Response {
        let record = try await bundleRecord(context)
        let name = context.parameters.getCatchAll().joined(separator: "/")
        let bytes = try await StoredBundle.member(record, named: name, blobs: blobs, limits: limits, reads: reads)
        await audit(context, "member_downloaded", "bundle \(record.bundleID)", String(name.prefix(200)))
        // Always an attachment of an inert type: a member is never rendered in the browser.
        let fileName = String(name.split(separator: "/").last ?? "member").unicodeScalars
            .filter { $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "._-".unicodeScalars.contains($0)) }
            .map(String.init).joined().prefix(100)
        return Response(status: .ok, headers: [
            .contentType: "application/octet-stream",
            .contentDisposition: "attachment; filename=\"\(fileName.isEmpty ? "member" : String(fileName))\"",
            .cacheControl: "no-store",
        ], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }
}
