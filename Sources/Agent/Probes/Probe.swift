import Foundation
import Shared

/// Everything a probe may read: where the system is, when "now" is, what the user asked
/// for, and the redactor every free-text value must pass through.
struct ProbeContext: Sendable {
    /// Root of the system to read (`""` for this machine, a fixture tree in tests).
    var sysroot: String
    /// Reference time for windows and ages.
    var now: Date
    /// The collection options.
    var options: CollectOptions
    /// Redacts secrets from free text; counts what it replaced.
    var redactor: Redactor

    /// `path` (absolute, like `/proc/meminfo`) under the sysroot.
    func path(_ path: String) -> String { sysroot + path }

    /// The contents of a text file under the sysroot, or nil when it cannot be read.
    func readText(_ path: String) -> String? {
        guard let data = FileManager.default.contents(atPath: self.path(path)) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

/// What a probe produced: its member (already redacted) and how it fared.
struct ProbeOutput: Sendable {
    /// Member name in the bundle (`disks.json`), nil when the probe wrote nothing.
    var member: String?
    /// Member content.
    var bytes: [UInt8]
    var status: ProbeStatus = .ok
    /// Why the status is not `ok`.
    var error: String?
    /// Items gathered (filesystems, processes, entries…).
    var items: Int = 0
    var truncated = false
    var truncation: String?
    /// Sources that could not be read (permissions), named for the manifest and the user.
    var unreadable: [String] = []

    /// An output holding `value` as JSON in `member`.
    static func json<T: Encodable>(_ member: String, _ value: T, items: Int, status: ProbeStatus = .ok,
                                   error: String? = nil, unreadable: [String] = []) throws -> ProbeOutput {
        let data = try BundleJSON.encoder().encode(value)
        return ProbeOutput(member: member, bytes: [UInt8](data), status: status, error: error, items: items, unreadable: unreadable)
    }

    /// A probe that did not apply here.
    static func skipped(_ why: String) -> ProbeOutput {
        ProbeOutput(member: nil, bytes: [], status: .skipped, error: why)
    }
}

/// Why a probe failed, in words a technician can act on.
struct ProbeError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// A source of one bundle member, like a sos report plugin: it declares what it gathers,
/// and the framework (`Collection`) owns timeouts, redaction bookkeeping and the manifest.
///
/// `collect` runs on a thread of its own and may block (reading /proc, statvfs, sd-bus);
/// when it overruns `timeout` the bundle is made without it and the manifest says so.
protocol Probe: Sendable {
    /// Short name (`disks`), used in the manifest, `--probe` and the output.
    var name: String { get }
    /// One line saying what the probe gathers, for `helpline preview`.
    var summary: String { get }
    /// How long the probe may take.
    var timeout: Duration { get }
    /// Gathers the member. Throw `ProbeError` for a failure worth reporting.
    func collect(_ context: ProbeContext) throws -> ProbeOutput
}

/// Every probe `helpline collect` runs, in manifest order. Adding a probe is one file and
/// one line here. The journal probe is separate: it streams into the bundle (`JournalProbe`).
enum ProbeRegistry {
    static let all: [any Probe] = [
        SystemProbe(), MemoryProbe(), DisksProbe(), ProcessesProbe(), UnitsProbe(), NetworkProbe(),
    ]
}
