import Foundation
import Shared
import Testing
@testable import Agent

/// The fixture folder copied into the test bundle.
func fixturePath(_ name: String) -> String {
    Bundle.module.resourcePath! + "/Fixtures/" + name
}

/// A probe context reading `sysroot`, with a fixed "now" and a 500 ms CPU sample interval.
func fixtureContext(_ sysroot: String, interval: Duration = .milliseconds(500)) throws -> ProbeContext {
    var options = CollectOptions()
    options.sysroot = sysroot
    options.cpuSampleInterval = interval
    return ProbeContext(sysroot: sysroot, now: Date(timeIntervalSince1970: 1_717_500_000), options: options,
                        redactor: try Redactor())
}

/// The context for the live system, sampling CPU briefly.
func liveContext() throws -> ProbeContext {
    var options = CollectOptions()
    options.cpuSampleInterval = .milliseconds(50)
    return ProbeContext(sysroot: "", now: Date(), options: options, redactor: try Redactor())
}

/// Decodes a probe's member.
func decode<T: Decodable>(_ type: T.Type, _ output: ProbeOutput) throws -> T {
    try BundleJSON.decoder().decode(T.self, from: Data(output.bytes))
}

/// A writable copy of a fixture tree in a temporary folder, removed by `cleanup()`.
struct FixtureCopy {
    let root: String
    init(_ name: String) throws {
        root = NSTemporaryDirectory() + "helpline-agent-tests-" + UUID().uuidString
        try FileManager.default.copyItem(atPath: fixturePath(name), toPath: root)
    }
    /// An empty tree.
    init() throws {
        root = NSTemporaryDirectory() + "helpline-agent-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    }
    func path(_ p: String) -> String { root + p }
    func write(_ p: String, _ text: String) throws {
        try FileManager.default.createDirectory(atPath: (path(p) as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try text.write(toFile: path(p), atomically: false, encoding: .utf8)
    }
    func remove(_ p: String) throws { try FileManager.default.removeItem(atPath: path(p)) }
    /// Makes `p` unreadable. Tests run as root here, where mode 000 does not stop a read,
    /// so the file is replaced by a directory: open succeeds, read fails (EISDIR), which is
    /// the same "present but unreadable" case as EACCES for a normal user.
    func makeUnreadable(_ p: String) throws {
        try remove(p)
        try FileManager.default.createDirectory(atPath: path(p), withIntermediateDirectories: false)
    }
    func cleanup() { try? FileManager.default.removeItem(atPath: root) }
}
