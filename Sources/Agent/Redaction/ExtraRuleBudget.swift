#if canImport(Glibc)
import Glibc
#endif

/// The processor time organisations' own rules (`ExtraRule`) may spend on one line, counted
/// from the first extra rule that runs on it.
///
/// It counts the redacting thread's CPU time, not wall time: on a busy machine a thread that
/// waits for a core has done no work, and an innocent line must not lose its text because a
/// compiler ran beside the agent (measured: at 5 ms of wall time, 3 of 100,000 ordinary lines
/// ran out during a build). But the thread's CPU clock is a system call (~0.5 µs here) and ICU
/// asks for a check at every start position of a search (~80 times on a journal line), so only
/// every 8th check reads a clock, the monotonic one (~20 ns, no system call), and the CPU clock
/// is read only when wall time says the budget may be spent: CPU time never runs ahead of wall
/// time. Inside one long match ICU asks every ~0.15 ms, so a spent budget is noticed within
/// about a millisecond.
final class ExtraRuleBudget {
    /// The allowance in nanoseconds.
    private let allowance: Int64
    /// The thread's CPU time when the budget started.
    private let cpuStart: Int64
    /// Monotonic time before which the budget cannot be spent.
    private var earliestEnd: Int64
    /// Whether a check found the budget used up; stays true.
    private(set) var spentOut = false
    /// Checks so far.
    private var checks = 0

    /// A budget of `allowance` from now.
    init(_ allowance: Duration) {
        let (seconds, attoseconds) = allowance.components
        self.allowance = seconds * 1_000_000_000 + attoseconds / 1_000_000_000
        cpuStart = Self.nanoseconds(CLOCK_THREAD_CPUTIME_ID)
        earliestEnd = Self.nanoseconds(CLOCK_MONOTONIC) + self.allowance
    }

    /// Whether the budget is used up (and from then on always true).
    func isSpent() -> Bool {
        if spentOut { return true }
        checks &+= 1
        if checks & 7 != 1 { return false }
        let now = Self.nanoseconds(CLOCK_MONOTONIC)
        if now < earliestEnd { return false }
        let used = Self.nanoseconds(CLOCK_THREAD_CPUTIME_ID) - cpuStart
        if used >= allowance {
            spentOut = true
        } else {
            // The thread waited for a core part of the time: the rest cannot end sooner than this.
            earliestEnd = now + (allowance - used)
        }
        return spentOut
    }

    private static func nanoseconds(_ clock: clockid_t) -> Int64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
