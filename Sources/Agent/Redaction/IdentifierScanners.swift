#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Scanners for the opt-in identifier rules. They find e-mail addresses, the host's user and
/// host names, IP and MAC addresses; `Redactor` turns each into a consistent placeholder.
struct IdentifierScanners: Sendable {
    /// The host's user names, as UTF-8, longest first.
    let usernames: [[UInt8]]
    /// The host's names, lower-cased UTF-8, longest first.
    let hostnames: [[UInt8]]

    /// Scanners for `identities` (empty names and duplicates dropped).
    init(identities: RedactionIdentities) {
        usernames = Array(Set(identities.usernames.filter { !$0.isEmpty }.map { Array($0.utf8) }))
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.lexicographicallyPrecedes($1) }
        hostnames = Array(Set(identities.hostnames.filter { !$0.isEmpty }.map(ASCII.lowered)))
            .sorted { $0.count != $1.count ? $0.count > $1.count : $0.lexicographicallyPrecedes($1) }
    }

    /// The path prefix whose next component is a user name.
    static let home = Array("/home/".utf8)

    /// systemd unit suffixes: `user@1000.service` is a unit, not an e-mail address.
    private static let unitSuffixes: Set<String> = [
        "service", "socket", "target", "mount", "automount", "timer", "slice", "scope", "path", "device", "swap",
    ]

    // MARK: E-mail

    /// `local@domain.tld` with a letters-only top-level label of 2+ letters.
    static func emails(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        @inline(__always) func isLocalByte(_ b: UInt8) -> Bool {
            ASCII.isAlnum(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "%")
                || b == UInt8(ascii: "+") || b == UInt8(ascii: "-")
        }
        @inline(__always) func isDomainByte(_ b: UInt8) -> Bool {
            ASCII.isAlnum(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "-")
        }
        var lastEnd = 0
        for at in 0..<p.count where p[at] == UInt8(ascii: "@") && at >= lastEnd {
            var start = at
            while start > lastEnd, isLocalByte(p[start - 1]) { start -= 1 }
            while start < at, p[start] == UInt8(ascii: ".") { start += 1 }
            guard start < at else { continue }
            var end = at + 1
            while end < p.count, isDomainByte(p[end]) { end += 1 }
            while end > at + 1, p[end - 1] == UInt8(ascii: ".") || p[end - 1] == UInt8(ascii: "-") { end -= 1 }
            var dot = end - 1
            while dot > at, p[dot] != UInt8(ascii: ".") { dot -= 1 }
            guard dot > at + 1, end - dot - 1 >= 2,
                  p.allSatisfyIn(dot + 1, end, ASCII.isLetter) else { continue }
            let tld = String(decoding: UnsafeBufferPointer(rebasing: p[(dot + 1)..<end]).map(ASCII.lower), as: UTF8.self)
            guard !unitSuffixes.contains(tld) else { continue }
            spans.append(RedactionSpan(start, end, .email))
            lastEnd = end
        }
    }

    // MARK: User and host names

    /// The host's user names as whole words, and the name after any `/home/`.
    func usernames(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        var from = 0
        while let home = p.firstIndex(of: Self.home, from: from) {
            let start = home + Self.home.count
            var end = start
            while end < p.count, ASCII.isAlnum(p[end]) || p[end] >= 0x80 || p[end] == UInt8(ascii: "_")
                || p[end] == UInt8(ascii: "-") || p[end] == UInt8(ascii: ".") { end += 1 }
            while end > start, p[end - 1] == UInt8(ascii: ".") { end -= 1 }
            if end > start { spans.append(RedactionSpan(start, end, .username)) }
            from = Swift.max(end, start)
        }
        for name in usernames {
            var from = 0
            while let i = p.firstIndex(of: name, from: from) {
                from = i + name.count
                if !ASCII.isWordByte(p.at(i - 1)), !ASCII.isWordByte(p.at(from)) {
                    spans.append(RedactionSpan(i, from, .username))
                }
            }
        }
    }

    /// The host's names as whole words (ASCII case ignored); `-` joins words here, `.` does not.
    func hostnames(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        for name in hostnames {
            var from = 0
            while let i = p.firstIndex(ofIgnoringCase: name, from: from) {
                from = i + name.count
                let before = p.at(i - 1), after = p.at(from)
                if !ASCII.isWordByte(before), before != UInt8(ascii: "-"), !ASCII.isWordByte(after), after != UInt8(ascii: "-") {
                    spans.append(RedactionSpan(i, from, .hostname))
                }
            }
        }
    }

    // MARK: IP addresses

    /// Dotted-quad IPv4 addresses, except loopback (127/8), 0.0.0.0 and 255.x masks.
    static func ipv4(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        let n = p.count
        var i = 0
        while i < n {
            guard ASCII.isDigit(p[i]) else { i += 1; continue }
            let before = p.at(i - 1)
            guard !ASCII.isWordByte(before), before != UInt8(ascii: "."), before != UInt8(ascii: "-") else {
                while i < n, ASCII.isDigit(p[i]) || p[i] == UInt8(ascii: ".") { i += 1 }
                continue
            }
            var k = i
            var octets = 0
            var first = 0
            var sum = 0
            while octets < 4 {
                let s = k
                var value = 0
                while k < n, k - s < 3, ASCII.isDigit(p[k]) {
                    value = value * 10 + Int(p[k] - UInt8(ascii: "0"))
                    k += 1
                }
                guard k > s, value <= 255, !ASCII.isDigit(p.at(k)) else { break }
                if octets == 0 { first = value }
                sum += value
                octets += 1
                if octets < 4 {
                    guard p.at(k) == UInt8(ascii: "."), ASCII.isDigit(p.at(k + 1)) else { break }
                    k += 1
                }
            }
            let after = p.at(k)
            // `5.15.0.91-generic` is a version, `10.0.0.1-10.0.0.9` a range of addresses.
            if octets == 4, !ASCII.isWordByte(after), !(after == UInt8(ascii: ".") && ASCII.isDigit(p.at(k + 1))),
               !(after == UInt8(ascii: "-") && ASCII.isLetter(p.at(k + 1))) {
                let keep = first == 127 || first == 255 || sum == 0
                if !keep { spans.append(RedactionSpan(i, k, .ipAddress)) }
            }
            while k < n, ASCII.isDigit(p[k]) || p[k] == UInt8(ascii: ".") { k += 1 }
            i = Swift.max(k, i + 1)
        }
    }

    /// IPv6 addresses (checked with `inet_pton`), except `::1` and `::`; a `%zone` stays.
    static func ipv6(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        @inline(__always) func isV6Byte(_ b: UInt8) -> Bool {
            ASCII.isHex(b) || b == UInt8(ascii: ":") || b == UInt8(ascii: ".")
        }
        let n = p.count
        var i = 0
        while i < n {
            guard p[i] == UInt8(ascii: ":") else { i += 1; continue }
            var start = i
            while start > 0, isV6Byte(p[start - 1]) { start -= 1 }
            var end = i
            while end < n, isV6Byte(p[end]) { end += 1 }
            i = end
            while end > start, p[end - 1] == UInt8(ascii: ".") { end -= 1 }
            if end - start >= 2, p[end - 1] == UInt8(ascii: ":"), p[end - 2] != UInt8(ascii: ":") { end -= 1 }
            guard !ASCII.isWordByte(p.at(start - 1)), !ASCII.isWordByte(p.at(end)), end - start >= 2, end - start <= 45
            else { continue }
            var colons = 0
            var double = false
            for k in start..<end where p[k] == UInt8(ascii: ":") {
                colons += 1
                if p.at(k + 1) == UInt8(ascii: ":") { double = true }
            }
            guard colons >= 2, double || colons == 7 || colons == 6 else { continue }
            var text = [CChar](repeating: 0, count: end - start + 1)
            for k in start..<end { text[k - start] = CChar(bitPattern: p[k]) }
            var address = in6_addr()
            guard inet_pton(AF_INET6, text, &address) == 1 else { continue }
            let literal = String(decoding: UnsafeBufferPointer(rebasing: p[start..<end]), as: UTF8.self)
            if literal == "::" || literal == "::1" { continue }
            spans.append(RedactionSpan(start, end, .ipAddress))
        }
    }

    // MARK: MAC addresses

    /// Six hex pairs joined by `:` or `-` (all-zero and broadcast stay). In a netfilter
    /// `MAC=` field (14 pairs: destination, source, ethertype) both addresses are replaced.
    static func macs(_ p: LineBytes, into spans: inout [RedactionSpan]) {
        let n = p.count
        var i = 0
        while i + 17 <= n {
            guard ASCII.isHex(p[i]), ASCII.isHex(p[i + 1]) else { i += 1; continue }
            let separator = p[i + 2]
            let before = p.at(i - 1)
            guard separator == UInt8(ascii: ":") || separator == UInt8(ascii: "-"),
                  !ASCII.isWordByte(before), before != UInt8(ascii: ":"), before != UInt8(ascii: "-") else {
                i += 1
                continue
            }
            var pairs = 1
            var k = i + 2
            while p.at(k) == separator, ASCII.isHex(p.at(k + 1)), ASCII.isHex(p.at(k + 2)) {
                pairs += 1
                k += 3
            }
            let after = p.at(k)
            let clean = !ASCII.isWordByte(after) && after != separator
            if clean && (pairs == 6 || (pairs == 14 && separator == UInt8(ascii: ":"))) {
                appendMAC(p, i, into: &spans)
                if pairs == 14 { appendMAC(p, i + 18, into: &spans) }
            }
            i = Swift.max(k, i + 1)
        }
    }

    private static func appendMAC(_ p: LineBytes, _ start: Int, into spans: inout [RedactionSpan]) {
        let end = start + 17
        var zero = true, broadcast = true
        for k in start..<end where ASCII.isHex(p[k]) {
            if p[k] != UInt8(ascii: "0") { zero = false }
            if ASCII.lower(p[k]) != UInt8(ascii: "f") { broadcast = false }
        }
        if !zero && !broadcast { spans.append(RedactionSpan(start, end, .macAddress)) }
    }
}
