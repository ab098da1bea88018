import Foundation

/// One named rule. Its name keys `Redactor.counts`, so built-in names are stable: tooling and
/// dashboards read them from manifests.
struct RedactionRule: Sendable, Equatable {
    /// What a match is replaced with.
    enum Replacement: Sendable, Equatable {
        /// `[REDACTED:<name>]`: the value is gone for good.
        case marker
        /// `[<prefix>-N]`, the same N for the same value within one `Redactor`.
        case placeholder(prefix: String)
    }

    /// Stable name (`password`, `github-token`, or an extra rule's own name).
    var name: String
    /// What replaces a match.
    var replacement: Replacement

    /// Whether this rule removes a secret (as opposed to an opt-in identifier).
    var isSecret: Bool { replacement == .marker }
}

/// The built-in rules. The raw value is the rule's index in a `Redactor`'s rule table and its
/// priority: when matches of two secret rules overlap, they are merged into one replacement
/// named after the rule declared first here.
enum BuiltinRule: Int, CaseIterable, Sendable {
    /// PEM private-key blocks (`-----BEGIN … PRIVATE KEY-----`), body only.
    case privateKey
    /// `Authorization:`/`Proxy-Authorization:` credentials, any scheme.
    case authorizationHeader
    /// JSON Web Tokens: `eyJ…` and two more base64url segments.
    case jwt
    /// GitHub tokens: `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`.
    case githubToken
    /// GitLab tokens: `glpat-`, `glptt-`, `gldt-`, `glrt-`, `gloas-`, `glsoat-`, `glcbt-`.
    case gitlabToken
    /// Slack tokens: `xoxb-`, `xoxp-`, `xoxa-`, `xoxr-`, `xoxs-`, `xoxe-`.
    case slackToken
    /// The secret path of `hooks.slack.com/services/…` webhooks.
    case slackWebhook
    /// AWS access key ids: `AKIA`, `ASIA`, `ABIA`, `ACCA` + 16.
    case awsAccessKeyID
    /// AWS secret access keys, by key name or as 40 characters near an AWS name.
    case awsSecretKey
    /// The password in `scheme://user:password@host`.
    case urlCredentials
    /// Password assignments and command-line passwords (`-pSECRET`, `IDENTIFIED BY`).
    case password
    /// Other secret assignments: `api_key`, `token`, `secret`, `access_key`, `client_secret`, `psk`….
    case genericSecret
    /// Other vendors' tokens with a published prefix (`TokenFormat.known`): cloud, registry,
    /// payment, AI-service, vault and mail-service keys, and Helpline's own `hl?_` tokens.
    case vendorToken
    /// The values in `Cookie:` and `Set-Cookie:` headers (the cookie names stay).
    case cookie
    /// `Bearer <token>` outside an Authorization header.
    case bearerToken
    /// `Basic <base64 of user:password>` outside an Authorization header.
    case basicAuth
    /// Luhn-valid payment card numbers.
    case cardNumber
    /// Opt-in: e-mail addresses.
    case email
    /// Opt-in: the host's user names and `/home/NAME`.
    case username
    /// Opt-in: IPv4 and IPv6 addresses.
    case ipAddress
    /// Opt-in: MAC addresses.
    case macAddress
    /// Opt-in: the host's names.
    case hostname

    /// The rule's name and replacement.
    var rule: RedactionRule {
        switch self {
        case .privateKey: RedactionRule(name: "private-key", replacement: .marker)
        case .authorizationHeader: RedactionRule(name: "authorization-header", replacement: .marker)
        case .jwt: RedactionRule(name: "jwt", replacement: .marker)
        case .githubToken: RedactionRule(name: "github-token", replacement: .marker)
        case .gitlabToken: RedactionRule(name: "gitlab-token", replacement: .marker)
        case .slackToken: RedactionRule(name: "slack-token", replacement: .marker)
        case .slackWebhook: RedactionRule(name: "slack-webhook", replacement: .marker)
        case .awsAccessKeyID: RedactionRule(name: "aws-access-key-id", replacement: .marker)
        case .awsSecretKey: RedactionRule(name: "aws-secret-key", replacement: .marker)
        case .urlCredentials: RedactionRule(name: "url-credentials", replacement: .marker)
        case .password: RedactionRule(name: "password", replacement: .marker)
        case .genericSecret: RedactionRule(name: "generic-secret", replacement: .marker)
        case .vendorToken: RedactionRule(name: "vendor-token", replacement: .marker)
        case .cookie: RedactionRule(name: "cookie", replacement: .marker)
        case .bearerToken: RedactionRule(name: "bearer-token", replacement: .marker)
        case .basicAuth: RedactionRule(name: "basic-auth", replacement: .marker)
        case .cardNumber: RedactionRule(name: "card-number", replacement: .marker)
        case .email: RedactionRule(name: "email", replacement: .placeholder(prefix: "email"))
        case .username: RedactionRule(name: "username", replacement: .placeholder(prefix: "user"))
        case .ipAddress: RedactionRule(name: "ip-address", replacement: .placeholder(prefix: "ip"))
        case .macAddress: RedactionRule(name: "mac-address", replacement: .placeholder(prefix: "mac"))
        case .hostname: RedactionRule(name: "hostname", replacement: .placeholder(prefix: "host"))
        }
    }

    /// Every built-in rule name, in priority order.
    static var names: [String] { allCases.map(\.rule.name) }
}

/// A stretch of a line's UTF-8 bytes that a rule replaces.
struct RedactionSpan: Sendable, Equatable {
    /// First byte replaced.
    var start: Int
    /// One past the last byte replaced.
    var end: Int
    /// Index of the rule in the redactor's rule table.
    var rule: Int

    /// A span of `rule` over `start..<end`.
    init(_ start: Int, _ end: Int, _ rule: BuiltinRule) {
        self.init(start: start, end: end, rule: rule.rawValue)
    }

    /// A span of rule number `rule` over `start..<end`.
    init(start: Int, end: Int, rule: Int) {
        self.start = start
        self.end = end
        self.rule = rule
    }
}
