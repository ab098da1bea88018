import Foundation
import NIOSSL
import Shared

/// A secret from configuration (a backend's signing key or API token): kept out of every
/// description, so printing a configuration or a backend never shows it.
public struct IntegrationSecret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    /// The secret itself; only signing and `Authorization` headers read it.
    public let value: String
    /// Wraps a secret.
    public init(_ value: String) { self.value = value }
    /// Never the secret.
    public var description: String { "<secret>" }
    /// Never the secret.
    public var debugDescription: String { "<secret>" }
}

/// One ticket backend as the config file writes it (`integrations:` list). Secrets may be
/// given inline, by environment variable name (`*_env`) or by file (`*_file`).
public struct IntegrationSettings: Sendable, Equatable, Decodable {
    /// Unique name: in the delivery list, the inbound URL and remote links.
    public var name: String
    /// `webhook`, `jira`, `zendesk` or `github`.
    public var kind: String
    /// Webhook: the URL posted to. Jira/Zendesk: the site (`https://example.atlassian.net`).
    /// GitHub: the API base (`https://api.github.com`).
    public var url: String
    /// Webhook signing key (HMAC-SHA256).
    public var secret: String?
    /// Environment variable holding `secret`.
    public var secretEnv: String?
    /// File holding `secret` (trailing newline dropped).
    public var secretFile: String?
    /// API token (Jira, Zendesk, GitHub).
    public var token: String?
    /// Environment variable holding `token`.
    public var tokenEnv: String?
    /// File holding `token`.
    public var tokenFile: String?
    /// Jira: the account email; Zendesk: the agent email the token belongs to.
    public var user: String?
    /// Jira: project key; GitHub: `owner/repo`.
    public var project: String?
    /// Jira: issue type name (default `Task`).
    public var issueType: String?
    /// Labels (Jira, GitHub) or tags (Zendesk) every remote ticket gets, besides the finding's.
    public var labels: [String]?
    /// Jira: id of the transition a resolved ticket takes.
    public var resolveTransition: String?
    /// Key of the signed inbound webhook (remote status changes back).
    public var inboundSecret: String?
    /// Environment variable holding `inbound_secret`.
    public var inboundSecretEnv: String?
    /// File holding `inbound_secret`.
    public var inboundSecretFile: String?
    /// Remote status name (case-insensitive) → Helpline status, for the inbound webhook.
    public var statusMap: [String: String]?
    /// Which tickets this backend gets.
    public var filter: IntegrationFilterSettings?
    /// PEM file of the certificate authorities to trust for this backend instead of the
    /// system's (a tracker on the company network behind an internal CA). https only.
    public var caFile: String?

    enum CodingKeys: String, CodingKey {
        case name, kind, url, secret, token, user, project, labels, filter
        case caFile = "ca_file"
        case secretEnv = "secret_env", secretFile = "secret_file", tokenEnv = "token_env", tokenFile = "token_file"
        case issueType = "issue_type", resolveTransition = "resolve_transition"
        case inboundSecret = "inbound_secret", inboundSecretEnv = "inbound_secret_env", inboundSecretFile = "inbound_secret_file"
        case statusMap = "status_map"
    }

    /// A backend with only the required fields set.
    public init(name: String, kind: String, url: String) {
        self.name = name; self.kind = kind; self.url = url
    }
}

/// Which tickets a backend gets, as written in the config file. Every part left out matches all.
public struct IntegrationFilterSettings: Sendable, Equatable, Decodable {
    /// Finding categories (`disk`, `network`, …): the ticket's top finding must be one of them.
    public var categories: [String]?
    /// Lowest severity of the ticket's worst finding (`info` … `critical`).
    public var minSeverity: String?
    /// Hostname patterns (`*` and `?` wildcards): Helpline has no host groups, so hostnames
    /// stand in for them (name machines `lab-*`, `kiosk-*`, …).
    public var hostnames: [String]?

    enum CodingKeys: String, CodingKey {
        case categories, hostnames
        case minSeverity = "min_severity"
    }

    /// A filter.
    public init(categories: [String]? = nil, minSeverity: String? = nil, hostnames: [String]? = nil) {
        self.categories = categories; self.minSeverity = minSeverity; self.hostnames = hostnames
    }
}

/// What a backend speaks.
public enum IntegrationKind: String, Sendable, Codable, CaseIterable {
    /// Signed JSON POSTs of every event.
    case webhook
    /// Jira Cloud REST v3: issues, comments, transitions.
    case jira
    /// Zendesk Support tickets API.
    case zendesk
    /// GitHub issues REST API.
    case github
}

/// Which tickets a backend gets, resolved.
public struct IntegrationFilter: Sendable, Equatable {
    /// Allowed top-finding categories; nil allows all.
    public var categories: Set<FindingCategory>?
    /// Lowest worst-finding severity; nil allows tickets without findings too.
    public var minSeverity: Severity?
    /// Hostname wildcard patterns; nil allows every host.
    public var hostnames: [String]?

    /// Matches everything.
    public init(categories: Set<FindingCategory>? = nil, minSeverity: Severity? = nil, hostnames: [String]? = nil) {
        self.categories = categories; self.minSeverity = minSeverity; self.hostnames = hostnames
    }

    /// Whether a ticket with this top category, worst severity and hostname passes.
    public func matches(topCategory: FindingCategory?, worstSeverity: Severity?, hostname: String) -> Bool {
        if let categories {
            guard let topCategory, categories.contains(topCategory) else { return false }
        }
        if let minSeverity {
            guard let worstSeverity, worstSeverity >= minSeverity else { return false }
        }
        if let hostnames {
            guard hostnames.contains(where: { Self.wildcard($0, matches: hostname) }) else { return false }
        }
        return true
    }

    /// `*` any run, `?` one character, case-insensitive (hostnames are).
    static func wildcard(_ pattern: String, matches text: String) -> Bool {
        let p = Array(pattern.lowercased()), t = Array(text.lowercased())
        // Iterative matcher with one backtrack point: linear in practice, no recursion.
        var pi = 0, ti = 0, star = -1, mark = 0
        while ti < t.count {
            if pi < p.count, p[pi] == "?" || p[pi] == t[ti] {
                pi += 1; ti += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi; mark = ti; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ti = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}

/// One ticket backend, resolved and checked: what the delivery worker and the inbound route use.
public struct IntegrationBackend: Sendable, Equatable, CustomStringConvertible {
    /// Unique name.
    public var name: String
    /// What it speaks.
    public var kind: IntegrationKind
    /// Webhook URL or API base, without a trailing slash.
    public var url: URL
    /// Webhook signing key.
    public var secret: IntegrationSecret?
    /// API token.
    public var token: IntegrationSecret?
    /// Jira/Zendesk account email.
    public var user: String?
    /// Jira project key or GitHub `owner/repo`.
    public var project: String?
    /// Jira issue type.
    public var issueType: String
    /// Labels every remote ticket gets.
    public var labels: [String]
    /// Jira transition id for resolved tickets.
    public var resolveTransition: String?
    /// Inbound webhook key; nil turns the inbound route off for this backend.
    public var inboundSecret: IntegrationSecret?
    /// Lower-cased remote status → Helpline status.
    public var statusMap: [String: TicketStatus]
    /// Which tickets it gets.
    public var filter: IntegrationFilter
    /// The CAs `ca_file` named, trusted for this backend instead of the system's; nil: the
    /// system's.
    public var trustedCAs: [NIOSSLCertificate]?

    /// Whose certificates the collector trusts for this backend, as the admin API names it.
    public enum Trust: String, Codable, Sendable {
        /// `http://`: no TLS, nothing verified.
        case none
        /// The system's CA store.
        case system
        /// Only the CAs in the backend's `ca_file`.
        case caFile = "ca_file"
    }

    /// Whose certificates the collector trusts for this backend.
    public var trust: Trust {
        if url.scheme?.lowercased() != "https" { return .none }
        return trustedCAs == nil ? .system : .caFile
    }

    /// `trust` in words for the admin page and `serve --check-config`.
    public var trustDescription: String {
        switch trust {
        case .none: return "plain HTTP (no TLS)"
        case .system: return "system CAs"
        case .caFile:
            let n = trustedCAs?.count ?? 0
            return "ca_file (\(n) certificate\(n == 1 ? "" : "s"))"
        }
    }

    /// Name, kind and URL: never a secret.
    public var description: String { "\(kind.rawValue) backend \(name) (\(url.absoluteString))" }

    /// Remote status names understood without a `status_map`.
    public static let defaultStatusMap: [String: TicketStatus] = [
        "open": .open, "new": .open, "to do": .open, "reopened": .open,
        "in progress": .inProgress, "in_progress": .inProgress, "pending": .waitingOnUser, "hold": .waitingOnUser,
        "waiting_on_user": .waitingOnUser,
        "done": .resolved, "resolved": .resolved, "solved": .resolved, "closed": .closed,
    ]

    /// Resolves one `integrations:` entry: reads secrets from the environment or files and
    /// checks what each kind needs.
    /// - Parameter maxCAFileBytes: the largest `ca_file` read (`integration_max_ca_file_bytes`).
    /// - Throws: `ConfigurationError` naming the backend and the missing or malformed field.
    public init(_ s: IntegrationSettings, environment: [String: String], maxCAFileBytes: Int) throws {
        let where_ = "integration \(s.name.isEmpty ? "(unnamed)" : s.name)"
        guard (1...64).contains(s.name.utf8.count), s.name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ConfigurationError("\(where_): name must be 1-64 letters, digits, '-' or '_' (it appears in URLs)")
        }
        guard let kind = IntegrationKind(rawValue: s.kind) else {
            throw ConfigurationError("\(where_): kind \(s.kind) is not one of \(IntegrationKind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        var text = s.url
        while text.hasSuffix("/") { text.removeLast() }
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http", url.host != nil,
              url.user == nil, url.password == nil else {
            throw ConfigurationError("\(where_): url \(s.url) must be an http:// or https:// URL with a host and no credentials in it")
        }
        name = s.name
        self.kind = kind
        self.url = url
        secret = try Self.secret(s.secret, env: s.secretEnv, file: s.secretFile, field: "secret", where_, environment)
        token = try Self.secret(s.token, env: s.tokenEnv, file: s.tokenFile, field: "token", where_, environment)
        inboundSecret = try Self.secret(s.inboundSecret, env: s.inboundSecretEnv, file: s.inboundSecretFile, field: "inbound_secret", where_, environment)
        user = s.user
        project = s.project
        issueType = s.issueType ?? "Task"
        labels = s.labels ?? ["helpline"]
        resolveTransition = s.resolveTransition
        var map = Self.defaultStatusMap
        for (remote, local) in s.statusMap ?? [:] {
            guard let status = TicketStatus(rawValue: local) else {
                throw ConfigurationError("\(where_): status_map \(remote): \(local) is not a Helpline status (\(TicketStatus.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            map[remote.lowercased()] = status
        }
        statusMap = map
        var filter = IntegrationFilter()
        if let f = s.filter {
            if let cats = f.categories {
                filter.categories = Set(try cats.map { c in
                    guard let cat = FindingCategory(rawValue: c) else {
                        throw ConfigurationError("\(where_): filter category \(c) is not one of \(FindingCategory.allCases.map(\.rawValue).joined(separator: ", "))")
                    }
                    return cat
                })
            }
            if let sev = f.minSeverity {
                guard let severity = Severity(rawValue: sev) else {
                    throw ConfigurationError("\(where_): filter min_severity \(sev) is not one of \(Severity.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                filter.minSeverity = severity
            }
            filter.hostnames = f.hostnames
        }
        self.filter = filter
        trustedCAs = try Self.certificates(s.caFile, url: url, maxBytes: maxCAFileBytes, where_)
        switch kind {
        case .webhook:
            guard secret != nil else { throw ConfigurationError("\(where_): a webhook needs secret (or secret_env / secret_file) to sign with") }
        case .jira:
            guard token != nil, user != nil, project != nil else {
                throw ConfigurationError("\(where_): Jira needs user (the account email), token (an API token) and project (the project key)")
            }
        case .zendesk:
            guard token != nil, user != nil else { throw ConfigurationError("\(where_): Zendesk needs user (the agent email) and token (an API token)") }
        case .github:
            let parts = (project ?? "").split(separator: "/")
            guard token != nil, parts.count == 2 else { throw ConfigurationError("\(where_): GitHub needs token and project as owner/repo") }
        }
        if let s = secret, s.value.utf8.count < 16 { throw ConfigurationError("\(where_): secret must be at least 16 characters") }
        if let s = inboundSecret, s.value.utf8.count < 16 { throw ConfigurationError("\(where_): inbound_secret must be at least 16 characters") }
    }

    /// The certificates of `ca_file`, checked: an https URL, and a readable PEM file of at most
    /// `maxBytes` holding at least one certificate.
    private static func certificates(_ file: String?, url: URL, maxBytes: Int, _ where_: String) throws -> [NIOSSLCertificate]? {
        guard let file else { return nil }
        guard url.scheme?.lowercased() == "https" else {
            throw ConfigurationError("\(where_): ca_file is for https:// URLs, and url is \(url.absoluteString); use https or drop ca_file")
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), !isDirectory.boolValue,
              let handle = FileHandle(forReadingAtPath: file) else {
            throw ConfigurationError("\(where_): could not read ca_file \(file); check the path and that the collector's user may read it")
        }
        defer { try? handle.close() }
        // Read one byte past the bound, never the whole of whatever the path names.
        let data: Data
        do {
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            throw ConfigurationError("\(where_): could not read ca_file \(file): \(error); check the path and that the collector's user may read it")
        }
        guard data.count <= maxBytes else {
            throw ConfigurationError("\(where_): ca_file \(file) is larger than \(maxBytes) bytes (integration_max_ca_file_bytes); give only the CAs this backend needs, or raise the limit")
        }
        let certificates = (try? NIOSSLCertificate.fromPEMBytes(Array(data))) ?? []
        guard !certificates.isEmpty else {
            throw ConfigurationError("\(where_): ca_file \(file) holds no certificate; it must be PEM (-----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }

    /// Inline, environment or file; at most one of them.
    private static func secret(_ inline: String?, env: String?, file: String?, field: String, _ where_: String,
                               _ environment: [String: String]) throws -> IntegrationSecret? {
        let given = [inline, env, file].compactMap { $0 }
        guard given.count <= 1 else { throw ConfigurationError("\(where_): give \(field) one way: inline, \(field)_env or \(field)_file") }
        if let inline { return inline.isEmpty ? nil : IntegrationSecret(inline) }
        if let env {
            guard let value = environment[env], !value.isEmpty else {
                throw ConfigurationError("\(where_): \(field)_env names \(env), which is not set in the collector's environment")
            }
            return IntegrationSecret(value)
        }
        if let file {
            guard let data = FileManager.default.contents(atPath: file), var value = String(data: data, encoding: .utf8) else {
                throw ConfigurationError("\(where_): could not read \(field)_file \(file); check the path and that the collector's user may read it")
            }
            while value.last?.isNewline == true { value.removeLast() }
            guard !value.isEmpty else { throw ConfigurationError("\(where_): \(field)_file \(file) is empty") }
            return IntegrationSecret(value)
        }
        return nil
    }
}
