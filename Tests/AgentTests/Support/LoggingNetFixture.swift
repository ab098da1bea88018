import Foundation
import Agent

/// A Python server from Fixtures/net that prints `PORT <n>` first and then one log line per
/// request on stdout; keeps every line it has read so tests can assert what it served.
final class LoggingNetFixture: @unchecked Sendable {
    // @unchecked: used from one test at a time.
    /// Started with `ChildProcess`, not Foundation's `Process` (whose `run()` can crash).
    private let process: ChildProcess.Running
    let script: String
    private(set) var port = 0
    /// Log lines read so far, oldest first (the `PORT` line excluded).
    private(set) var lines: [String] = []
    private let reader: LineReader

    /// Starts `python3 Fixtures/net/<script> <arguments…>` and waits (30 s at most) for its port.
    /// - Throws: when python3 is missing or the script does not start.
    init(script: String, arguments: [String]) throws {
        self.script = script
        process = try ChildProcess.spawn("/usr/bin/env", ["python3", fixturePath("net/" + script)] + arguments,
                                         stdout: .capture, stderr: .discard)
        reader = LineReader(fd: process.stdout)
        let first = reader.nextLine(before: Date().addingTimeInterval(30)) ?? ""
        guard first.hasPrefix("PORT "), let p = Int(first.dropFirst(5)) else {
            process.wait(upTo: .zero)
            throw FixtureError("python3 Fixtures/net/\(script) did not start within 30 s: '\(first)'; scripts/setup.sh installs python3")
        }
        port = p
    }

    /// Reads log lines until `enough` holds for all lines so far, or `seconds` pass.
    /// - Returns: every line read so far (check `enough` again: the deadline may have passed).
    @discardableResult
    func readLines(within seconds: TimeInterval, until enough: ([String]) -> Bool) -> [String] {
        let deadline = Date().addingTimeInterval(seconds)
        while !enough(lines), let line = reader.nextLine(before: deadline) { lines.append(line) }
        return lines
    }

    /// Stops it now (SIGTERM, SIGKILL past 5 s; `ChildProcess` starts it with no signal blocked).
    func stop() {
        process.send(SIGTERM)
        process.wait(upTo: .seconds(5))
    }

    deinit { stop() }
}

/// CLOCK_MONOTONIC in seconds: the clock the Python fixtures stamp their log lines with
/// (`time.monotonic()`), so a test can compare its own moments with theirs.
func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}
