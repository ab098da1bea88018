/// The ranges the agent accepts for numbers people give it, in one place. Values outside
/// are refused with a message naming the range, never clamped or wrapped silently.
enum InputLimits {
    /// The longest journal window: `--since`, `--important-since`, `since`,
    /// `important_since`. Ten years is more than any journal keeps, and far below where
    /// "now minus the window" in microseconds could wrap.
    static let maxJournalLookback: Duration = .seconds(3650 * 86_400)
    /// Journal windows: at least a second (an empty window is meaningless).
    static let journalLookback: ClosedRange<Duration> = .seconds(1) ... maxJournalLookback

    /// The longest CPU sample: the processes probe sleeps this long inside its 15-second
    /// timeout, so a longer sample would always time out.
    static let maxCPUSample: Duration = .seconds(5)
    /// `--cpu-sample`: a zero interval would divide by zero in CPU percentages.
    static let cpuSample: ClosedRange<Duration> = .milliseconds(10) ... maxCPUSample

    /// The longest time between heartbeats: a host silent longer looks dead to the collector.
    static let maxHeartbeatInterval: Duration = .seconds(7 * 86_400)
    /// `--heartbeat-interval`, `heartbeat_interval`: each beat runs five probes, so not faster
    /// than every 10 seconds.
    static let heartbeatInterval: ClosedRange<Duration> = .seconds(10) ... maxHeartbeatInterval

    /// The longest connect timeout.
    static let maxConnectTimeout: Duration = .seconds(600)
    /// `connect_timeout`.
    static let connectTimeout: ClosedRange<Duration> = .milliseconds(100) ... maxConnectTimeout

    /// The longest stall before an upload is given up.
    static let maxStallTimeout: Duration = .seconds(3600)
    /// `stall_timeout`: libcurl counts whole seconds.
    static let stallTimeout: ClosedRange<Duration> = .seconds(1) ... maxStallTimeout

    /// Most upload attempts: with backoff, ten already take minutes of a waiting user's time.
    static let maxRetries = 10
    /// `retries` (attempts, so at least one).
    static let retries: ClosedRange<Int> = 1 ... maxRetries

    /// Most bundles in the spool.
    static let maxSpoolBundles = 1000
    /// `spool_max_bundles`.
    static let spoolBundles: ClosedRange<Int> = 1 ... maxSpoolBundles

    /// Most bytes in the spool (1 TiB).
    static let maxSpoolBytes = 1 << 40
    /// `spool_max_bytes`: below 1 MiB not even a small bundle fits.
    static let spoolBytes: ClosedRange<Int> = (1 << 20) ... maxSpoolBytes

    /// Most journal entries in a bundle.
    static let maxJournalEntries = 10_000_000
    /// `--max-journal-entries`.
    static let journalEntries: ClosedRange<Int> = 1 ... maxJournalEntries

    /// Most uncompressed bytes of journal.jsonl (1 GiB): more would not fit the collector's
    /// bundle limit even compressed.
    static let maxJournalBytes = 1 << 30
    /// `--max-journal-bytes`.
    static let journalBytes: ClosedRange<Int> = 4096 ... maxJournalBytes

    /// `--compression-level`: deflate's levels.
    static let compressionLevel: ClosedRange<Int> = 1 ... 9

    /// The CPU time an organisation's regex rules get per line by default. An ordinary rule
    /// takes microseconds on a journal line; 5 ms is a thousand times that and still keeps a
    /// journal of 200,000 lines under twenty minutes if every line went wrong.
    static let defaultExtraRuleLineBudget: Duration = RedactionOptions.defaultExtraRuleLineBudget
    /// `--extra-rule-line-budget`, `extra_rule_line_budget`: below a millisecond an unlucky
    /// ordinary line could lose its text; above a second one bad rule stalls a collection for
    /// hours.
    static let extraRuleLineBudget: ClosedRange<Duration> = .milliseconds(1) ... .seconds(1)

    /// `reply_check_interval`: each look is one small request to the collector per computer;
    /// every 30 seconds at most, and at least once a day so a reply is never a day late.
    static let replyCheckInterval: ClosedRange<Duration> = .seconds(30) ... .seconds(86_400)

    /// `mapping_retention`: how long a request's redaction mapping stays on the computer. At
    /// least an hour (a technician's question about a placeholder comes after the ticket), at
    /// most ten years.
    static let mappingRetention: ClosedRange<Duration> = .seconds(3600) ... .seconds(3650 * 86_400)

    /// `user_requests_per_hour`: requests for help one ordinary user may make through the daemon.
    static let userRequestsPerHour: ClosedRange<Int> = 1 ... 1000

    /// `--ticks` (hidden, for tests).
    static let ticks: ClosedRange<Int> = 1 ... 1_000_000
}
