import Foundation

/// The agent's settings: `/etc/helpline/agent.conf` (or `--config FILE` / `HELPLINE_CONFIG`),
/// then environment variables, then flags; later wins.
///
/// The file is `key = value` lines with `#` comments:
/// ```
/// server = https://helpline.example.com
/// ca_file = /etc/helpline/ca.pem
/// pinned_public_key = sha256//AbC…=
/// proxy = http://proxy:3128
/// connect_timeout = 10s        # 100ms to 10m
/// stall_timeout = 30s          # 1s to 1h
/// retries = 3                  # 1 to 10
/// since = 1h                   # 1s to 3650d
/// important_since = 72h        # 1s to 3650d
/// spool_max_bundles = 20       # 1 to 1000
/// spool_max_bytes = 512MB      # 1MiB to 1TiB
/// mapping_retention = 30d      # 1h to 3650d; how long redaction mappings stay
/// heartbeat_interval = 15m     # 10s to 7d
/// extra_rule_line_budget = 5ms # 1ms to 1s
/// rules_dir = /etc/helpline/redaction.d  # absolute path; the organisation's extra redaction rules
/// redact_emails = false        # true or false; also redact_usernames, redact_ips,
///                              # redact_macs, redact_hostnames
/// user_requests_per_hour = 10  # 1 to 1000; requests for help one ordinary user may make
///                              # through the daemon in an hour
/// notify_replies = true        # true or false
/// reply_check_interval = 5m    # 30s to 1d
/// ```
/// The ranges are `InputLimits`; a value outside one is an error naming file and line.
struct AgentConfig: Sendable, Equatable {
    /// Collector base URL; enrollment stores one too.
    var server: String?
    var caFile: String?
    var pinnedPublicKey: String?
    var proxy: String?
    var connectTimeout: Duration = .seconds(10)
    /// Give up an upload when it stalls this long.
    var stallTimeout: Duration = .seconds(30)
    /// Attempts for an interactive upload before spooling.
    var retries = 3
    var since: String?
    var importantSince: String?
    /// Most bundles waiting in the spool.
    var spoolMaxBundles = 20
    /// Most bytes waiting in the spool.
    var spoolMaxBytes = 512 << 20
    /// How long a request's redaction mapping (the identifiers behind its placeholders) stays
    /// in the state folder's `mappings/`.
    var mappingRetention: Duration = .seconds(30 * 86_400)
    /// Time between daemon heartbeats.
    var heartbeatInterval: Duration = .seconds(15 * 60)
    /// The organisation's redaction: its extra rules folder (`rules_dir`), the opt-in identifier
    /// redactions (`redact_emails`, `redact_usernames`, `redact_ips`, `redact_macs`,
    /// `redact_hostnames`) and `extra_rule_line_budget`. Every collection the daemon makes uses it
    /// (ordinary users' requests, technicians' requests, heartbeats); flags of a local run can only
    /// add to it (`CollectionFlags.options(defaultsFrom:)`).
    var redaction = RedactionOptions()
    /// CPU time an organisation's regex rules may spend on one line (`RedactionOptions`).
    var extraRuleLineBudget: Duration {
        get { redaction.extraRuleLineBudget }
        set { redaction.extraRuleLineBudget = newValue }
    }
    /// Requests for help one ordinary user may make through the daemon in an hour
    /// (`UserRequestLimiter`); root is not limited.
    var userRequestsPerHour = 10
    /// Whether the daemon shows users a desktop notification when a technician replies to or
    /// changes the status of a ticket they opened.
    var notifyReplies = true
    /// Time between the daemon's check-ins: technicians' requests for fresh bundles, and this
    /// computer's tickets for `notifyReplies`.
    var replyCheckInterval: Duration = .seconds(5 * 60)

    /// The default config file.
    static let defaultPath = "/etc/helpline/agent.conf"

    /// Reads `path` (missing is fine when `required` is false) and applies the environment.
    /// - Throws: `AgentConfigError` naming the file, line and what to fix.
    static func load(path: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AgentConfig {
        var config = AgentConfig()
        let explicit = path ?? environment["HELPLINE_CONFIG"]
        let file = explicit ?? defaultPath
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            try config.apply(text: text, source: file)
        } else if explicit != nil {
            throw AgentConfigError("cannot read the config file \(file); check the path and its permissions")
        }
        if let s = environment["HELPLINE_SERVER"], !s.isEmpty { config.server = s }
        if let s = environment["HELPLINE_CA_FILE"], !s.isEmpty { config.caFile = s }
        return config
    }

    /// Applies `key = value` lines.
    mutating func apply(text: String, source: String) throws {
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init)?
                .trimmingCharacters(in: .whitespaces) ?? ""
            if line.isEmpty { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw AgentConfigError("\(source):\(index + 1): expected 'key = value', found '\(line)'")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            // Every number is range-checked here (InputLimits), so later arithmetic on
            // timeouts and sizes cannot overflow.
            func checked<T>(_ parse: () throws(InputValueError) -> T) throws -> T {
                do { return try parse() } catch { throw AgentConfigError("\(source):\(index + 1): \(error.description)") }
            }
            func duration(_ range: ClosedRange<Duration>) throws -> Duration {
                try checked { () throws(InputValueError) in try DurationText.parse(value, for: key, in: range) }
            }
            func count(_ range: ClosedRange<Int>) throws -> Int {
                try checked { () throws(InputValueError) in try WholeNumberText.parse(value, for: key, in: range) }
            }
            func flag() throws -> Bool {
                switch value.lowercased() {
                case "true", "yes", "on": return true
                case "false", "no", "off": return false
                default: throw AgentConfigError("\(source):\(index + 1): \(key) '\(value)' is not true or false")
                }
            }
            switch key {
            case "server": server = value
            case "ca_file": caFile = value
            case "pinned_public_key": pinnedPublicKey = value
            case "proxy": proxy = value
            case "connect_timeout": connectTimeout = try duration(InputLimits.connectTimeout)
            case "stall_timeout": stallTimeout = try duration(InputLimits.stallTimeout)
            case "retries": retries = try count(InputLimits.retries)
            case "since": _ = try duration(InputLimits.journalLookback); since = value
            case "important_since": _ = try duration(InputLimits.journalLookback); importantSince = value
            case "spool_max_bundles": spoolMaxBundles = try count(InputLimits.spoolBundles)
            case "spool_max_bytes":
                spoolMaxBytes = try checked { () throws(InputValueError) in try ByteCount.parse(value, for: key, in: InputLimits.spoolBytes) }
            case "mapping_retention": mappingRetention = try duration(InputLimits.mappingRetention)
            case "heartbeat_interval": heartbeatInterval = try duration(InputLimits.heartbeatInterval)
            case "extra_rule_line_budget": extraRuleLineBudget = try duration(InputLimits.extraRuleLineBudget)
            case "rules_dir":
                // Absolute: the daemon, the check-in child and `helpline` run from different folders.
                guard value.hasPrefix("/") else {
                    throw AgentConfigError("\(source):\(index + 1): rules_dir '\(value)' is not an absolute path; give the folder of *.rules files as /path/to/folder")
                }
                redaction.organisationRulesDirectory = value
            case "redact_emails": redaction.emails = try flag()
            case "redact_usernames": redaction.usernames = try flag()
            case "redact_ips": redaction.ipAddresses = try flag()
            case "redact_macs": redaction.macAddresses = try flag()
            case "redact_hostnames": redaction.hostnames = try flag()
            case "user_requests_per_hour": userRequestsPerHour = try count(InputLimits.userRequestsPerHour)
            case "notify_replies": notifyReplies = try flag()
            case "reply_check_interval": replyCheckInterval = try duration(InputLimits.replyCheckInterval)
            default:
                throw AgentConfigError("\(source):\(index + 1): unknown setting '\(key)'")
            }
        }
    }
}

/// A bad agent configuration.
struct AgentConfigError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}
