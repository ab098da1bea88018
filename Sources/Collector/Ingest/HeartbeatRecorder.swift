import Foundation
import Logging
import Synchronization

/// Group commit for heartbeats: requests that arrive while a batch is being written wait
/// for the next batch, and each waits until its own row is committed before it is
/// answered. One transaction carries many heartbeats, which is what lets one SQLite
/// writer keep up with thousands of hosts.
///
/// The queue is behind a lock, not an actor: a request only appends to it, and an actor
/// hop per heartbeat (the recorder was busy handing batches to the store whenever the
/// fleet was) cost a suspension and a wake-up of the request's task on top of the one
/// spent waiting for the commit.
public final class HeartbeatRecorder: Sendable {
    private struct Queue {
        var pending: [(row: HeartbeatRow, done: CheckedContinuation<Void, any Error>)] = []
        var flushing = false
    }

    private let store: any CollectorStore
    private let metrics: CollectorMetrics
    private let maxBatch: Int
    private let queue = Mutex(Queue())

    /// Creates a recorder.
    public init(store: any CollectorStore, metrics: CollectorMetrics, maxBatch: Int = 1000) {
        self.store = store
        self.metrics = metrics
        self.maxBatch = max(1, maxBatch)
    }

    /// Records a heartbeat; returns once it is committed.
    /// - Throws: the store's error when its batch failed.
    public func record(_ row: HeartbeatRow) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            let (depth, start) = queue.withLock { q in
                q.pending.append((row, done))
                defer { q.flushing = true }
                return (q.pending.count, !q.flushing)
            }
            metrics.heartbeatQueueDepth.record(depth)
            if start {
                Task { await self.flush() }
            }
        }
    }

    /// Writes batches until the queue is empty; one runs at a time (`flushing`).
    private func flush() async {
        while true {
            let next: (batch: ArraySlice<(row: HeartbeatRow, done: CheckedContinuation<Void, any Error>)>, depth: Int)? = queue.withLock { q in
                guard !q.pending.isEmpty else {
                    q.flushing = false
                    return nil
                }
                let count = min(maxBatch, q.pending.count)
                let batch = q.pending[..<count]
                q.pending.removeFirst(count)
                return (batch, q.pending.count)
            }
            guard let next else { return }
            let batch = next.batch
            metrics.heartbeatQueueDepth.record(next.depth)
            do {
                try await store.recordHeartbeats(batch.map(\.row))
                metrics.heartbeatsAccepted.increment(by: batch.count)
                for item in batch { item.done.resume() }
            } catch {
                for item in batch { item.done.resume(throwing: error) }
            }
        }
    }
}
