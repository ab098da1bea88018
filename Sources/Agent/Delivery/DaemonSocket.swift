import Foundation
import Shared

/// What a user's `helpline` asks the daemon over its Unix socket (one JSON line).
struct DaemonRequest: Codable, Sendable {
    var note: String?
    /// `--since` as typed.
    var since: String?
    /// `status`: the tickets this user's requests opened; nil: a request for help.
    var action: String?
    /// The opt-in redactions the user turned on (`--redact-emails` → `emails`; see
    /// `RedactionOptions.switchesOn`). The daemon adds them to agent.conf's: a request can
    /// make redaction stricter, never weaker.
    var redact: [String]?
}

extension RedactionOptions {
    /// The opt-in identifier redactions by the names `DaemonRequest.redact` carries.
    static let switchNames = ["emails", "usernames", "ips", "macs", "hostnames"]

    /// The names of the opt-in identifier redactions that are on.
    var switchesOn: [String] {
        zip(Self.switchNames, [emails, usernames, ipAddresses, macAddresses, hostnames]).filter(\.1).map(\.0)
    }

    /// These options with the named identifier redactions turned on too (none turned off).
    /// - Throws: `InputValueError` naming a switch that does not exist.
    func turningOn(_ names: [String]) throws(InputValueError) -> RedactionOptions {
        var o = self
        for name in names {
            switch name {
            case "emails": o.emails = true
            case "usernames": o.usernames = true
            case "ips": o.ipAddresses = true
            case "macs": o.macAddresses = true
            case "hostnames": o.hostnames = true
            default:
                throw InputValueError(name: "redact", value: name, problem: "is not a redaction; give some of \(Self.switchNames.joined(separator: ", "))")
            }
        }
        return o
    }
}

/// One line the daemon sends back: progress, then exactly one answer (or, for `status`,
/// the user's tickets or why they could not be fetched).
struct DaemonMessage: Codable, Sendable {
    var progress: String?
    var answer: RequestFlow.Answer?
    var tickets: [HostTicket]?
    var problem: String?
}

/// The daemon's listening socket: ordinary users press help too, and the system journal is
/// not theirs to read, so the daemon (root) collects on their behalf. The peer's uid comes
/// from the kernel (`SO_PEERCRED`), never from what the client says.
final class DaemonSocket: @unchecked Sendable {
    // @unchecked: `fd` is set once in init and only read afterwards.
    let path: String
    private let fd: Int32

    /// A connected client with the credentials the kernel vouches for.
    struct Client: @unchecked Sendable {
        // @unchecked: the descriptor is owned by one handler task.
        let fd: Int32
        let uid: uid_t
        let pid: pid_t
        /// The user's login name (from the uid). `getpwuid_r`: requests and refusals are
        /// served on several threads, and `getpwuid` shares one buffer, so a concurrent look-up
        /// could hand one user's request the name (and so the tickets) of another.
        var userName: String {
            withUnsafeTemporaryAllocation(of: CChar.self, capacity: 16 << 10) { buffer in
                var entry = passwd()
                var found: UnsafeMutablePointer<passwd>?
                guard let base = buffer.baseAddress, getpwuid_r(uid, &entry, base, buffer.count, &found) == 0, found != nil,
                      let name = entry.pw_name else { return "uid \(uid)" }
                return String(cString: name)
            }
        }
    }

    /// Binds and listens at `path` (replacing a stale socket); mode 0666 so any local user
    /// may connect — who they are is checked per connection.
    init(path: String) throws {
        self.path = path
        try? FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true,
                                                 attributes: [.posixPermissions: 0o755])
        unlink(path)
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { throw AgentStateError("cannot create the daemon socket: \(String(cString: strerror(errno)))") }
        guard var addr = SocketLines.address(path) else {
            close(s)
            throw AgentStateError("daemon socket path \(path) is too long")
        }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(s, 8) == 0 else {
            let e = errno
            close(s)
            throw AgentStateError("cannot listen on \(path): \(String(cString: strerror(e)))")
        }
        chmod(path, 0o666)
        fd = s
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// `struct ucred` and `SO_PEERCRED` (17 on Linux) are behind `_GNU_SOURCE`, which Swift's
    /// Glibc module does not define; same layout, spelled out.
    private struct PeerCredentials {
        var pid: pid_t = 0
        var uid: uid_t = 0
        var gid: gid_t = 0
    }
    private static let soPeerCred: Int32 = 17

    /// Stops listening: a thread waiting in `accept()` gets nil and ends (the daemon's
    /// socket lives as long as the process; tests serve one and stop it).
    func stopListening() {
        _ = Glibc.shutdown(fd, Int32(SHUT_RDWR))
    }

    /// Waits for the next client (blocking; call from a thread of its own).
    /// - Returns: nil once the socket no longer listens.
    func accept() -> Client? {
        while true {
            let c = Glibc.accept(fd, nil, nil)
            if c < 0 {
                if errno == EINTR { continue }
                return nil
            }
            _ = fcntl(c, F_SETFD, FD_CLOEXEC)
            var cred = PeerCredentials()
            var len = socklen_t(MemoryLayout<PeerCredentials>.size)
            guard getsockopt(c, SOL_SOCKET, Self.soPeerCred, &cred, &len) == 0 else {
                close(c)
                continue
            }
            return Client(fd: c, uid: cred.uid, pid: cred.pid)
        }
    }
}

/// How long each side of the daemon's socket waits for the other. The daemon answers one
/// request at a time and its socket is open to every local user, so a peer that connects and
/// then says nothing, or never reads, must not hold up everyone else's requests.
struct SocketDeadlines: Sendable {
    /// Longest a request line may be: a note of a few words, `since`, an action; far more
    /// than any `helpline request` sends.
    static let maxRequestBytes = 256 * 1024

    /// Time the daemon gives a client to send its whole request line, counted from when the
    /// daemon turns to it. `helpline request` has written it before the daemon even looks,
    /// so only a silent or trickling peer ever waits this out; it is then dropped.
    var request: Duration = .seconds(10)
    /// Time the daemon gives a client to take each line it sends (progress, answer). The
    /// kernel buffers far more than one line, so only a peer that stopped reading waits this out.
    var answerLine: Duration = .seconds(30)
    /// Time `helpline request` / `helpline status` wait for the daemon's answer in all. It must
    /// cover other users' requests queued ahead, the collection (probes' timeouts add up to a
    /// few minutes) and an upload with `retries` attempts of at most 10 minutes each (a user's
    /// upload is not `patient`); an hour covers that with the defaults, and ends a wait on a
    /// daemon that hung.
    var answer: Duration = .seconds(3600)

    /// The deadlines the daemon and its clients use.
    static let standard = SocketDeadlines()
}

/// Line-oriented JSON over a socket descriptor.
enum SocketLines {
    /// Writes one JSON line, waiting at most `within` for the peer to take it.
    /// - Returns: false when the value cannot be encoded, the peer is gone, or it did not
    ///   read within the time.
    static func send<T: Encodable>(_ value: T, to fd: Int32, within: Duration = SocketDeadlines.standard.answerLine) -> Bool {
        guard var data = try? BundleJSON.encoder().encode(value) else { return false }
        data.append(0x0A)
        let end = ContinuousClock.now + within
        return data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                guard waitFor(POLLOUT, on: fd, until: end) else { return false }
                // Non-blocking even on a blocking socket: a write larger than the buffer's free
                // room would otherwise block past the deadline. MSG_NOSIGNAL: a gone peer is
                // EPIPE here, not a SIGPIPE for the whole process.
                let n = Glibc.send(fd, raw.baseAddress! + off, raw.count - off, Int32(MSG_DONTWAIT) | Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
                    return false
                }
                off += n
            }
            return true
        }
    }

    /// Waits until `fd` is ready for `events` or `end` passes.
    /// - Returns: whether it is ready (an error or hang-up counts as ready: the next call says which).
    static func waitFor(_ events: Int32, on fd: Int32, until end: ContinuousClock.Instant) -> Bool {
        while true {
            let left = end - ContinuousClock.now
            guard left > .zero else { return false }
            // In whole milliseconds, rounded up so a wait never ends just short of its deadline
            // and spins; at most a day per poll (the loop goes on after).
            let capped = min(left, .seconds(86_400))
            let ms = Int32((Double(capped.components.seconds) * 1e3 + Double(capped.components.attoseconds) / 1e15).rounded(.up))
            var p = pollfd(fd: fd, events: Int16(events), revents: 0)
            let rc = poll(&p, 1, ms)
            if rc > 0 { return true }
            if rc < 0 && errno != EINTR { return true }
        }
    }

    /// The Unix socket address of `path`; nil when the path does not fit.
    static func address(_ path: String) -> sockaddr_un? {
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: addr.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
            raw[bytes.count] = 0
        }
        return addr
    }

    /// Connects to the daemon's socket; nil when no daemon listens.
    static func connect(path: String) -> Int32? {
        let s = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard s >= 0 else { return nil }
        guard var addr = address(path) else { close(s); return nil }
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(s, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard rc == 0 else { close(s); return nil }
        return s
    }
}

/// Reads newline-ended lines from a socket, each within a deadline; buffered, so reading
/// a long answer takes a few system calls, not one per byte.
struct SocketLineReader {
    /// What the next line turned out to be.
    enum Outcome: Equatable {
        /// A line, without its newline (or the last bytes before the peer closed).
        case line([UInt8])
        /// The peer closed, or the socket failed, with nothing pending.
        case end
        /// The deadline passed first.
        case timedOut
        /// No newline within the limit.
        case tooLong
    }

    /// The socket read from (not owned: the caller closes it).
    let fd: Int32
    private var buffer: [UInt8] = []

    /// A reader of `fd`.
    init(fd: Int32) { self.fd = fd }

    /// The next line of at most `limit` bytes, if it arrives within `within`.
    mutating func next(limit: Int, within: Duration) -> Outcome {
        let end = ContinuousClock.now + within
        var scanned = 0
        var chunk = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            if let newline = buffer[scanned...].firstIndex(of: 0x0A) {
                guard newline <= limit else { return .tooLong }
                let line = Array(buffer[..<newline])
                buffer.removeFirst(newline + 1)
                return .line(line)
            }
            scanned = buffer.count
            if buffer.count > limit { return .tooLong }
            guard SocketLines.waitFor(POLLIN, on: fd, until: end) else { return .timedOut }
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK { continue }
            }
            if n <= 0 {
                guard !buffer.isEmpty else { return .end }
                defer { buffer.removeAll() }
                return buffer.count > limit ? .tooLong : .line(buffer)
            }
            buffer.append(contentsOf: chunk[..<n])
        }
    }
}
