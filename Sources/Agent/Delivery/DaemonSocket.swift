import Foundation
import Shared

/// What a user's `helpline` asks the daemon over its Unix socket (one JSON line).
struct DaemonRequest: Codable, Sendable {
    var note: String?
    /// `--since` as typed.
    var since: String?
    /// `status`: the tickets this user's requests opened; nil: a request for help.
    var action: String?
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
        /// The user's login name (from the uid).
        var userName: String {
            guard let pw = getpwuid(uid), let name = pw.pointee.pw_name else { return "uid \(uid)" }
            return String(cString: name)
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

    /// Waits for the next client (blocking; call from a thread of its own).
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

/// Line-oriented JSON over a socket descriptor.
enum SocketLines {
    /// Writes one JSON line.
    static func send<T: Encodable>(_ value: T, to fd: Int32) -> Bool {
        guard var data = try? BundleJSON.encoder().encode(value) else { return false }
        data.append(0x0A)
        return data.withUnsafeBytes { raw in
            var off = 0
            while off < raw.count {
                let n = write(fd, raw.baseAddress! + off, raw.count - off)
                if n < 0 { if errno == EINTR { continue }; return false }
                off += n
            }
            return true
        }
    }

    /// Reads one line (at most `limit` bytes).
    static func readLine(from fd: Int32, limit: Int = 256 * 1024) -> [UInt8]? {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while line.count < limit {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return line.isEmpty ? nil : line }
            if byte == 0x0A { return line }
            line.append(byte)
        }
        return nil
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
