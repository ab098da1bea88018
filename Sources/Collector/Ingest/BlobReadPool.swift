import Dispatch
import Foundation
import Hummingbird

/// Runs technicians' reads of stored bundles (journal pages, members) off the request
/// executor: at most `limit` at once on their own threads, each within a time budget.
///
/// Reading a journal page inflates the blob from its start, which can take seconds for a
/// large bundle and a deep offset; on the shared executor two such reads would stall
/// heartbeats and uploads for every host. One more read than `limit` answers 503 with
/// Retry-After at once; a read past its budget stops and answers 503 `read_too_slow`.
public final class BlobReadPool: Sendable {
    /// Reads allowed at once (`max_concurrent_reads`).
    public let limit: Int
    /// Longest one read may take (`read_time_budget_seconds`).
    public let budget: Duration
    private let retryAfter: Int
    private let slots: Slots
    private let queue = DispatchQueue(label: "helpline.blob-reads", qos: .utility, attributes: .concurrent)
    private let metrics: CollectorMetrics?

    /// Creates the pool.
    public init(limit: Int, budget: Duration, retryAfter: Int, metrics: CollectorMetrics? = nil) {
        self.limit = limit
        self.budget = budget
        self.retryAfter = retryAfter
        self.slots = Slots(limit: limit)
        self.metrics = metrics
    }

    private actor Slots {
        let limit: Int
        var taken = 0
        init(limit: Int) { self.limit = limit }
        func take() -> Int? {
            guard taken < limit else { return nil }
            taken += 1
            return taken
        }
        func give() -> Int {
            taken -= 1
            return taken
        }
    }

    /// Runs `work` on the pool with its deadline.
    /// - Throws: `APIError` 503 when the pool is full or the budget ran out; else what `work` throws.
    public func run<T: Sendable>(_ work: @escaping @Sendable (ContinuousClock.Instant) throws -> T) async throws -> T {
        guard let now = await slots.take() else {
            throw APIError.overloaded(.serviceUnavailable, code: "too_many_reads",
                                      "\(limit) bundle reads are running already (max_concurrent_reads); retry after \(retryAfter) s",
                                      retryAfter: retryAfter)
        }
        metrics?.readsInFlight.record(now)
        let deadline = ContinuousClock.now + budget
        do {
            let value = try await withCheckedThrowingContinuation { (done: CheckedContinuation<T, any Error>) in
                queue.async { done.resume(with: Result { try work(deadline) }) }
            }
            let left = await slots.give()
            metrics?.readsInFlight.record(left)
            return value
        } catch is BundleArchive.ReadBudgetExceeded {
            let left = await slots.give()
            metrics?.readsInFlight.record(left)
            let (seconds, _) = budget.components
            throw APIError.overloaded(.serviceUnavailable, code: "read_too_slow",
                                      "reading the bundle took longer than \(seconds) s (read_time_budget_seconds); narrow the filter (since, until, unit, priority) or page from an earlier offset",
                                      retryAfter: retryAfter)
        } catch {
            let left = await slots.give()
            metrics?.readsInFlight.record(left)
            throw error
        }
    }
}
