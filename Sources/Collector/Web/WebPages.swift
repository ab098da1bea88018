import Foundation
import Shared

// What each template renders. Every string is plain text: the templates escape it
// (`{{…}}`), and none of them uses triple mustaches.

/// The frame of every page: title, who is signed in, the form token, the active section.
struct PageChrome {
    var title: String
    var userName: String?
    var isAdmin: Bool
    var csrf: String
    var section: String
    // Stored, not computed: templates see stored properties only (Mirror).
    var signedIn: Bool
    var queueActive: Bool
    var hostsActive: Bool
    var incidentsActive: Bool
    var auditActive: Bool
    var fleetActive: Bool
    var integrationsActive: Bool
    var rulesActive: Bool

    init(context: CollectorRequestContext, title: String, section: String = "") {
        self.title = title
        self.section = section
        if case .user(let p) = context.identity {
            userName = p.name
            isAdmin = p.role == .admin
        } else {
            userName = nil
            isAdmin = false
        }
        csrf = context.web?.csrf ?? ""
        signedIn = userName != nil
        queueActive = section == "queue"
        hostsActive = section == "hosts"
        incidentsActive = section == "incidents"
        auditActive = section == "audit"
        fleetActive = section == "fleet"
        integrationsActive = section == "integrations"
        rulesActive = section == "rules"
    }
}

/// A `<select>` option.
struct SelectOption {
    var value: String
    var label: String
    var selected: Bool
}

/// Building links with query strings.
enum WebLinks {
    /// Percent-encodes everything but unreserved characters.
    static func encode<S: StringProtocol>(_ text: S) -> String {
        var allowed = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: Unicode.Scalar(0)...Unicode.Scalar(127)))
        allowed.insert(charactersIn: "-._~")
        return String(text).addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
    }

    /// `path?a=1&b=2`, leaving out empty values.
    static func link(_ path: String, _ query: [(String, String?)]) -> String {
        let parts = query.compactMap { name, value in value.flatMap { $0.isEmpty ? nil : "\(encode(name))=\(encode($0))" } }
        return parts.isEmpty ? path : path + "?" + parts.joined(separator: "&")
    }

    /// A local path to go back to after signing in, or nil when `next` is not one (an
    /// absolute or protocol-relative URL would send the user elsewhere).
    static func localPath(_ next: String?) -> String? {
        guard let next, next.hasPrefix("/"), !next.hasPrefix("//"), !next.contains("\\"), next.utf8.count <= 1024,
              next.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F }) else { return nil }
        return next
    }
}

struct ErrorPage {
    var chrome: PageChrome
    var status: Int
    var reason: String
    var message: String
    var code: String
    var signIn: Bool
}

struct LoginPage {
    var chrome: PageChrome
    var next: String
    var name: String
    var error: String?
}

struct PasswordPage {
    var chrome: PageChrome
    var required: Bool
    var error: String?
    var minLength: Int
}

struct QueuePage {
    struct Row {
        var id: Int64
        var href: String
        var title: String
        var priority: String
        var priorityClass: String
        var status: String
        var hostname: String
        var hostHref: String
        var category: String
        var age: String
        var created: String
        var updated: String
        var assignee: String
        var bundles: Int
        var incidentHref: String?
        var incidentID: Int64?
    }
    struct IncidentLink {
        var href: String
        var title: String
        var hosts: Int
        var since: String
    }
    var chrome: PageChrome
    var rows: [Row]
    var total: Int
    var first: Int
    var last: Int
    var previousHref: String?
    var nextHref: String?
    var statusOptions: [SelectOption]
    var priorityOptions: [SelectOption]
    var categoryOptions: [SelectOption]
    var assigneeOptions: [SelectOption]
    var sortOptions: [SelectOption]
    var host: String
    var text: String
    var mineHref: String
    var incidents: [IncidentLink]
    var empty: Bool
    var hasIncidents: Bool
}

/// Evidence of a finding as the ticket page shows it.
struct EvidenceView {
    var isJournal: Bool
    var label: String
    var value: String
    var time: String
    var journalHref: String?
    var context: [JournalLineView]
}

struct FindingView {
    var title: String
    var ruleID: String
    var severity: String
    var category: String
    /// What the finding is about (unit, device, account), empty when the rule does not say.
    var subject: String
    var confidence: String
    var detail: String
    var userAdvice: String
    var technicianAdvice: String
    var lastSeen: String
    var bundleID: String
    var evidence: [EvidenceView]
    /// The rule's page (its figures and known fix).
    var ruleHref: String
    /// The known fix the finding was stored with, if any.
    var knownFix: KnownFixView?
}

/// A known fix as a finding or the rule page shows it.
struct KnownFixView {
    var text: String
    /// Only ever an http/https address (checked when it was set).
    var link: String?
    var by: String
    var at: String

    init(_ fix: RuleFix) {
        text = WebFormat.untrusted(fix.text, max: 65_536)
        link = fix.link.map { WebFormat.untrusted($0, max: 8192) }
        by = WebFormat.untrusted(fix.updatedBy, max: 128)
        at = WebFormat.time(fix.updatedAt)
    }
}

/// `/rules`: every rule with its known fix and figures, most corrected first.
struct RulesPage {
    struct Row {
        var href: String
        var id: String
        var category: String
        var kind: String
        var summary: String
        var findings: Int64
        var tickets: Int64
        var splits: Int64
        var reclassified: Int64
        var rate: String
        /// Corrected on at least a quarter of its tickets (and at least two corrections).
        var needsWork: Bool
        var hasFix: Bool
        var lastHit: String
    }
    var chrome: PageChrome
    var rows: [Row]
    var withFix: Int
    var needingWork: Int
}

/// `/rules/ID`: one rule, its known fix (with the form to change it) and its corrections.
struct RulePage {
    struct EventView {
        var kind: String
        var ticketHref: String?
        var ticketID: Int64?
        var actor: String
        var detail: String
        var time: String
    }
    var chrome: PageChrome
    var id: String
    var category: String
    var kind: String
    var summary: String
    var source: String
    var findings: Int64
    var tickets: Int64
    var splits: Int64
    var reclassified: Int64
    var rate: String
    var lastHit: String
    var fix: KnownFixView?
    /// The form's current values (the fix, or what was sent when it was refused).
    var formText: String
    var formLink: String
    var error: String?
    var formAction: String
    var maxBytes: Int
    var events: [EventView]
}

struct JournalLineView {
    var time: String
    var priority: String
    var priorityClass: String
    var source: String
    var message: String
    var cited: Bool
    var anchor: String
}

struct MeterView {
    var label: String
    var detail: String
    var value: Double
    var percent: String
    var high: Bool
}

struct HostSummaryView {
    var os: String
    var kernel: String
    var uptime: String
    var cpu: String
    var load: String
    var memory: MeterView?
    var swap: MeterView?
    var disks: [MeterView]
    var failedUnits: [String]
    var hasFailedUnits: Bool
    var from: String
}

struct ChangeView {
    var text: String
}

/// A request for a fresh bundle, on the ticket and host pages.
struct BundleRequestView {
    var id: Int64
    var state: String
    var requestedBy: String
    var requested: String
    var note: String?
    var bundleHref: String?
    var pending: Bool

    init(_ r: BundleRequestRecord, now: Date) {
        id = r.id
        state = r.state(at: now)
        requestedBy = WebFormat.untrusted(r.requestedBy, max: 128)
        requested = WebFormat.time(r.createdAt)
        note = r.note.map { WebFormat.untrusted($0, max: 1000) }
        bundleHref = r.bundleID.map { "/bundles/\($0)" }
        pending = state == "pending"
    }
}

struct TicketPage {
    struct BundleRow {
        var id: String
        var href: String
        var received: String
        var reason: String
        var joinReason: String?
        var size: String
        var entries: Int
        var expired: Bool
        var canSplit: Bool
    }
    struct CommentView {
        var author: String
        var body: String
        var time: String
        var visible: Bool
        var system: Bool
    }
    var chrome: PageChrome
    var id: Int64
    var title: String
    var status: String
    var priority: String
    var priorityClass: String
    var assignee: String
    var hostname: String
    var hostHref: String
    var requestedBy: String?
    var created: String
    var age: String
    var note: String?
    var findings: [FindingView]
    var noFindings: Bool
    var findingsFrom: String?
    var earlierFindings: [FindingView]
    var hasEarlierFindings: Bool
    var earlierCount: Int
    var summary: HostSummaryView?
    var changes: [ChangeView]
    var changesAgainst: String?
    var bundles: [BundleRow]
    var comments: [CommentView]
    var incidents: [QueuePage.IncidentLink]
    var statusOptions: [SelectOption]
    var priorityOptions: [SelectOption]
    var assigneeOptions: [SelectOption]
    /// "as diagnosed" and every category: reclassifying counts against the top finding's rule.
    var categoryOptions: [SelectOption]
    /// The category a technician set, or nil when the ticket is as diagnosed.
    var reclassifiedAs: String?
    var formAction: String
    var summaryProblem: String?
    var bundleRequests: [BundleRequestView]
    /// The ticket's issues in remote trackers.
    var remoteLinks: [RemoteLinkView] = []
}

/// A ticket's issue in a remote tracker, as the ticket page shows it.
struct RemoteLinkView {
    var backend: String
    var key: String
    /// Only http(s) links from the remote's answer are shown as links.
    var href: String?
    var remoteStatus: String?

    init(_ link: TicketRemoteLink) {
        backend = link.backend
        key = WebFormat.untrusted(link.remoteKey, max: 200)
        let url = link.remoteURL ?? ""
        href = (url.lowercased().hasPrefix("https://") || url.lowercased().hasPrefix("http://")) ? url : nil
        remoteStatus = link.remoteStatus.map { WebFormat.untrusted($0, max: 200) }
    }
}

struct BundlePage {
    struct ProbeRow {
        var name: String
        var status: String
        var ok: Bool
        var duration: String
        var items: Int
        var size: String
        var error: String
        var truncation: String
    }
    struct ProcessRow {
        var pid: Int
        var user: String
        var name: String
        var command: String
        var cpu: String
        var rss: String
        var state: String
    }
    struct UnitRow {
        var name: String
        var description: String
        var state: String
        var result: String
        var since: String
    }
    struct MemberRow {
        var name: String
        var size: String
        var href: String
    }
    struct NamedCount {
        var name: String
        var count: Int
    }
    struct InterfaceRow {
        var name: String
        var state: String
        var addresses: String
    }
    var chrome: PageChrome
    var id: String
    var hostname: String
    var hostHref: String
    var created: String
    var received: String
    var reason: String
    var agentVersion: String
    var requestedBy: String?
    var note: String?
    var size: String
    var uncompressed: String
    var entries: Int
    var expired: Bool
    var journalHref: String
    var rawHref: String?
    var ticketLinks: [QueuePage.IncidentLink]
    var probes: [ProbeRow]
    var redactions: [NamedCount]
    var hasRedactions: Bool
    var window: String?
    var summary: HostSummaryView?
    var pressure: [String]
    var processes: [ProcessRow]
    var sortCPUHref: String
    var sortMemHref: String
    var sortedBy: String
    var units: [UnitRow]
    var hasUnits: Bool
    var interfaces: [InterfaceRow]
    var routes: [String]
    var dns: [String]
    var members: [MemberRow]
    var problem: String?
}

struct JournalPageView {
    var chrome: PageChrome
    var bundleID: String
    var bundleHref: String
    var hostname: String
    var lines: [JournalLineView]
    var priorityOptions: [SelectOption]
    var unit: String
    var identifier: String
    var boot: String
    var text: String
    var since: String
    var until: String
    var first: Int
    var last: Int
    var previousHref: String?
    var nextHref: String?
    var empty: Bool
    var around: String?
    var action: String
}

struct HostsPage {
    struct Row {
        var href: String
        var hostname: String
        var agentVersion: String
        var lastSeen: String
        var enrolled: String
        var revoked: Bool
        var pending: Bool
    }
    var chrome: PageChrome
    var rows: [Row]
}

struct HostPage {
    struct Chart {
        var label: String
        var points: String
        var latest: String
        var from: String
        var to: String
        var hasData: Bool
    }
    var chrome: PageChrome
    var hostname: String
    var id: String
    var machineID: String
    var agentVersion: String
    var enrolled: String
    var lastSeen: String
    var revoked: String?
    var summary: HostSummaryView?
    var charts: [Chart]
    var tickets: [QueuePage.Row]
    var bundles: [TicketPage.BundleRow]
    var bundleRequests: [BundleRequestView]
    var requestAction: String
    var revokedHost: Bool
}

struct IncidentsPage {
    struct Row {
        var href: String
        var title: String
        var ruleID: String
        var status: String
        var hosts: Int
        var since: String
        var updated: String
        var tickets: Int
    }
    var chrome: PageChrome
    var rows: [Row]
}

struct IncidentPage {
    var chrome: PageChrome
    var id: Int64
    var title: String
    var ruleID: String
    var status: String
    var hosts: Int
    var since: String
    var updated: String
    var tickets: [QueuePage.Row]
}

struct AuditPage {
    struct Row {
        var time: String
        var actor: String
        var action: String
        var target: String
        var detail: String
    }
    var chrome: PageChrome
    var rows: [Row]
    var previousHref: String?
    var nextHref: String?
}

struct IntegrationsPage {
    struct Backend {
        var name: String
        var kind: String
        var url: String
        var inbound: Bool
        /// Whose certificates the collector trusts for it: `plain HTTP (no TLS)`, `system CAs`
        /// or `ca_file (N certificates)`.
        var trust: String
    }
    struct Row {
        var id: Int64
        var backend: String
        var event: String
        var target: String
        var targetHref: String
        var status: String
        var attempts: Int
        var next: String
        var error: String
        var created: String
        var age: String
        var retryAction: String?
    }
    struct Filter {
        var label: String
        var href: String
        var active: Bool
    }
    var chrome: PageChrome
    var backends: [Backend]
    var noBackends: Bool
    var rows: [Row]
    var noRows: Bool
    var filters: [Filter]
}
