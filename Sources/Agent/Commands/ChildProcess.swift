import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program with `posix_spawn` and waits for it, with a deadline.
///
/// Not Foundation's `Process`: on Linux its `run()` reads each `/proc/self/fd` entry's
/// whole 256-byte name and can read past the end of glibc's buffer, a rare SIGSEGV in
/// `memcpy` (swift-corelibs-foundation pull request 5472; it crashed a test run here).
/// The daemon starts a child for each desktop notice, so it must not crash that way.
///
/// Standard input is the given bytes (written while the outputs are read, so neither side
/// can block the other) or /dev/null; standard output and error are captured, sent to
/// /dev/null or inherited. No other descriptor reaches the child: its pipes are made
/// close-on-exec, and everything from 3 up is closed in the child, as `Process` does.
public enum ChildProcess {
    /// Where a standard output goes.
    public enum Output: Sendable { case capture, discard, inherit }

    /// How a run ended.
    public struct Outcome: Sendable {
        /// The exit status, or nil when a signal ended it.
        public let exitStatus: Int32?
        /// The signal that ended it (9 when the deadline did), or nil.
        public let signal: Int32?
        /// Whether it ran past the deadline and was killed.
        public let timedOut: Bool
        /// What it wrote to the captured outputs (empty otherwise).
        public let output: [UInt8]
        public let error: [UInt8]
    }

    /// What went wrong starting it.
    public struct SpawnError: Error, CustomStringConvertible {
        public let description: String
    }

    /// Runs `executable` with `arguments` until it exits, or kills it (SIGKILL) once
    /// `timeout` has passed and reaps it.
    /// - Parameters:
    ///   - environment: its whole environment; nil inherits this process's.
    ///   - directory: its working directory; nil keeps this process's.
    ///   - input: bytes for its standard input; nil gives it /dev/null. A child that exits
    ///     without reading them all is not an error.
    ///   - timeout: nil waits as long as it runs (a pager the user reads in).
    /// - Throws: `SpawnError` when it cannot be started (missing, not executable).
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                           directory: String? = nil, input: [UInt8]? = nil, stdout: Output = .capture, stderr: Output = .capture,
                           timeout: Duration? = .seconds(60)) throws -> Outcome {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // Every descriptor this function opens; closed on return.
        var opened: [Int32] = []
        defer { for fd in opened where fd >= 0 { close(fd) } }

        func pipePair() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [-1, -1]
            guard GNU.pipe2(&fds, O_CLOEXEC) == 0 else { throw SpawnError(description: "could not make a pipe: \(String(cString: strerror(errno)))") }
            opened += fds
            return (fds[0], fds[1])
        }
        var stdinWrite: Int32 = -1
        if input != nil {
            let p = try pipePair()
            posix_spawn_file_actions_adddup2(&actions, p.read, 0)
            stdinWrite = p.write
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        var reads: [(fd: Int32, stream: Int)] = []
        for (stream, output) in [(1, stdout), (2, stderr)] {
            switch output {
            case .inherit: break
            case .discard: posix_spawn_file_actions_addopen(&actions, Int32(stream), "/dev/null", O_WRONLY, 0)
            case .capture:
                let p = try pipePair()
                posix_spawn_file_actions_adddup2(&actions, p.write, Int32(stream))
                reads.append((p.read, stream))
            }
        }
        if let directory { _ = GNU.addchdir(&actions, directory) }
        // Whatever else this process holds open without close-on-exec stays out of the child.
        _ = GNU.addclosefrom(&actions, 3)

        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { env in env.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for p in envp ?? [] { free(p) } }

        var pid: pid_t = 0
        let rc = envp.map { envp in posix_spawn(&pid, executable, &actions, nil, argv, envp) }
            ?? posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw SpawnError(description: "could not start \(executable): \(String(cString: strerror(rc)))") }
        // The child's ends: closed here so a read sees end-of-file once the child is gone.
        for (i, fd) in opened.enumerated() where fd != stdinWrite && !reads.contains(where: { $0.fd == fd }) {
            close(fd)
            opened[i] = -1
        }

        let deadline = timeout.map { ContinuousClock.now + $0 }
        var captured: [Int: [UInt8]] = [1: [], 2: [], 3: []]
        var pending = input.map { ArraySlice($0) } ?? []
        var open = reads
        var status: Int32 = 0
        var exited = false
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if !exited {
                let r = waitpid(pid, &status, WNOHANG)
                if r == pid { exited = true } else if r < 0, errno != EINTR { exited = true }
            }
            // Done once it exited and every captured output reached its end (a grandchild
            // holding a pipe open past the deadline does not keep this waiting).
            if exited, open.isEmpty { break }
            if let deadline, ContinuousClock.now >= deadline {
                if !exited {
                    kill(pid, SIGKILL)
                    _ = waitpid(pid, &status, 0)
                    timedOut = true
                }
                break
            }
            var fds = open.map { pollfd(fd: $0.fd, events: Int16(POLLIN), revents: 0) }
            if stdinWrite >= 0 { fds.append(pollfd(fd: stdinWrite, events: Int16(POLLOUT), revents: 0)) }
            // Short waits: the child's exit is seen by polling waitpid.
            _ = poll(&fds, nfds_t(fds.count), exited ? 100 : 20)
            for f in fds where f.revents != 0 {
                if f.fd == stdinWrite {
                    let n = pending.withUnsafeBytes { writeWithoutSIGPIPE(stdinWrite, $0.baseAddress, min($0.count, 65536)) }
                    if n > 0 { pending = pending.dropFirst(n) }
                    if n < 0, errno == EINTR || errno == EAGAIN { continue }
                    if n <= 0 || pending.isEmpty {  // all written, or the child closed it (EPIPE)
                        close(stdinWrite)
                        if let i = opened.firstIndex(of: stdinWrite) { opened[i] = -1 }
                        stdinWrite = -1
                    }
                } else if let i = open.firstIndex(where: { $0.fd == f.fd }) {
                    let n = buffer.withUnsafeMutableBytes { read(f.fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        captured[open[i].stream, default: []] += buffer[..<n]
                    } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                        open.remove(at: i)
                    }
                }
            }
            if pending.isEmpty, stdinWrite >= 0 {
                close(stdinWrite)
                if let i = opened.firstIndex(of: stdinWrite) { opened[i] = -1 }
                stdinWrite = -1
            }
        }
        // WIFEXITED / WEXITSTATUS are macros Swift does not import; the layout is Linux's.
        let signal = status & 0x7f
        return Outcome(exitStatus: signal == 0 ? (status >> 8) & 0xff : nil, signal: signal == 0 ? nil : signal,
                       timedOut: timedOut, output: captured[1] ?? [], error: captured[2] ?? [])
    }

    /// `run` on a thread of its own (waiting for a child blocks), for async callers.
    public static func runInBackground(_ executable: String, _ arguments: [String], environment: [String: String]? = nil,
                                       input: [UInt8]? = nil, stdout: Output = .capture, stderr: Output = .capture,
                                       timeout: Duration) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let waiter = Thread {
                continuation.resume(with: Result {
                    try run(executable, arguments, environment: environment, input: input, stdout: stdout, stderr: stderr, timeout: timeout)
                })
            }
            waiter.name = "helpline-child"
            waiter.start()
        }
    }

    /// `write`, with SIGPIPE blocked on this thread: a child that closed its input makes it
    /// fail with EPIPE instead of ending this process. A SIGPIPE it raised is taken off the
    /// thread's pending set before the mask is restored.
    private static func writeWithoutSIGPIPE(_ fd: Int32, _ bytes: UnsafeRawPointer?, _ count: Int) -> Int {
        var pipeOnly = sigset_t(), old = sigset_t()
        sigemptyset(&pipeOnly)
        sigaddset(&pipeOnly, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &pipeOnly, &old)
        let n = write(fd, bytes, count)
        let saved = errno
        if n < 0, saved == EPIPE {
            var zero = timespec()
            _ = sigtimedwait(&pipeOnly, nil, &zero)
        }
        pthread_sigmask(SIG_SETMASK, &old, nil)
        errno = saved
        return n
    }

    /// glibc functions Swift's Glibc module does not declare (they need `_GNU_SOURCE`),
    /// looked up once by name.
    private enum GNU {
        typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32
        typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, UnsafePointer<CChar>) -> Int32
        /// `pipe2(2)` (glibc 2.9).
        nonisolated(unsafe) static let pipe2: Pipe2 = unsafeBitCast(symbol("pipe2"), to: Pipe2.self)
        typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        /// `posix_spawn_file_actions_addclosefrom_np(3)` (glibc 2.34).
        nonisolated(unsafe) static let addclosefrom: AddClosefrom = unsafeBitCast(symbol("posix_spawn_file_actions_addclosefrom_np"), to: AddClosefrom.self)
        /// `posix_spawn_file_actions_addchdir_np(3)` (glibc 2.29).
        nonisolated(unsafe) static let addchdir: AddChdir = unsafeBitCast(symbol("posix_spawn_file_actions_addchdir_np"), to: AddChdir.self)

        private static func symbol(_ name: String) -> UnsafeMutableRawPointer {
            guard let p = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else {
                fatalError("glibc has no \(name); Helpline needs glibc 2.34 or newer")
            }
            return p
        }
    }
}
