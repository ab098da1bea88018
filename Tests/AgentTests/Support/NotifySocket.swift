import Foundation
@testable import Agent

/// A Unix datagram socket bound where `NOTIFY_SOCKET` points, receiving what a service sends
/// with sd_notify, as systemd would, with each sender's pid (systemd's `NotifyAccess=main`
/// takes messages from the main process only).
final class NotifySocket: @unchecked Sendable {
    // @unchecked: used from one test at a time.

    /// One datagram and when it arrived (`monotonicSeconds()`).
    struct Message: CustomStringConvertible {
        var text: String
        var time: Double
        /// The sending process, from the kernel (SO_PASSCRED); nil if none came with it.
        var pid: pid_t?
        /// Its `NAME=value` lines.
        var fields: [String] { text.split(separator: "\n").map(String.init) }
        var description: String { "\(text.replacingOccurrences(of: "\n", with: "|")) @\(time) from \(pid.map(String.init) ?? "?")" }
    }

    let path: String
    private let fd: Int32
    /// Every datagram received so far, oldest first.
    private(set) var messages: [Message] = []

    /// Binds a datagram socket at `path`.
    /// - Throws: when the socket cannot be made or bound.
    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FixtureError("cannot create a datagram socket: \(String(cString: strerror(errno)))") }
        var on: Int32 = 1
        guard setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, socklen_t(MemoryLayout<Int32>.size)) == 0 else {
            let e = errno
            close(fd)
            throw FixtureError("cannot ask for senders' credentials: \(String(cString: strerror(e)))")
        }
        guard var addr = SocketLines.address(path) else { close(fd); throw FixtureError("socket path too long: \(path)") }
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let e = errno
            close(fd)
            throw FixtureError("cannot bind \(path): \(String(cString: strerror(e)))")
        }
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Receives until `enough` holds for everything received so far, or `seconds` pass.
    /// - Returns: every message so far (check `enough` again: the deadline may have passed).
    @discardableResult
    func receive(within seconds: TimeInterval, until enough: ([Message]) -> Bool) -> [Message] {
        let deadline = Date().addingTimeInterval(seconds)
        while !enough(messages) {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { break }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left, 60) * 1000) + 1)
            if ready < 0 { if errno == EINTR { continue }; break }
            if ready == 0 { continue }
            guard let (bytes, pid) = receiveOne() else { if errno == EINTR || errno == EAGAIN { continue }; break }
            messages.append(Message(text: String(decoding: bytes, as: UTF8.self), time: monotonicSeconds(), pid: pid))
        }
        return messages
    }

    /// One datagram and the pid in its SCM_CREDENTIALS; nil on error (errno says which).
    private func receiveOne() -> ([UInt8], pid_t?)? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        // struct cmsghdr (len: size_t, level, type: int) then struct ucred (pid, uid, gid);
        // CMSG_DATA and friends are macros Swift does not import.
        // Zeroed, so no control message reads as length 0.
        var control = [UInt8](repeating: 0, count: 64)
        let n = buffer.withUnsafeMutableBytes { data in
            control.withUnsafeMutableBytes { ctl in
                var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
                return withUnsafeMutablePointer(to: &iov) { iovp in
                    var msg = msghdr()
                    msg.msg_iov = iovp
                    msg.msg_iovlen = 1
                    msg.msg_control = ctl.baseAddress
                    msg.msg_controllen = ctl.count
                    return recvmsg(fd, &msg, 0)
                }
            }
        }
        guard n >= 0 else { return nil }
        let level = control.withUnsafeBytes { $0.load(fromByteOffset: 8, as: Int32.self) }
        let type = control.withUnsafeBytes { $0.load(fromByteOffset: 12, as: Int32.self) }
        let length = control.withUnsafeBytes { $0.load(fromByteOffset: 0, as: Int.self) }
        let scmCredentials: Int32 = 2  // SCM_CREDENTIALS, <bits/socket.h>
        let pid: pid_t? = length >= 16 + 12 && level == SOL_SOCKET && type == scmCredentials
            ? control.withUnsafeBytes { $0.load(fromByteOffset: 16, as: pid_t.self) } : nil
        return (Array(buffer[0..<n]), pid)
    }
}
