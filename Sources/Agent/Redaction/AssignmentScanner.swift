import Foundation

/// Secrets written as assignments: `password=…`, `DB_PASS: …`, `"client_secret":"…"`,
/// `--api-key …`, `aws_secret_access_key = …`. The key and separator stay; the value goes.
///
/// The key is the word around a trigger (`pass`, `pwd`, `secret`, `token`, `key`,
/// `credential`, `psk`, `authtok`), split into segments at `_ - .` and camelCase; its segments decide the rule:
/// - `aws-secret-key`: `aws_secret_access_key`, `SecretAccessKey`, `aws_secret_key`;
/// - `password`: a segment holding `password`/`passwd`/`passphrase`/`authtok`, or exactly
///   `pass`/`pwd`/`pw`,
///   unless the key names something about the password (`password_file`, `pwd_policy`…) or is
///   the shell's `PWD`/`OLDPWD`;
/// - `generic-secret`: the last segment is the secret itself (`…secret`, `…token`, `apikey`,
///   `api_key`, `access_key`, `private_key`, `credentials`, Wi-Fi `psk`, `secret_key_base`…), so
///   `max_tokens` and `token_type` stay.
///
/// Separators: `=`, `=>`, `:=`, and `:` when followed by a blank or a quote or when the key was
/// quoted (`pam_unix(passwd:chauthtok)` is not an assignment); `--flag value` and `-flag value`
/// for long options. Without a separator (`password hunter2x`, `token:AbC…`) the value must
/// look like a secret: see `acceptsLooseValue`.
/// Values: a quoted string to its closing quote; when the key starts the line (YAML, INI, env
/// files) the rest of the line, up to another `key=`/`key:` field; else up to a blank or quote,
/// or a `&`, `;` or
/// `,` followed by a blank, the end or another `key=` (query strings, connection strings,
/// mount options).
/// Values that are plainly not secrets stay: booleans, `null`, all-`*` masks, `$VARIABLE`
/// references, and for generic secrets numbers shorter than six digits.
enum AssignmentScanner {
    /// Lower-case words that wake this scanner.
    static let triggers = ["pass", "pwd", "secret", "token", "key", "credential", "psk", "authtok", "masterauth", "bindpw",
                           "rootpw"]

    private static let triggerBytes = triggers.map { Array($0.utf8) }

    /// Finds assignments in `p`.
    static func scan(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        let n = p.count
        var i = 0
        while i < n {
            guard let t = nextTrigger(p, from: i) else { return }
            var keyStart = t
            while keyStart > 0, isKeyByte(p[keyStart - 1]) { keyStart -= 1 }
            var keyEnd = t
            while keyEnd < n, isKeyByte(p[keyEnd]) { keyEnd += 1 }
            i = keyEnd
            // Separator first (cheap, and most mentions have none), then the key, and only for a
            // secret key the value's extent, which may run far: so each byte is read a bounded
            // number of times even in a line of unclosed quotes.
            if let start = valueStart(p, keyStart: keyStart, keyEnd: keyEnd) {
                guard let rule = classify(p, keyStart, keyEnd),
                      let (valueStart, valueEnd) = valueExtent(p, start, toLineEnd: startsLine(p, keyStart)),
                      !isPlaceholderValue(p, valueStart, valueEnd),
                      !(rule == .genericSecret && isShortNumber(p, valueStart, valueEnd)) else { continue }
                spans.append(RedactionSpan(valueStart, valueEnd, rule))
                i = Swift.max(i, valueEnd)
                continue
            }
            // No `=`/`:` separator: `password hunter2x`, `token:AbC…`, `requirepass x`.
            guard let start = looseValueStart(p, keyStart: keyStart, keyEnd: keyEnd),
                  let rule = classify(p, keyStart, keyEnd),
                  let (valueStart, valueEnd) = valueExtent(p, start),
                  !isPlaceholderValue(p, valueStart, valueEnd),
                  acceptsLooseValue(p, rule, keyStart, keyEnd, valueStart, valueEnd) else { continue }
            spans.append(RedactionSpan(valueStart, valueEnd, rule))
            i = Swift.max(i, valueEnd)
        }
    }

    @inline(__always)
    private static func isKeyByte(_ b: UInt8) -> Bool {
        ASCII.isAlnum(b) || b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".")
    }

    private static func nextTrigger(_ p: LineBytes, from: Int) -> Int? {
        var j = from
        while j < p.count {
            switch ASCII.lower(p[j]) {
            case UInt8(ascii: "p"), UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "k"), UInt8(ascii: "c"), UInt8(ascii: "a"),
                 UInt8(ascii: "m"), UInt8(ascii: "b"), UInt8(ascii: "r"):
                // Only the first letters of `triggers`.
                for trigger in triggerBytes where p.hasIgnoringCase(trigger, at: j) { return j }
            default: break
            }
            j += 1
        }
        return nil
    }

    private typealias Word = [UInt8]
    private static func words(_ list: [String]) -> [Word] { list.map { Array($0.utf8) } }

    /// Words after a password word that make the key *about* the password, not the password.
    private static let passwordMetadata = words([
        "file", "path", "dir", "directory", "fd", "env", "var", "command", "cmd", "length", "len", "policy",
        "prompt", "min", "max", "age", "expiry", "expires", "expiration", "changed", "type", "auth",
        "authentication", "required", "set", "enabled", "reset", "count", "url", "uri", "id", "name", "store",
        "storetype", "less", "hint",
    ])
    private static let keyQualifiers = words([
        "api", "secret", "access", "private", "client", "encryption", "signing", "master", "auth", "app", "license",
        "service", "account", "subscription",
    ])
    private static let secretNouns = words([
        "apikey", "secretkey", "accesskey", "privatekey", "credential", "credentials", "clientsecret", "authkey",
        "psk",
    ])
    private static let secretTails = words(["base", "value", "key", "string"])
    private static let passwordParts = words(["password", "passwd", "passphrase", "authtok"])
    private static let passwordWords = words(["pass", "pwd", "pw"]) + directiveWords
    /// Configuration directives whose argument, after a blank, is a password whatever it looks
    /// like (redis `requirepass`/`masterauth`, LDAP `bindpw`/`rootpw`, kickstart `rootpw`).
    private static let directiveWords = words(["requirepass", "masterauth", "bindpw", "rootpw"])
    private static let awsJoined = words(["secretaccesskey"])
    private static let awsSuffixes = words(["awssecretkey", "awssecret"])
    private static let shellDirectories = words(["PWD", "OLDPWD"])
    private static let secretWord = Array("secret".utf8)
    private static let tokenWord = Array("token".utf8)
    private static let keyWord = Array("key".utf8)

    /// The rule for the key in `start..<end`, or nil when it does not name a secret.
    static func classify(_ p: LineBytes, _ start: Int, _ end: Int) -> BuiltinRule? {
        var s = start
        while s < end, p[s] == UInt8(ascii: "-") { s += 1 }
        guard s < end else { return nil }
        if shellDirectories.contains(where: { $0.count == end - s && p.has($0, at: s) }) { return nil }
        // Segments, lower-cased: split at _ - . and where a small letter or digit meets a capital.
        var joined: [UInt8] = []
        joined.reserveCapacity(end - s)
        var bounds: [Int] = [0]
        for k in s..<end {
            let b = p[k]
            if b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") {
                if bounds[bounds.count - 1] != joined.count { bounds.append(joined.count) }
                continue
            }
            if ASCII.isUpper(b), k > s, ASCII.isLower(p[k - 1]) || ASCII.isDigit(p[k - 1]),
               bounds[bounds.count - 1] != joined.count {
                bounds.append(joined.count)
            }
            joined.append(ASCII.lower(b))
        }
        if bounds[bounds.count - 1] != joined.count { bounds.append(joined.count) }
        guard bounds.count >= 2 else { return nil }
        return joined.withUnsafeBufferPointer { key -> BuiltinRule? in
            let segmentCount = bounds.count - 1
            func segment(_ i: Int) -> LineBytes { LineBytes(rebasing: key[bounds[i]..<bounds[i + 1]]) }
            let last = segment(segmentCount - 1)

            if awsJoined.contains(where: { key.firstIndex(of: $0, from: 0) != nil })
                || awsSuffixes.contains(where: { key.hasSuffix($0) }) {
                return .awsSecretKey
            }
            func isPasswordWord(_ w: LineBytes) -> Bool {
                passwordParts.contains { w.firstIndex(of: $0, from: 0) != nil } || passwordWords.contains { w.equals($0) }
            }
            if (0..<segmentCount).contains(where: { isPasswordWord(segment($0)) }) {
                if !isPasswordWord(last), passwordMetadata.contains(where: { last.equals($0) }) { return nil }
                return .password
            }
            if last.hasSuffix(secretWord) || last.hasSuffix(tokenWord) || secretNouns.contains(where: { last.equals($0) }) {
                return .genericSecret
            }
            if segmentCount >= 2 {
                let previous = segment(segmentCount - 2)
                if last.equals(keyWord), keyQualifiers.contains(where: { previous.equals($0) }) { return .genericSecret }
                if (0..<segmentCount).contains(where: { segment($0).equals(secretWord) }),
                   secretTails.contains(where: { last.equals($0) }) { return .genericSecret }
            }
            return nil
        }
    }

    /// Where the value assigned to the key in `keyStart..<keyEnd` starts, or nil when no
    /// separator follows the key.
    static func valueStart(_ p: LineBytes, keyStart: Int, keyEnd: Int) -> Int? {
        let n = p.count
        var j = keyEnd
        let before = p.at(keyStart - 1)
        let keyQuoted = before == UInt8(ascii: "\"") || before == UInt8(ascii: "'")
        if p.at(j) == UInt8(ascii: "\\") && p.at(j + 1) == UInt8(ascii: "\"") { j += 2 }
        else if p.at(j) == UInt8(ascii: "\"") || p.at(j) == UInt8(ascii: "'") { j += 1 }
        let afterKey = j
        while ASCII.isBlank(p.at(j)) { j += 1 }
        let c = p.at(j)
        if c == UInt8(ascii: "=") {
            guard p.at(j + 1) != UInt8(ascii: "=") else { return nil }
            j += p.at(j + 1) == UInt8(ascii: ">") ? 2 : 1
        } else if c == UInt8(ascii: ":") {
            let next = p.at(j + 1)
            if next == UInt8(ascii: "=") {
                j += 2
            } else {
                guard next != UInt8(ascii: ":"),
                      keyQuoted || j + 1 == n || ASCII.isBlank(next) || next == UInt8(ascii: "\"") || next == UInt8(ascii: "'")
                else { return nil }
                j += 1
            }
        } else {
            // `--password value` or `-passwd value`: a long option and its argument.
            let isLongOption = p.at(keyStart) == UInt8(ascii: "-") && keyEnd - keyStart > 3
                && !ASCII.isWordByte(p.at(keyStart - 1))
            guard isLongOption, j > afterKey, j < n, c != UInt8(ascii: "-") else { return nil }
        }
        while ASCII.isBlank(p.at(j)) { j += 1 }
        return j < n ? j : nil
    }

    /// Where a value separated from its key by blanks only (`password hunter2x`) or by a `:`
    /// glued to both (`token:AbC…`) starts; nil when neither follows the key.
    static func looseValueStart(_ p: LineBytes, keyStart: Int, keyEnd: Int) -> Int? {
        var j = keyEnd
        if p.at(j) == UInt8(ascii: "\"") || p.at(j) == UInt8(ascii: "'") { j += 1 }
        if p.at(j) == UInt8(ascii: ":") {
            let next = p.at(j + 1)
            guard next != 0, !ASCII.isWhitespace(next), next != UInt8(ascii: ":") else { return nil }
            return j + 1
        }
        guard ASCII.isBlank(p.at(j)) else { return nil }
        while ASCII.isBlank(p.at(j)) { j += 1 }
        let c = p.at(j)
        guard c != 0, !ASCII.isWhitespace(c), c != UInt8(ascii: "-"), c != UInt8(ascii: "/") else { return nil }
        return j
    }

    /// Shortest value the entropy test judges, and the least Shannon entropy (bits per
    /// character) it must have. Measured on the fixtures: every token-like secret of 16+
    /// characters has 3.68 or more (AWS's example key id; hex keys 3.9, base64 keys 4.2–5.7),
    /// while words after keywords in ordinary lines (`Secret Service`, `token expired`) stay
    /// under 3.3; paths and URLs, which reach 4.5, are refused by their `/` first.
    static let entropyMinimumLength = 16
    static let entropyThreshold = 3.5

    /// Words that follow a password word in ordinary prose (`Failed password for …`).
    private static let proseWords = words([
        "for", "is", "was", "of", "to", "from", "and", "or", "not", "the", "a", "an", "in", "on", "changed", "failed",
        "expired", "updated", "required", "incorrect", "check", "authentication", "prompt", "file", "none", "must",
        "has", "have", "will", "set", "unchanged", "accepted", "does", "did", "too", "with",
    ])

    /// Whether a value found without a separator is a secret: for password keys, a quoted value,
    /// any value on a `.netrc`-style line (`machine … login … password …`) or after a
    /// configuration directive (`requirepass`), or one shaped like a password (letters and
    /// digits, or symbols); for other keys, a long value of high entropy.
    static func acceptsLooseValue(_ p: LineBytes, _ rule: BuiltinRule, _ keyStart: Int, _ keyEnd: Int,
                                  _ start: Int, _ end: Int) -> Bool {
        let value = LineBytes(rebasing: p[start..<end])
        if value.contains(UInt8(ascii: "/")) && value.firstIndex(of: Array("://".utf8), from: 0) != nil { return false }
        if rule == .password {
            let quoted = p.at(start - 1) == UInt8(ascii: "\"") || p.at(start - 1) == UInt8(ascii: "'")
            if quoted { return true }
            if proseWords.contains(where: { value.equalsIgnoringCase($0) }) { return false }
            let key = LineBytes(rebasing: p[keyStart..<keyEnd])
            if directiveWords.contains(where: { key.equalsIgnoringCase($0) }) || isPasswordShaped(value) { return true }
            // netrc writes `password X` with a blank, after its `machine`/`login` words; a key
            // glued to its value by `:` on such a line is something else
            // (`pam_faillock(gdm-password:auth): Consecutive login failures…`).
            return ASCII.isBlank(p.at(start - 1)) && isNetrcLine(p, before: keyStart)
        }
        return isHighEntropy(value)
    }

    private static let netrcWords = words(["machine", "login", "default"])
    private static let netrcWindow = 256

    /// Whether the line before `i` holds a `.netrc` keyword (`machine`, `login`, `default`) as
    /// a word followed by a blank (netrc names the machine and login before the password).
    /// Only `netrcWindow` bytes are read (netrc lines are short), so a long line of
    /// `password password …` stays linear.
    private static func isNetrcLine(_ p: LineBytes, before i: Int) -> Bool {
        var lineStart = i
        while lineStart > 0, i - lineStart < netrcWindow, p[lineStart - 1] != 0x0A, p[lineStart - 1] != 0x0D { lineStart -= 1 }
        let line = LineBytes(rebasing: p[lineStart..<i])
        for word in netrcWords {
            var from = 0
            while let k = line.firstIndex(of: word, from: from) {
                from = k + word.count
                if !ASCII.isWordByte(line.at(k - 1)), line.at(k - 1) != UInt8(ascii: "-"), ASCII.isBlank(line.at(from)) {
                    return true
                }
            }
        }
        return false
    }

    /// A password as people type one: 6+ characters, not a path, mixing letters with digits or
    /// holding a symbol (`hunter2x`, `S3cret!`).
    static func isPasswordShaped(_ v: LineBytes) -> Bool {
        guard v.count >= 6, v[0] != UInt8(ascii: "/") else { return false }
        var letters = false, digits = false, symbols = false
        for b in v {
            if ASCII.isLetter(b) { letters = true } else if ASCII.isDigit(b) { digits = true }
            else if b >= 0x21 && b < 0x7F && !"-_.:,;()[]{}<>=/".utf8.contains(b) { symbols = true }
        }
        return (letters && digits) || (symbols && (letters || digits))
    }

    /// A token-like value: `entropyMinimumLength`+ characters, at least two of capitals, small
    /// letters and digits, and `entropyThreshold`+ bits of Shannon entropy per character.
    static func isHighEntropy(_ v: LineBytes) -> Bool {
        guard v.count >= entropyMinimumLength, v[0] != UInt8(ascii: "/") else { return false }
        var counts = [Int](repeating: 0, count: 256)
        var upper = false, lower = false, digit = false
        for b in v {
            counts[Int(b)] += 1
            if ASCII.isUpper(b) { upper = true } else if ASCII.isLower(b) { lower = true } else if ASCII.isDigit(b) { digit = true }
        }
        guard (upper ? 1 : 0) + (lower ? 1 : 0) + (digit ? 1 : 0) >= 2 else { return false }
        return shannonEntropy(counts, total: v.count) >= entropyThreshold
    }

    /// Bits per character of a text with these byte `counts`.
    static func shannonEntropy(_ counts: [Int], total: Int) -> Double {
        var bits = 0.0
        let n = Double(total)
        for c in counts where c > 0 {
            let f = Double(c) / n
            bits -= f * log2(f)
        }
        return bits
    }

    /// Whether only blanks (and an opening quote) stand between the start of the line and `i`:
    /// a config-file line (`password: correct horse battery staple`).
    static func startsLine(_ p: LineBytes, _ i: Int) -> Bool {
        var k = i - 1
        if k >= 0, p[k] == UInt8(ascii: "\"") || p[k] == UInt8(ascii: "'") { k -= 1 }
        while k >= 0, ASCII.isBlank(p[k]) { k -= 1 }
        return k < 0 || p[k] == 0x0A || p[k] == 0x0D
    }

    /// The extent of a value starting at `start`: inside its quotes when quoted; else, when
    /// `toLineEnd`, up to the end of the line or the next `key=` field (trailing blanks
    /// dropped); else up to a blank or
    /// quote, or a `&`, `;`, `,` that starts the next field. Nil when empty.
    static func valueExtent(_ p: LineBytes, _ start: Int, toLineEnd: Bool = false) -> (Int, Int)? {
        let n = p.count
        var j = start
        let c = p.at(j)
        if c == UInt8(ascii: "\\") && p.at(j + 1) == UInt8(ascii: "\"") {
            let vs = j + 2
            var e = vs
            while e < n, p[e] != UInt8(ascii: "\"") && !(p[e] == UInt8(ascii: "\\") && p.at(e + 1) == UInt8(ascii: "\"")) { e += 1 }
            return e > vs ? (vs, e) : nil
        }
        if c == UInt8(ascii: "\"") || c == UInt8(ascii: "'") {
            let vs = j + 1
            var e = vs
            while e < n, p[e] != c {
                if p[e] == UInt8(ascii: "\\") && c == UInt8(ascii: "\"") { e += 1 }
                e += 1
            }
            e = Swift.min(e, n)
            return e > vs ? (vs, e) : nil
        }
        if toLineEnd {
            while j < n, p[j] != 0x0A, p[j] != 0x0D {
                let b = p[j]
                if (ASCII.isBlank(b) || b == UInt8(ascii: "&") || b == UInt8(ascii: ";") || b == UInt8(ascii: ","))
                    && nextFieldFollows(p, j + 1) { break }
                j += 1
            }
            while j > start, ASCII.isBlank(p[j - 1]) { j -= 1 }
            return j > start ? (start, j) : nil
        }
        while j < n {
            let b = p[j]
            if ASCII.isWhitespace(b) || b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") { break }
            if (b == UInt8(ascii: "&") || b == UInt8(ascii: ";") || b == UInt8(ascii: ",")) && startsNextField(p, j + 1) { break }
            j += 1
        }
        return j > start ? (start, j) : nil
    }

    /// Whether another field (`key=` or `key: `, after optional blanks) starts at `i`.
    private static func nextFieldFollows(_ p: LineBytes, _ i: Int) -> Bool {
        var k = i
        while ASCII.isBlank(p.at(k)) { k += 1 }
        let keyStart = k
        while k < p.count, isKeyByte(p[k]) { k += 1 }
        guard k > keyStart else { return false }
        let c = p.at(k)
        return c == UInt8(ascii: "=") || (c == UInt8(ascii: ":") && (k + 1 == p.count || ASCII.isBlank(p[k + 1])))
    }

    /// Whether a `&`, `;` or `,` before `i` ends a value: the text goes on with a blank, the
    /// end, or another `key=` (so `a,b` in `password=a,b` stays one value).
    private static func startsNextField(_ p: LineBytes, _ i: Int) -> Bool {
        guard i < p.count, !ASCII.isWhitespace(p[i]) else { return true }
        var k = i
        while k < p.count, isKeyByte(p[k]) || p[k] == UInt8(ascii: " ") && k > i && isKeyByte(p[k - 1]) && isKeyByte(p.at(k + 1)) {
            k += 1
        }
        return k > i && (p.at(k) == UInt8(ascii: "=") || p.at(k) == UInt8(ascii: ":"))
    }

    private static let plainValues = words([
        "true", "false", "yes", "no", "on", "off", "null", "nil", "none", "(null)", "undefined", "<none>",
        "<redacted>", "redacted", "<hidden>", "hidden", "[hidden]", "(hidden)", "[redacted]",
    ])

    /// Whether the value in `start..<end` is plainly not a secret: a boolean or null word, a
    /// `***` mask, an earlier `[REDACTED…]` marker, or a `$VARIABLE`/`${…}` reference.
    static func isPlaceholderValue(_ p: LineBytes, _ start: Int, _ end: Int) -> Bool {
        guard end > start else { return true }
        if p.allSatisfyIn(start, end, { $0 == UInt8(ascii: "*") }) { return true }
        if p[start] == UInt8(ascii: "[") && p.has(Array("[REDACTED".utf8), at: start) { return true }
        if p[start] == UInt8(ascii: "$") {
            let next = p.at(start + 1)
            if next == UInt8(ascii: "{") || next == UInt8(ascii: "(") { return true }
            if end - start > 1, p.allSatisfyIn(start + 1, end, { ASCII.isUpper($0) || ASCII.isDigit($0) || $0 == UInt8(ascii: "_") }) {
                return true
            }
        }
        guard end - start <= 11 else { return false }
        let value = LineBytes(rebasing: p[start..<end])
        return plainValues.contains { value.equalsIgnoringCase($0) }
    }

    private static func isShortNumber(_ p: LineBytes, _ start: Int, _ end: Int) -> Bool {
        end - start < 6 && p.allSatisfyIn(start, end, ASCII.isDigit)
    }
}

/// Whole-buffer comparisons used when classifying keys and values.
extension UnsafeBufferPointer where Element == UInt8 {
    /// Whether the bytes are exactly `word`.
    func equals(_ word: [UInt8]) -> Bool { count == word.count && has(word, at: 0) }

    /// Whether the bytes are `word` (lower-case ASCII), ignoring ASCII case.
    func equalsIgnoringCase(_ word: [UInt8]) -> Bool { count == word.count && hasIgnoringCase(word, at: 0) }

    /// Whether the bytes end with `word`.
    func hasSuffix(_ word: [UInt8]) -> Bool { count >= word.count && has(word, at: count - word.count) }

    /// Whether every byte in `start..<end` satisfies `predicate`.
    @inline(__always)
    func allSatisfyIn(_ start: Int, _ end: Int, _ predicate: (UInt8) -> Bool) -> Bool {
        var k = start
        while k < end {
            if !predicate(self[k]) { return false }
            k += 1
        }
        return true
    }
}
