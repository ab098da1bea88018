// Benchmark harness for the diagnosis engine, compiled by run.py with swiftc against the
// release-built Shared, Diagnosis and Yams modules. Not a test: it prints figures.
//
// Usage: diagnosis-bench BUNDLE.tar.gz [runs]
import Foundation
import Diagnosis
import Shared

/// CPU time of this thread, in ms: stable when other processes share the cores (wall time is not).
func threadCPUms() -> Double { cpuMilliseconds(CLOCK_THREAD_CPUTIME_ID) }

/// CPU time of the whole process (every thread: the reader's inflate thread too), in ms.
func processCPUms() -> Double { cpuMilliseconds(CLOCK_PROCESS_CPUTIME_ID) }

func cpuMilliseconds(_ clock: clockid_t) -> Double {
    var t = timespec()
    clock_gettime(clock, &t)
    return Double(t.tv_sec) * 1000 + Double(t.tv_nsec) / 1e6
}

/// Wall-clock ms of `body`; its thread CPU ms goes to `lastCPU`, the process's to `lastProcessCPU`.
// The harness is single-threaded: only `milliseconds` writes these and its caller reads them.
nonisolated(unsafe) var lastCPU = 0.0
nonisolated(unsafe) var lastProcessCPU = 0.0
func milliseconds(_ body: () throws -> Void) rethrows -> Double {
    let cpu0 = threadCPUms(), all0 = processCPUms()
    let start = ContinuousClock.now
    try body()
    let d = ContinuousClock.now - start
    lastCPU = threadCPUms() - cpu0
    lastProcessCPU = processCPUms() - all0
    return Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15
}

/// Runs `body` `runs` times: median wall ms, median CPU ms of this thread and of the process, min wall ms.
func measure(_ runs: Int, _ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double, processCPU: Double, min: Double) {
    var wall: [Double] = [], cpu: [Double] = [], all: [Double] = []
    for _ in 0..<runs { wall.append(try milliseconds(body)); cpu.append(lastCPU); all.append(lastProcessCPU) }
    return (median(wall), median(cpu), median(all), wall.min() ?? 0)
}

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write(Data("usage: diagnosis-bench BUNDLE.tar.gz [runs]\n".utf8))
    exit(2)
}
let path = args[1]
let runs = args.count > 2 ? Int(args[2]) ?? 7 : 7

do {
    var engineLoad: [Double] = []
    var engine: DiagnosisEngine?
    for _ in 0..<3 { engineLoad.append(try milliseconds { engine = try DiagnosisEngine() }) }
    guard let engine else { exit(1) }
    print("rules: \(engine.rules.count) (\(engine.rules.filter { $0.kind == .metric }.count) metric, \(engine.rules.filter { $0.kind == .journal }.count) journal)")
    print(String(format: "engine load (parse + validate + compile rules): median %.1f ms", median(engineLoad)))
    if ProcessInfo.processInfo.environment["BENCH_REPORT"] != nil {
        print(FindingReport.text(try engine.diagnose(bundleAt: path)))
        exit(0)
    }
    // Every field of every finding, as JSON: before and after binaries must print the same bytes.
    if ProcessInfo.processInfo.environment["BENCH_FINDINGS_JSON"] != nil {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(try engine.diagnose(bundleAt: path)), as: UTF8.self))
        exit(0)
    }
    // `runs` calls of diagnose(bundleAt:) and nothing else, for profilers (perf, callgrind).
    if ProcessInfo.processInfo.environment["BENCH_DIAGNOSE_ONLY"] != nil {
        var findings = 0
        let d = try measure(runs) { findings = try engine.diagnose(bundleAt: path).count }
        print(String(format: "diagnose(bundleAt:): median %.1f ms wall (min %.1f), %.1f ms CPU of the calling thread, %.1f ms process CPU; %d findings",
                     d.wall, d.min, d.cpu, d.processCPU, findings))
        exit(0)
    }

    // Baseline: read and parse the bundle with no rules at all.
    var entries = 0
    let read = try measure(runs) {
        entries = 0
        _ = try BundleReader.read(path: path) { _ in entries += 1 }
    }
    print("journal entries in bundle: \(entries)")
    print(String(format: "read bundle only (gunzip + tar + JSON lines, Shared.BundleReader): median %.1f ms wall, %.1f ms CPU (%.1f ms process CPU)",
                 read.wall, read.cpu, read.processCPU))

    for regex in RegexEngine.allCases {
        let e = try DiagnosisEngine(regexEngine: regex)
        var findings: [Finding] = []
        let d = try measure(runs) { findings = try e.diagnose(bundleAt: path) }
        print(String(format: "diagnose(bundleAt:) with %@ regex: median %.1f ms wall (min %.1f), %.1f ms CPU (%.1f ms process CPU); %d findings (top: %@)",
                     regex.rawValue as NSString, d.wall, d.min, d.cpu, d.processCPU, findings.count, (findings.first?.ruleID ?? "none") as NSString))
    }

    // The rules alone, over entries already in memory (what the collector pays on top of reading).
    var journal: [JournalEntry] = []
    let contents = try BundleReader.read(path: path) { journal.append($0) }
    let rules = measure(runs) { _ = engine.diagnose(contents: contents, journal: journal) }
    print(String(format: "rules only over %d in-memory entries: median %.1f ms wall, %.1f ms CPU (%.0f ns/entry CPU)", journal.count,
                 rules.wall, rules.cpu, rules.cpu * 1e6 / Double(max(1, journal.count))))
    if ProcessInfo.processInfo.environment["BENCH_RULES_ONLY"] != nil {
        for _ in 0..<20 { _ = engine.diagnose(contents: contents, journal: journal) }
        exit(0)
    }

    // Regex engines head to head on the messages that pass the literal prefilters.
    let messages = journal.compactMap(\.message)
    let pattern = #"I/O error, dev (?<device>[a-z0-9]+), sector (?<sector>\d+)"#
    let ns = try NSRegularExpression(pattern: pattern)
    let sw = try Regex(pattern).matchingSemantics(.unicodeScalar)
    var nsHits = 0, swHits = 0
    let nsTime = milliseconds { for m in messages where ns.firstMatch(in: m, range: NSRange(location: 0, length: (m as NSString).length)) != nil { nsHits += 1 } }
    let swTime = milliseconds { for m in messages where (try? sw.firstMatch(in: m)) != nil { swHits += 1 } }
    let literal = Array("I/O error".utf8)
    var litHits = 0
    let litTime = milliseconds {
        for var m in messages {
            let found = m.withUTF8 { hay -> Bool in
                guard hay.count >= literal.count else { return false }
                return literal.withUnsafeBytes { nb in memmemLite(hay, nb) }
            }
            if found { litHits += 1 }
        }
    }
    print(String(format: "one regex over all %d messages: NSRegularExpression %.1f ms (%d hits), Swift Regex %.1f ms (%d hits); literal prefilter %.1f ms (%d hits)",
                 messages.count, nsTime, nsHits, swTime, swHits, litTime, litHits))
} catch {
    FileHandle.standardError.write(Data("diagnosis-bench: \(error)\n".utf8))
    exit(1)
}

/// memchr + memcmp, as the engine's prefilter does.
func memmemLite(_ hay: UnsafeBufferPointer<UInt8>, _ needle: UnsafeRawBufferPointer) -> Bool {
    guard let base = hay.baseAddress, let nb = needle.baseAddress, needle.count > 0, needle.count <= hay.count else { return false }
    let first = needle.load(as: UInt8.self)
    var p = base
    let end = base + (hay.count - needle.count + 1)
    while p < end {
        guard let q = memchr(p, Int32(first), end - p) else { return false }
        let qp = UnsafePointer(q.assumingMemoryBound(to: UInt8.self))
        if memcmp(qp, nb, needle.count) == 0 { return true }
        p = qp + 1
    }
    return false
}
