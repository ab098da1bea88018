import Foundation

/// Waits on child processes that give up at a deadline, so a hung child fails its test
/// instead of hanging the whole run.
extension Process {
    /// Waits until the process exits, at most `seconds`; then SIGKILLs it and waits up to
    /// five seconds more for the kernel to reap it.
    /// - Returns: whether it exited on its own within `seconds`.
    @discardableResult
    func waitForExit(upTo seconds: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning, Date() < deadline { usleep(10_000) }
        guard isRunning else { return true }
        kill(processIdentifier, SIGKILL)
        let reap = Date().addingTimeInterval(5)
        while isRunning, Date() < reap { usleep(10_000) }
        return false
    }
}

/// Reads a child's output a line at a time, waiting at most until a deadline.
final class LineReader {
    private let fd: Int32
    private var buffer: [UInt8] = []

    /// Reads from `handle` (the read end of a child's stdout pipe).
    init(_ handle: FileHandle) { fd = handle.fileDescriptor }

    /// Reads from `fd` (the read end of a child's pipe, owned by its `ChildProcess.Running`).
    init(fd: Int32) { self.fd = fd }

    /// The next line without its newline; nil at end of file or when `deadline` passes first.
    func nextLine(before deadline: Date) -> String? {
        while true {
            if let nl = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[..<nl], as: UTF8.self)
                buffer.removeSubrange(...nl)
                return line
            }
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left, 60) * 1000) + 1)
            if ready < 0 { if errno == EINTR { continue }; return nil }
            if ready == 0 { continue }
            var chunk = [UInt8](repeating: 0, count: 4096)
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR || errno == EAGAIN { continue }; return nil }
            if n == 0 { return nil }
            buffer += chunk[0..<n]
        }
    }
}
