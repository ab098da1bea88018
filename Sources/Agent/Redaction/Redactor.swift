import Foundation

/// Removes secrets from free text before anything is written. Thread-safe: probes on several
/// threads share one redactor, which counts replacements per rule for the manifest.
///
/// Secrets (passwords, tokens, keys, card numbers…; see `BuiltinRule`) are always replaced by
/// `[REDACTED:<rule>]`, keeping the key, scheme or user around them so a technician still reads
/// the line. Identifiers (e-mail, user and host names, IP and MAC addresses) are replaced only
/// when `RedactionOptions` turns them on, by placeholders like `[user-1]` that stay the same
/// for the same value; `mapping` says which is which and must stay on the host.
///
/// Each line first gets one cheap pass (`TriggerPrefilter`); only the scanners whose trigger
/// words occur then run, so an ordinary log line costs a fraction of a microsecond.
///
/// An organisation's own regex rules (`ExtraRule`) share one time budget per line
/// (`RedactionOptions.extraRuleLineBudget`). A line whose rules run out of it is replaced
/// whole by `[REDACTED:extra-rules-over-time-budget]` and counted under that name: a search that
/// did not finish may have missed a secret, so none of the line goes out.
final class Redactor: Sendable {
    /// The rule name, marker and count of lines replaced whole because the extra rules ran out of
    /// their time budget on them. Reserved: no rules file may use it.
    static let overBudgetRuleName = "extra-rules-over-time-budget"

    /// The switches this redactor was built with.
    let options: RedactionOptions
    private let rules: [RedactionRule]
    private let identifiers: IdentifierScanners
    private let extras: [ExtraRule]
    private let alwaysRunExtras: [Int]
    /// Index of the over-budget count in `rules` (after the extra rules).
    private let overBudgetRule: Int
    private let prefilter: TriggerPrefilter
    private let ledger: RedactionLedger

    /// The scanners, in the order their bits sit in the prefilter; extra rules follow.
    private enum Scanner: Int, CaseIterable {
        case privateKey, assignment, commandLinePassword, urlCredentials, authorization, bearer, basic, jwt
        case prefixedToken, slackWebhook, awsSecretKey, cardNumber, cookie, registryAuth
        case email, username, hostname, ipv4, ipv6, mac
        case existingReplacements
    }

    /// A redactor with `options`, replacing `identities` when the identifier options are on.
    /// - Throws: `RedactionError` (file, line, what to fix) when `options.rulesDirectory` or
    ///   `options.organisationRulesDirectory` is missing or holds a bad rules file.
    init(options: RedactionOptions = RedactionOptions(), identities: RedactionIdentities = .init()) throws {
        self.options = options
        let builtins = BuiltinRule.allCases.map(\.rule)
        let extras = try options.rulesDirectories.flatMap {
            try ExtraRule.load(directory: $0, reservedNames: Set(builtins.map(\.name) + [Self.overBudgetRuleName]))
        }
        self.extras = extras
        rules = builtins + extras.map { RedactionRule(name: $0.name, replacement: .marker) }
            + [RedactionRule(name: Self.overBudgetRuleName, replacement: .marker)]
        overBudgetRule = rules.count - 1
        identifiers = IdentifierScanners(identities: identities)
        ledger = RedactionLedger(ruleCount: rules.count)

        typealias Trigger = TriggerPrefilter.Trigger
        func words(_ list: [String], _ scanner: Scanner) -> [Trigger] {
            list.map { Trigger(literal: Array($0.utf8), scanner: scanner.rawValue) }
        }
        var triggers: [Trigger] = []
        triggers += words(SecretScanners.replacementStarts, .existingReplacements)
        triggers += words(["-----begin"], .privateKey)
        triggers += words(AssignmentScanner.triggers, .assignment)
        triggers += words(["mysql", "mariadb", "sshpass", "identified by", "curl", "redis-cli", "auth "], .commandLinePassword)
        triggers += SecretScanners.registryLogins.map {
            Trigger(literal: $0, scanner: Scanner.commandLinePassword.rawValue)
        }
        triggers += words(["://"], .urlCredentials)
        triggers += words(["authorization"], .authorization)
        triggers += words(["bearer"], .bearer)
        triggers += words(["basic"], .basic)
        triggers += words(["eyj"], .jwt)
        triggers += TokenFormat.prefixesLongestFirst.map { Trigger(literal: $0.bytes, scanner: Scanner.prefixedToken.rawValue) }
        triggers += words(["hooks.slack.com/services/"], .slackWebhook)
        triggers += words(["cookie"], .cookie)
        triggers += words(["\"auth\""], .registryAuth)
        triggers += words(["akia", "asia", "aws"], .awsSecretKey)
        if options.usernames {
            triggers += words(["/home/"], .username)
            triggers += identifiers.usernames.map { Trigger(literal: $0, scanner: Scanner.username.rawValue) }
        }
        if options.hostnames {
            triggers += identifiers.hostnames.map { Trigger(literal: $0, scanner: Scanner.hostname.rawValue) }
        }
        var always: [Int] = []
        for (k, extra) in extras.enumerated() {
            if let literal = extra.requiredLiteral {
                triggers.append(Trigger(literal: literal, scanner: Scanner.allCases.count + k))
            } else {
                always.append(k)
            }
        }
        alwaysRunExtras = always
        prefilter = TriggerPrefilter(triggers: triggers, scannerCount: Scanner.allCases.count + extras.count)
    }

    /// `text` with every secret replaced by a `[REDACTED:rule]` marker (and, when turned on,
    /// identifiers by consistent placeholders). Returns `text` itself when nothing matched.
    func redact(_ text: String) -> String {
        var privateKey = PrivateKeyBody.closed
        return redactInStream(text, privateKey: &privateKey)
    }

    /// `text` redacted like `redact(_:)`, as one of a writer's texts that may carry a PEM private
    /// key's body from one to the next (a key printed one line per journal entry).
    /// - Parameter privateKey: on entry, whether `text` begins inside a body (anything but
    ///   `.closed`: all of it up to the first `-----END` is replaced, counted as `private-key`);
    ///   on return, whether `text` leaves a body open for the writer's next text.
    func redactInStream(_ text: String, privateKey: inout PrivateKeyBody) -> String {
        let startsInside = privateKey != .closed
        var state = PrivateKeyBody.closed
        defer { privateKey = state }
        if let result = text.utf8.withContiguousStorageIfAvailable({
            redact(bytes: $0, text: text, keyBodyAtStart: startsInside, keyBodyAtEnd: &state)
        }) {
            return result ?? text
        }
        var copy = text
        copy.makeContiguousUTF8()
        return copy.utf8.withContiguousStorageIfAvailable {
            redact(bytes: $0, text: copy, keyBodyAtStart: startsInside, keyBodyAtEnd: &state)
        }.flatMap { $0 } ?? copy
    }

    /// Rule name → number of replacements so far (rules that replaced nothing are left out).
    var counts: [String: Int] {
        var result: [String: Int] = [:]
        for (index, count) in ledger.counts() where count > 0 {
            result[rules[index].name, default: 0] += count
        }
        return result
    }

    /// Placeholder (`[user-1]`) → the original value it replaced. Keep this on the host only:
    /// it undoes the identifier redaction.
    var mapping: [String: String] { ledger.mapping() }

    /// The names of every rule this redactor applies, built-in first (the over-budget count is
    /// not a rule and is left out).
    var ruleNames: [String] {
        var seen = Set<String>()
        return rules.dropLast().map(\.name).filter { seen.insert($0).inserted }
    }

    // MARK: - Work

    /// - Parameters:
    ///   - keyBodyAtStart: `bytes` begin inside a private key's body (see `redactInStream(_:privateKey:)`).
    ///   - keyBodyAtEnd: set to whether `bytes` leave one open, whenever the private-key scanner
    ///     runs (it always does when one can be).
    private func redact(bytes: LineBytes, text: String, keyBodyAtStart: Bool, keyBodyAtEnd: inout PrivateKeyBody) -> String? {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: prefilter.wordCount) { active -> String? in
            active.initialize(repeating: 0)
            let found = prefilter.scan(bytes, into: active)
            func wake(_ scanner: Int) { active[scanner >> 6] |= 1 << UInt64(scanner & 63) }
            if keyBodyAtStart { wake(Scanner.privateKey.rawValue) }
            if found.longestDigitGroup >= 13 { wake(Scanner.cardNumber.rawValue) }
            if options.emails && found.features.contains(.at) { wake(Scanner.email.rawValue) }
            if options.ipAddresses {
                if found.features.isSuperset(of: [.dot, .digit]) { wake(Scanner.ipv4.rawValue) }
                if found.features.contains(.colon) { wake(Scanner.ipv6.rawValue) }
            }
            if options.macAddresses && !found.features.isDisjoint(with: [.colon, .dash]) { wake(Scanner.mac.rawValue) }
            for k in alwaysRunExtras { wake(Scanner.allCases.count + k) }
            guard active.contains(where: { $0 != 0 }) else { return nil }

            var spans: [RedactionSpan] = []
            // Started by the first extra rule that runs on this line, shared by the rest.
            var budget: ExtraRuleBudget?
            for (word, bits) in active.enumerated() where bits != 0 {
                var remaining = bits
                while remaining != 0 {
                    let bit = remaining.trailingZeroBitCount
                    remaining &= remaining - 1
                    let scanner = word * 64 + bit
                    guard scanner >= Scanner.allCases.count else {
                        if scanner == Scanner.privateKey.rawValue {
                            // Runs first (bit 0), so the state is known even if the line ends
                            // up replaced whole by the over-budget marker below.
                            keyBodyAtEnd = SecretScanners.privateKeys(bytes, startingInside: keyBodyAtStart, into: &spans)
                        } else {
                            run(scanner: scanner, bytes, text, into: &spans)
                        }
                        continue
                    }
                    let k = scanner - Scanner.allCases.count
                    if budget == nil { budget = ExtraRuleBudget(options.extraRuleLineBudget) }
                    if let budget, !extras[k].spans(in: text, rule: BuiltinRule.allCases.count + k, budget: budget, into: &spans) {
                        _ = ledger.record(rules: [overBudgetRule], identifiers: [nil])
                        return "[REDACTED:" + Self.overBudgetRuleName + "]"
                    }
                }
            }
            guard !spans.isEmpty else { return nil }
            let resolved = resolve(spans)
            guard !resolved.isEmpty else { return nil }
            return apply(resolved, to: bytes)
        }
    }

    private func run(scanner index: Int, _ p: LineBytes, _ text: String, into spans: inout [RedactionSpan]) {
        guard let scanner = Scanner(rawValue: index) else { return }  // extra rules run in `redact`
        switch scanner {
        case .privateKey: break  // run by `redact(bytes:…)` itself, which keeps its state across texts
        case .assignment: AssignmentScanner.scan(p, into: &spans)
        case .commandLinePassword: SecretScanners.commandLinePasswords(p, into: &spans)
        case .urlCredentials: SecretScanners.urlCredentials(p, into: &spans)
        case .authorization: SecretScanners.authorizationHeaders(p, into: &spans)
        case .bearer: SecretScanners.bearerTokens(p, into: &spans)
        case .basic: SecretScanners.basicCredentials(p, into: &spans)
        case .jwt: SecretScanners.jwts(p, into: &spans)
        case .prefixedToken: SecretScanners.prefixedTokens(p, into: &spans)
        case .slackWebhook: SecretScanners.slackWebhooks(p, into: &spans)
        case .awsSecretKey: SecretScanners.awsSecretKeys(p, into: &spans)
        case .cardNumber: SecretScanners.cardNumbers(p, into: &spans)
        case .cookie: SecretScanners.cookies(p, into: &spans)
        case .registryAuth: SecretScanners.registryAuths(p, into: &spans)
        case .email: IdentifierScanners.emails(p, into: &spans)
        case .username: identifiers.usernames(p, into: &spans)
        case .hostname: identifiers.hostnames(p, into: &spans)
        case .ipv4: IdentifierScanners.ipv4(p, into: &spans)
        case .ipv6: IdentifierScanners.ipv6(p, into: &spans)
        case .mac: IdentifierScanners.macs(p, into: &spans)
        case .existingReplacements: SecretScanners.existingReplacements(p, into: &spans)
        }
    }

    /// Non-overlapping spans in text order. Text inside an earlier marker or placeholder is never
    /// replaced again: a secret overlapping one is cut around it, an identifier overlapping one is
    /// dropped (a marker's `:` once made `https://[REDACTED:github-token].x@host` look like URL
    /// credentials and lose half its marker). Overlapping secrets merge into one span named after
    /// the highest-priority rule among them (so no piece of either survives); an identifier that
    /// touches a secret is dropped; of overlapping identifiers the earlier, then longer, wins.
    private func resolve(_ spans: [RedactionSpan]) -> [RedactionSpan] {
        let byStart: (RedactionSpan, RedactionSpan) -> Bool = { $0.start != $1.start ? $0.start < $1.start : $0.end > $1.end }
        var sorted = spans.sorted(by: byStart)
        // Earlier replacements never overlap each other; a sweep finds the ones a span overlaps.
        var keep: [RedactionSpan] = []
        var secrets: [RedactionSpan] = []
        var identifiers: [RedactionSpan] = []
        for span in sorted where span.rule == SecretScanners.keepRule { keep.append(span) }
        if !keep.isEmpty {
            var outside: [RedactionSpan] = []
            var k = 0
            for span in sorted where span.rule != SecretScanners.keepRule {
                while k < keep.count && keep[k].end <= span.start { k += 1 }
                var start = span.start
                var j = k
                while j < keep.count && keep[j].start < span.end {
                    if !rules[span.rule].isSecret { start = span.end; break }
                    if keep[j].start > start { outside.append(RedactionSpan(start: start, end: keep[j].start, rule: span.rule)) }
                    start = Swift.max(start, keep[j].end)
                    j += 1
                }
                if start < span.end { outside.append(RedactionSpan(start: start, end: span.end, rule: span.rule)) }
            }
            // Pieces of one span may now start after the next span's start.
            sorted = outside.sorted(by: byStart)
        }
        for span in sorted where span.rule != SecretScanners.keepRule {
            if rules[span.rule].isSecret {
                if var last = secrets.last, span.start < last.end {
                    last.end = Swift.max(last.end, span.end)
                    last.rule = Swift.min(last.rule, span.rule)
                    secrets[secrets.count - 1] = last
                } else {
                    secrets.append(span)
                }
            } else {
                identifiers.append(span)
            }
        }
        guard !identifiers.isEmpty else { return secrets }
        // Merged secrets are sorted and disjoint: sweep them alongside the identifiers.
        var result: [RedactionSpan] = []
        var lastIdentifierEnd = -1
        var s = 0
        for span in identifiers where span.start >= lastIdentifierEnd {
            while s < secrets.count && secrets[s].end <= span.start { s += 1 }
            if s < secrets.count && secrets[s].start < span.end { continue }
            result.append(span)
            lastIdentifierEnd = span.end
        }
        result += secrets
        result.sort { $0.start < $1.start }
        return result
    }

    private func apply(_ spans: [RedactionSpan], to p: LineBytes) -> String {
        var values: [RedactionLedger.Identifier?] = []
        values.reserveCapacity(spans.count)
        for span in spans {
            let rule = rules[span.rule]
            guard case .placeholder(let prefix) = rule.replacement else {
                values.append(nil)
                continue
            }
            let original = String(decoding: UnsafeBufferPointer(rebasing: p[span.start..<span.end]), as: UTF8.self)
            let caseSensitive = span.rule == BuiltinRule.username.rawValue
            values.append(RedactionLedger.Identifier(prefix: prefix, original: original,
                                                     key: caseSensitive ? original : original.lowercased()))
        }
        let placeholders = ledger.record(rules: spans.map(\.rule), identifiers: values)

        var out: [UInt8] = []
        out.reserveCapacity(p.count + spans.count * 24)
        var cursor = 0
        for (k, span) in spans.enumerated() {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: p[cursor..<span.start]))
            if let placeholder = placeholders[k] {
                out.append(contentsOf: placeholder.utf8)
            } else {
                out.append(contentsOf: "[REDACTED:".utf8)
                out.append(contentsOf: rules[span.rule].name.utf8)
                out.append(UInt8(ascii: "]"))
            }
            cursor = span.end
        }
        out.append(contentsOf: UnsafeBufferPointer(rebasing: p[cursor..<p.count]))
        return String(decoding: out, as: UTF8.self)
    }
}

/// What a `Redactor` has replaced so far: counts per rule and the identifier placeholders.
/// Shared by every thread redacting with one redactor.
final class RedactionLedger: @unchecked Sendable {
    // @unchecked: every stored property is read and written only while holding `lock`.

    /// An identifier to turn into a placeholder.
    struct Identifier {
        /// Placeholder prefix (`user`).
        var prefix: String
        /// The text as it appeared.
        var original: String
        /// What makes two occurrences the same value (lower-cased where case does not matter).
        var key: String
    }

    private let lock = NSLock()
    private var ruleCounts: [Int]
    private var placeholderByKey: [String: String] = [:]
    private var originalByPlaceholder: [String: String] = [:]
    private var nextNumber: [String: Int] = [:]

    /// A ledger for `ruleCount` rules, all counts zero.
    init(ruleCount: Int) {
        ruleCounts = Array(repeating: 0, count: ruleCount)
    }

    /// Counts one replacement per entry of `rules` and returns the placeholder for each entry
    /// of `identifiers` (nil where the entry is nil, a secret).
    func record(rules: [Int], identifiers: [Identifier?]) -> [String?] {
        lock.lock()
        defer { lock.unlock() }
        for rule in rules { ruleCounts[rule] += 1 }
        return identifiers.map { identifier in
            guard let identifier else { return nil }
            let key = identifier.prefix + "\u{0}" + identifier.key
            if let existing = placeholderByKey[key] { return existing }
            let number = nextNumber[identifier.prefix, default: 0] + 1
            nextNumber[identifier.prefix] = number
            let placeholder = "[\(identifier.prefix)-\(number)]"
            placeholderByKey[key] = placeholder
            originalByPlaceholder[placeholder] = identifier.original
            return placeholder
        }
    }

    /// Replacements per rule index.
    func counts() -> [(Int, Int)] {
        lock.lock()
        defer { lock.unlock() }
        return Array(ruleCounts.enumerated())
    }

    /// Placeholder → original value.
    func mapping() -> [String: String] {
        lock.lock()
        defer { lock.unlock() }
        return originalByPlaceholder
    }
}
