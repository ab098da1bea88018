import Foundation
import Testing
@testable import Shared

/// A fresh temporary directory, removed by the caller with `cleanup()`.
struct TempDir {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "helpline-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    func file(_ name: String) -> String { path + "/" + name }
    func cleanup() { try? FileManager.default.removeItem(atPath: path) }
    func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
}

/// Runs a program and returns its exit status and standard output.
@discardableResult
func run(_ arguments: [String], cwd: String? = nil, input: Data? = nil) throws -> (status: Int32, output: String, error: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = arguments
    if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    let inPipe = Pipe()
    p.standardInput = inPipe
    try p.run()
    // Every wait on a child has a deadline: a hung child is killed after 180 s (the pipes then close).
    let watchdog = DispatchWorkItem { if p.isRunning { kill(p.processIdentifier, SIGKILL) } }
    DispatchQueue.global().asyncAfter(deadline: .now() + 180, execute: watchdog)
    defer { watchdog.cancel() }
    if let input { inPipe.fileHandleForWriting.write(input) }
    try inPipe.fileHandleForWriting.close()
    let o = out.fileHandleForReading.readDataToEndOfFile()
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

/// gzip-compresses `bytes` as one member.
func gzip(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
    var out: [UInt8] = []
    let d = try GzipDeflater(level: level)
    try d.compress(bytes) { out.append(contentsOf: $0) }
    try d.finish { out.append(contentsOf: $0) }
    return out
}

/// A raw tar member for crafting hostile archives.
struct RawMember {
    var name: String
    var data: [UInt8] = []
    var typeflag: UInt8 = UInt8(ascii: "0")
    /// Size written in the header (defaults to data.count).
    var declaredSize: Int?
}

/// Builds tar bytes by hand, bypassing `Tar.header`'s own path checks.
func craftTar(_ members: [RawMember], endMarker: Bool = true) -> [UInt8] {
    var out: [UInt8] = []
    for m in members {
        var h = (try? Tar.header(name: "placeholder", size: m.declaredSize ?? m.data.count, mtime: 0)) ?? []
        let nameBytes = Array(m.name.utf8.prefix(100))
        for i in 0..<100 { h[i] = i < nameBytes.count ? nameBytes[i] : 0 }
        h[156] = m.typeflag
        for i in 148..<156 { h[i] = 0x20 }
        let sum = h.reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        let field = [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20]
        for i in 0..<8 { h[148 + i] = field[i] }
        out += h
        out += m.data
        out += [UInt8](repeating: 0, count: Tar.padding(for: m.data.count))
    }
    if endMarker { out += Tar.endOfArchive }
    return out
}

/// A valid manifest for tests.
func sampleManifest(id: String = "6f1c2d9e-8a4b-4c1d-9e2f-0a1b2c3d4e5f", schema: Int = BundleSchema.current) -> Manifest {
    Manifest(schemaVersion: schema, bundleID: id, createdAt: Date(timeIntervalSince1970: 1_790_000_000), agentVersion: "0.1.0",
             host: HostIdentity(hostname: "laptop-42", machineID: "0123456789abcdef0123456789abcdef", bootID: "b00b"),
             reason: .userRequest, note: "wifi keeps dropping",
             probes: [ProbeReport(name: "journal", member: BundleMember.journal, status: .ok, durationMS: 12, items: 2, bytes: 100)],
             redactions: ["password": 1])
}

func manifestBytes(_ m: Manifest = sampleManifest()) throws -> [UInt8] {
    [UInt8](try BundleJSON.encoder().encode(m))
}

/// Reads `bytes` as a bundle, returning the error if it is rejected.
func readBundle(_ bytes: [UInt8], limits: BundleLimits = .default, chunk: Int = 4096) -> Result<BundleContents, BundleError> {
    do {
        let reader = try BundleReader(limits: limits)
        var i = 0
        while i < bytes.count {
            let end = min(i + chunk, bytes.count)
            try reader.feed(Array(bytes[i..<end]))
            i = end
        }
        return .success(try reader.finish())
    } catch let e as BundleError {
        return .failure(e)
    } catch {
        return .failure(BundleError(.io, "unexpected \(error)"))
    }
}

/// The fixture folder copied into the test bundle.
func fixturePath(_ name: String) -> String {
    Bundle.module.path(forResource: "Fixtures/" + name, ofType: nil)
        ?? Bundle.module.resourcePath! + "/Fixtures/" + name
}

/// A deterministic generator (SplitMix64), so a failure reproduces from its seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
