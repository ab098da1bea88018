import Foundation
import Shared

/// Runs every probe and writes a bundle: the framework around the probes, like sos report's.
///
/// It owns what no probe should repeat: each probe's thread and timeout, the journal's
/// streaming member, redaction of the note, the manifest, and low CPU/IO priority. A probe
/// that fails or overruns is recorded in the manifest and the bundle is still made.
struct Collection {
    /// What the user asked for.
    var options: CollectOptions
    /// The user's own words (redacted before use).
    var note: String?
    var reason: BundleReason = .userRequest
    /// The technician's request this bundle answers (`technician_request` bundles).
    var bundleRequestID: Int64?
    /// The local user who asked, when known.
    var requestedBy: String?
    /// Host id given by the collector at enrollment.
    var hostID: String?
    /// Reference time; now by default.
    var now = Date()
    /// Deflate level: 3 is as fast as 1 and 15 % smaller; 6 is 60 % slower (BENCHMARKS.md).
    var compressionLevel: Int32 = 3
    /// Only these probes (nil = all).
    var onlyProbes: Set<String>?
    /// Called as each probe finishes, for progress output.
    var progress: (@Sendable (ProbeReport) -> Void)?

    /// A finished collection.
    struct Result {
        var bundle: BundleWriter.Result
        var manifest: Manifest
        /// Placeholder → original value of opt-in redactions; stays on this host.
        var redactionMapping: [String: String]
    }

    /// Every probe's name, for `--probe` validation.
    static var probeNames: [String] { [JournalProbe.name] + ProbeRegistry.all.map(\.name) }

    /// Collects and writes the bundle to `path`.
    /// - Throws: `CollectionError` when no bundle could be written at all.
    func run(to path: String) async throws -> Result {
        Self.lowerPriority()
        let redactor = try Redactor(options: options.redaction, identities: RedactionIdentities.read(sysroot: options.sysroot))
        let context = ProbeContext(sysroot: options.sysroot, now: now, options: options, redactor: redactor)
        let bundleID = UUID().uuidString.lowercased()
        let writer: BundleWriter
        do { writer = try BundleWriter(path: path, level: compressionLevel, mtime: now) } catch {
            throw CollectionError("cannot write the bundle at \(path): \(error); choose another --output folder")
        }

        // Journal on a thread of its own (it owns the sd-journal handle), streaming.
        let journalTask: Task<(ProbeReport, CollectionWindow?, MemberBox?), Never>?
        if onlyProbes?.contains(JournalProbe.name) ?? true {
            let member = try writer.makeStreamingMember(BundleMember.journal)
            let box = MemberBox(member)
            let progress = self.progress
            journalTask = Task {
                let ran = await Self.onThread(name: "helpline-journal") { () -> (ProbeReport, CollectionWindow?) in
                    let start = ContinuousClock.now
                    do {
                        let outcome = try JournalProbe.collect(context) { chunk in try box.member.write(chunk) }
                        return (Self.report(JournalProbe.name, outcome.output, since: start, bytes: box.member.size), outcome.window)
                    } catch {
                        return (ProbeReport(name: JournalProbe.name, status: .error, error: "\(error)", durationMS: start.elapsedMS), nil)
                    }
                }
                let report = ran ?? (ProbeReport(name: JournalProbe.name, status: .error, error: "the journal thread did not finish"), nil)
                progress?(report.0)
                let wrote = report.0.status != .skipped && report.0.status != .error
                return (report.0, report.1, wrote ? box : nil)
            }
        } else {
            journalTask = nil
        }

        // Every other probe concurrently, each on its own thread with its own timeout.
        let probes = ProbeRegistry.all.filter { onlyProbes?.contains($0.name) ?? true }
        let progress = self.progress
        let outputs = await withTaskGroup(of: (Int, ProbeReport, ProbeOutput?).self) { group in
            for (index, probe) in probes.enumerated() {
                group.addTask {
                    let start = ContinuousClock.now
                    let result = await Self.onThread(name: "helpline-\(probe.name)", timeout: probe.timeout) {
                        Swift.Result { try probe.collect(context) }
                    }
                    let report: ProbeReport
                    var output: ProbeOutput?
                    switch result {
                    case nil:
                        report = ProbeReport(name: probe.name, status: .error,
                                             error: "timed out after \(probe.timeout); the bundle was made without it",
                                             durationMS: start.elapsedMS)
                    case .failure(let error)?:
                        report = ProbeReport(name: probe.name, status: .error, error: "\(error)", durationMS: start.elapsedMS)
                    case .success(let o)?:
                        output = o
                        report = Self.report(probe.name, o, since: start, bytes: o.bytes.count)
                    }
                    progress?(report)
                    return (index, report, output)
                }
            }
            var all: [(Int, ProbeReport, ProbeOutput?)] = []
            for await r in group { all.append(r) }
            return all.sorted { $0.0 < $1.0 }
        }

        var reports: [ProbeReport] = []
        var window: CollectionWindow?
        do {
            for (_, report, output) in outputs {
                if let output, let member = output.member, report.status != .error {
                    try writer.add(member, bytes: output.bytes)
                }
                reports.append(report)
            }
            if let journalTask {
                let (report, w, member) = await journalTask.value
                reports.insert(report, at: 0)
                window = w
                if let member { try writer.append(member.member) }
            }
            let redactedNote = note.map { redactor.redact($0) }
            if let redactedNote, !redactedNote.isEmpty {
                try writer.add(BundleMember.note, bytes: Array(redactedNote.utf8))
            }
            var manifest = Manifest(
                bundleID: bundleID, createdAt: now, agentVersion: AgentVersion.current,
                host: HostIdentity.read(context: context, hostID: hostID), reason: reason,
                note: redactedNote.flatMap { $0.isEmpty ? nil : $0 }, requestedBy: requestedBy,
                probes: reports, redactions: redactor.counts, journalWindow: window)
            manifest.bundleRequestID = bundleRequestID
            let bundle = try writer.finish(manifest: manifest)
            return Result(bundle: bundle, manifest: manifest, redactionMapping: redactor.mapping)
        } catch {
            writer.abandon()
            throw CollectionError("could not write the bundle at \(path): \(error)")
        }
    }

    private static func report(_ name: String, _ o: ProbeOutput, since start: ContinuousClock.Instant, bytes: Int) -> ProbeReport {
        ProbeReport(name: name, member: o.member, status: o.status, error: o.error, durationMS: start.elapsedMS, items: o.items,
                    bytes: bytes, truncated: o.truncated, truncation: o.truncation, unreadable: o.unreadable.isEmpty ? nil : o.unreadable)
    }

    /// Runs `body` on a new thread (it may block in the kernel) and waits at most `timeout`.
    /// On timeout the thread is left to finish on its own and nil is returned.
    static func onThread<T: Sendable>(name: String, timeout: Duration? = nil, _ body: @escaping @Sendable () -> T) async -> T? {
        let slot = ResultSlot<T>()
        let thread = Thread {
            slot.fill(body())
        }
        thread.name = name
        thread.stackSize = 8 << 20
        thread.start()
        return await slot.wait(timeout: timeout)
    }

    /// Nice 10: collection yields the CPU to the user's work. The kernel derives the IO
    /// priority from the nice level when none is set (best-effort class, level 6).
    static func lowerPriority() {
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 10)
    }
}

/// Why no bundle could be made.
struct CollectionError: Error, CustomStringConvertible {
    var message: String
    init(_ message: String) { self.message = message }
    var description: String { message }
}

/// Hands a streaming member to the deflate thread.
private final class MemberBox: @unchecked Sendable {
    // @unchecked: the member is written only by the journal's deflate thread while the
    // journal probe runs, and read by the collection only after that thread finished.
    let member: StreamingMember
    init(_ member: StreamingMember) { self.member = member }
}

/// A value produced on another thread, awaited with an optional timeout.
final class ResultSlot<T: Sendable>: @unchecked Sendable {
    // @unchecked: `value` and `continuation` are guarded by `lock`.
    private let lock = NSLock()
    private var value: T?
    private var continuation: CheckedContinuation<T?, Never>?
    private var resumed = false

    func fill(_ v: T) {
        lock.lock()
        value = v
        let c = continuation
        if c != nil { resumed = true; continuation = nil }
        lock.unlock()
        c?.resume(returning: v)
    }

    func wait(timeout: Duration?) async -> T? {
        await withCheckedContinuation { (c: CheckedContinuation<T?, Never>) in
            lock.lock()
            if let value {
                resumed = true
                lock.unlock()
                c.resume(returning: value)
                return
            }
            continuation = c
            lock.unlock()
            if let timeout {
                Task {
                    try? await Task.sleep(for: timeout)
                    self.expire()
                }
            }
        }
    }

    private func expire() {
        lock.lock()
        guard !resumed, let c = continuation else { lock.unlock(); return }
        resumed = true
        continuation = nil
        lock.unlock()
        c.resume(returning: nil)
    }
}

extension ContinuousClock.Instant {
    /// Milliseconds since this instant.
    var elapsedMS: Int {
        let d = ContinuousClock.now - self
        return Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }
}

extension HostIdentity {
    /// This host's identity as the probes see it (under the sysroot), its hostname through
    /// the context's redactor (a placeholder when hostname redaction is on).
    static func read(context: ProbeContext, hostID: String?) -> HostIdentity {
        func line(_ path: String) -> String? {
            guard let t = context.readText(path)?.trimmingCharacters(in: .whitespacesAndNewlines), !t.isEmpty else { return nil }
            return t
        }
        var hostname = line("/proc/sys/kernel/hostname") ?? line("/etc/hostname")
        if hostname == nil, context.sysroot.isEmpty { hostname = ProcessInfo.processInfo.hostName }
        return HostIdentity(hostID: hostID, hostname: context.redactor.redact(hostname ?? "unknown"), machineID: line("/etc/machine-id"),
                            bootID: line("/proc/sys/kernel/random/boot_id")?.replacingOccurrences(of: "-", with: ""))
    }
}

extension RedactionIdentities {
    /// Users (uid ≥ 1000) and hostnames of the system under `sysroot`, for opt-in redaction.
    static func read(sysroot: String) -> RedactionIdentities {
        var users: [String] = []
        if let passwd = try? String(contentsOfFile: sysroot + "/etc/passwd", encoding: .utf8) {
            for line in passwd.split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                if f.count > 2, let uid = Int(f[2]), uid >= 1000, uid < 65534 { users.append(String(f[0])) }
            }
        }
        var hosts: [String] = []
        for path in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
            if let h = try? String(contentsOfFile: sysroot + path, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines),
               !h.isEmpty, !hosts.contains(h) { hosts.append(h) }
        }
        return RedactionIdentities(usernames: users, hostnames: hosts)
    }
}
