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
    /// Heartbeats kept per host (`heartbeat_history`).
    public var heartbeatHistory = 288
    /// Bundles older than this many days are expired (`retention_days`).
    public var retentionDays = 30
    /// Bundles kept per host, newest first (`retention_bundles_per_host`).
    public var retentionBundlesPerHost = 50
    /// Seconds between retention runs (`retention_interval_seconds`).
    public var retentionIntervalSeconds = 3600
    /// Largest journal page (`journal_page_max`).
    public var journalPageMax = 1000
    /// Largest member served whole by the members endpoint (`max_member_download_bytes`).
    public var maxMemberDownloadBytes = 64 << 20
    /// Most host tokens kept in memory for authentication (0 turns the cache off).
    public var hostTokenCacheEntries = 100_000
    /// Longest a cached host token lives, in seconds: how long a token that another process
    /// sharing the database replaced can keep working here (this process's own
    /// re-enrollments take effect at once).
    public var hostTokenCacheSeconds = 60

    /// The defaults.
    public init() {}

    /// Name → field, for the config file, environment and flags.
    public static let names: [String: any WritableKeyPath<CollectorLimits, Int> & Sendable] = [
        "max_bundle_bytes": \.maxBundleBytes,
        "max_uncompressed_bytes": \.maxUncompressedBytes,
        "max_compression_ratio": \.maxCompressionRatio,
        "max_members": \.maxMembers,
        "max_member_bytes": \.maxMemberBytes,
        "max_json_member_bytes": \.maxJSONMemberBytes,
        "max_journal_line_bytes": \.maxJournalLineBytes,
        "max_json_body_bytes": \.maxJSONBodyBytes,
        "max_concurrent_uploads": \.maxConcurrentUploads,
        "min_free_disk_mb": \.minFreeDiskMB,
        "retry_after_seconds": \.retryAfterSeconds,
        "repeat_window_hours": \.repeatWindowHours,
        "incident_hosts": \.incidentHosts,
        "incident_window_minutes": \.incidentWindowMinutes,
        "heartbeat_history": \.heartbeatHistory,
        "retention_days": \.retentionDays,
        "retention_bundles_per_host": \.retentionBundlesPerHost,
        "retention_interval_seconds": \.retentionIntervalSeconds,
        "journal_page_max": \.journalPageMax,
        "max_member_download_bytes": \.maxMemberDownloadBytes,
        "host_token_cache_entries": \.hostTokenCacheEntries,
        "host_token_cache_seconds": \.hostTokenCacheSeconds,
    ]

    /// Sets a limit by name.
    /// - Throws: `ConfigurationError` for an unknown name or a negative value.
    public mutating func set(_ name: String, _ value: Int, source: String) throws {
        guard let path = Self.names[name] else {
            throw ConfigurationError("\(source): unknown limit '\(name)'; known limits: \(Self.names.keys.sorted().joined(separator: ", "))")
        }
        guard value >= 0 else { throw ConfigurationError("\(source): limit \(name) must be 0 or more, got \(value)") }
        self[keyPath: path] = value
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
