import Foundation
@testable import Agent

/// Writes real journal files for tests: entries in journal export format piped into
/// `systemd-journal-remote`, read back through sd-journal like any system journal.
struct JournalFixture {
    /// One entry; `fields` are written as given (binary form for values with newlines,
    /// control characters or non-ASCII bytes).
    struct Entry {
        var realtime: Int64
        var bootID: String
        var fields: [(String, [UInt8])]

        init(realtime: Int64, bootID: String, _ fields: [(String, String)]) {
            self.realtime = realtime
            self.bootID = bootID
            self.fields = fields.map { ($0.0, Array($0.1.utf8)) }
        }
        init(realtime: Int64, bootID: String, rawFields: [(String, [UInt8])]) {
            self.realtime = realtime
            self.bootID = bootID
            self.fields = rawFields
        }
    }

    static let remote = "/lib/systemd/systemd-journal-remote"

    /// Export-format bytes for `entries`.
    static func export(_ entries: [Entry]) -> [UInt8] {
        var out: [UInt8] = []
        var monotonic: [String: Int64] = [:]
        for e in entries {
            out += Array("__REALTIME_TIMESTAMP=\(e.realtime)\n".utf8)
            let m = (monotonic[e.bootID] ?? 1_000_000) + 1000
            monotonic[e.bootID] = m
            out += Array("__MONOTONIC_TIMESTAMP=\(m)\n_BOOT_ID=\(e.bootID)\n".utf8)
            for (name, value) in e.fields {
                let binary = value.contains { $0 < 0x20 && $0 != 0x09 || $0 >= 0x80 }
                if binary {
                    out += Array("\(name)\n".utf8)
                    withUnsafeBytes(of: UInt64(value.count).littleEndian) { out += $0 }
                    out += value
                    out.append(0x0A)
                } else {
                    out += Array("\(name)=".utf8) + value + [0x0A]
                }
            }
            out.append(0x0A)
        }
        return out
    }

    /// Writes `entries` as journal files into `directory` (created if needed).
    /// - Throws: when systemd-journal-remote is missing or wrote fewer entries.
    static func write(_ entries: [Entry], to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let input = directory + "/.export-\(UUID().uuidString)"
        try Data(export(entries)).write(to: URL(fileURLWithPath: input))
        defer { try? FileManager.default.removeItem(atPath: input) }
        guard FileManager.default.isExecutableFile(atPath: remote) else {
            throw FixtureError("\(remote) is missing: journal fixtures are written with it; scripts/setup.sh installs it (Debian package systemd-journal-remote)")
        }
        let outcome = try ChildProcess.run(remote, ["-o", directory + "/system.journal", input], stdout: .discard, timeout: .seconds(60))
        let text = String(decoding: outcome.error, as: UTF8.self)
        guard !outcome.timedOut else { throw FixtureError("systemd-journal-remote ran longer than 60 s and was killed: \(text)") }
        guard outcome.exitStatus == 0, text.contains("writing \(entries.count) entries") else {
            throw FixtureError("systemd-journal-remote failed (\(outcome.exitStatus.map(String.init) ?? "signal \(outcome.signal ?? 0)")): \(text)")
        }
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A temporary folder removed by `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "helpline-agent-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    /// Writes `text` at `relative` under this folder, creating parents.
    func write(_ relative: String, _ text: String) throws {
        let full = file(relative)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
    }
}

/// µs since the epoch, `seconds` before now.
func ago(_ seconds: Double, from now: Date = Date()) -> Int64 {
    Int64((now.timeIntervalSince1970 - seconds) * 1_000_000)
}

/// Runs a program, returning status (the exit status, or the signal that ended it), stdout
/// and stderr. Through `ChildProcess` (posix_spawn), not Foundation's `Process`, whose `run()`
/// crashed a test run here (swift-corelibs-foundation pull request 5472).
/// - Parameters:
///   - input: bytes for its standard input (else /dev/null).
///   - timeout: the program is killed and an error thrown when it runs longer.
@discardableResult
func run(_ executable: String, _ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil,
         input: Data? = nil, timeout: TimeInterval = 180) throws
    -> (status: Int32, output: String, error: String) {
    let outcome = try ChildProcess.run(executable, arguments, environment: environment, directory: cwd, input: input.map { Array($0) },
                                       timeout: .milliseconds(Int64(timeout * 1000)))
    guard !outcome.timedOut else {
        throw FixtureError("\(executable) \(arguments.joined(separator: " ")) ran longer than \(Int(timeout)) s and was killed")
    }
    return (outcome.exitStatus ?? outcome.signal ?? -1, String(decoding: outcome.output, as: UTF8.self), String(decoding: outcome.error, as: UTF8.self))
}

/// The folder holding the built products (`helpline`, `helpline-collector`).
var productsDirectory: String {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<4 {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.path + "/helpline") { return url.path }
    }
    return Bundle.main.bundleURL.deletingLastPathComponent().path
}
