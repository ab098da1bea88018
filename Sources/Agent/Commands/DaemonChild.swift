import Foundation

/// One short-lived child of the daemon, started from its own executable: a heartbeat
/// (`helpline daemon --heartbeat-once`) or a check-in (`helpline daemon --check-in-once`).
///
/// Why a child: a heartbeat runs five probes, JSON encoding and libcurl; a check-in decodes
/// the collector's answers, may collect bundles and starts notifications; every page of code
/// and data either touches would stay resident in a long-running process afterwards (the
/// check-in alone took the daemon at rest from 17 to 29 MB; BENCHMARKS.md, "Agent daemon at
/// rest, small"). The child's pages go away with it; the daemon only waits, and keeps
/// systemd's watchdog fed meanwhile.
struct DaemonChild: Sendable {
    /// Exit code: the child did its work (a heartbeat: the collector took it).
    static let delivered: Int32 = 0
    /// Exit code: not done; the child has logged why.
    static let notDelivered: Int32 = 1

    /// What the child is, for the daemon's log ("heartbeat", "check-in").
    var what: String
    /// Its arguments after argv[0].
    var arguments: [String]
    /// The longest it may take; past it the child is killed so the daemon's loop goes on.
    var deadline: Duration

    /// How the child ended.
    enum Outcome: Sendable, Equatable {
        /// Exit 0: done.
        case delivered
        /// Exit 1: not done (the child said why on stderr, the daemon's journal).
        case notDelivered
        /// Could not start, was killed, or ended otherwise; the text says how.
        case failed(String)
    }

    /// Variables only the daemon itself may act on: systemd accepts notifications from the
    /// main process only (`NotifyAccess=main`), so a child that sent `WATCHDOG=1` would only
    /// fill the journal with refusals.
    static let daemonOnlyEnvironment = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"]

    /// Starts `/proc/self/exe` with `arguments`, standard streams inherited and the
    /// environment less `daemonOnlyEnvironment`, and waits at most `deadline` for it, telling
    /// systemd's watchdog the daemon is alive meanwhile.
    func run() async -> Outcome {
        await withCheckedContinuation { continuation in
            // A thread of its own: waiting for a child is blocking.
            let waiter = Thread { continuation.resume(returning: spawnAndWait()) }
            waiter.name = "helpline-\(what)"
            waiter.start()
        }
    }

    private func spawnAndWait() -> Outcome {
        var environment = ProcessInfo.processInfo.environment
        for name in Self.daemonOnlyEnvironment { environment[name] = nil }
        let child: ChildProcess.Running
        do {
            // /proc/self/exe: the running binary even if a package upgrade replaced the file;
            // argv[0] as the daemon's own, so `ps` shows `helpline daemon --heartbeat-once`.
            // Through ChildProcess: the child starts with no signal blocked, so systemd's
            // SIGTERM at a stop reaches it.
            child = try ChildProcess.spawn("/proc/self/exe", arguments, argv0: CommandLine.arguments.first ?? "helpline",
                                           environment: environment, stdout: .inherit, stderr: .inherit)
        } catch {
            return .failed("could not start a \(what) process: \(error)")
        }

        let end = ContinuousClock.now + deadline
        let ping = ServiceNotifier.watchdogInterval
        var nextPing = ContinuousClock.now
        while child.isRunning {
            let now = ContinuousClock.now
            if now >= end {
                child.wait(upTo: .zero)
                return .failed("the \(what) process took longer than \(deadline) and was stopped")
            }
            // A check-in may collect several bundles: longer than the watchdog allows one tick.
            if let ping, now >= nextPing {
                ServiceNotifier.alive()
                nextPing = now + ping
            }
            usleep(50_000)
        }
        if let signal = child.signal { return .failed("the \(what) process ended on signal \(signal)") }
        switch child.exitStatus ?? -1 {
        case Self.delivered: return .delivered
        case Self.notDelivered: return .notDelivered
        case let code: return .failed("the \(what) process exited with \(code)")
        }
    }
}
