import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Starts programs with `posix_spawn`: `run` waits for one with a deadline, `spawn` hands back
/// a `Running` child to talk to and stop.
///
/// Not Foundation's `Process`: on Linux its `run()` reads each `/proc/self/fd` entry's
/// whole 256-byte name and can read past the end of glibc's buffer, a rare SIGSEGV in
/// `memcpy` (swift-corelibs-foundation pull request 5472; it crashed a test run here).
/// The daemon starts a child for each desktop notice, so it must not crash that way.
///
/// Standard input is the given bytes (written while the outputs are read, so neither side
/// can block the other) or /dev/null; standard output and error are captured, sent to
/// /dev/null or inherited. No other descriptor reaches the child: its pipes are made
/// close-on-exec, and everything from 3 up is closed in the child, as `Process` does. The
/// child starts with no signal blocked and every signal at its default.
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

    /// A started child: its pid, the read ends of its captured outputs and the write end of
    /// its input (owned here, closed when this goes), and its exit once reaped. Dropping it
    /// neither stops nor reaps the child: `wait` first.
    public final class Running: @unchecked Sendable {
        // @unchecked: used from one thread at a time (a test, or `run`'s loop).
        public let pid: pid_t
        /// Read ends of captured standard output and error (-1 when not captured).
        public let stdout: Int32
        public let stderr: Int32
        /// Write end of its standard input (-1 when it reads /dev/null, or once closed).
        public private(set) var stdin: Int32
        /// Its wait status once reaped.
        public private(set) var status: Int32?

        init(pid: pid_t, stdin: Int32, stdout: Int32, stderr: Int32) {
            self.pid = pid; self.stdin = stdin; self.stdout = stdout; self.stderr = stderr
        }

        /// Whether it has not exited yet (reaps it if it has).
        public var isRunning: Bool {
            guard status == nil else { return false }
            var st: Int32 = 0
            let r = waitpid(pid, &st, WNOHANG)
            if r == pid { status = st } else if r < 0, errno != EINTR { status = -1 }
            return status == nil
        }

        /// The exit status, or nil while running or when a signal ended it.
        public var exitStatus: Int32? { status.flatMap { $0 & 0x7f == 0 ? ($0 >> 8) & 0xff : nil } }
        /// The signal that ended it, or nil.
        public var signal: Int32? { status.flatMap { $0 & 0x7f == 0 ? nil : $0 & 0x7f } }

        /// Sends `sig` (SIGTERM by default) unless it was reaped already.
        public func send(_ sig: Int32 = SIGTERM) {
            if status == nil { kill(pid, sig) }
        }

        /// Waits up to `timeout` for it to exit; past it, SIGKILL and reap.
        /// - Returns: whether it exited by itself.
        @discardableResult
        public func wait(upTo timeout: Duration) -> Bool {
            let deadline = ContinuousClock.now + timeout
            while isRunning, ContinuousClock.now < deadline { usleep(10_000) }
            guard isRunning else { return true }
            kill(pid, SIGKILL)
            var st: Int32 = 0
            while waitpid(pid, &st, 0) < 0, errno == EINTR {}
            status = st
            return false
        }

        /// Closes its input (it then reads end-of-file).
        public func closeInput() {
            if stdin >= 0 { close(stdin); stdin = -1 }
        }

        deinit {
            for fd in [stdin, stdout, stderr] where fd >= 0 { close(fd) }
        }
    }

    /// Starts `executable` with `arguments` and returns at once.
    /// - Parameters:
    ///   - environment: its whole environment; nil inherits this process's.
    ///   - directory: its working directory; nil keeps this process's.
    ///   - input: whether its standard input is a pipe (`Running.stdin`) or /dev/null.
    ///   - argv0: its `argv[0]` (what `ps` shows), when not `executable`.
    /// - Throws: `SpawnError` when it cannot be started (missing, not executable).
    public static func spawn(_ executable: String, _ arguments: [String], argv0: String? = nil, environment: [String: String]? = nil,
                             directory: String? = nil, input: Bool = false, stdout: Output = .capture, stderr: Output = .capture) throws -> Running {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        // The child's ends of its pipes, closed here once it has them; the parent's, closed on failure.
        var childEnds: [Int32] = []
        var ours: [Int32] = []
        defer { for fd in childEnds { close(fd) } }
        var started = false
        defer { if !started { for fd in ours { close(fd) } } }

        func pipePair() throws -> (read: Int32, write: Int32) {
            var fds: [Int32] = [-1, -1]
            guard GNU.pipe2(&fds, O_CLOEXEC) == 0 else { throw SpawnError(description: "could not make a pipe: \(String(cString: strerror(errno)))") }
            return (fds[0], fds[1])
        }
        var stdinWrite: Int32 = -1
        if input {
            let p = try pipePair()
            childEnds.append(p.read); ours.append(p.write)
            posix_spawn_file_actions_adddup2(&actions, p.read, 0)
            stdinWrite = p.write
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        var reads: [Int32] = [-1, -1]
        for (i, output) in [stdout, stderr].enumerated() {
            switch output {
            case .inherit: break
            case .discard: posix_spawn_file_actions_addopen(&actions, Int32(i + 1), "/dev/null", O_WRONLY, 0)
            case .capture:
                let p = try pipePair()
                childEnds.append(p.write); ours.append(p.read)
                posix_spawn_file_actions_adddup2(&actions, p.write, Int32(i + 1))
                reads[i] = p.read
            }
        }
        if let directory { _ = GNU.addchdir(&actions, directory) }
        // Whatever else this process holds open without close-on-exec stays out of the child.
        _ = GNU.addclosefrom(&actions, 3)

        let argv: [UnsafeMutablePointer<CChar>?] = ([argv0 ?? executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in argv { free(p) } }
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { env in env.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { for p in envp ?? [] { free(p) } }

        // The child starts with no signal blocked and every signal at its default: the
        // calling thread may block some (libdispatch's worker threads block most), and this
        // process ignores SIGPIPE in the daemon; both would otherwise pass to the child, which
        // would then never see a SIGTERM.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t(), all = sigset_t()
        sigemptyset(&none)
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        var pid: pid_t = 0
        let rc = envp.map { envp in posix_spawn(&pid, executable, &actions, &attributes, argv, envp) }
            ?? posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw SpawnError(description: "could not start \(executable): \(String(cString: strerror(rc)))") }
        started = true
        return Running(pid: pid, stdin: stdinWrite, stdout: reads[0], stderr: reads[1])
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
        let child = try spawn(executable, arguments, environment: environment, directory: directory, input: input != nil,
                              stdout: stdout, stderr: stderr)
        let deadline = timeout.map { ContinuousClock.now + $0 }
        var captured: [Int32: [UInt8]] = [:]
        var pending = input.map { ArraySlice($0) } ?? []
        var open = [child.stdout, child.stderr].filter { $0 >= 0 }
        var timedOut = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let exited = !child.isRunning
            // Done once it exited and every captured output reached its end (a grandchild
            // holding a pipe open past the deadline does not keep this waiting).
            if exited, open.isEmpty { break }
            if let deadline, ContinuousClock.now >= deadline {
                if !exited { timedOut = !child.wait(upTo: .zero) }
                break
            }
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if child.stdin >= 0 { fds.append(pollfd(fd: child.stdin, events: Int16(POLLOUT), revents: 0)) }
            // Short waits: the child's exit is seen by polling waitpid.
            _ = poll(&fds, nfds_t(fds.count), exited ? 100 : 20)
            for f in fds where f.revents != 0 {
                if f.fd == child.stdin {
                    let n = pending.withUnsafeBytes { writeWithoutSIGPIPE(child.stdin, $0.baseAddress, min($0.count, 65536)) }
                    if n > 0 { pending = pending.dropFirst(n) }
                    if n < 0, errno == EINTR || errno == EAGAIN { continue }
                    if n <= 0 { child.closeInput() }  // the child closed it (EPIPE)
                } else if let i = open.firstIndex(of: f.fd) {
                    let n = buffer.withUnsafeMutableBytes { read(f.fd, $0.baseAddress, $0.count) }
                    if n > 0 {
                        captured[f.fd, default: []] += buffer[..<n]
                    } else if n == 0 || (errno != EINTR && errno != EAGAIN) {
                        open.remove(at: i)
                    }
                }
            }
            if pending.isEmpty { child.closeInput() }  // all written: it reads end-of-file
        }
        return Outcome(exitStatus: child.exitStatus, signal: child.signal, timedOut: timedOut,
                       output: captured[child.stdout] ?? [], error: captured[child.stderr] ?? [])
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
        typealias AddClosefrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
        /// `pipe2(2)` (glibc 2.9).
        nonisolated(unsafe) static let pipe2: Pipe2 = unsafeBitCast(symbol("pipe2"), to: Pipe2.self)
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
