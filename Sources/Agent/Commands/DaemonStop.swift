import ArgumentParser
import Foundation
import Shared

/// The daemon's request to stop, from SIGTERM or SIGINT: ends the tick loop's sleep at once.
final class DaemonStop: @unchecked Sendable {
    // @unchecked: `stopping` and `sleeper` are guarded by `lock`.
    private let lock = NSLock()
    private var stopping = false
    private var sleeper: Task<Void, Never>?

    /// Whether a stop was asked for.
    var requested: Bool { lock.withLock { stopping } }

    /// Asks for the stop; a `sleep` in progress returns now.
    func request() {
        lock.withLock {
            stopping = true
            sleeper?.cancel()
        }
    }

    /// Sleeps for `duration`, or until `request()`.
    func sleep(for duration: Duration) async {
        let task = Task<Void, Never> { _ = try? await Task.sleep(for: duration) }
        let stopped = lock.withLock {
            sleeper = task
            return stopping
        }
        if stopped { task.cancel() }
        await task.value
        lock.withLock { sleeper = nil }
    }

    /// Calls `handler` once, on a thread of its own, when SIGTERM or SIGINT first arrives.
    ///
    /// The signal handler only writes the signal number to a pipe (write(2) is safe in a
    /// handler; Swift code is not); the thread reading the pipe unblocks both signals for itself,
    /// so they are received even when the parent started this process with them blocked.
    /// - Throws: `AgentStateError` when the pipe cannot be made.
    static func onSignals(_ handler: @escaping @Sendable (Int32) -> Void) throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else {
            throw AgentStateError("cannot watch for SIGTERM (pipe: \(String(cString: strerror(errno))))")
        }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // Never block in the handler: a full pipe already holds a stop request.
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        stopSignalPipe = fds[1]
        signal(SIGTERM, writeStopSignal)
        signal(SIGINT, writeStopSignal)
        let readEnd = fds[0]
        let thread = Thread {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGTERM)
            sigaddset(&set, SIGINT)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            var byte: UInt8 = 0
            while true {
                let n = read(readEnd, &byte, 1)
                if n == 1 { handler(Int32(byte)); return }
                if n < 0, errno == EINTR { continue }
                return
            }
        }
        thread.name = "helpline-signals"
        thread.start()
    }
}

/// The write end of `DaemonStop`'s pipe, for the signal handler.
// nonisolated(unsafe): set once in `DaemonStop.onSignals` before the handler is installed, and
// only read afterwards (by the handler).
nonisolated(unsafe) private var stopSignalPipe: Int32 = -1

/// The SIGTERM/SIGINT handler: async-signal-safe, it only writes the signal number to the pipe.
private func writeStopSignal(_ signal: Int32) {
    var byte = UInt8(truncatingIfNeeded: signal)
    _ = write(stopSignalPipe, &byte, 1)
}
