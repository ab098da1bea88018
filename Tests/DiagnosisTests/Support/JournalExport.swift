import Foundation
import Shared

/// Writes real journal files for the scenarios: entries in journal export format piped into
/// `systemd-journal-remote` (package systemd-journal-remote), read back by the real agent.
struct JournalExport {
    /// One entry: the realtime timestamp plus `FIELD=value` pairs.
    struct Entry {
        var realtime: Int64
        var fields: [(String, String)]
    }

    static let remote = "/lib/systemd/systemd-journal-remote"

    /// Export-format bytes. Every entry, the last too, ends with a blank line (else
    /// systemd-journal-remote drops it and still exits 0); values with newlines use the binary form.
    static func export(_ entries: [Entry], bootID: String) -> [UInt8] {
        var out: [UInt8] = []
        var monotonic: Int64 = 5_000_000
        for e in entries {
            monotonic += 1000
            out += Array("__REALTIME_TIMESTAMP=\(e.realtime)\n__MONOTONIC_TIMESTAMP=\(monotonic)\n_BOOT_ID=\(bootID)\n".utf8)
            for (name, value) in e.fields {
                let bytes = Array(value.utf8)
                if bytes.contains(0x0A) {
                    out += Array("\(name)\n".utf8)
                    withUnsafeBytes(of: UInt64(bytes.count).littleEndian) { out += $0 }
                    out += bytes + [0x0A]
                } else {
                    out += Array("\(name)=".utf8) + bytes + [0x0A]
                }
            }
            out.append(0x0A)
        }
        return out
    }

    /// Writes `entries` (sorted by time) into `directory/system.journal`.
    /// - Throws: when the tool is missing or reports fewer entries than given.
    static func write(_ entries: [Entry], bootID: String, to directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let input = directory + "/.export"
        try Data(export(entries.sorted { $0.realtime < $1.realtime }, bootID: bootID)).write(to: URL(fileURLWithPath: input))
        defer { try? FileManager.default.removeItem(atPath: input) }
        let r = try run(remote, ["-o", directory + "/system.journal", input])
        guard r.status == 0, r.error.contains("writing \(entries.count) entries") else {
            throw TestFailure("systemd-journal-remote failed (\(r.status)): \(r.error)")
        }
    }
}

/// A kernel line.
func kernel(_ secondsAgo: Double, _ message: String, priority: Int = 3, now: Date) -> JournalExport.Entry {
    .init(realtime: ago(secondsAgo, from: now), fields: [("MESSAGE", message), ("PRIORITY", "\(priority)"), ("_TRANSPORT", "kernel"),
                                                         ("SYSLOG_IDENTIFIER", "kernel"), ("SYSLOG_FACILITY", "0")])
}

/// A line from a daemon or program.
func daemon(_ secondsAgo: Double, _ identifier: String, _ message: String, priority: Int = 6, unit: String? = nil,
            transport: String = "journal", extra: [(String, String)] = [], now: Date) -> JournalExport.Entry {
    var fields: [(String, String)] = [("MESSAGE", message), ("PRIORITY", "\(priority)"), ("_TRANSPORT", transport),
                                      ("SYSLOG_IDENTIFIER", identifier), ("_COMM", String(identifier.prefix(15))), ("_PID", "\(1000 + identifier.count)")]
    if let unit { fields.append(("_SYSTEMD_UNIT", unit)) }
    return .init(realtime: ago(secondsAgo, from: now), fields: fields + extra)
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// A temporary folder removed by `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "helpline-diagnosis-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    /// Writes `text` at `relative`, creating parents.
    func write(_ relative: String, _ text: String) throws {
        let full = file(relative)
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: full)
        try Data(text.utf8).write(to: URL(fileURLWithPath: full))
    }
    func remove(_ relative: String) { try? FileManager.default.removeItem(atPath: file(relative)) }
}

/// µs since the epoch, `seconds` before `now`.
func ago(_ seconds: Double, from now: Date) -> Int64 {
    Int64((now.timeIntervalSince1970 - seconds) * 1_000_000)
}

/// Runs a program, returning status, stdout and stderr.
@discardableResult
func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    // Every wait on a child has a deadline: a hung child is killed after 180 s (the pipes then close).
    let watchdog = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    DispatchQueue.global().asyncAfter(deadline: .now() + 180, execute: watchdog)
    defer { watchdog.cancel() }
    // Read both pipes concurrently so neither fills up. `errData` is written by the reader
    // block before `group.leave()` and read only after `group.wait()`: never at the same time.
    nonisolated(unsafe) var errData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// The folder holding the built `helpline` binary (next to the test bundle).
var productsDirectory: String {
    var url = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    for _ in 0..<5 {
        url.deleteLastPathComponent()
        if FileManager.default.fileExists(atPath: url.path + "/helpline") { return url.path }
    }
    return Bundle.main.bundleURL.deletingLastPathComponent().path
}

/// A fixture folder of this test target.
func fixturePath(_ name: String) -> String {
    Bundle.module.resourcePath! + "/Fixtures/" + name
}
