import Foundation
import Logging

/// Group commit for heartbeats: requests that arrive while a batch is being written wait
/// for the next batch, and each waits until its own row is committed before it is
/// answered. One transaction carries many heartbeats, which is what lets one SQLite
/// writer keep up with thousands of hosts.
public actor HeartbeatRecorder {
    private let store: any CollectorStore
    private let metrics: CollectorMetrics
    private let maxBatch: Int
    private var pending: [(row: HeartbeatRow, done: CheckedContinuation<Void, any Error>)] = []
    private var flushing = false

    /// Creates a recorder.
    public init(store: any CollectorStore, metrics: CollectorMetrics, maxBatch: Int = 1000) {
        self.store = store
        self.metrics = metrics
        self.maxBatch = maxBatch
    }

    /// Records a heartbeat; returns once it is committed.
    /// - Throws: the store's error when its batch failed.
    public func record(_ row: HeartbeatRow) async throws {
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            pending.append((row, done))
            metrics.heartbeatQueueDepth.record(pending.count)
            if !flushing {
                flushing = true
                Task { await self.flush() }
            }
        }
    }

    private func flush() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            metrics.heartbeatQueueDepth.record(pending.count)
            do {
                try await store.recordHeartbeats(batch.map(\.row))
                metrics.heartbeatsAccepted.increment(by: batch.count)
                for item in batch { item.done.resume() }
            } catch {
                for item in batch { item.done.resume(throwing: error) }
            }
        }
        flushing = false
    }
}
