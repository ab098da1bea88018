import Foundation

/// Threads of their own for uploads: reading the body, inflating, parsing, diagnosing and
/// fsyncing a bundle run here (as the upload task's preferred executor), not on Swift's
/// cooperative pool, which has one thread per core and serves every other request.
///
/// Measured with the load test (Tests/load): with the upload work on the cooperative pool,
/// 2 bundles/s on 2 cores pushed heartbeat p99 from 0.08 s to 2.2 s, since both pool threads
/// sat in rule matching while heartbeats, /metrics and even 429 answers queued behind them.
/// On these threads the kernel shares the cores between uploads and everything else.
public final class IngestExecutor: TaskExecutor, @unchecked Sendable {
    // @unchecked: `jobs` is guarded by `condition`.
    /// The collector's pool: one thread per core.
    public static let shared = IngestExecutor(threads: max(1, ProcessInfo.processInfo.activeProcessorCount))

    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var head = 0

    /// Starts `threads` worker threads (they live as long as the process).
    public init(threads: Int) {
        for i in 0..<threads {
            let thread = Thread { [self] in work() }
            thread.name = "helpline-ingest-\(i)"
            thread.start()
        }
    }

    /// Runs CPU-heavy synchronous work (bcrypt's deliberate ~0.1 s) on these threads: the
    /// collector's tasks run on its event loops (`HelplineCollector`), and work like that
    /// there would hold every connection of the loop.
    public static func run<T: Sendable>(_ body: @Sendable () -> T) async -> T {
        await withTaskExecutorPreference(shared) { body() }
    }

    /// Queues a job; a worker runs it.
    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        condition.lock()
        jobs.append(job)
        condition.signal()
        condition.unlock()
    }

    private func work() {
        while true {
            condition.lock()
            while head == jobs.count { condition.wait() }
            let job = jobs[head]
            head += 1
            if head > 1024, head * 2 > jobs.count {
                jobs.removeFirst(head)
                head = 0
            }
            condition.unlock()
            job.runSynchronously(on: asUnownedTaskExecutor())
        }
    }
}
