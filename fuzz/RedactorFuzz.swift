// libFuzzer target `redactor`: arbitrary bytes, decoded as UTF-8 (invalid bytes become U+FFFD,
// as `String(decoding:as:)` does for journal text), redacted by a default `Redactor` and by one
// with every identifier option on.
//
// Compiled by scripts/fuzz.sh into one module with Sources/Agent/Redaction (which needs no
// other Agent file).
//
// Checks (a violation traps, which libFuzzer reports as a crash):
// - no trap: every scanner's byte access is bounds-checked;
// - length: the output is at most the input plus, per replacement counted in `counts`, the
//   longest marker or placeholder; and there are no more replacements than input bytes;
// - nothing counted, nothing changed: with no replacement the output is the input, byte for byte;
// - spans sit on character boundaries: the output holds no more U+FFFD than the input (a span
//   cutting a character in two would leave bytes that decode to U+FFFD);
// - markers are final: redacting the output again keeps every `[REDACTED:rule]` marker and
//   `[user-N]`-style placeholder of the first pass, byte for byte and in order.
//   (Strict idempotence does not hold by design: scanners read context, and a marker is new
//   context: in `https://ghp_…token.rest@host` the first pass replaces the token, and the `:`
//   inside `[REDACTED:github-token]` then makes `.rest` read as a URL password.)

/// The identities the identifier redactor replaces (also used by `RedactionFuzzRegressionTests`).
let fuzzIdentities = RedactionIdentities(usernames: ["alice", "bob"], hostnames: ["laptop-42", "ws01.corp.example"])

/// Options with every identifier rule on.
let fuzzAllOptions = RedactionOptions(emails: true, usernames: true, ipAddresses: true, macAddresses: true, hostnames: true)

/// The redactors in use; the identifier one is replaced now and then so its placeholder table
/// (which grows with every new value) stays small over a long run.
nonisolated(unsafe) var fuzzRedactors: (plain: Redactor, all: Redactor)?  // libFuzzer calls the target on one thread
nonisolated(unsafe) var fuzzRuns = 0  // same: single-threaded

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    if fuzzRedactors == nil || fuzzRuns % 4096 == 0 {
        do {
            fuzzRedactors = (try Redactor(), try Redactor(options: fuzzAllOptions, identities: fuzzIdentities))
        } catch {
            failCheck("cannot build the redactors: \(error)")
        }
    }
    fuzzRuns += 1
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    checkRedaction(text, fuzzRedactors!.plain)
    checkRedaction(text, fuzzRedactors!.all)
    return 0
}

/// The longest text one replacement can write: a `[REDACTED:<rule>]` marker or a
/// `[<prefix>-<N>]` placeholder with N of up to 20 digits.
let longestReplacement = max(
    BuiltinRule.names.map { "[REDACTED:]".utf8.count + $0.utf8.count }.max()!,
    BuiltinRule.allCases.compactMap { rule -> Int? in
        guard case .placeholder(let prefix) = rule.rule.replacement else { return nil }
        return "[-]".utf8.count + prefix.utf8.count + 20
    }.max()!)

/// Runs every check on `text` with `redactor`.
func checkRedaction(_ text: String, _ redactor: Redactor) {
    let before = redactor.counts.values.reduce(0, +)
    let once = redactor.redact(text)
    let replaced = redactor.counts.values.reduce(0, +) - before
    let inBytes = text.utf8.count, outBytes = once.utf8.count
    require(replaced <= inBytes, "\(replaced) replacements in \(inBytes) bytes")
    require(outBytes <= inBytes + replaced * longestReplacement,
                 "output of \(outBytes) bytes for \(inBytes) bytes and \(replaced) replacements")
    if replaced == 0 {
        require(once.utf8.elementsEqual(text.utf8), "nothing counted but the text changed: \(once.debugDescription)")
    }
    require(replacementCharacters(once) <= replacementCharacters(text),
                 "a span cut a character: \(text.debugDescription) -> \(once.debugDescription)")
    let twice = redactor.redact(once)
    require(isSubsequence(markers(in: once), of: markers(in: twice)),
            "a second pass changed a marker: \(text.debugDescription) -> \(once.debugDescription) -> \(twice.debugDescription)")
}

/// The markers and placeholders in `text`, in order, as `SecretScanners.existingReplacements`
/// finds them.
func markers(in text: String) -> [[UInt8]] {
    let bytes = Array(text.utf8)
    return bytes.withUnsafeBufferPointer { p in
        var spans: [RedactionSpan] = []
        SecretScanners.existingReplacements(p, into: &spans)
        return spans.map { Array(p[$0.start..<$0.end]) }
    }
}

/// Whether every element of `small` occurs in `large`, in the same order.
func isSubsequence(_ small: [[UInt8]], of large: [[UInt8]]) -> Bool {
    var rest = large[...]
    for item in small {
        guard let i = rest.firstIndex(of: item) else { return false }
        rest = rest[(i + 1)...]
    }
    return true
}

/// How many U+FFFD the text holds.
func replacementCharacters(_ s: String) -> Int {
    s.unicodeScalars.reduce(0) { $0 + ($1 == "\u{FFFD}" ? 1 : 0) }
}
