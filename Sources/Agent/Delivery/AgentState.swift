import Foundation
import Shared

/// The agent's own folder: enrollment (host token), the spool, the daemon's socket.
///
/// `--state-dir DIR` or `HELPLINE_STATE_DIR`; else `/var/lib/helpline` for root and
/// `$XDG_STATE_HOME/helpline` (`~/.local/state/helpline`) for everyone else.
struct AgentState: Sendable {
    let directory: String

    /// What enrollment stored.
    struct Enrollment: Codable, Sendable, Equatable {
        var server: String
        var hostID: String
        var hostToken: String
        var hostname: String
        var enrolledAt: Date
    }

    /// The state folder to use.
    static func resolve(flag: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> AgentState {
        if let flag { return AgentState(directory: flag) }
        if let env = environment["HELPLINE_STATE_DIR"], !env.isEmpty { return AgentState(directory: env) }
        if geteuid() == 0 { return AgentState(directory: "/var/lib/helpline") }
        let base = environment["XDG_STATE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() + "/.local/state")
        return AgentState(directory: base + "/helpline")
    }

    var enrollmentPath: String { directory + "/enrollment.json" }
    var spoolDirectory: String { directory + "/spool" }
    /// Where the daemon listens for unprivileged users' requests.
    var socketPath: String { directory + "/agent.sock" }

    /// Creates the folder (mode 0700).
    func prepare() throws {
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                    attributes: [.posixPermissions: 0o700])
        } catch {
            throw AgentStateError("cannot create the state folder \(directory): \(error.localizedDescription); use --state-dir or HELPLINE_STATE_DIR")
        }
    }

    /// The stored enrollment, or nil when this host is not enrolled.
    func enrollment() throws -> Enrollment? {
        guard let data = FileManager.default.contents(atPath: enrollmentPath) else { return nil }
        do { return try BundleJSON.decoder().decode(Enrollment.self, from: data) } catch {
            throw AgentStateError("\(enrollmentPath) is damaged; enroll again with helpline enroll")
        }
    }

    /// Stores the enrollment readable by the owner only (mode 0600), atomically.
    func save(_ enrollment: Enrollment) throws {
        try prepare()
        let data = try BundleJSON.encoder(pretty: true).encode(enrollment)
        try DurableFile.write(data, to: enrollmentPath, mode: 0o600)
    }
}

/// A problem with the agent's state folder.
struct AgentStateError: Error, CustomStringConvertible {
    var description: String
    init(_ d: String) { description = d }
}

/// Writes that survive a crash: temporary file, fsync, rename, fsync of the folder.
enum DurableFile {
    /// Replaces `path` with `data` atomically.
    static func write(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        let tmp = path + ".tmp-\(UUID().uuidString.prefix(8))"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard fd >= 0 else { throw AgentStateError("cannot write \(tmp): \(String(cString: strerror(errno)))") }
        var ok = data.withUnsafeBytes { raw -> Bool in
            var off = 0
            while off < raw.count {
                let n = Foundation.write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
        ok = ok && fsync(fd) == 0
        close(fd)
        guard ok, rename(tmp, path) == 0 else {
            let e = errno
            unlink(tmp)
            throw AgentStateError("cannot write \(path): \(String(cString: strerror(e)))")
        }
        syncDirectory(of: path)
    }

    /// Moves `from` to `to` durably (same filesystem: rename; else copy, fsync, rename).
    static func move(_ from: String, to: String) throws {
        if rename(from, to) == 0 {
            syncDirectory(of: to)
            return
        }
        guard errno == EXDEV else {
            throw AgentStateError("cannot move \(from) to \(to): \(String(cString: strerror(errno)))")
        }
        let tmp = to + ".tmp-\(UUID().uuidString.prefix(8))"
        do {
            try FileManager.default.copyItem(atPath: from, toPath: tmp)
            let fd = open(tmp, O_RDONLY | O_CLOEXEC)
            if fd >= 0 { fsync(fd); close(fd) }
            guard rename(tmp, to) == 0 else { throw AgentStateError("cannot move \(from) to \(to): \(String(cString: strerror(errno)))") }
            syncDirectory(of: to)
            unlink(from)
        } catch {
            unlink(tmp)
            throw error
        }
    }

    /// fsyncs the folder holding `path`, so a rename in it survives a crash.
    static func syncDirectory(of path: String) {
        let dir = (path as NSString).deletingLastPathComponent
        let fd = open(dir.isEmpty ? "." : dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 { fsync(fd); close(fd) }
    }
}
