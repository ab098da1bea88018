/// A credential format with a fixed, published prefix: who issues it, how it starts, which
/// characters follow and how many. `TokenFormat.known` is the one table of them; the prefixed
/// token scanner, the prefilter's triggers and the tests (a sample and near-misses per row) all
/// derive from it, so adding a vendor is adding one row.
///
/// The entries are our own, written from each vendor's public description of its token format.
struct TokenFormat: Sendable {
    /// Characters a token body may hold.
    enum Alphabet: Sendable, CaseIterable {
        /// `A-Z a-z 0-9`.
        case alphanumeric
        /// `A-Z 0-9`.
        case upperAlphanumeric
        /// `a-z 0-9`.
        case lowerAlphanumeric
        /// `A-Z a-z 0-9 _`.
        case alphanumericUnderscore
        /// `A-Z a-z 0-9 -`.
        case alphanumericDash
        /// `A-Z a-z 0-9 - _` (base64url).
        case base64URL
        /// `A-Z a-z 0-9 - _ .` (base64url segments joined by dots).
        case base64URLDotted

        /// Whether `b` belongs to the alphabet.
        @inline(__always)
        func contains(_ b: UInt8) -> Bool {
            switch self {
            case .alphanumeric: ASCII.isAlnum(b)
            case .upperAlphanumeric: ASCII.isUpper(b) || ASCII.isDigit(b)
            case .lowerAlphanumeric: ASCII.isLower(b) || ASCII.isDigit(b)
            case .alphanumericUnderscore: ASCII.isAlnum(b) || b == UInt8(ascii: "_")
            case .alphanumericDash: ASCII.isAlnum(b) || b == UInt8(ascii: "-")
            case .base64URL: ASCII.isAlnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
            case .base64URLDotted: ASCII.isAlnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
            }
        }
    }

    /// Who issues the token and what it is (`Stripe live secret key`).
    var vendor: String
    /// The prefixes, case-sensitive; any of them starts a token.
    var prefixes: [String]
    /// Characters of the body after the prefix.
    var alphabet: Alphabet
    /// Allowed body lengths (after the prefix).
    var length: ClosedRange<Int>
    /// The rule a match counts under.
    var rule: BuiltinRule
    /// A made-up token of this format, starting with the first prefix; tests redact it.
    var sample: String

    /// The prefixes' UTF-8 bytes.
    var prefixBytes: [[UInt8]] { prefixes.map { Array($0.utf8) } }

    /// Every format the redactor knows. Longer prefixes that extend shorter ones (`sk-proj-`,
    /// `sk-ant-` after `sk-`) are tried first by the scanner, whatever their order here.
    static let known: [TokenFormat] = [
        TokenFormat(vendor: "AWS access key id", prefixes: ["AKIA", "ASIA", "ABIA", "ACCA"],
                    alphabet: .upperAlphanumeric, length: 16...16, rule: .awsAccessKeyID,
                    sample: "AKIAFAKEEXAMPLE12345"),
        TokenFormat(vendor: "GitHub classic, OAuth, app and refresh token",
                    prefixes: ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"],
                    alphabet: .alphanumeric, length: 20...255, rule: .githubToken,
                    sample: "ghp_FAKEexample000000000000000000000000"),
        TokenFormat(vendor: "GitHub fine-grained token", prefixes: ["github_pat_"],
                    alphabet: .alphanumericUnderscore, length: 20...255, rule: .githubToken,
                    sample: "github_pat_FAKEexample0000000000_FAKEexample000000000000000000000000000000000000000000000"),
        TokenFormat(vendor: "GitLab token",
                    prefixes: ["glpat-", "glptt-", "gldt-", "glrt-", "gloas-", "glsoat-", "glcbt-"],
                    alphabet: .base64URL, length: 20...255, rule: .gitlabToken,
                    sample: "glpat-FAKEexample000000000"),
        TokenFormat(vendor: "Slack token", prefixes: ["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-"],
                    alphabet: .alphanumericDash, length: 10...255, rule: .slackToken,
                    sample: "xoxb-000000000000-000000000000-FAKEexample0000000000000"),
        TokenFormat(vendor: "Google API key", prefixes: ["AIza"],
                    alphabet: .base64URL, length: 35...35, rule: .vendorToken,
                    sample: "AIzaSyFAKE-EXAMPLE_Key00000000000000000"),
        TokenFormat(vendor: "npm access token", prefixes: ["npm_"],
                    alphabet: .alphanumeric, length: 36...36, rule: .vendorToken,
                    sample: "npm_FAKEexample0000000000000000000000000"),
        TokenFormat(vendor: "PyPI upload token (macaroon)", prefixes: ["pypi-AgE"],
                    alphabet: .base64URL, length: 50...1000, rule: .vendorToken,
                    sample: "pypi-AgEFAKEexample0000000000000000000000000000000000000000000000"),
        TokenFormat(vendor: "Stripe live secret or restricted key", prefixes: ["sk_live_", "rk_live_"],
                    alphabet: .alphanumeric, length: 24...247, rule: .vendorToken,
                    sample: "sk_live_FAKEexample00000000000000"),
        TokenFormat(vendor: "OpenAI API key (legacy)", prefixes: ["sk-"],
                    alphabet: .alphanumeric, length: 48...48, rule: .vendorToken,
                    sample: "sk-FAKEexampleFAKEexampleFAKEexampleFAKEexample0000"),
        TokenFormat(vendor: "OpenAI project, service-account or admin key",
                    prefixes: ["sk-proj-", "sk-svcacct-", "sk-admin-"],
                    alphabet: .base64URL, length: 40...300, rule: .vendorToken,
                    sample: "sk-proj-FAKEexample-FAKEexample_FAKEexample0000000000"),
        TokenFormat(vendor: "Anthropic API key", prefixes: ["sk-ant-"],
                    alphabet: .base64URL, length: 80...300, rule: .vendorToken,
                    sample: "sk-ant-api03-FAKEexample0000000000000000000000000000000000000000000000000000000000000000000000000000000AA"),
        TokenFormat(vendor: "HashiCorp Vault service or batch token", prefixes: ["hvs.", "hvb."],
                    alphabet: .base64URL, length: 24...1000, rule: .vendorToken,
                    sample: "hvs.FAKEexample00000000000000000000"),
        TokenFormat(vendor: "SendGrid API key", prefixes: ["SG."],
                    alphabet: .base64URLDotted, length: 66...66, rule: .vendorToken,
                    sample: "SG.FAKEexample00000000000.FAKEexample00000000000000000000000000000000"),
        TokenFormat(vendor: "Mailgun API key", prefixes: ["key-"],
                    alphabet: .lowerAlphanumeric, length: 32...32, rule: .vendorToken,
                    sample: "key-0fake0example0000000000000000000"),
        TokenFormat(vendor: "Helpline host, API, enrollment, session and enrollment-key token",
                    prefixes: ["hlh_", "hlt_", "hle_", "hls_", "hlk_"],
                    alphabet: .base64URL, length: 43...43, rule: .vendorToken,
                    sample: "hlh_FAKEexample-FAKEexample_FAKEexample00000000"),
    ]

    /// One entry of the scanner's lookup: a prefix and the format it starts.
    struct Prefix: Sendable {
        /// The prefix bytes.
        var bytes: [UInt8]
        /// The format.
        var format: TokenFormat
    }

    /// Every prefix of `known`, longest first, so `sk-proj-` is tried before `sk-`.
    static let prefixesLongestFirst: [Prefix] = known
        .flatMap { format in format.prefixBytes.map { Prefix(bytes: $0, format: format) } }
        .sorted { $0.bytes.count > $1.bytes.count }

    /// Bytes any prefix starts with, as a 256-entry table.
    static let firstBytes: [Bool] = {
        var table = Array(repeating: false, count: 256)
        for prefix in prefixesLongestFirst { table[Int(prefix.bytes[0])] = true }
        return table
    }()

    /// The end of a token of this format whose prefix (`prefixLength` bytes) starts at `start`,
    /// or nil when the body's length or characters do not fit. The body is the longest run of
    /// the alphabet; a letter or digit right after it (outside the alphabet) spoils the match.
    func tokenEnd(_ p: LineBytes, _ start: Int, prefixLength: Int) -> Int? {
        let bodyStart = start + prefixLength
        var end = bodyStart
        let limit = Swift.min(p.count, bodyStart + length.upperBound + 1)
        while end < limit, alphabet.contains(p[end]) { end += 1 }
        let runEnd = end
        // A dotted body may end a sentence: `…key SG.abc.def.` keeps its full stop.
        if alphabet == .base64URLDotted, end > bodyStart, p[end - 1] == UInt8(ascii: ".") { end -= 1 }
        guard length.contains(end - bodyStart), !ASCII.isAlnum(p.at(runEnd)), !alphabet.contains(p.at(runEnd)) else {
            return nil
        }
        return end
    }
}
