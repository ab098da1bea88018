import Dispatch
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
///
/// With a store that can write on the calling thread (`BlockingHeartbeatWriter`: SQLite),
/// the queue is drained on a dispatch queue of the recorder's own: batch after batch on one
/// thread, each request resumed from there as its batch commits. Drained by a task instead,
/// each next batch waited for that task to be scheduled again on an event loop busy with the
/// requests the last commit had just resumed, and the writer sat idle meanwhile: a quarter of
/// the machine's CPU went unused at 64 connections.
public final class HeartbeatRecorder: Sendable {
    private typealias Item = (row: HeartbeatRow, done: CheckedContinuation<Void, any Error>)

    private struct Queue {
        var pending: [Item] = []
        var flushing = false
    }

    private let store: any CollectorStore
    private let blocking: (any BlockingHeartbeatWriter)?
    private let metrics: CollectorMetrics
    private let maxBatch: Int
    private let queue = Mutex(Queue())
    private let drainer = DispatchQueue(label: "helpline.heartbeats")

    /// Creates a recorder. A store that is also a `BlockingHeartbeatWriter` is written from
    /// the recorder's own thread unless `blockingWrites` is false.
    /// - Parameter maxBatch: the most heartbeats one transaction carries.
    public init(store: any CollectorStore, metrics: CollectorMetrics, maxBatch: Int = 1000, blockingWrites: Bool = true) {
        self.store = store
        self.blocking = blockingWrites ? store as? any BlockingHeartbeatWriter : nil
        self.metrics = metrics
        self.maxBatch = max(1, maxBatch)
    }

    /// Whether batches are written from the recorder's own thread (`BlockingHeartbeatWriter`).
    var drainsOnItsOwnThread: Bool { blocking != nil }

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
            guard start else { return }
            if let blocking {
                drainer.async { self.drain(blocking) }
            } else {
                Task { await self.flush() }
            }
        }
    }

    /// Takes the next batch off the queue, or clears `flushing` when it is empty (under the
    /// same lock, so a request that appends afterwards starts the next drain).
    private func nextBatch() -> ArraySlice<Item>? {
        let next: (batch: ArraySlice<Item>, depth: Int)? = queue.withLock { q in
            guard !q.pending.isEmpty else {
                q.flushing = false
                return nil
            }
            let count = min(maxBatch, q.pending.count)
            let batch = q.pending[..<count]
            q.pending.removeFirst(count)
            return (batch, q.pending.count)
        }
        guard let next else { return nil }
        metrics.heartbeatQueueDepth.record(next.depth)
        return next.batch
    }

    /// Resumes a written batch's requests with the outcome.
    private func finish(_ batch: ArraySlice<Item>, _ outcome: Result<Void, any Error>) {
        switch outcome {
        case .success:
            metrics.heartbeatsAccepted.increment(by: batch.count)
            for item in batch { item.done.resume() }
        case .failure(let error):
            for item in batch { item.done.resume(throwing: error) }
        }
    }

    /// Writes batches on the drainer's thread until the queue is empty.
    private func drain(_ writer: any BlockingHeartbeatWriter) {
        while let batch = nextBatch() {
            finish(batch, Result { try writer.recordHeartbeatsBlocking(batch.map(\.row)) })
        }
    }

    /// Writes batches through the store's async API until the queue is empty; one runs at a
    /// time (`flushing`).
    private func flush() async {
        while let batch = nextBatch() {
            do {
                try await store.recordHeartbeats(batch.map(\.row))
                finish(batch, .success(()))
            } catch {
                finish(batch, .failure(error))
            }
        }
    }
}
