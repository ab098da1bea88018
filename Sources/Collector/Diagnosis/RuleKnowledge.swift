import Diagnosis
import Foundation
import Shared

/// One rule as the rules page and `GET /api/v1/rules` show it: what it is, its known fix and
/// how it fares.
public struct RuleSummary: Sendable, Codable, Equatable {
    /// Stable id, also the findings' `ruleID`.
    public var id: String
    /// What its findings are about.
    public var category: FindingCategory
    /// `metric` or `journal`.
    public var kind: RuleDescription.Kind
    /// One sentence: what the rule looks for.
    public var summary: String
    /// `built-in` or the path of the YAML file.
    public var source: String
    /// The fix technicians attached, if any.
    public var knownFix: RuleFix?
    /// Findings, tickets topped, splits, reclassifications, last hit.
    public var stats: RuleStats
    /// (splits + reclassified) / tickets topped: the share of its tickets technicians corrected.
    public var correctionRate: Double
}

/// `GET /api/v1/rules`: every rule, those technicians corrected most first.
public struct RuleList: Sendable, Codable, Equatable {
    /// Most corrected first, then most tickets, most findings, id.
    public var rules: [RuleSummary]
}

/// `GET /api/v1/rules/{id}`: a rule and its newest corrections.
public struct RuleDetail: Sendable, Codable, Equatable {
    /// The rule, its fix and figures.
    public var rule: RuleSummary
    /// Newest first, at most 50.
    public var events: [RuleEvent]
}

/// `PUT /api/v1/rules/{id}/fix` body.
public struct RuleFixRequest: Sendable, Codable, Equatable {
    /// What to do: 1 byte to `rule_fix_max_bytes` of text (line breaks and tabs allowed, other control characters not).
    public var text: String
    /// An absolute `http`/`https` link, at most `rule_fix_link_max_bytes`; absent or empty for none.
    public var link: String?
}

/// Knowledge from technicians, shared by the API and the pages: the rule catalogue (the
/// diagnoser's rules), their known fixes and figures, and the checks a fix must pass.
public struct RuleKnowledge: Sendable {
    let store: any CollectorStore
    let limits: CollectorLimits
    /// The rules in force, by id.
    let catalogue: [String: RuleDescription]

    /// Creates the service over `rules` (the diagnoser's).
    public init(store: any CollectorStore, limits: CollectorLimits, rules: [RuleDescription]) {
        self.store = store
        self.limits = limits
        var byID: [String: RuleDescription] = [:]
        for rule in rules { byID[rule.id] = rule }
        catalogue = byID
    }

    /// Every rule, most corrected first (then most tickets, then id).
    public func list() async throws -> [RuleSummary] {
        let fixes = try await store.ruleFixes()
        let stats = try await store.ruleStats()
        return catalogue.values.map { summary($0, fix: fixes[$0.id], stats: stats[$0.id] ?? RuleStats()) }.sorted {
            if $0.correctionRate != $1.correctionRate { return $0.correctionRate > $1.correctionRate }
            if $0.stats.topTickets != $1.stats.topTickets { return $0.stats.topTickets > $1.stats.topTickets }
            if $0.stats.findings != $1.stats.findings { return $0.stats.findings > $1.stats.findings }
            return $0.id < $1.id
        }
    }

    /// One rule with its newest corrections.
    /// - Throws: `APIError` 404 for a rule id not in force.
    public func detail(_ id: String) async throws -> RuleDetail {
        let rule = try self.rule(id)
        let fix = try await store.ruleFixes()[rule.id]
        let stats = try await store.ruleStats()[rule.id] ?? RuleStats()
        return RuleDetail(rule: summary(rule, fix: fix, stats: stats), events: try await store.ruleEvents(ruleID: rule.id, limit: 50))
    }

    /// The rule in force with this id.
    /// - Throws: `APIError` 404 naming the id (cut, escaped by the JSON encoder) otherwise.
    public func rule(_ id: String) throws -> RuleDescription {
        guard id.utf8.count <= 200, let rule = catalogue[id] else {
            throw APIError(.notFound, code: "unknown_rule", "no rule with id \(id.prefix(80).debugDescription) is in force; GET /api/v1/rules lists them")
        }
        return rule
    }

    /// Checks and stores a rule's known fix, audited in the same transaction.
    /// - Throws: `APIError` 404 for an unknown rule, 400 `invalid_fix` / `invalid_fix_link` for bad text or link.
    public func setFix(ruleID: String, text: String, link: String?, by user: Principal, via: String, from address: String?) async throws -> RuleFix {
        let rule = try self.rule(ruleID)
        let fix = RuleFix(ruleID: rule.id, text: try Self.checkedText(text, max: limits.ruleFixMaxBytes),
                          link: try Self.checkedLink(link, max: limits.ruleFixLinkMaxBytes), updatedBy: user.name, updatedAt: Date())
        let detail = [via, "\(fix.text.utf8.count) bytes", fix.link.map { "link \($0.prefix(300))" }, address.map { "from \($0)" }]
        try await store.setRuleFix(fix, audit: AuditEntry(at: fix.updatedAt, actor: user.name, action: "rule_fix_set", target: "rule \(rule.id)",
                                                          detail: detail.compactMap { $0 }.joined(separator: " · ")))
        return fix
    }

    /// Removes a rule's known fix, audited in the same transaction.
    /// - Throws: `APIError` 404 for an unknown rule or one without a fix.
    public func deleteFix(ruleID: String, by user: Principal, via: String, from address: String?) async throws {
        let rule = try self.rule(ruleID)
        let detail = [via, address.map { "from \($0)" }].compactMap { $0 }.joined(separator: " · ")
        guard try await store.deleteRuleFix(ruleID: rule.id, audit: AuditEntry(at: Date(), actor: user.name, action: "rule_fix_removed",
                                                                             target: "rule \(rule.id)", detail: detail)) else {
            throw APIError(.notFound, code: "no_fix", "rule \(rule.id) has no known fix")
        }
    }

    func summary(_ rule: RuleDescription, fix: RuleFix?, stats: RuleStats) -> RuleSummary {
        RuleSummary(id: rule.id, category: rule.category, kind: rule.kind, summary: rule.summary, source: rule.source, knownFix: fix,
                    stats: stats, correctionRate: stats.correctionRate)
    }

    /// The fix's text, trimmed, line ends made `\n`: 1 byte to `max` bytes of text without
    /// control characters (other than line breaks and tabs) or bidirectional overrides.
    static func checkedText(_ text: String, max: Int) throws -> String {
        let t = text.replacingOccurrences(of: "\r\n", with: "\n").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !t.isEmpty else { throw APIError.badRequest("invalid_fix", "a known fix needs some text: what a technician should do") }
        guard t.utf8.count <= max else {
            throw APIError.badRequest("invalid_fix", "a known fix is at most \(max) bytes (rule_fix_max_bytes); this one is \(t.utf8.count)")
        }
        if let bad = t.unicodeScalars.first(where: { Self.refused($0) && $0 != "\n" && $0 != "\t" }) {
            throw APIError.badRequest("invalid_fix", "a known fix may not hold control or bidirectional characters (found U+\(String(format: "%04X", bad.value)))")
        }
        return t
    }

    /// An absolute `http`/`https` link with a host, only URL characters, at most `max` bytes;
    /// nil for none (absent or empty).
    static func checkedLink(_ link: String?, max: Int) throws -> String? {
        guard let raw = link?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else { return nil }
        guard raw.utf8.count <= max else {
            throw APIError.badRequest("invalid_fix_link", "a known fix's link is at most \(max) bytes (rule_fix_link_max_bytes)")
        }
        guard raw.unicodeScalars.allSatisfy({ Self.urlCharacters.contains($0) }) else {
            throw APIError.badRequest("invalid_fix_link", "a known fix's link may hold only the characters of a URL (RFC 3986); percent-encode spaces, quotes, angle brackets and non-ASCII letters")
        }
        guard let url = URLComponents(string: raw), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty, url.user == nil, url.password == nil,
              raw.lowercased().hasPrefix(scheme + "://") else {
            throw APIError.badRequest("invalid_fix_link", "a known fix's link must be an absolute http:// or https:// address with a host and no user or password, such as https://wiki.example.com/fix")
        }
        // The scheme in lower case: the schema's CHECK and every reader expect `http://`/`https://`.
        return scheme + String(raw.dropFirst(scheme.count))
    }

    /// What RFC 3986 allows in a URI: unreserved, reserved and `%`.
    static let urlCharacters = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~:/?#[]@!$&'()*+,;=%")

    private static func refused(_ s: Unicode.Scalar) -> Bool {
        s.properties.generalCategory == .control || (0x202A...0x202E).contains(s.value) || (0x2066...0x2069).contains(s.value)
            || s.value == 0x200E || s.value == 0x200F
    }
}
