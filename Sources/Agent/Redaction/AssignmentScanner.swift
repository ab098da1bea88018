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
/// for long options.
/// Values: a quoted string to its closing quote, else up to a blank or quote, or a `&`, `;` or
/// `,` followed by a blank, the end or another `key=` (query strings, connection strings,
/// mount options).
/// Values that are plainly not secrets stay: booleans, `null`, all-`*` masks, `$VARIABLE`
/// references, and for generic secrets numbers shorter than six digits.
enum AssignmentScanner {
    /// Lower-case words that wake this scanner.
    static let triggers = ["pass", "pwd", "secret", "token", "key", "credential", "psk", "authtok"]

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
            guard let rule = classify(p, keyStart, keyEnd),
                  let (valueStart, valueEnd) = value(p, keyStart: keyStart, keyEnd: keyEnd),
                  !isPlaceholderValue(p, valueStart, valueEnd),
                  !(rule == .genericSecret && isShortNumber(p, valueStart, valueEnd)) else { continue }
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
            case UInt8(ascii: "p"), UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "k"), UInt8(ascii: "c"), UInt8(ascii: "a"):
                // Only the first letters of `triggers`.
                for trigger in triggerBytes where p.hasIgnoringCase(trigger, at: j) { return j }
            default: break
            }
            j += 1
        }
        return nil
    }

    /// Words after a password word that make the key *about* the password, not the password.
    private static let passwordMetadata: Set<String> = [
        "file", "path", "dir", "directory", "fd", "env", "var", "command", "cmd", "length", "len", "policy",
        "prompt", "min", "max", "age", "expiry", "expires", "expiration", "changed", "type", "auth",
        "authentication", "required", "set", "enabled", "reset", "count", "url", "uri", "id", "name", "store",
        "storetype", "less", "hint",
    ]
    private static let keyQualifiers: Set<String> = [
        "api", "secret", "access", "private", "client", "encryption", "signing", "master", "auth", "app", "license",
        "service", "account", "subscription",
    ]
    private static let secretNouns: Set<String> = [
        "apikey", "secretkey", "accesskey", "privatekey", "credential", "credentials", "clientsecret", "authkey",
        "psk",
    ]

    /// The rule for the key in `start..<end`, or nil when it does not name a secret.
    static func classify(_ p: LineBytes, _ start: Int, _ end: Int) -> BuiltinRule? {
        var s = start
        while s < end, p[s] == UInt8(ascii: "-") { s += 1 }
        guard s < end else { return nil }
        if end - s <= 6 {
            let raw = String(decoding: UnsafeBufferPointer(rebasing: p[s..<end]), as: UTF8.self)
            if raw == "PWD" || raw == "OLDPWD" { return nil }
        }
        // Segments, lower-cased: split at _ - . and where a small letter meets a capital.
        var segments: [String] = []
        var current: [UInt8] = []
        for k in s..<end {
            let b = p[k]
            if b == UInt8(ascii: "_") || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") {
                if !current.isEmpty { segments.append(String(decoding: current, as: UTF8.self)) }
                current.removeAll(keepingCapacity: true)
                continue
            }
            if ASCII.isUpper(b), k > s, ASCII.isLower(p[k - 1]) || ASCII.isDigit(p[k - 1]), !current.isEmpty {
                segments.append(String(decoding: current, as: UTF8.self))
                current.removeAll(keepingCapacity: true)
            }
            current.append(ASCII.lower(b))
        }
        if !current.isEmpty { segments.append(String(decoding: current, as: UTF8.self)) }
        guard let last = segments.last else { return nil }
        let joined = segments.joined()

        if joined.contains("secretaccesskey") || joined.hasSuffix("awssecretkey") || joined.hasSuffix("awssecret") {
            return .awsSecretKey
        }
        func isPasswordWord(_ segment: String) -> Bool {
            segment.contains("password") || segment.contains("passwd") || segment.contains("passphrase")
                || segment.contains("authtok") || segment == "pass" || segment == "pwd" || segment == "pw"
        }
        if segments.contains(where: isPasswordWord) {
            if !isPasswordWord(last), passwordMetadata.contains(last) { return nil }
            return .password
        }
        if last.hasSuffix("secret") || last.hasSuffix("token") || secretNouns.contains(last) {
            return .genericSecret
        }
        if segments.count >= 2 {
            let previous = segments[segments.count - 2]
            if last == "key", keyQualifiers.contains(previous) { return .genericSecret }
            if segments.contains("secret"), ["base", "value", "key", "string"].contains(last) { return .genericSecret }
        }
        return nil
    }

    /// The value assigned to the key in `keyStart..<keyEnd`, or nil when none follows it.
    static func value(_ p: LineBytes, keyStart: Int, keyEnd: Int) -> (Int, Int)? {
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
        guard j < n else { return nil }
        return valueExtent(p, j)
    }

    /// The extent of a value starting at `start`: inside its quotes when quoted, else up to a
    /// blank or quote, or a `&`, `;`, `,` that starts the next field. Nil when empty.
    static func valueExtent(_ p: LineBytes, _ start: Int) -> (Int, Int)? {
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
        while j < n {
            let b = p[j]
            if ASCII.isWhitespace(b) || b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") { break }
            if (b == UInt8(ascii: "&") || b == UInt8(ascii: ";") || b == UInt8(ascii: ",")) && startsNextField(p, j + 1) { break }
            j += 1
        }
        return j > start ? (start, j) : nil
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

    private static let plainValues: Set<String> = [
        "true", "false", "yes", "no", "on", "off", "null", "nil", "none", "(null)", "undefined", "<none>",
        "<redacted>", "redacted", "<hidden>", "hidden", "[hidden]", "(hidden)", "[redacted]",
    ]

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
        let word = String(decoding: UnsafeBufferPointer(rebasing: p[start..<end]).map(ASCII.lower), as: UTF8.self)
        return plainValues.contains(word)
    }

    private static func isShortNumber(_ p: LineBytes, _ start: Int, _ end: Int) -> Bool {
        end - start < 6 && p.allSatisfyIn(start, end, ASCII.isDigit)
    }
}

extension UnsafeBufferPointer where Element == UInt8 {
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
