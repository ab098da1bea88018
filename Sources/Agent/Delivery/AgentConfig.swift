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
/// connect_timeout = 10s
/// stall_timeout = 30s
/// retries = 3
/// since = 1h
/// important_since = 72h
/// spool_max_bundles = 20
/// spool_max_bytes = 512MB
/// heartbeat_interval = 15m
/// ```
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
    /// Time between daemon heartbeats.
    var heartbeatInterval: Duration = .seconds(15 * 60)

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
            func duration() throws -> Duration {
                guard let d = DurationText.parse(value), d > .zero else {
                    throw AgentConfigError("\(source):\(index + 1): \(key) '\(value)' is not a duration (e.g. 30s, 15m)")
                }
                return d
            }
            func count() throws -> Int {
                guard let n = Int(value), n > 0 else {
                    throw AgentConfigError("\(source):\(index + 1): \(key) '\(value)' is not a positive number")
                }
                return n
            }
            switch key {
            case "server": server = value
            case "ca_file": caFile = value
            case "pinned_public_key": pinnedPublicKey = value
            case "proxy": proxy = value
            case "connect_timeout": connectTimeout = try duration()
            case "stall_timeout": stallTimeout = try duration()
            case "retries": retries = try count()
            case "since": _ = try duration(); since = value
            case "important_since": _ = try duration(); importantSince = value
            case "spool_max_bundles": spoolMaxBundles = try count()
            case "spool_max_bytes":
                guard let n = ByteCount.parse(value), n > 0 else {
                    throw AgentConfigError("\(source):\(index + 1): spool_max_bytes '\(value)' is not a size (e.g. 512MB)")
                }
                spoolMaxBytes = n
            case "heartbeat_interval": heartbeatInterval = try duration()
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

/// Sizes as people write them: `512MB`, `1GiB`, `4096`.
enum ByteCount {
    static func parse(_ text: String) -> Int? {
        let t = text.trimmingCharacters(in: .whitespaces).uppercased()
        let units: [(String, Int)] = [("GIB", 1 << 30), ("MIB", 1 << 20), ("KIB", 1 << 10), ("GB", 1_000_000_000),
                                      ("MB", 1_000_000), ("KB", 1000), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10), ("B", 1)]
        for (suffix, factor) in units where t.hasSuffix(suffix) {
            guard let n = Int(t.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)) else { return nil }
            return n * factor
        }
        return Int(t)
    }
}
