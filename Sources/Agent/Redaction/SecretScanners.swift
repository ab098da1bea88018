/// Hand-written scanners for the always-on secret rules. Each reads a line's UTF-8 bytes and
/// appends the spans to replace; they run only when the prefilter saw one of their triggers.
/// (Swift `Regex` took ~73 µs and `NSRegularExpression` ~3 µs per ordinary line here, against
/// well under 1 µs for these scanners; see bench/redaction/README.md.)
enum SecretScanners {
    /// Commands whose `-p VALUE` option is a registry password.
    static let registryLogins = ["docker login", "podman login", "buildah login", "skopeo login", "helm registry login"]
        .map { Array($0.utf8) }

    /// Literal byte strings the scanners look for.
    fileprivate enum Literal {
        static let begin = Array("-----BEGIN ".utf8)
        static let end = Array("-----END".utf8)
        static let dashes = Array("-----".utf8)
        static let privateKey = Array("PRIVATE KEY".utf8)
        static let schemeSeparator = Array("://".utf8)
        static let authorization = Array("authorization".utf8)
        static let bearer = Array("bearer".utf8)
        static let basic = Array("basic".utf8)
        static let jwtStart = Array("eyJ".utf8)
        static let slackHook = Array("hooks.slack.com/services/".utf8)
        static let identifiedBy = Array("identified by".utf8)
        static let mysql = Array("mysql".utf8)
        static let mariadb = Array("mariadb".utf8)
        static let sshpass = Array("sshpass".utf8)
        static let dashP = Array("-p".utf8)
        static let dashU = Array("-u".utf8)
        static let userOption = Array("--user".utf8)
        static let curl = Array("curl".utf8)
        static let redisCLI = Array("redis-cli".utf8)
        static let dashA = Array("-a".utf8)
        static let auth = Array("AUTH".utf8)
        static let cookie = Array("cookie".utf8)
        static let setDash = Array("set-".utf8)
        static let quotedAuth = Array("\"auth\"".utf8)
    }

    // MARK: Earlier replacements

    /// Rule number of spans that mark text to leave alone (see `existingReplacements`).
    static let keepRule = -1
    /// Lower-case starts of the markers and placeholders a redactor writes.
    static let replacementStarts = ["[redacted:", "[email-", "[user-", "[ip-", "[mac-", "[host-"]
    private static let replacementStartBytes = replacementStarts.map { Array($0.utf8) }

    /// Markers (`[REDACTED:rule]`) and placeholders (`[user-3]`) already in the text, as spans
    /// of `keepRule`: a match lying inside one is dropped, so redacting twice changes nothing.
    static func existingReplacements(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var i = 0
        while i < p.count {
            guard p[i] == UInt8(ascii: "["),
                  let start = replacementStartBytes.first(where: { p.hasIgnoringCase($0, at: i) }) else {
                i += 1
                continue
            }
            var end = i + start.count
            while end < p.count, end - i < 80, ASCII.isAlnum(p[end]) || p[end] == UInt8(ascii: "-")
                || p[end] == UInt8(ascii: "_") || p[end] == UInt8(ascii: ".") { end += 1 }
            if p.at(end) == UInt8(ascii: "]") {
                spans.append(RedactionSpan(start: i, end: end + 1, rule: keepRule))
                i = end + 1
            } else {
                i += 1
            }
        }
    }

    // MARK: PEM private keys

    /// `-----BEGIN … PRIVATE KEY-----` blocks: the body up to `-----END` (or the end of the
    /// text) is replaced; the BEGIN and END lines stay so the reader sees what was there.
    /// - Parameter startingInside: the text goes on with a body begun in an earlier text of the
    ///   same writer (a key printed one line per journal entry): everything up to the first
    ///   `-----END` is body too.
    /// - Returns: whether the text leaves a key's body open for the writer's next text.
    @discardableResult
    static func privateKeys(_ p: LineBytes, startingInside: Bool = false, into spans: inout [RedactionSpan]) -> PrivateKeyBody {
        var state = PrivateKeyBody.closed
        var from = 0
        if startingInside {
            let bodyEnd = p.firstIndex(of: Literal.end, from: 0)
            privateKeyBody(p, 0, bodyEnd ?? p.count, into: &spans)
            guard let bodyEnd else { return .continued }
            from = bodyEnd
        }
        while let begin = p.firstIndex(of: Literal.begin, from: from) {
            let labelStart = begin + Literal.begin.count
            var labelEnd = labelStart
            while labelEnd < p.count, ASCII.isUpper(p[labelEnd]) || ASCII.isDigit(p[labelEnd]) || p[labelEnd] == 0x20 {
                labelEnd += 1
            }
            guard labelEnd - labelStart <= 64, p.has(Literal.dashes, at: labelEnd),
                  UnsafeBufferPointer(rebasing: p[labelStart..<labelEnd]).firstIndex(of: Literal.privateKey, from: 0) != nil
            else {
                from = labelStart
                continue
            }
            let bodyStart = labelEnd + Literal.dashes.count
            let bodyEnd = p.firstIndex(of: Literal.end, from: bodyStart)
            privateKeyBody(p, bodyStart, bodyEnd ?? p.count, into: &spans)
            state = bodyEnd == nil ? .opened : .closed
            from = Swift.max(bodyEnd ?? p.count, labelStart)
        }
        return state
    }

    /// A span over `start..<end` without its leading and trailing whitespace, if any is left.
    private static func privateKeyBody(_ p: LineBytes, _ start: Int, _ end: Int, into spans: inout [RedactionSpan]) {
        var start = start
        var end = end
        while start < end, ASCII.isWhitespace(p[start]) { start += 1 }
        while end > start, ASCII.isWhitespace(p[end - 1]) { end -= 1 }
        if end > start { spans.append(RedactionSpan(start, end, .privateKey)) }
    }

    // MARK: URLs with credentials

    /// `scheme://user:password@host`: the password between the first `:` of the user part
    /// and the last `@` of the authority.
    static func urlCredentials(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var from = 0
        while let sep = p.firstIndex(of: Literal.schemeSeparator, from: from) {
            from = sep + 3
            guard sep > 0, ASCII.isAlnum(p[sep - 1]) else { continue }
            let authorityStart = sep + 3
            var authorityEnd = authorityStart
            var lastAt = -1
            while authorityEnd < p.count {
                let b = p[authorityEnd]
                if b == UInt8(ascii: "/") || b == UInt8(ascii: "?") || b == UInt8(ascii: "#") || ASCII.isWhitespace(b)
                    || b == UInt8(ascii: "\"") || b == UInt8(ascii: "'") || b == UInt8(ascii: "<") || b == UInt8(ascii: ">")
                    || b == UInt8(ascii: "\\") { break }
                if b == UInt8(ascii: "@") { lastAt = authorityEnd }
                authorityEnd += 1
            }
            from = authorityEnd
            guard lastAt > authorityStart else { continue }
            var colon = authorityStart
            while colon < lastAt, p[colon] != UInt8(ascii: ":") { colon += 1 }
            guard colon < lastAt - 1 else { continue }
            if AssignmentScanner.isPlaceholderValue(p, colon + 1, lastAt) { continue }
            spans.append(RedactionSpan(colon + 1, lastAt, .urlCredentials))
        }
    }

    // MARK: Header values

    /// The value after a header-like key that ends at `j`: an optional closing quote of the key
    /// (`"Cookie"`, `\"Cookie\"`), blanks, one of `separators`, blanks, an optional opening
    /// quote, then everything up to the end of the line, a backslash or the closing quote.
    /// `enclosing` is the quote already open around the key (0: none); the value's own quote
    /// replaces it. Nil when no separator follows the key.
    static func headerValue(_ p: LineBytes, after j: Int, separators: [UInt8], enclosing: UInt8) -> (start: Int, end: Int)? {
        var j = j
        var enclosing = enclosing
        if p.at(j) == UInt8(ascii: "\\") && p.at(j + 1) == UInt8(ascii: "\"") { j += 2 }
        else if p.at(j) == UInt8(ascii: "\"") || p.at(j) == UInt8(ascii: "'") { j += 1 }
        while ASCII.isBlank(p.at(j)) { j += 1 }
        guard separators.contains(p.at(j)) else { return nil }
        j += 1
        while ASCII.isBlank(p.at(j)) { j += 1 }
        if p.at(j) == UInt8(ascii: "\\") && p.at(j + 1) == UInt8(ascii: "\"") {
            enclosing = UInt8(ascii: "\"")
            j += 2
        } else if p.at(j) == UInt8(ascii: "\"") || p.at(j) == UInt8(ascii: "'") {
            enclosing = p[j]
            j += 1
        }
        var end = j
        while end < p.count {
            let b = p[end]
            if b == 0x0A || b == 0x0D || b == UInt8(ascii: "\\") || (enclosing != 0 && b == enclosing) { break }
            end += 1
        }
        return (j, end)
    }

    // MARK: Authorization headers, bearer and basic credentials

    /// `Authorization: <scheme> <credentials>` (also `Proxy-Authorization`, JSON and `=` forms):
    /// the scheme word stays, the credentials go, up to the end of the line or closing quote.
    static func authorizationHeaders(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var from = 0
        while let name = p.firstIndex(ofIgnoringCase: Literal.authorization, from: from) {
            from = name + Literal.authorization.count
            guard !ASCII.isWordByte(p.at(name - 1)) else { continue }
            let before = p.at(name - 1)
            let quoted: UInt8 = before == UInt8(ascii: "\"") || before == UInt8(ascii: "'") ? before : 0
            guard let value = headerValue(p, after: from, separators: [UInt8(ascii: ":"), UInt8(ascii: "=")], enclosing: quoted) else { continue }
            let valueStart = value.start
            var valueEnd = value.end
            from = Swift.max(from, valueEnd)
            while valueEnd > valueStart, ASCII.isBlank(p[valueEnd - 1]) { valueEnd -= 1 }
            guard valueEnd > valueStart else { continue }
            // Keep a leading scheme word (`Bearer`, `Basic`, `Digest`…) when credentials follow it.
            var secretStart = valueStart
            var k = valueStart
            while k < valueEnd, ASCII.isAlnum(p[k]) || p[k] == UInt8(ascii: "-") || p[k] == UInt8(ascii: "_") { k += 1 }
            if k > valueStart, k < valueEnd, ASCII.isBlank(p[k]), ASCII.isLetter(p[valueStart]) {
                while k < valueEnd, ASCII.isBlank(p[k]) { k += 1 }
                if k < valueEnd { secretStart = k }
            }
            if AssignmentScanner.isPlaceholderValue(p, secretStart, valueEnd) { continue }
            spans.append(RedactionSpan(secretStart, valueEnd, .authorizationHeader))
        }
    }

    @inline(__always)
    private static func isTokenByte(_ b: UInt8) -> Bool {
        ASCII.isAlnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: ".") || b == UInt8(ascii: "_")
            || b == UInt8(ascii: "~") || b == UInt8(ascii: "+") || b == UInt8(ascii: "/")
    }

    /// `Bearer <token>` anywhere: a token of 8+ token characters (`A-Z a-z 0-9 - . _ ~ + /`, then
    /// `=` padding) holding a digit, or 20+; `bearer password_file=…` is no token.
    static func bearerTokens(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var from = 0
        while let word = p.firstIndex(ofIgnoringCase: Literal.bearer, from: from) {
            from = word + Literal.bearer.count
            guard !ASCII.isWordByte(p.at(word - 1)), ASCII.isBlank(p.at(from)) else { continue }
            var start = from
            while ASCII.isBlank(p.at(start)) { start += 1 }
            var end = start
            var digits = false
            while end < p.count, isTokenByte(p[end]) {
                if ASCII.isDigit(p[end]) { digits = true }
                end += 1
            }
            while p.at(end) == UInt8(ascii: "=") { end += 1 }  // base64 padding only at the end
            let length = end - start
            guard length >= 8, digits || length >= 20 else { continue }
            spans.append(RedactionSpan(start, end, .bearerToken))
            from = end
        }
    }

    /// `Basic <base64>` where the base64 decodes to printable `user:password`.
    static func basicCredentials(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var from = 0
        while let word = p.firstIndex(ofIgnoringCase: Literal.basic, from: from) {
            from = word + Literal.basic.count
            guard !ASCII.isWordByte(p.at(word - 1)), ASCII.isBlank(p.at(from)) else { continue }
            var start = from
            while ASCII.isBlank(p.at(start)) { start += 1 }
            var end = start
            while end < p.count, ASCII.isAlnum(p[end]) || p[end] == UInt8(ascii: "+") || p[end] == UInt8(ascii: "/") { end += 1 }
            while p.at(end) == UInt8(ascii: "=") { end += 1 }
            guard end - start >= 8, !ASCII.isWordByte(p.at(end)),
                  decodesToCredentials(UnsafeBufferPointer(rebasing: p[start..<end])) else { continue }
            spans.append(RedactionSpan(start, end, .basicAuth))
            from = end
        }
    }

    /// Whether `b64` is base64 of printable ASCII text holding a `:`.
    static func decodesToCredentials(_ b64: LineBytes) -> Bool {
        var bits: UInt32 = 0
        var bitCount = 0
        var colon = false
        var decoded = 0
        for c in b64 {
            let v: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): v = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): v = UInt32(c - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = UInt32(c - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): v = 62
            case UInt8(ascii: "/"): v = 63
            case UInt8(ascii: "="): continue
            default: return false
            }
            bits = bits << 6 | v
            bitCount += 6
            if bitCount >= 8 {
                bitCount -= 8
                let byte = UInt8((bits >> UInt32(bitCount)) & 0xFF)
                guard byte >= 0x20 && byte < 0x7F else { return false }
                if byte == UInt8(ascii: ":") { colon = true }
                decoded += 1
            }
        }
        return colon && decoded >= 3
    }

    // MARK: Token formats

    @inline(__always)
    private static func isBase64URLByte(_ b: UInt8) -> Bool {
        ASCII.isAlnum(b) || b == UInt8(ascii: "-") || b == UInt8(ascii: "_")
    }

    /// JWTs (and JWEs): `eyJ…` then dot-separated base64url segments, the whole token replaced.
    static func jwts(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var from = 0
        while let start = p.firstIndex(of: Literal.jwtStart, from: from) {
            from = start + 3
            guard !isBase64URLByte(p.at(start - 1)) else { continue }
            var end = start
            while end < p.count, isBase64URLByte(p[end]) { end += 1 }
            guard end - start >= 10, p.at(end) == UInt8(ascii: ".") else { continue }
            var segments = 1
            var k = end
            while p.at(k) == UInt8(ascii: ".") {
                var e = k + 1
                while e < p.count, isBase64URLByte(p[e]) { e += 1 }
                if segments == 1 && e - k - 1 < 4 { break }
                segments += 1
                end = e
                k = e
            }
            guard segments >= 3 else { continue }
            spans.append(RedactionSpan(start, end, .jwt))
            from = end
        }
    }

    /// Tokens of the formats in `TokenFormat.known` (`ghp_…`, `AKIA…`, `sk_live_…`, `hlh_…`):
    /// the whole token, when it starts a word and its body has the format's characters and length.
    static func prefixedTokens(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        let firstBytes = TokenFormat.firstBytes
        let prefixes = TokenFormat.prefixesLongestFirst
        var i = 0
        let n = p.count
        while i < n {
            guard firstBytes[Int(p[i])], !ASCII.isAlnum(p.at(i - 1)) else {
                i += 1
                continue
            }
            var next = i + 1
            for prefix in prefixes where p.has(prefix.bytes, at: i) {
                if let end = prefix.format.tokenEnd(p, i, prefixLength: prefix.bytes.count) {
                    spans.append(RedactionSpan(i, end, prefix.format.rule))
                    next = end
                    break
                }
            }
            i = next
        }
    }

    /// `https://hooks.slack.com/services/T…/B…/…`: the path after `services/`.
    static func slackWebhooks(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var from = 0
        while let hook = p.firstIndex(ofIgnoringCase: Literal.slackHook, from: from) {
            let start = hook + Literal.slackHook.count
            var end = start
            while end < p.count, ASCII.isAlnum(p[end]) || p[end] == UInt8(ascii: "/") || p[end] == UInt8(ascii: "_")
                || p[end] == UInt8(ascii: "-") { end += 1 }
            if end > start { spans.append(RedactionSpan(start, end, .slackWebhook)) }
            from = Swift.max(end, start)
        }
    }

    /// AWS secret access keys near AWS names: a standalone 40-character base64 word holding a
    /// capital, a small letter and a digit (git hashes, all lower-case hex, never qualify).
    static func awsSecretKeys(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        @inline(__always) func isKeyByte(_ b: UInt8) -> Bool {
            ASCII.isAlnum(b) || b == UInt8(ascii: "/") || b == UInt8(ascii: "+")
        }
        var i = 0
        let n = p.count
        while i < n {
            guard isKeyByte(p[i]) else { i += 1; continue }
            let start = i
            var upper = false, lower = false, digit = false
            while i < n, isKeyByte(p[i]) {
                let b = p[i]
                if ASCII.isUpper(b) { upper = true } else if ASCII.isLower(b) { lower = true } else if ASCII.isDigit(b) { digit = true }
                i += 1
            }
            guard i - start == 40, upper, lower, digit, p.at(i) != UInt8(ascii: "="), !ASCII.isWordByte(p.at(start - 1)),
                  !ASCII.isWordByte(p.at(i)) else { continue }
            spans.append(RedactionSpan(start, i, .awsSecretKey))
        }
    }

    // MARK: Passwords on command lines

    /// `mysql -pSECRET` (and mariadb, mysqldump…), `sshpass -p SECRET`, `docker login -p SECRET`
    /// (podman, buildah, skopeo, helm), `redis-cli -a SECRET`, `curl -u user:SECRET`,
    /// SQL `IDENTIFIED BY 'SECRET'`, redis `AUTH SECRET` (see `authCommands`).
    static func commandLinePasswords(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        let attachedP = p.firstIndex(ofIgnoringCase: Literal.mysql, from: 0) != nil
            || p.firstIndex(ofIgnoringCase: Literal.mariadb, from: 0) != nil
        let separateP = p.firstIndex(ofIgnoringCase: Literal.sshpass, from: 0) != nil
            || registryLogins.contains { p.firstIndex(ofIgnoringCase: $0, from: 0) != nil }
        if attachedP || separateP {
            optionValues(p, Literal.dashP, attached: true, separate: separateP) { start, end in
                spans.append(RedactionSpan(start, end, .password))
            }
        }
        if p.firstIndex(ofIgnoringCase: Literal.redisCLI, from: 0) != nil {
            optionValues(p, Literal.dashA, attached: false, separate: true) { start, end in
                spans.append(RedactionSpan(start, end, .password))
            }
        }
        if p.firstIndex(ofIgnoringCase: Literal.curl, from: 0) != nil {
            for option in [Literal.dashU, Literal.userOption] {
                optionValues(p, option, attached: option == Literal.dashU, separate: true) { start, end in
                    // `user:password`: only the password goes; a lone user name stays.
                    var colon = start
                    while colon < end, p[colon] != UInt8(ascii: ":") { colon += 1 }
                    if colon + 1 < end { spans.append(RedactionSpan(colon + 1, end, .password)) }
                }
            }
        }
        if p.firstIndex(of: Literal.auth, from: 0) != nil { authCommands(p, into: &spans) }
        var from = 0
        while let phrase = p.firstIndex(ofIgnoringCase: Literal.identifiedBy, from: from) {
            from = phrase + Literal.identifiedBy.count
            guard !ASCII.isWordByte(p.at(phrase - 1)), ASCII.isBlank(p.at(from)) else { continue }
            var start = from
            while ASCII.isBlank(p.at(start)) { start += 1 }
            if p.hasIgnoringCase(Array("password".utf8), at: start) {
                start += 8
                while ASCII.isBlank(p.at(start)) { start += 1 }
            }
            if let (s, e) = AssignmentScanner.valueExtent(p, start), !AssignmentScanner.isPlaceholderValue(p, s, e) {
                spans.append(RedactionSpan(s, e, .password))
                from = e
            }
        }
    }

    /// Calls `found` with the argument of every `option` (a whole word starting after a blank
    /// or quote): glued to it (`-pSECRET`) when `attached`, after blanks when `separate`.
    private static func optionValues(_ p: LineBytes, _ option: [UInt8], attached: Bool, separate: Bool,
                                     _ found: (Int, Int) -> Void) {
        var from = 0
        while let flag = p.firstIndex(of: option, from: from) {
            from = flag + option.count
            let before = p.at(flag - 1)
            guard ASCII.isWhitespace(before) || before == UInt8(ascii: "\"") || before == UInt8(ascii: "'") else { continue }
            var start = from
            if ASCII.isBlank(p.at(start)) {
                guard separate else { continue }
                while ASCII.isBlank(p.at(start)) { start += 1 }
            } else if option.count > 2 {
                // A long option takes its value after a blank or `=`; `--username` is another option.
                guard p.at(start) == UInt8(ascii: "=") else { continue }
                start += 1
            } else {
                guard attached else { continue }
            }
            guard start < p.count, p[start] != UInt8(ascii: "-"), !ASCII.isWhitespace(p[start]),
                  let (s, e) = AssignmentScanner.valueExtent(p, start),
                  !AssignmentScanner.isPlaceholderValue(p, s, e) else { continue }
            found(s, e)
            from = e
        }
    }

    // MARK: Cookies and registry logins

    /// `Cookie: a=1; b=2` and `Set-Cookie: sid=…; Path=/; HttpOnly` (also JSON `"Cookie": "…"`):
    /// every cookie's value in a `Cookie` header, the first pair's value in a `Set-Cookie` header
    /// (its attributes say nothing secret). Names stay so the reader sees which cookies were sent.
    static func cookies(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var from = 0
        while let name = p.firstIndex(ofIgnoringCase: Literal.cookie, from: from) {
            from = name + Literal.cookie.count
            guard !ASCII.isWordByte(p.at(name - 1)) else { continue }
            let isSetCookie = p.hasIgnoringCase(Literal.setDash, at: name - 4)
            guard let value = headerValue(p, after: from, separators: [UInt8(ascii: ":")], enclosing: 0) else { continue }
            let j = value.start
            let end = value.end
            from = Swift.max(from, end)
            // Pairs separated by `;`: `name=value` loses its value, a bare value goes whole.
            var pairStart = j
            while pairStart < end {
                var pairEnd = pairStart
                while pairEnd < end, p[pairEnd] != UInt8(ascii: ";") { pairEnd += 1 }
                var s = pairStart
                while s < pairEnd, ASCII.isBlank(p[s]) { s += 1 }
                var e = pairEnd
                while e > s, ASCII.isBlank(p[e - 1]) { e -= 1 }
                var equals = s
                while equals < e, p[equals] != UInt8(ascii: "=") { equals += 1 }
                let valueStart = equals < e ? equals + 1 : s
                if e > valueStart, !AssignmentScanner.isPlaceholderValue(p, valueStart, e) {
                    spans.append(RedactionSpan(valueStart, e, .cookie))
                }
                if isSetCookie { break }
                pairStart = pairEnd + 1
            }
        }
    }

    /// A container-registry login's `"auth": "<base64 of user:password>"`
    /// (`~/.docker/config.json`, podman's `auth.json`): the base64 value.
    static func registryAuths(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var from = 0
        while let key = p.firstIndex(ofIgnoringCase: Literal.quotedAuth, from: from) {
            from = key + Literal.quotedAuth.count
            var j = from
            while ASCII.isBlank(p.at(j)) { j += 1 }
            guard p.at(j) == UInt8(ascii: ":") else { continue }
            j += 1
            while ASCII.isBlank(p.at(j)) { j += 1 }
            guard p.at(j) == UInt8(ascii: "\"") else { continue }
            let start = j + 1
            var end = start
            while end < p.count, p[end] != UInt8(ascii: "\"") { end += 1 }
            guard end < p.count, end - start >= 4,
                  decodesToCredentials(UnsafeBufferPointer(rebasing: p[start..<end])) else { continue }
            spans.append(RedactionSpan(start, end, .basicAuth))
            from = end
        }
    }

    /// SASL mechanisms an `AUTH` command names before its credentials.
    private static let saslMechanisms = ["PLAIN", "LOGIN", "XOAUTH2", "OAUTHBEARER", "CRAM-MD5", "DIGEST-MD5",
                                         "SCRAM-SHA-1", "SCRAM-SHA-256", "NTLM", "GSSAPI", "EXTERNAL", "ANONYMOUS"]
        .map { Array($0.utf8) }
    /// Words after `AUTH` in ordinary logs (`lost connection after AUTH from …`).
    private static let authProse = ["from", "failed", "command", "error", "ok", "required", "succeeded", "rejected",
                                    "not", "is", "was", "with", "in", "to", "mechanism", "mechanisms"]
        .map { Array($0.utf8) }

    /// The redis `AUTH password` / `AUTH user password` command and SMTP/IMAP
    /// `AUTH PLAIN <base64>`: the credentials after the upper-case word `AUTH`.
    static func authCommands(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        func word(_ start: Int) -> (Int, Int)? {
            var s = start
            while ASCII.isBlank(p.at(s)) { s += 1 }
            guard s < p.count, !ASCII.isWhitespace(p[s]) else { return nil }
            return AssignmentScanner.valueExtent(p, s)
        }
        // Past a word's closing quote, where the next word may start.
        func after(_ s: Int, _ e: Int) -> Int { s > 0 && p.at(e) == p[s - 1] && p.at(e) != 0x20 ? e + 1 : e }
        var from = 0
        while let command = p.firstIndex(of: Literal.auth, from: from) {
            from = command + Literal.auth.count
            let before = p.at(command - 1)
            guard command == 0 || ASCII.isWhitespace(before) || before == UInt8(ascii: "\"") || before == UInt8(ascii: "'"),
                  ASCII.isBlank(p.at(from)), var (s, e) = word(from) else { continue }
            let first = LineBytes(rebasing: p[s..<e])
            if saslMechanisms.contains(where: { first.equals($0) }) {
                guard let (s2, e2) = word(after(s, e)) else { continue }
                (s, e) = (s2, e2)
            } else if authProse.contains(where: { first.equalsIgnoringCase($0) }) {
                continue
            } else if let (_, e2) = word(after(s, e)) {
                // `AUTH user password` ending the command: both words go.
                var k = e2
                while ASCII.isBlank(p.at(k)) { k += 1 }
                if k >= p.count || p[k] == 0x0A || p[k] == 0x0D || p[k] == UInt8(ascii: "\"") || p[k] == UInt8(ascii: "'") {
                    e = e2
                }
            }
            guard !AssignmentScanner.isPlaceholderValue(p, s, e) else { continue }
            spans.append(RedactionSpan(s, e, .password))
            from = e
        }
    }

    // MARK: Card numbers

    /// Payment card numbers: 13–19 digits, plain or grouped by one space or dash (4-4-4-4…,
    /// 4-6-5, 4-6-4), starting 2–6 as issued cards do, and passing the Luhn check.
    static func cardNumbers(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        let n = p.count
        var i = 0
        var starts: [Int] = []
        var ends: [Int] = []
        while i < n {
            guard ASCII.isDigit(p[i]) else { i += 1; continue }
            starts.removeAll(keepingCapacity: true)
            ends.removeAll(keepingCapacity: true)
            let before = p.at(i - 1)
            let cleanStart = !ASCII.isWordByte(before)
                && !((before == UInt8(ascii: ".") || before == UInt8(ascii: ",")) && ASCII.isDigit(p.at(i - 2)))
            var separator: UInt8 = 0
            var k = i
            while true {
                let s = k
                while k < n, ASCII.isDigit(p[k]) { k += 1 }
                starts.append(s)
                ends.append(k)
                let c = p.at(k)
                guard c == UInt8(ascii: " ") || c == UInt8(ascii: "-"), separator == 0 || c == separator,
                      ASCII.isDigit(p.at(k + 1)) else { break }
                separator = c
                k += 1
            }
            i = k
            let after = p.at(k)
            let cleanEnd = !ASCII.isWordByte(after)
                && !((after == UInt8(ascii: ".") || after == UInt8(ascii: ",")) && ASCII.isDigit(p.at(k + 1)))
            guard cleanStart, cleanEnd else { continue }
            var g = 0
            while g < starts.count {
                var total = 0
                var found = -1
                for h in g..<starts.count {
                    total += ends[h] - starts[h]
                    if total > 19 { break }
                    if total >= 13, isCardGrouping(starts, ends, g, h), isCardNumber(p, from: starts[g], to: ends[h]) {
                        found = h
                        break
                    }
                }
                if found >= 0 {
                    spans.append(RedactionSpan(starts[g], ends[found], .cardNumber))
                    g = found + 1
                } else {
                    g += 1
                }
            }
        }
    }

    private static func isCardGrouping(_ starts: [Int], _ ends: [Int], _ g: Int, _ h: Int) -> Bool {
        if g == h { return true }
        let lengths = (g...h).map { ends[$0] - starts[$0] }
        if lengths == [4, 6, 5] || lengths == [4, 6, 4] { return true }
        return lengths.dropLast().allSatisfy { $0 == 4 } && (1...4).contains(lengths[lengths.count - 1])
    }

    /// Whether the digits in `from..<to` (separators skipped) have a card's major industry
    /// identifier (2221–2720, 3–6) and pass the Luhn check.
    static func isCardNumber(_ p: LineBytes, from: Int, to: Int) -> Bool {
        var digits: [Int] = []
        digits.reserveCapacity(19)
        for k in from..<to where ASCII.isDigit(p[k]) { digits.append(Int(p[k] - UInt8(ascii: "0"))) }
        guard (13...19).contains(digits.count) else { return false }
        switch digits[0] {
        case 3, 4, 5, 6: break
        case 2:
            let iin = digits[0] * 1000 + digits[1] * 100 + digits[2] * 10 + digits[3]
            guard (2221...2720).contains(iin) else { return false }
        default: return false
        }
        var sum = 0
        for (index, digit) in digits.reversed().enumerated() {
            if index % 2 == 1 {
                let doubled = digit * 2
                sum += doubled > 9 ? doubled - 9 : doubled
            } else {
                sum += digit
            }
        }
        return sum % 10 == 0
    }
}
