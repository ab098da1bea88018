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
        let p = Process()
        p.executableURL = URL(fileURLWithPath: remote)
        p.arguments = ["-o", directory + "/system.journal", input]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = Pipe()
        try p.run()
        let exited = p.waitForExit(upTo: 60)
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        guard exited else { throw FixtureError("systemd-journal-remote ran longer than 60 s and was killed: \(text)") }
        guard p.terminationStatus == 0, text.contains("writing \(entries.count) entries") else {
            throw FixtureError("systemd-journal-remote failed (\(p.terminationStatus)): \(text)")
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

/// Runs a program, returning status, stdout and stderr.
/// - Parameters:
///   - input: bytes for its standard input (else /dev/null).
///   - timeout: the program is killed and an error thrown when it runs longer.
@discardableResult
func run(_ executable: String, _ arguments: [String], cwd: String? = nil, environment: [String: String]? = nil,
         input: Data? = nil, timeout: TimeInterval = 180) throws
    -> (status: Int32, output: String, error: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    if let environment { p.environment = environment }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let stdin = input.map { _ in Pipe() }
    p.standardInput = stdin ?? FileHandle.nullDevice
    let exited = DispatchSemaphore(value: 0)
    p.terminationHandler = { _ in exited.signal() }
    try p.run()
    if let stdin, let input {
        DispatchQueue.global().async {
            try? stdin.fileHandleForWriting.write(contentsOf: input)
            try? stdin.fileHandleForWriting.close()
        }
    }
    // Read both pipes concurrently so neither fills up.
    nonisolated(unsafe) var errData = Data()
    nonisolated(unsafe) var outData = Data()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async { errData = err.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    group.enter()
    DispatchQueue.global().async { outData = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
    let deadline = DispatchTime.now() + timeout
    guard exited.wait(timeout: deadline) == .success, group.wait(timeout: deadline) == .success else {
        kill(p.processIdentifier, SIGKILL)
        _ = exited.wait(timeout: .now() + 10)
        throw FixtureError("\(executable) \(arguments.joined(separator: " ")) ran longer than \(Int(timeout)) s and was killed")
    }
    return (p.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
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
