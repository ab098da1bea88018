import Foundation
import Shared

/// Stand-ins for what a captured tree cannot hold, read only under `--sysroot` (never on the
/// live system). They let tests and diagnosis engineers plant scenarios ("disk 97% full",
/// "CPU hog", "failed units") in a fixture tree. All live in `<sysroot>/helpline-fixture/`:
///
/// - `statvfs.json` — mount point → the `statvfs(3)` counters the disks probe would have
///   read, all unsigned integers, `frsize` in bytes:
///   `{"/": {"blocks": 1000, "bfree": 30, "bavail": 20, "frsize": 4096, "files": 500, "ffree": 100}}`.
///   A mount point missing from it (or no file at all) falls back to `statvfs` on
///   `<sysroot><mount point>` when that exists, else the filesystem is reported with zero
///   sizes and named in `unreadable`.
/// - `proc2/` — the processes probe's second CPU sample, laid out like `/proc`
///   (`proc2/<pid>/stat`). CPU % is the `utime`+`stime` growth from `/proc/<pid>/stat` to
///   `proc2/<pid>/stat` over `cpuSampleInterval`; no sleep happens under a sysroot. A pid
///   absent from `proc2/` is a process that exited between the samples. Without `proc2/`,
///   the second sample re-reads `/proc`, so every CPU % is 0.
/// - `units.json` — a `UnitsInfo` (the `units.json` member, ISO 8601 dates) as if read
///   from the system bus. Without it the units probe is skipped under a sysroot.
///
/// A file that is present but malformed is an error (`ProbeError`), so a broken scenario
/// is noticed rather than silently ignored.
struct FixtureOverrides {
    /// The folder, relative to the sysroot.
    static let folder = "/helpline-fixture"

    /// Where the tree is; overrides apply only when this is not the live system.
    var context: ProbeContext

    /// True when a sysroot is given, so overrides may apply.
    var active: Bool { !context.sysroot.isEmpty }

    /// `statvfs.json`, or nil when absent (or on the live system).
    func filesystemCounts() throws -> [String: FilesystemCounts]? {
        try decode("statvfs.json", as: [String: FilesystemCounts].self, decoder: JSONDecoder())
    }

    /// `proc2/` relative to the sysroot (`/helpline-fixture/proc2`), or nil when absent.
    var secondSampleRoot: String? {
        guard active else { return nil }
        let p = Self.folder + "/proc2"
        return context.exists(p) ? p : nil
    }

    /// `units.json`, or nil when absent (or on the live system).
    func units() throws -> UnitsInfo? {
        try decode("units.json", as: UnitsInfo.self, decoder: BundleJSON.decoder())
    }

    private func decode<T: Decodable>(_ name: String, as type: T.Type, decoder: JSONDecoder) throws -> T? {
        guard active else { return nil }
        let p = Self.folder + "/" + name
        switch context.source(p) {
        case .missing: return nil
        case .unreadable(let e):
            throw ProbeError("cannot read fixture \(context.path(p)): \(String(cString: strerror(e)))")
        case .text(let t):
            do { return try decoder.decode(T.self, from: Data(t.utf8)) } catch {
                throw ProbeError("fixture \(context.path(p)) is not a valid \(T.self): \(error); fix or remove it")
            }
        }
    }
}
