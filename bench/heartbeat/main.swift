// Benchmark harness for reading heartbeats, compiled by run.py with swiftc -O against the
// release-built Shared module. Not a test: it prints figures for the collector's hottest
// route, the strict hand-written reader beside Foundation's JSONDecoder (what it replaced,
// and what still reads anything outside the subset) and JSONEncoder (the re-encode that a
// body the strict reader took no longer needs).
//
// Usage: heartbeat-bench FILE.json [runs]
import Foundation
import Shared

/// CPU time of this thread, in ns.
func threadCPUns() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
    return Double(t.tv_sec) * 1e9 + Double(t.tv_nsec)
}

/// Median CPU µs per call of `body` over `runs` rounds of `batch` calls.
func measure(_ runs: Int, batch: Int, _ body: () throws -> Void) rethrows -> Double {
    var per: [Double] = []
    for _ in 0..<runs {
        let t0 = threadCPUns()
        for _ in 0..<batch { try body() }
        per.append((threadCPUns() - t0) / Double(batch) / 1000)
    }
    return per.sorted()[per.count / 2]
}

let args = CommandLine.arguments
guard args.count >= 2, let data = FileManager.default.contents(atPath: args[1]) else {
    FileHandle.standardError.write(Data("usage: heartbeat-bench FILE.json [runs]\n".utf8))
    exit(2)
}
let runs = args.count > 2 ? Int(args[2]) ?? 7 : 7
let bytes = [UInt8](data)
guard let fast = HeartbeatJSON.decode(bytes) else {
    FileHandle.standardError.write(Data("\(args[1]) is outside the strict subset: Foundation would read it\n".utf8))
    exit(1)
}
let decoder = BundleJSON.decoder(), encoder = BundleJSON.encoder()
precondition((try? decoder.decode(Heartbeat.self, from: data)) == fast, "the two readers disagree")
let batch = 2000
let strict = measure(runs, batch: batch) { _ = HeartbeatJSON.decode(bytes) }
let foundation = try measure(runs, batch: batch) { _ = try decoder.decode(Heartbeat.self, from: data) }
let encode = try measure(runs, batch: batch) { _ = try encoder.encode(fast) }
func row(_ name: String, _ us: Double) {
    print(name.padding(toLength: 48, withPad: " ", startingAt: 0) + String(format: "%8.1f µs CPU  %6.0f MB/s", us, Double(bytes.count) / us))
}
print("heartbeat \(args[1]): \(bytes.count) bytes, \(fast.topProcesses.count) processes, \(fast.filesystems.count) filesystems; median of \(runs) × \(batch)")
row("Foundation JSONDecoder (baseline)", foundation)
row("HeartbeatJSON.decode (strict reader)", strict)
row("Foundation JSONEncoder (the re-encode skipped)", encode)
print(String(format: "strict reader: %.1f× faster than JSONDecoder; decode + re-encode before: %.1f µs, now %.1f µs", foundation / strict, foundation + encode, strict))
