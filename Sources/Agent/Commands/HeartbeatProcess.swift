import Foundation

/// One heartbeat in a child process, `helpline daemon --heartbeat-once`, which the daemon
/// starts from its own executable and waits for.
///
/// Why a child: a heartbeat runs five probes, JSON encoding and libcurl, and every page of
/// code and data it touches stays resident in a long-running process afterwards (~8 MB of
/// the daemon at rest; BENCHMARKS.md, "Agent daemon at rest, small"). The child's pages go
/// away with it; the daemon only waits.
enum HeartbeatProcess {
    /// `--heartbeat-once` exit code: the collector took the heartbeat.
    static let delivered: Int32 = 0
    /// `--heartbeat-once` exit code: not delivered; the child has logged why.
    static let notDelivered: Int32 = 1

    /// Longest a heartbeat may take (probes ~1 s, one upload attempt with libcurl's own
    /// timeouts); past it the child is killed so the daemon's loop goes on.
    static let deadline: Duration = .seconds(300)

    /// How the child ended.
    enum Outcome: Sendable, Equatable {
        /// Exit 0: delivered.
        case delivered
        /// Exit 1: not delivered (the child said why on stderr, the daemon's journal).
        case notDelivered
        /// Could not start, was killed, or ended otherwise; the text says how.
        case failed(String)
    }

    /// Starts `/proc/self/exe` with `arguments` (without argv[0]), standard streams and
    /// environment inherited, and waits at most `deadline` for it.
    static func run(arguments: [String], deadline: Duration = deadline) async -> Outcome {
        await withCheckedContinuation { continuation in
            // A thread of its own: waiting for a child is blocking, and the wait is short.
            let waiter = Thread { continuation.resume(returning: spawnAndWait(arguments: arguments, deadline: deadline)) }
            waiter.name = "helpline-heartbeat"
            waiter.start()
        }
    }

    private static func spawnAndWait(arguments: [String], deadline: Duration) -> Outcome {
        // argv[0] as the daemon's own, so `ps` shows `helpline daemon --heartbeat-once`.
        let argv = [CommandLine.arguments.first ?? "helpline"] + arguments
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid: pid_t = 0
        // /proc/self/exe: the running binary even if a package upgrade replaced the file.
        let rc = posix_spawn(&pid, "/proc/self/exe", nil, nil, cArgs, environ)
        guard rc == 0 else { return .failed("could not start a heartbeat process: \(String(cString: strerror(rc)))") }

        let end = ContinuousClock.now + deadline
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 {
                let e = errno
                if e == EINTR { continue }
                return .failed("lost the heartbeat process \(pid): \(String(cString: strerror(e)))")
            }
            if ContinuousClock.now >= end {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                return .failed("the heartbeat process took longer than \(deadline) and was stopped")
            }
            usleep(50_000)
        }
        // WIFEXITED / WEXITSTATUS are macros Swift does not import; the layout is Linux's.
        let signal = status & 0x7f
        guard signal == 0 else { return .failed("the heartbeat process ended on signal \(signal)") }
        switch (status >> 8) & 0xff {
        case delivered: return .delivered
        case notDelivered: return .notDelivered
        case let code: return .failed("the heartbeat process exited with \(code)")
        }
    }
}
