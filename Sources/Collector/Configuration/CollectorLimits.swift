import Shared

/// Every limit the collector enforces, named and configurable.
///
/// Each has one snake_case name used everywhere: the config file's `limits:` map, the
/// `HELPLINE_COLLECTOR_<NAME>` environment variable and `serve --limit name=value`.
public struct CollectorLimits: Sendable, Equatable {
    /// Largest compressed bundle (`max_bundle_bytes`); larger answers 413.
    public var maxBundleBytes = 256 << 20
    /// Largest uncompressed bundle (`max_uncompressed_bytes`).
    public var maxUncompressedBytes = 1 << 30
    /// Largest expansion ratio (`max_compression_ratio`): decompression bombs answer 422.
    public var maxCompressionRatio = 100
    /// Most members in a bundle (`max_members`).
    public var maxMembers = 256
    /// Largest single member (`max_member_bytes`).
    public var maxMemberBytes = 512 << 20
    /// Largest typed JSON member (`max_json_member_bytes`).
    public var maxJSONMemberBytes = 64 << 20
    /// Longest journal line (`max_journal_line_bytes`).
    public var maxJournalLineBytes = 8 << 20
    /// Largest JSON request body: enroll, heartbeats, comments (`max_json_body_bytes`).
    public var maxJSONBodyBytes = 1 << 20
    /// Uploads processed at once (`max_concurrent_uploads`); one more answers 429.
    public var maxConcurrentUploads = 8
    /// Free space the data directory keeps, in MiB (`min_free_disk_mb`); below it uploads answer 503.
    public var minFreeDiskMB = 1024
    /// Seconds a client is told to wait on 429/503 (`retry_after_seconds`).
    public var retryAfterSeconds = 5
    /// A bundle whose top finding is the top finding of the host's open ticket updated within
    /// this many hours joins that ticket (`repeat_window_hours`).
    public var repeatWindowHours = 72
    /// The same rule on this many hosts (`incident_hosts`)…
    public var incidentHosts = 5
    /// …within this many minutes (`incident_window_minutes`) opens an incident.
    public var incidentWindowMinutes = 60
    /// Points of a host's typed health history its page charts (`heartbeat_history`, newest
    /// first); how long the history is kept is `health_history_days`.
    public var heartbeatHistory = 288
    /// Bundles older than this many days are expired (`retention_days`).
    public var retentionDays = 30
    /// Bundles kept per host, newest first (`retention_bundles_per_host`).
    public var retentionBundlesPerHost = 50
    /// Seconds between retention runs (`retention_interval_seconds`).
    public var retentionIntervalSeconds = 3600
    /// Largest journal page (`journal_page_max`).
    public var journalPageMax = 1000
    /// Most journal entries indexed per bundle at ingest (`journal_index_max_entries`); a
    /// bundle with more gets no index and its journal pages are answered by scanning the
    /// blob (0 indexes nothing).
    public var journalIndexMaxEntries = 500_000
    /// Largest member served whole by the members endpoint (`max_member_download_bytes`).
    public var maxMemberDownloadBytes = 64 << 20
    /// Most host tokens kept in memory for authentication (0 turns the cache off).
    public var hostTokenCacheEntries = 100_000
    /// Longest a cached host token lives, in seconds: how long a token that another process
    /// sharing the database replaced can keep working here (this process's own
    /// re-enrollments take effect at once).
    public var hostTokenCacheSeconds = 60
    /// Most connections this collector opens to PostgreSQL (`postgres_max_connections`);
    /// several collectors share the server's `max_connections` between them. One is held by
    /// the listener for host-token changes, so at least 2.
    public var postgresMaxConnections = 16
    /// Page cache of the SQLite connection that writes, in MiB (`sqlite_cache_mib`): every
    /// heartbeat touches a handful of its host's pages, and what is not cached is read again.
    public var sqliteCacheMiB = 32
    /// WAL pages after which SQLite copies the log back into the database
    /// (`sqlite_checkpoint_pages`, 4 KiB each: 16,000 is 64 MiB); also the size the log is cut
    /// back to. Larger means fewer checkpoints and syncs under heavy heartbeat load (a page
    /// rewritten twice between two checkpoints is copied once), a larger `-wal` file and longer
    /// pauses of the writer while one runs. BENCHMARKS.md, "seventh pass", has the measure.
    public var sqliteCheckpointPages = 16000

    /// Seconds a client has to send a whole request head after connecting or after the
    /// previous answer (`header_timeout_seconds`); slower connections are closed.
    public var headerTimeoutSeconds = 10
    /// Seconds a connection may sit with nothing sent either way (`idle_timeout_seconds`).
    public var idleTimeoutSeconds = 60
    /// Seconds a request body may go without a byte while the collector waits for one
    /// (`body_idle_timeout_seconds`); answers 408.
    public var bodyIdleTimeoutSeconds = 15
    /// Slowest body accepted, in bytes per second of the collector's waiting
    /// (`min_body_bytes_per_second`), measured after `body_rate_grace_seconds`; answers 408.
    public var minBodyBytesPerSecond = 1024
    /// Seconds of body reading before the minimum rate applies (`body_rate_grace_seconds`).
    public var bodyRateGraceSeconds = 10
    /// Open connections at once (`max_connections`); more are closed as they arrive.
    public var maxConnections = 1024
    /// Uploads one host may have in flight (`max_uploads_per_host`); one more answers 429,
    /// so one host can never take every slot of `max_concurrent_uploads`.
    public var maxUploadsPerHost = 2
    /// Bundles one host may send per hour (`host_bundles_per_hour`); more answer 429.
    public var hostBundlesPerHour = 30
    /// Stored bundle bytes one host may hold, in MiB (`host_max_stored_mb`); an upload
    /// that would pass it answers 507 until retention frees room.
    public var hostMaxStoredMB = 2048
    /// Heartbeats one host may send per hour (`heartbeats_per_hour`); more answer 429.
    public var heartbeatsPerHour = 60
    /// Heartbeats written to the heartbeat log and not yet stored, at most
    /// (`heartbeat_backlog_max`); one more answers 503. Above 0 (the default), every heartbeat
    /// is appended to the log (`heartbeat-log/` in the data directory, which keeps it across a
    /// crash) and answered once stored while the writer keeps up, or at once when more than
    /// `heartbeat_wait_max` wait: a surge (a fleet coming back after an outage) is then taken
    /// at a higher rate and stored afterwards in large batches in host order. 0 answers each
    /// heartbeat once stored, without the log.
    public var heartbeatBacklogMax = 50_000
    /// With `heartbeat_backlog_max` above 0: while fewer heartbeats than this wait to be stored,
    /// a heartbeat is answered once stored (a page read right after shows it); from this many
    /// on, once logged (`heartbeat_wait_max`). 0 answers every heartbeat once logged.
    public var heartbeatWaitMax = 16
    /// With `heartbeat_backlog_max` above 0: a heartbeat whose transactions failed this many
    /// times is written on its own (`heartbeat_store_tries`); one the store refuses on its own
    /// while others around it are stored is set aside (named in the log) instead of holding
    /// back the whole backlog. When every heartbeat fails on its own the store is at fault
    /// and nothing is set aside.
    public var heartbeatStoreTries = 3
    /// Most heartbeats stored in one transaction (`heartbeat_batch_max`); the writer holds the
    /// database for the length of one, so other writes (bundles, tickets) may wait that long.
    public var heartbeatBatchMax = 5000
    /// With `heartbeat_backlog_max` above 0: most heartbeats taken off the backlog at once and
    /// put in host order (`heartbeat_sort_max`), then stored in transactions of
    /// `heartbeat_batch_max`. The larger, the more neighbouring hosts share pages.
    public var heartbeatSortMax = 20_000
    /// Size at which the heartbeat log starts a new file, in MiB (`heartbeat_log_segment_mib`);
    /// a file is deleted once every heartbeat in it is stored.
    public var heartbeatLogSegmentMiB = 64
    /// Largest heartbeat as stored (`max_heartbeat_bytes`): only its known fields are kept,
    /// re-encoded; a larger one answers 422.
    public var maxHeartbeatBytes = 64 << 10
    /// Journal and member reads served at once (`max_concurrent_reads`); they inflate
    /// blobs on their own threads, and one more answers 503.
    public var maxConcurrentReads = 2
    /// Longest one journal or member read may take, in seconds (`read_time_budget_seconds`);
    /// past it the read stops and answers 503 (narrow the filter).
    public var readTimeBudgetSeconds = 10
    /// Rows a fleet query answers at most (`query_max_rows`); more are cut and flagged.
    public var queryMaxRows = 10_000
    /// Longest a fleet query may run, in milliseconds (`query_time_limit_ms`).
    public var queryTimeLimitMS = 5000
    /// Longest fleet query text, in bytes (`query_max_sql_bytes`).
    public var queryMaxSQLBytes = 64 << 10
    /// Days of typed health history kept (`health_history_days`); after the first day one
    /// row per host and hour.
    public var healthHistoryDays = 14
    /// Hours a request for a fresh bundle waits for its host (`bundle_request_hours`).
    public var bundleRequestHours = 72
    /// Requests for fresh bundles one host may have waiting (`max_pending_bundle_requests`).
    public var maxPendingBundleRequests = 5
    /// Tickets one policy run may open (`policy_max_new_tickets`); further new matches wait
    /// for the next run.
    public var policyMaxNewTickets = 20
    /// Shortest interval a policy may run at, in minutes (`policy_min_interval_minutes`).
    public var policyMinIntervalMinutes = 5
    /// Largest inventory body (`max_inventory_bytes`); larger answers 413.
    public var maxInventoryBytes = 8 << 20
    /// Most packages in one inventory (`max_inventory_packages`); more answers 422.
    public var maxInventoryPackages = 50_000
    /// Shortest time between two inventories of one host, in minutes
    /// (`inventory_min_interval_minutes`); sooner answers 429.
    public var inventoryMinIntervalMinutes = 10
    /// Days the audit log keeps a row (`audit_retention_days`); older rows are removed by
    /// the retention pass.
    public var auditRetentionDays = 400
    /// Hours a web sign-in lasts (`session_hours`).
    public var sessionHours = 12
    /// Failed sign-ins in a row, for one name or one client address, before each further
    /// attempt must wait (`sign_in_failures_before_delay`).
    public var signInFailuresBeforeDelay = 5
    /// Longest wait between sign-in attempts after repeated failures, in seconds
    /// (`sign_in_max_delay_seconds`); the wait doubles from 5 s per failure up to it.
    public var signInMaxDelaySeconds = 900
    /// Longest known fix a technician may attach to a rule, in bytes of UTF-8
    /// (`rule_fix_max_bytes`); longer answers 400 `invalid_fix`.
    public var ruleFixMaxBytes = 4096
    /// Longest link of a known fix, in bytes (`rule_fix_link_max_bytes`); longer answers 400 `invalid_fix_link`.
    public var ruleFixLinkMaxBytes = 2048

    // Ticket integrations (docs/integrations.md).

    /// Attempts one delivery gets before it is dead-lettered (`integration_max_attempts`).
    public var integrationMaxAttempts = 10
    /// Wait after the first failed attempt, in milliseconds (`integration_backoff_base_ms`);
    /// it doubles with each further failure.
    public var integrationBackoffBaseMS = 5000
    /// Longest wait between two attempts, in seconds (`integration_backoff_max_seconds`).
    public var integrationBackoffMaxSeconds = 3600
    /// Longest one outbound request may take, connect to last byte, in seconds
    /// (`integration_request_timeout_seconds`).
    public var integrationRequestTimeoutSeconds = 15
    /// Largest `ca_file` a backend may name, in bytes (`integration_max_ca_file_bytes`): read
    /// when the configuration loads, one byte past this at most; a larger one stops `serve`.
    /// A bundle of every public CA is ~220 KiB.
    public var integrationMaxCAFileBytes = 4 << 20
    /// Largest remote answer read, in bytes (`integration_max_response_bytes`); a longer
    /// answer fails the attempt.
    public var integrationMaxResponseBytes = 1 << 20
    /// Longest description or comment sent to a remote, in bytes
    /// (`integration_max_description_bytes`); longer text is cut with a note.
    public var integrationMaxDescriptionBytes = 30_000
    /// Largest signed inbound webhook body (`integration_inbound_max_body_bytes`); larger answers 413.
    public var integrationInboundMaxBodyBytes = 64 << 10
    /// How far an inbound webhook's timestamp may be from the collector's clock, in seconds
    /// (`integration_replay_window_seconds`); outside it answers 401, and a signature
    /// already seen within it answers 409.
    public var integrationReplayWindowSeconds = 300
    /// How often the delivery worker looks for due deliveries, in milliseconds
    /// (`integration_poll_interval_ms`).
    public var integrationPollIntervalMS = 1000
    /// How long a claimed delivery stays claimed, in seconds (`integration_lease_seconds`):
    /// a collector that died while delivering leaves it to be claimed again after this.
    public var integrationLeaseSeconds = 120
    /// Days finished deliveries (delivered, skipped, dead) and their events are kept
    /// (`integration_retention_days`); the retention pass removes older ones.
    public var integrationRetentionDays = 30
    /// After a request creating a Jira or GitHub issue whose outcome is unknown (no answer, a
    /// 5xx, 408 or 429, or an answer without the new issue), the next attempt waits at least
    /// this long, in seconds (`integration_create_settle_seconds`), so that the look-up it
    /// starts with finds the issue if it was made (Jira's search lags a few seconds).
    public var integrationCreateSettleSeconds = 60
    /// Pages of 30 GitHub issues read, newest first, when looking for one already made for a
    /// ticket (`integration_lookup_max_pages`); the look-up stops sooner at the first issue
    /// older than the ticket's event.
    public var integrationLookupMaxPages = 5

    /// The defaults.
    public init() {}

    /// One named limit: its field and the values it may take.
    public struct Entry: Sendable {
        /// The field.
        public let path: any WritableKeyPath<CollectorLimits, Int> & Sendable
        /// Accepted values; outside them configuration fails (so no arithmetic on a
        /// limit can overflow).
        public let range: ClosedRange<Int>
    }

    /// Largest byte-sized limit: 1 TiB.
    static let maxBytes = 1 << 40
    /// Largest count or duration: a billion.
    static let maxCount = 1_000_000_000

    /// Name → field and range, for the config file, environment and flags.
    public static let entries: [String: Entry] = [
        "max_bundle_bytes": Entry(path: \.maxBundleBytes, range: 1...maxBytes),
        "max_uncompressed_bytes": Entry(path: \.maxUncompressedBytes, range: 1...maxBytes),
        "max_compression_ratio": Entry(path: \.maxCompressionRatio, range: 1...100_000),
        "max_members": Entry(path: \.maxMembers, range: 1...100_000),
        "max_member_bytes": Entry(path: \.maxMemberBytes, range: 1...maxBytes),
        "max_json_member_bytes": Entry(path: \.maxJSONMemberBytes, range: 1...maxBytes),
        "max_journal_line_bytes": Entry(path: \.maxJournalLineBytes, range: 1...maxBytes),
        "max_json_body_bytes": Entry(path: \.maxJSONBodyBytes, range: 1...(1 << 30)),
        "max_concurrent_uploads": Entry(path: \.maxConcurrentUploads, range: 1...100_000),
        "min_free_disk_mb": Entry(path: \.minFreeDiskMB, range: 0...(1 << 30)),
        "retry_after_seconds": Entry(path: \.retryAfterSeconds, range: 1...86_400),
        "repeat_window_hours": Entry(path: \.repeatWindowHours, range: 0...100_000),
        "incident_hosts": Entry(path: \.incidentHosts, range: 1...maxCount),
        "incident_window_minutes": Entry(path: \.incidentWindowMinutes, range: 1...10_000_000),
        "heartbeat_history": Entry(path: \.heartbeatHistory, range: 1...1_000_000),
        "retention_days": Entry(path: \.retentionDays, range: 1...100_000),
        "retention_bundles_per_host": Entry(path: \.retentionBundlesPerHost, range: 1...1_000_000),
        "retention_interval_seconds": Entry(path: \.retentionIntervalSeconds, range: 1...maxCount),
        "journal_page_max": Entry(path: \.journalPageMax, range: 1...100_000),
        "journal_index_max_entries": Entry(path: \.journalIndexMaxEntries, range: 0...10_000_000),
        "max_member_download_bytes": Entry(path: \.maxMemberDownloadBytes, range: 1...maxBytes),
        "host_token_cache_entries": Entry(path: \.hostTokenCacheEntries, range: 0...100_000_000),
        "host_token_cache_seconds": Entry(path: \.hostTokenCacheSeconds, range: 0...86_400),
        "postgres_max_connections": Entry(path: \.postgresMaxConnections, range: 2...1000),
        "sqlite_cache_mib": Entry(path: \.sqliteCacheMiB, range: 1...65_536),
        "sqlite_checkpoint_pages": Entry(path: \.sqliteCheckpointPages, range: 100...1_000_000),
        "header_timeout_seconds": Entry(path: \.headerTimeoutSeconds, range: 1...3600),
        "idle_timeout_seconds": Entry(path: \.idleTimeoutSeconds, range: 1...86_400),
        "body_idle_timeout_seconds": Entry(path: \.bodyIdleTimeoutSeconds, range: 1...3600),
        "min_body_bytes_per_second": Entry(path: \.minBodyBytesPerSecond, range: 0...maxBytes),
        "body_rate_grace_seconds": Entry(path: \.bodyRateGraceSeconds, range: 0...3600),
        "max_connections": Entry(path: \.maxConnections, range: 1...1_000_000),
        "max_uploads_per_host": Entry(path: \.maxUploadsPerHost, range: 1...100_000),
        "host_bundles_per_hour": Entry(path: \.hostBundlesPerHour, range: 1...maxCount),
        "host_max_stored_mb": Entry(path: \.hostMaxStoredMB, range: 1...(1 << 30)),
        "heartbeats_per_hour": Entry(path: \.heartbeatsPerHour, range: 1...maxCount),
        "heartbeat_backlog_max": Entry(path: \.heartbeatBacklogMax, range: 0...1_000_000),
        "heartbeat_wait_max": Entry(path: \.heartbeatWaitMax, range: 0...100_000),
        "heartbeat_store_tries": Entry(path: \.heartbeatStoreTries, range: 1...100),
        "heartbeat_batch_max": Entry(path: \.heartbeatBatchMax, range: 1...100_000),
        "heartbeat_sort_max": Entry(path: \.heartbeatSortMax, range: 1...1_000_000),
        "heartbeat_log_segment_mib": Entry(path: \.heartbeatLogSegmentMiB, range: 1...1024),
        "max_heartbeat_bytes": Entry(path: \.maxHeartbeatBytes, range: 1024...(1 << 30)),
        "max_concurrent_reads": Entry(path: \.maxConcurrentReads, range: 1...1024),
        "read_time_budget_seconds": Entry(path: \.readTimeBudgetSeconds, range: 1...3600),
        "query_max_rows": Entry(path: \.queryMaxRows, range: 1...1_000_000),
        "query_time_limit_ms": Entry(path: \.queryTimeLimitMS, range: 10...600_000),
        "query_max_sql_bytes": Entry(path: \.queryMaxSQLBytes, range: 16...(1 << 20)),
        "health_history_days": Entry(path: \.healthHistoryDays, range: 1...3650),
        "bundle_request_hours": Entry(path: \.bundleRequestHours, range: 1...8760),
        "max_pending_bundle_requests": Entry(path: \.maxPendingBundleRequests, range: 1...1000),
        "policy_max_new_tickets": Entry(path: \.policyMaxNewTickets, range: 1...100_000),
        "policy_min_interval_minutes": Entry(path: \.policyMinIntervalMinutes, range: 1...10_080),
        "max_inventory_bytes": Entry(path: \.maxInventoryBytes, range: 1024...(1 << 30)),
        "max_inventory_packages": Entry(path: \.maxInventoryPackages, range: 1...10_000_000),
        "inventory_min_interval_minutes": Entry(path: \.inventoryMinIntervalMinutes, range: 0...100_000),
        "audit_retention_days": Entry(path: \.auditRetentionDays, range: 1...100_000),
        "session_hours": Entry(path: \.sessionHours, range: 1...8760),
        "sign_in_failures_before_delay": Entry(path: \.signInFailuresBeforeDelay, range: 1...1000),
        "sign_in_max_delay_seconds": Entry(path: \.signInMaxDelaySeconds, range: 1...86_400),
        "rule_fix_max_bytes": Entry(path: \.ruleFixMaxBytes, range: 16...65_536),
        "rule_fix_link_max_bytes": Entry(path: \.ruleFixLinkMaxBytes, range: 16...8192),
        "integration_max_attempts": Entry(path: \.integrationMaxAttempts, range: 1...1000),
        "integration_backoff_base_ms": Entry(path: \.integrationBackoffBaseMS, range: 1...86_400_000),
        "integration_backoff_max_seconds": Entry(path: \.integrationBackoffMaxSeconds, range: 1...604_800),
        "integration_request_timeout_seconds": Entry(path: \.integrationRequestTimeoutSeconds, range: 1...600),
        "integration_max_response_bytes": Entry(path: \.integrationMaxResponseBytes, range: 1024...(64 << 20)),
        "integration_max_ca_file_bytes": Entry(path: \.integrationMaxCAFileBytes, range: 1024...(64 << 20)),
        "integration_max_description_bytes": Entry(path: \.integrationMaxDescriptionBytes, range: 256...(1 << 20)),
        "integration_inbound_max_body_bytes": Entry(path: \.integrationInboundMaxBodyBytes, range: 256...(1 << 20)),
        "integration_replay_window_seconds": Entry(path: \.integrationReplayWindowSeconds, range: 1...86_400),
        "integration_poll_interval_ms": Entry(path: \.integrationPollIntervalMS, range: 10...600_000),
        "integration_lease_seconds": Entry(path: \.integrationLeaseSeconds, range: 5...86_400),
        "integration_retention_days": Entry(path: \.integrationRetentionDays, range: 1...3650),
        "integration_create_settle_seconds": Entry(path: \.integrationCreateSettleSeconds, range: 0...3600),
        "integration_lookup_max_pages": Entry(path: \.integrationLookupMaxPages, range: 1...100),
    ]

    /// Name → field, for the config file, environment and flags.
    public static var names: [String: any WritableKeyPath<CollectorLimits, Int> & Sendable] {
        entries.mapValues(\.path)
    }

    /// Sets a limit by name.
    /// - Throws: `ConfigurationError` for an unknown name or a value outside the limit's range.
    public mutating func set(_ name: String, _ value: Int, source: String) throws {
        guard let entry = Self.entries[name] else {
            throw ConfigurationError("\(source): unknown limit '\(name)'; known limits: \(Self.entries.keys.sorted().joined(separator: ", "))")
        }
        guard entry.range.contains(value) else {
            throw ConfigurationError("\(source): limit \(name) must be from \(entry.range.lowerBound) to \(entry.range.upperBound), got \(value)")
        }
        self[keyPath: entry.path] = value
    }

    /// The bundle reader's limits derived from these.
    public var bundleLimits: BundleLimits {
        var l = BundleLimits.default
        l.maxCompressedBytes = maxBundleBytes
        l.maxUncompressedBytes = maxUncompressedBytes
        l.maxCompressionRatio = maxCompressionRatio
        l.maxMembers = maxMembers
        l.maxMemberBytes = maxMemberBytes
        l.maxJSONMemberBytes = maxJSONMemberBytes
        l.maxJournalLineBytes = maxJournalLineBytes
        return l
    }
}
