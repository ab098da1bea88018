import Foundation

// Run from bench/redaction: swift run -c release --scratch-path .build-bench-rel
// Prints ns/line for the redactor and for regex engines doing (a subset of) the same work.

let fixtures = "../../Tests/AgentTests/Fixtures/redaction/"

func readLines(_ name: String) -> [String] {
    guard let text = try? String(contentsOfFile: fixtures + name, encoding: .utf8) else {
        FileHandle.standardError.write(Data("cannot read \(fixtures + name); run from bench/redaction\n".utf8))
        exit(1)
    }
    return text.split(separator: "\n").map(String.init)
}

func unescape(_ s: Substring) -> String {
    var out = "", escaped = false
    for c in s {
        if escaped {
            out.append(c == "n" ? "\n" : c == "r" ? "\r" : c == "t" ? "\t" : c)
            escaped = false
        } else if c == "\\" { escaped = true } else { out.append(c) }
    }
    return out
}

let ordinary = readLines("ordinary.txt")
let secrets = readLines("secrets.tsv").map { unescape($0.split(separator: "\t", maxSplits: 2)[2]) }

/// Runs `body` over `lines` until ~`minimum` lines were done; best of 5 rounds, in ns/line.
func measure(_ lines: [String], minimum: Int = 200_000, _ body: (String) -> Int) -> Double {
    var sink = 0
    let rounds = max(1, minimum / lines.count)
    var best = Double.infinity
    for _ in 0..<5 {
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<rounds { for line in lines { sink &+= body(line) } }
        let elapsed = Double(DispatchTime.now().uptimeNanoseconds - start)
        best = min(best, elapsed / Double(rounds * lines.count))
    }
    if sink == 42 { print("") }
    return best
}

func row(_ name: String, _ ordinaryNS: Double, _ secretNS: Double) {
    let pad = name.padding(toLength: 58, withPad: " ", startingAt: 0)
    print(pad + String(format: "%10.0f %12.0f", ordinaryNS, secretNS))
}

print("lines: \(ordinary.count) ordinary (avg \(ordinary.reduce(0) { $0 + $1.utf8.count } / ordinary.count) B), "
      + "\(secrets.count) with secrets (avg \(secrets.reduce(0) { $0 + $1.utf8.count } / secrets.count) B)")
print("what".padding(toLength: 58, withPad: " ", startingAt: 0) + "  ordinary  with secrets   (ns/line, best of 5)")

let plain = try Redactor(options: RedactionOptions())
row("Redactor, defaults (scanners + prefilter)",
    measure(ordinary) { plain.redact($0).utf8.count }, measure(secrets) { plain.redact($0).utf8.count })

let identities = RedactionIdentities(usernames: ["alice", "bob"], hostnames: ["laptop-42", "laptop-42.corp.example.com"])
let all = try Redactor(options: RedactionOptions(emails: true, usernames: true, ipAddresses: true, macAddresses: true,
                                                 hostnames: true), identities: identities)
row("Redactor, every identifier option on",
    measure(ordinary) { all.redact($0).utf8.count }, measure(secrets) { all.redact($0).utf8.count })

let rulesDir = NSTemporaryDirectory() + "redaction-bench-rules"
try? FileManager.default.createDirectory(atPath: rulesDir, withIntermediateDirectories: true)
try "acme-ticket: ACME-[0-9]{8}\n".write(toFile: rulesDir + "/literal.rules", atomically: true, encoding: .utf8)
let withLiteral = try Redactor(options: RedactionOptions(rulesDirectory: rulesDir))
row("Redactor + 1 extra rule with a literal (ACME-[0-9]{8})",
    measure(ordinary) { withLiteral.redact($0).utf8.count }, measure(secrets) { withLiteral.redact($0).utf8.count })
try "employee: \\b[A-Z]{2}\\d{5}\\b\n".write(toFile: rulesDir + "/literal.rules", atomically: true, encoding: .utf8)
let noLiteral = try Redactor(options: RedactionOptions(rulesDirectory: rulesDir))
row("Redactor + 1 extra rule, no literal (\\b[A-Z]{2}\\d{5}\\b)",
    measure(ordinary, minimum: 50_000) { noLiteral.redact($0).utf8.count },
    measure(secrets, minimum: 50_000) { noLiteral.redact($0).utf8.count })
try? FileManager.default.removeItem(atPath: rulesDir)

// The same kind of work done with regular expressions: eight patterns covering part of the rules.
let patterns = [
    #"(?i)\b[\w.-]*(?:password|passwd|pwd|secret|token|api_?key)[\w.-]*["']?\s*[:=]\s*["']?([^\s"'&;,]+)"#,
    #"[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]*:([^/\s@]+)@"#,
    #"(?i)authorization["']?\s*[:=]\s*["']?(?:[A-Za-z-]+\s+)?([^\s"']+)"#,
    #"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{8,}=*)"#,
    #"\beyJ[A-Za-z0-9_-]{7,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"#,
    #"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"#,
    #"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[bpars]-[A-Za-z0-9-]{10,})"#,
    #"\b(?:\d[ -]?){12,18}\d\b"#,
]
let nsPatterns = try patterns.map { try NSRegularExpression(pattern: $0) }
func nsCount(_ line: String) -> Int {
    let range = NSRange(location: 0, length: line.utf16.count)
    return nsPatterns.reduce(0) { $0 + $1.numberOfMatches(in: line, range: range) }
}
row("NSRegularExpression, 8 patterns (matching only)",
    measure(ordinary, minimum: 20_000, nsCount), measure(secrets, minimum: 20_000, nsCount))
let swiftPatterns = try patterns.map { try Regex($0) }
let swiftCount: (String) -> Int = { line in swiftPatterns.reduce(0) { $0 + line.matches(of: $1).count } }
row("Swift Regex, 8 patterns (matching only)",
    measure(Array(ordinary.prefix(40)), minimum: 400, swiftCount), measure(Array(secrets.prefix(40)), minimum: 400, swiftCount))

// A bundle's worth of journal messages: 50,000 lines, 1 in 200 with a secret.
var journal: [String] = []
journal.reserveCapacity(50_000)
for i in 0..<50_000 { journal.append(i % 200 == 0 ? secrets[i / 200 % secrets.count] : ordinary[i % ordinary.count]) }
let bundleRedactor = try Redactor(options: RedactionOptions())
let start = DispatchTime.now().uptimeNanoseconds
var bytes = 0
for line in journal { bytes &+= bundleRedactor.redact(line).utf8.count }
let ms = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6
print(String(format: "50,000 journal messages (1 in 200 with a secret), one thread: %.1f ms, %d replacements",
             ms, bundleRedactor.counts.values.reduce(0, +)))
