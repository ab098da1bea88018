// Benchmark harness for reading bundles, compiled by run.py with swiftc -O against the
// release-built Shared module. Not a test: it prints figures, stage by stage, so a change
// to one layer (inflate, tar, line split, line parse) shows where the time went.
//
// Usage: reader-bench BUNDLE.tar.gz [runs]
import Foundation
import Shared

/// CPU time of this thread, in ms: stable when other processes share the cores (wall time is not).
func threadCPUms() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1000 + Double(t.tv_nsec) / 1e6
}

/// Runs `body` `runs` times: (median wall ms, median CPU ms, min wall ms).
func measure(_ runs: Int, _ body: () throws -> Void) rethrows -> (wall: Double, cpu: Double, min: Double) {
    var wall: [Double] = [], cpu: [Double] = []
    for _ in 0..<runs {
        let cpu0 = threadCPUms()
        let start = ContinuousClock.now
        try body()
        let d = ContinuousClock.now - start
        cpu.append(threadCPUms() - cpu0)
        wall.append(Double(d.components.seconds) * 1000 + Double(d.components.attoseconds) / 1e15)
    }
    return (median(wall), median(cpu), wall.min() ?? 0)
}

func median(_ xs: [Double]) -> Double { let s = xs.sorted(); return s[s.count / 2] }

func report(_ what: String, _ m: (wall: Double, cpu: Double, min: Double)) {
    print(what.padding(toLength: 52, withPad: " ", startingAt: 0) + String(format: " median %7.1f ms wall (min %7.1f), %7.1f ms CPU", m.wall, m.min, m.cpu))
}

let args = CommandLine.arguments
guard args.count >= 2 else {
    FileHandle.standardError.write(Data("usage: reader-bench BUNDLE.tar.gz [runs]\n".utf8))
    exit(2)
}
let path = args[1]
let runs = args.count > 2 ? Int(args[2]) ?? 7 : 7
// Only what the bench reads; a mode filter (BENCH_ONLY=full) keeps profiles focused.
let only = ProcessInfo.processInfo.environment["BENCH_ONLY"]

do {
    let compressed = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let chunk = 256 * 1024

    // 1. Inflate alone, in the reader's chunk size.
    var plain = 0
    if only == nil || only == "inflate" {
        let m = try measure(runs) {
            let inflater = try GzipInflater()
            plain = 0
            try compressed.withUnsafeBytes { all in
                var at = 0
                while at < all.count {
                    let end = min(at + chunk, all.count)
                    try inflater.decompress(UnsafeRawBufferPointer(rebasing: all[at..<end])) { plain += $0.count }
                    at = end
                }
            }
            try inflater.finish()
        }
        report("inflate only (GzipInflater):", m)
    }

    // 2. Inflate + tar framing.
    if only == nil || only == "tar" {
        var dataBytes = 0
        let m = try measure(runs) {
            let inflater = try GzipInflater()
            var tar = TarStreamParser()
            dataBytes = 0
            try compressed.withUnsafeBytes { all in
                var at = 0
                while at < all.count {
                    let end = min(at + chunk, all.count)
                    try inflater.decompress(UnsafeRawBufferPointer(rebasing: all[at..<end])) { out in
                        try tar.feed(out) { event in if case .data(let d) = event { dataBytes += d.count } }
                    }
                    at = end
                }
            }
            try inflater.finish()
            try tar.finish()
        }
        report("inflate + tar (TarStreamParser):", m)
    }

    // 3. The whole reader, entries counted and dropped.
    var entries = 0
    if only == nil || only == "full" {
        let m = try measure(runs) {
            entries = 0
            _ = try BundleReader.read(path: path) { _ in entries += 1 }
        }
        report("BundleReader.read(path:onJournalEntry:):", m)
        print("  journal entries: \(entries), uncompressed bytes: \(plain)")
    }

    // 4. JournalLineCodec.parse alone over journal.jsonl held in memory.
    if only == nil || only == "parse" {
        var journal: [UInt8] = []
        var tar = TarStreamParser()
        var inJournal = false
        let inflater = try GzipInflater()
        try compressed.withUnsafeBytes { all in
            try inflater.decompress(all) { out in
                try tar.feed(out) { event in
                    switch event {
                    case .begin(let e): inJournal = e.name == BundleMember.journal
                    case .data(let d): if inJournal { journal.append(contentsOf: d) }
                    case .end: inJournal = false
                    }
                }
            }
        }
        var lines = 0
        var messageBytes = 0
        let m = try measure(runs) {
            lines = 0
            try journal.withUnsafeBytes { all in
                try JournalLineCodec.forEachEntry(in: all) { e in lines += 1; messageBytes &+= e.message?.utf8.count ?? 0 }
            }
        }
        report("JournalLineCodec.forEachEntry (in memory):", m)
        print(String(format: "  %d lines, %.1f MB, %.0f ns/line CPU", lines, Double(journal.count) / 1e6, m.cpu * 1e6 / Double(max(lines, 1))))
    }
} catch {
    FileHandle.standardError.write(Data("reader-bench: \(error)\n".utf8))
    exit(1)
}
