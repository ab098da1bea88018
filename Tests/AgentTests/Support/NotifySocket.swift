import Foundation
@testable import Agent

/// A Unix datagram socket bound where `NOTIFY_SOCKET` points, receiving what a service sends
/// with sd_notify, as systemd would.
final class NotifySocket: @unchecked Sendable {
    // @unchecked: used from one test at a time.

    /// One datagram and when it arrived (`monotonicSeconds()`).
    struct Message: CustomStringConvertible {
        var text: String
        var time: Double
        /// Its `NAME=value` lines.
        var fields: [String] { text.split(separator: "\n").map(String.init) }
        var description: String { "\(text.replacingOccurrences(of: "\n", with: "|")) @\(time)" }
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
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; break }
            messages.append(Message(text: String(decoding: buffer[0..<n], as: UTF8.self), time: monotonicSeconds()))
        }
        return messages
    }
}
