import Foundation
import Shared

/// Everything the collector keeps, behind one interface.
///
/// The SQLite implementation (`SQLiteStore`) is the embedded default; a PostgreSQL backend is
/// meant to be a second conforming type. So no database library type appears here: only
/// Foundation and `Shared` values, and every method is `async`. Methods that create things
/// take the already-hashed secret (`*Hash`): plain tokens never reach the store.
/// The outbox of ticket integrations is part of the store: its events are written by the
/// same transactions that change tickets.
public protocol CollectorStore: IntegrationOutbox, Sendable {
    // MARK: Lifecycle

    /// Applies the named, append-only schema migrations that are not applied yet.
    func migrate() async throws
    /// Names of the applied migrations, oldest first.
    func appliedMigrations() async throws -> [String]
    /// Answers when the database can be read (for `/readyz`).
    func ping() async throws
    /// Closes the database; the store is unusable afterwards.
    func close() async throws

    /// Runs `body` unless another collector sharing this database runs the job `name` right
    /// now (retention and policy passes: one runner at a time). Answers whether it ran.
    /// On SQLite, one process owns the file, so `body` always runs.
    func runExclusively(_ name: String, _ body: @Sendable () async throws -> Void) async throws -> Bool

    // MARK: First start

    /// Whether first-start credentials were ever issued (so they are printed only once).
    func isInitialized() async throws -> Bool
    /// Stores the first enrollment secret and admin in one transaction and marks the store
    /// initialized. Returns false (and changes nothing) when it already was.
    func initialize(enrollmentSecretHash: String, adminName: String, adminPasswordHash: String, now: Date) async throws -> Bool

    // MARK: Enrollment secrets

    /// Stores a new enrollment secret by its hash; `maxUses` nil is unlimited.
    func createEnrollmentSecret(hash: String, label: String?, expiresAt: Date?, maxUses: Int?, now: Date) async throws -> EnrollmentSecretRecord
    /// Every enrollment secret, newest first (hashes never leave the store).
    func enrollmentSecrets() async throws -> [EnrollmentSecretRecord]
    /// Revokes a secret; false when no unrevoked secret has that id.
    func revokeEnrollmentSecret(id: Int64, now: Date) async throws -> Bool
    /// The secret with this hash, whatever its state (the caller checks `isUsable`).
    func enrollmentSecret(hash: String) async throws -> EnrollmentSecretRecord?

    // MARK: Hosts

    /// Enrolls a machine under the enrollment policy, in one transaction: a new machine gets
    /// a host; a known one gets a new token only when it proves it holds its current token
    /// (and is not revoked) or an admin approved its parked request for the same key;
    /// otherwise its request is parked. Counts a use of the secret when a token is issued.
    func enroll(_ request: EnrollmentRequest, now: Date) async throws -> EnrollmentOutcome
    /// Revokes a host: its token is refused from now on and re-enrolling needs approval.
    /// False when no unrevoked host has that id.
    func revokeHost(id: String, now: Date) async throws -> Bool
    /// Approves the host's parked re-enrollment; false when it has none.
    func approveEnrollment(hostID: String, by approver: String, now: Date) async throws -> Bool
    /// Enrolls a machine, or gives a known one a new token, unconditionally (tests and
    /// tools; agents go through `enroll`). Also counts the use of enrollment secret `secretID`.
    func enrollHost(id: String, machineID: String, hostname: String, agentVersion: String?, tokenHash: String,
                    secretID: Int64, now: Date) async throws -> (host: HostRecord, created: Bool)
    /// The host holding this token hash.
    func host(tokenHash: String) async throws -> HostRecord?
    /// A host by id.
    func host(id: String) async throws -> HostRecord?
    /// Every host, by hostname.
    func hosts() async throws -> [HostRecord]

    // MARK: Users, API tokens, sessions

    /// Adds a technician or admin; throws `StoreError.conflict` when the name is taken.
    func addUser(name: String, role: UserRole, passwordHash: String, now: Date) async throws -> UserRecord
    /// Replaces a user's password hash; false when there is no such user.
    func resetPassword(name: String, passwordHash: String, now: Date) async throws -> Bool
    /// Removes a user (and their sessions); false when there is no such user.
    func removeUser(name: String) async throws -> Bool
    /// Every user, by name.
    func users() async throws -> [UserRecord]
    /// A user and their password hash, for logging in.
    func user(name: String) async throws -> (user: UserRecord, passwordHash: String)?
    /// Stores a new API token by its hash; `StoreError.conflict` when the name is taken.
    func createAPIToken(name: String, role: UserRole, hash: String, expiresAt: Date?, now: Date) async throws -> APITokenRecord
    /// Every API token, newest first.
    func apiTokens() async throws -> [APITokenRecord]
    /// Revokes a token by name; false when no unrevoked token has that name.
    func revokeAPIToken(name: String, now: Date) async throws -> Bool
    /// The API token with this hash, whatever its state (the caller checks `isUsable`).
    func apiToken(hash: String) async throws -> APITokenRecord?
    /// Stores a login session for the web UI.
    func createSession(userName: String, hash: String, expiresAt: Date, now: Date) async throws

    // MARK: Bundles and tickets

    /// The first answer given for a bundle id, and the host that sent it.
    func bundleReceipt(bundleID: String) async throws -> (hostID: String, receipt: BundleReceipt)?
    /// Records an accepted bundle, its ticket and findings in one transaction. `policy`
    /// chooses (inside the transaction) whether to open a ticket or join an open one.
    /// When the bundle id is already stored, changes nothing and answers `.duplicate`.
    func commitBundle(_ bundle: NewBundle, findings: [Finding], policy: any TicketPolicy) async throws -> BundleCommitResult
    /// What one host holds: bundles it sent since `since` (the oldest of them first) and
    /// the compressed bytes of its live bundles. For per-host quotas at ingest.
    func hostUsage(hostID: String, since: Date) async throws -> HostUsage
    /// Whether any bundle row (expired or not) names this blob.
    func isBlobReferenced(sha256: String) async throws -> Bool
    /// Every blob digest that a live (not expired) bundle row names.
    func liveBlobDigests() async throws -> Set<String>
    /// A bundle by id.
    func bundle(id: String) async throws -> BundleRecord?
    /// The bundles of a ticket, oldest first.
    func bundles(ticketID: Int64) async throws -> [BundleRecord]
    /// The bundles of a host, newest first.
    func bundles(hostID: String, limit: Int, offset: Int) async throws -> [BundleRecord]
    /// Tickets matching a filter, most recently updated first.
    func tickets(_ filter: TicketFilter) async throws -> [TicketSummary]
    /// A ticket with its findings, comments and bundles.
    func ticket(id: Int64) async throws -> TicketDetail?
    /// A host's tickets with the replies the user may see; with `requestedBy`, only the
    /// tickets that local user's requests opened.
    func hostTickets(hostID: String, requestedBy: String?, limit: Int) async throws -> [HostTicket]
    /// Adds a comment; the first comment visible to the user sets `firstResponseAt`.
    func addComment(ticketID: Int64, author: String, body: String, visibleToUser: Bool, now: Date) async throws -> TicketComment?
    /// Changes a ticket's status, priority or assignee (nil leaves a field as it is).
    func updateTicket(id: Int64, status: TicketStatus?, priority: TicketPriority?, assignee: String?, now: Date) async throws -> TicketSummary?
    /// Moves a bundle that joined a ticket (and its findings) to a new ticket of its own.
    /// Returns the new ticket's id; nil when the ticket or bundle is not there.
    /// - Throws: `StoreError(.conflict)` when it is the ticket's only bundle.
    func splitBundle(ticketID: Int64, bundleID: String, author: String, now: Date) async throws -> Int64?
    /// Incidents, newest first.
    func incidents(limit: Int) async throws -> [IncidentRecord]
    /// One incident.
    func incident(id: Int64) async throws -> IncidentRecord?

    // MARK: Journal index

    /// Indexes a stored bundle's journal (`entries` in bundle order) so its pages are answered
    /// by `journalPage`. Written in several transactions after the bundle's own; the bundle
    /// counts as indexed only when the last commits. False (and nothing usable) when the bundle
    /// is gone or expired meanwhile.
    func storeJournalIndex(bundleID: String, entries: [JournalEntry], now: Date) async throws -> Bool
    /// One page of a bundle's journal from its index, the same entries `BundleArchive.journal`
    /// finds in the blob; nil when the bundle has no complete index (stored before the index
    /// existed, over `journal_index_max_entries`, or expired).
    func journalPage(bundleID: String, filter: BundleArchive.JournalFilter, offset: Int, limit: Int) async throws -> BundleArchive.JournalPage?
    /// The entry with this `locator` (Evidence.cursor) and up to `before`/`after` entries
    /// around it, with its position for the journal view; nil when the bundle has no index.
    func journalContext(bundleID: String, locator: String, before: Int, after: Int) async throws -> BundleArchive.JournalContext?

    /// Removes the journal index rows of expired bundles, in transactions of bounded size so
    /// the writer is never held for long. Returns the number of rows removed.
    func purgeJournalIndexes() async throws -> Int

    // MARK: Heartbeats

    /// Stores heartbeats as each host's latest state (the JSON and the typed fleet rows) and
    /// appends their headline figures to the typed health history. One transaction for the
    /// whole batch, which also sets `logMark` when given (how far the heartbeat log is stored).
    /// A heartbeat of a host that no longer exists is skipped, not an error: a host deleted
    /// while its heartbeat waited must not fail the rest of the batch.
    func recordHeartbeats(_ heartbeats: [HeartbeatRow], logMark: HeartbeatLogMark?) async throws
    /// The value last stored with `logMark.key`, or nil.
    func heartbeatLogMark(key: String) async throws -> String?
    /// A host's latest heartbeat.
    func latestHeartbeat(hostID: String) async throws -> StoredHeartbeat?
    /// Thins the typed health history: rows before `hourlyBefore` down to one per host and
    /// hour, rows before `deleteBefore` removed. Answers how many rows went.
    func pruneHealthHistory(hourlyBefore: Date, deleteBefore: Date) async throws -> Int
    /// A host's typed health history (headline figures of past heartbeats), newest first.
    func healthHistory(hostID: String, limit: Int) async throws -> [HealthPoint]

    // MARK: Retention

    /// Live bundles received before `receivedBefore`, plus each host's live bundles beyond
    /// its `keepPerHost` newest.
    func bundlesToExpire(receivedBefore: Date, keepPerHost: Int, limit: Int) async throws -> [BundleRecord]
    /// Marks bundles expired, stops their journal index from answering and notes it on their
    /// tickets (findings stay), in one transaction.
    func markExpired(bundleIDs: [String], reason: String, now: Date) async throws

    // MARK: Web UI

    /// The user behind a web session that has not expired, with whether they must change
    /// their password before anything else.
    func webSession(hash: String, now: Date) async throws -> WebSessionUser?
    /// Ends one session (sign out).
    func deleteSession(hash: String) async throws
    /// Removes expired sessions; answers how many.
    func deleteExpiredSessions(now: Date) async throws -> Int
    /// A user changes their own password: clears "must change" and ends every other session
    /// of theirs. False when there is no such user.
    func changePassword(name: String, passwordHash: String, keepingSession sessionHash: String?, now: Date) async throws -> Bool
    /// Appends to the audit log (fields cut to the column limits).
    func recordAudit(_ entry: AuditEntry) async throws
    /// Removes audit rows older than `before`; answers how many.
    func pruneAuditLog(before: Date) async throws -> Int
    /// The audit log, newest first.
    func auditLog(limit: Int, offset: Int) async throws -> [AuditEntry]
    /// The ticket queue: one page under `query`'s filters and order, and the total matching.
    func ticketQueue(_ query: TicketQuery) async throws -> TicketQueuePage
    /// Why each repeat joined the ticket, by bundle id (the first bundle has none).
    func joinReasons(ticketID: Int64) async throws -> [String: String]
    /// The same host's bundle received just before this one.
    func previousBundle(of bundleID: String) async throws -> BundleRecord?
    /// The incidents a ticket belongs to, newest first.
    func incidentsOf(ticketID: Int64) async throws -> [IncidentRecord]

    // MARK: Saved fleet queries

    /// Saves a query, a policy when `policy` is set; `StoreError.conflict` when the owner
    /// already has one of that name.
    func saveQuery(name: String, sql: String, owner: String, shared: Bool, policy: PolicySettings?, now: Date) async throws -> SavedQuery
    /// Policies whose next run is due at `now`.
    func duePolicies(now: Date) async throws -> [SavedQuery]
    /// Records a policy run: `matches` are the hosts it answered now (each with a detail
    /// line). Hosts that newly match get a ticket with the policy's advice, or join their
    /// open ticket from the same policy; hosts no longer matching are forgotten (they count as
    /// new if they match again). At most `maxNewTickets` tickets are opened. Answers the new
    /// tickets' ids. `matches` nil records a failed run (`summary` says why) and changes no match;
    /// otherwise the run's summary is written from the counts.
    func recordPolicyRun(_ policy: SavedQuery, matches: [(hostID: String, detail: String)]?, summary: String, maxNewTickets: Int,
                         now: Date) async throws -> [Int64]
    /// The queries `user` may see: their own and every shared one, by name.
    func savedQueries(visibleTo user: String) async throws -> [SavedQuery]
    /// Deletes a saved query of `owner` (an admin may delete any); false when there is none.
    func deleteSavedQuery(id: Int64, by user: String, isAdmin: Bool) async throws -> Bool

    // MARK: Bundle requests

    /// Queues a request for a fresh bundle from a host. Throws `StoreError.conflict` when the
    /// host already has `maxPending` requests waiting, `.notFound` for an unknown host or ticket.
    func createBundleRequest(hostID: String, ticketID: Int64?, requestedBy: String, note: String?, now: Date,
                             expiresAt: Date, maxPending: Int) async throws -> BundleRequestRecord
    /// A host's requests not yet delivered nor expired, oldest first.
    func pendingBundleRequests(hostID: String, now: Date) async throws -> [BundleRequestRecord]
    /// The requests made for a host or a ticket, newest first (every state).
    func bundleRequests(hostID: String?, ticketID: Int64?, limit: Int) async throws -> [BundleRequestRecord]

    // MARK: Inventory

    /// Replaces a host's inventory (hardware and installed packages) in one transaction.
    func recordInventory(hostID: String, _ inventory: Inventory, now: Date) async throws
    /// When the host's inventory last arrived.
    func inventoryReceivedAt(hostID: String) async throws -> Date?

    // MARK: Rule knowledge

    /// Every rule's known fix, by rule id.
    func ruleFixes() async throws -> [String: RuleFix]
    /// Sets or replaces a rule's known fix and appends `audit`, in one transaction. Findings
    /// stored from then on carry it; earlier ones keep what they had.
    func setRuleFix(_ fix: RuleFix, audit: AuditEntry) async throws
    /// Removes a rule's known fix and appends `audit`, in one transaction; false (and nothing
    /// written) when the rule had none.
    func deleteRuleFix(ruleID: String, audit: AuditEntry) async throws -> Bool
    /// Per rule id: findings, tickets it topped, splits and reclassifications of those tickets.
    func ruleStats() async throws -> [String: RuleStats]
    /// A rule's newest corrections (splits, reclassifications), newest first.
    func ruleEvents(ruleID: String, limit: Int) async throws -> [RuleEvent]
    /// A technician puts a ticket in another category than its top finding's (the rule had it
    /// wrong): kept on the ticket, counted against the top rule, noted internally and sent to
    /// ticket integrations, in one transaction. Setting the category it already has changes
    /// nothing. Nil when there is no such ticket.
    func reclassifyTicket(id: Int64, category: FindingCategory, by actor: String, now: Date) async throws -> TicketSummary?

    // MARK: Figures

    /// Counts for gauges and `/readyz`.
    func counts() async throws -> StoreCounts
}

/// A store that can commit a heartbeat batch on the calling thread, blocking it until the
/// batch is committed. `HeartbeatRecorder` drains its queue this way from a thread of its
/// own, so the next batch starts as soon as the last one committed, without waiting for a
/// task to be scheduled on an event loop busy with requests (SQLite; PostgreSQL's client is
/// asynchronous and keeps the task).
public protocol BlockingHeartbeatWriter: Sendable {
    /// `CollectorStore.recordHeartbeats`, on the caller's thread.
    func recordHeartbeatsBlocking(_ heartbeats: [HeartbeatRow], logMark: HeartbeatLogMark?) throws
}

/// How far a heartbeat log is stored: kept in `collector_state` under `key`, in the same
/// transaction as the heartbeats up to it, so a replay after a crash stores each exactly once.
public struct HeartbeatLogMark: Sendable, Equatable {
    /// `collector_state` key, one per log slot.
    public var key: String
    /// The position (`HeartbeatLog.Position.description`); nil leaves the mark where it is (a
    /// batch's transactions before its last).
    public var value: String?
    /// Some of these heartbeats may be stored already (a replay after a crash between a
    /// batch's transactions, or a retry after a failure that may have committed), so a history
    /// row the store holds for the same host and time is not added again. The latest state is
    /// the same either way.
    public var replay: Bool

    /// Creates a mark.
    public init(key: String, value: String?, replay: Bool = false) { self.key = key; self.value = value; self.replay = replay }
}

extension CollectorStore {
    /// `recordHeartbeats(_:logMark:)` without a log.
    public func recordHeartbeats(_ heartbeats: [HeartbeatRow]) async throws {
        try await recordHeartbeats(heartbeats, logMark: nil)
    }
}

/// Whether a ticket is opened or a bundle joins one: the extension point for ticket
/// de-duplication. The store calls it inside the transaction that records the bundle.
public protocol TicketPolicy: Sendable {
    /// Chooses the ticket for a new bundle, given the host's tickets that are not resolved or closed.
    func decide(bundle: NewBundle, findings: [Finding], openTickets: [TicketSummary]) -> TicketDecision
    /// The answer the agent gets (and gets again for a duplicate).
    func receipt(bundle: NewBundle, ticketID: Int64, joined: Bool, findings: [Finding]) -> BundleReceipt
    /// Hosts and window that turn one rule's findings into an incident.
    var incidentThreshold: (hosts: Int, window: TimeInterval) { get }
}

extension [Finding] {
    /// The rules among these findings that can make an incident (medium severity or worse),
    /// each once, in order, with the title of its first finding. Both stores' incident
    /// linking goes through this.
    var incidentRules: [(ruleID: String, title: String)] {
        var seen = Set<String>()
        return compactMap { f in f.severity >= .medium && seen.insert(f.ruleID).inserted ? (f.ruleID, f.title) : nil }
    }
}

/// A store failure callers can act on.
public struct StoreError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure.
    public enum Kind: String, Sendable {
        /// A unique name or key is already taken.
        case conflict
        /// A referenced row does not exist.
        case notFound = "not_found"
        /// The database could not be opened, read or written.
        case unavailable
        /// The database holds something this version cannot read.
        case corrupt
    }
    /// What kind of failure.
    public var kind: Kind
    /// What failed and what to do.
    public var message: String

    /// Creates a store error.
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// `kind: message`.
    public var description: String { "\(kind.rawValue): \(message)" }
}
