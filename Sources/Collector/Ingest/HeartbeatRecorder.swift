import Dispatch
import Foundation
import Logging
import ServiceLifecycle
import Shared
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
///
/// With a `HeartbeatLog` and `backlogMax` above 0 (`heartbeat_backlog_max`), every heartbeat
/// is appended to the log first. While fewer than `waitMax` wait to be stored, it is
/// answered once stored, as above; past that (the writer is behind: a surge) it is answered
/// at once, and stored later: batches then grow with the backlog (up to `sortMax`) and are
/// written in host order, in transactions of up to `maxBatch`, so neighbouring hosts share
/// pages instead of each heartbeat touching ten pages of its own, and no request waits for a
/// commit. A batch that fails stays queued and is tried again a second later (its waiting
/// requests are answered: the log has them); a heartbeat whose transactions failed
/// `storeTries` times is written on its own and set aside if the store refuses it alone
/// (`HeartbeatIsolation`). The log keeps everything across a crash (`HeartbeatLog.replay`).
public final class HeartbeatRecorder: Sendable {
    private struct Item {
        let row: HeartbeatRow
        /// The waiting request; nil when already answered.
        var done: CheckedContinuation<Void, any Error>?
        /// Where its log record ends (with a log).
        let end: HeartbeatLog.Position?
        /// Transactions holding it that failed. After one it may have committed all the same
        /// (a connection lost with the COMMIT sent), so its history row is not added twice.
        var failures = 0
        var retried: Bool { failures > 0 }

        /// Answers its waiting request, if any: with a log, the heartbeat is kept whatever
        /// happens to its batch.
        mutating func answer() {
            done?.resume()
            done = nil
        }
    }

    private struct Queue {
        var pending: [Item] = []
        /// Taken by the writer, not yet committed (counts towards the backlog).
        var writing = 0
        var flushing = false
        /// Shutting down: answered-once-logged batches are no longer started (the log keeps
        /// them for the next start).
        var stopping = false
    }

    private let store: any CollectorStore
    private let blocking: (any BlockingHeartbeatWriter)?
    private let metrics: CollectorMetrics
    private let maxBatch: Int
    private let sortMax: Int
    private let log: HeartbeatLog?
    private let backlogMax: Int
    private let waitMax: Int
    private let storeTries: Int
    private let retryAfter: Int
    private let logger: Logger
    private let queue = Mutex(Queue())
    private let drainer = DispatchQueue(label: "helpline.heartbeats")

    /// Creates a recorder. A store that is also a `BlockingHeartbeatWriter` is written from
    /// the recorder's own thread unless `blockingWrites` is false.
    /// - Parameters:
    ///   - maxBatch: the most heartbeats one transaction carries (`heartbeat_batch_max`).
    ///   - sortMax: answered once logged, the most heartbeats taken off the backlog at once
    ///     and put in host order (`heartbeat_sort_max`), written in transactions of `maxBatch`.
    ///   - log: with `backlogMax` above 0, every heartbeat is appended to it first.
    ///   - backlogMax: the most heartbeats logged and not yet stored
    ///     (`heartbeat_backlog_max`); one more answers 503. 0 answers each once stored, unlogged.
    ///   - waitMax: with a log, heartbeats waiting to be stored below which a request waits
    ///     for its commit (`heartbeat_wait_max`); 0 answers every one once logged.
    ///   - storeTries: with a log, failed transactions after which a heartbeat is written on
    ///     its own, and set aside if refused alone (`heartbeat_store_tries`).
    ///   - retryAfter: seconds a refused agent is told to wait.
    public init(store: any CollectorStore, metrics: CollectorMetrics, maxBatch: Int = 5000, sortMax: Int = 20_000, blockingWrites: Bool = true,
                log: HeartbeatLog? = nil, backlogMax: Int = 0, waitMax: Int = 0, storeTries: Int = 3, retryAfter: Int = 5,
                logger: Logger = Logger(label: "helpline.collector.heartbeats")) {
        self.store = store
        self.blocking = blockingWrites ? store as? any BlockingHeartbeatWriter : nil
        self.metrics = metrics
        self.maxBatch = max(1, maxBatch)
        self.sortMax = max(1, sortMax)
        self.log = backlogMax > 0 ? log : nil
        self.backlogMax = log == nil ? 0 : max(0, backlogMax)
        self.waitMax = max(0, waitMax)
        self.storeTries = max(1, storeTries)
        self.retryAfter = retryAfter
        self.logger = logger
    }

    /// Whether batches are written from the recorder's own thread (`BlockingHeartbeatWriter`).
    var drainsOnItsOwnThread: Bool { blocking != nil }

    /// Whether heartbeats are logged first (and answered before they are stored when the writer is behind).
    public var logsHeartbeats: Bool { log != nil }

    /// Heartbeats answered and not yet stored (queued or being written).
    public var backlog: Int { queue.withLock { $0.pending.count + $0.writing } }

    /// Records a heartbeat; returns once it is committed, or, with a log, once it is in the
    /// log and the writer is behind (`waitMax`), its batch failed, or the recorder is stopping.
    /// - Parameter json: the whole heartbeat's JSON, for the log (the row's own lacks its
    ///   processes); nil: `row.heartbeat` encoded, when logged.
    /// - Throws: the store's error when its batch failed (without a log); `APIError` 503 when
    ///   the backlog is full or the log cannot be written.
    public func record(_ row: HeartbeatRow, json: String? = nil) async throws {
        if let log {
            let body = try json ?? String(decoding: try BundleJSON.encoder().encode(row.heartbeat), as: UTF8.self)
            // Most heartbeats of a surge: answered without a suspension.
            if try appendLogged(row, body: body, to: log, done: nil) { return }
            try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
                do { _ = try appendLogged(row, body: body, to: log, done: done) } catch { done.resume(throwing: error) }
            }
            return
        }
        try await withCheckedThrowingContinuation { (done: CheckedContinuation<Void, any Error>) in
            let (depth, start) = queue.withLock { q in
                q.pending.append(Item(row: row, done: done, end: nil))
                defer { q.flushing = true }
                return (q.pending.count, !q.flushing)
            }
            metrics.heartbeatQueueDepth.record(depth)
            if start { startDrain() }
        }
    }

    /// Appends a heartbeat to the log and the queue, under the queue's lock (so the queue is
    /// in log order). Without `done` it does so only when the heartbeat is to be answered at
    /// once (`waitMax` or more wait, or stopping), and returns false, having done nothing,
    /// when the request should wait for its commit instead; with `done` it always does, and
    /// answers `done` itself when stopping.
    /// - Throws: `APIError` 503 when the backlog is full or the log cannot be written.
    private func appendLogged(_ row: HeartbeatRow, body: String, to log: HeartbeatLog,
                              done: CheckedContinuation<Void, any Error>?) throws -> Bool {
        let appended = try queue.withLock { q throws(APIError) -> (depth: Int, start: Bool, stopping: Bool)? in
            let waiting = q.pending.count + q.writing
            if done == nil, waiting < waitMax, !q.stopping { return nil }
            guard waiting < backlogMax else {
                throw APIError.overloaded(.serviceUnavailable, code: "heartbeats_backlogged",
                                          "\(backlogMax) heartbeats are waiting to be stored, the most allowed (heartbeat_backlog_max); retry after \(retryAfter) s",
                                          retryAfter: retryAfter)
            }
            let end: HeartbeatLog.Position
            do { end = try log.append(hostID: row.hostID, receivedAt: row.receivedAt, body: body) } catch {
                logger.error("could not write a heartbeat to the heartbeat log", metadata: ["error": "\(error)"])
                throw APIError.overloaded(.serviceUnavailable, code: "heartbeat_not_logged",
                                          "the collector could not record this heartbeat just now; retry after \(retryAfter) s", retryAfter: retryAfter)
            }
            q.pending.append(Item(row: row, done: q.stopping ? nil : done, end: end))
            defer { q.flushing = true }
            return (q.pending.count + q.writing, !q.flushing, q.stopping)
        }
        guard let appended else { return false }
        if appended.stopping { done?.resume() }
        metrics.heartbeatQueueDepth.record(appended.depth)
        if appended.start { startDrain() }
        return true
    }

    private func startDrain() {
        if let blocking {
            drainer.async { self.drain(blocking) }
        } else {
            Task { await self.flush() }
        }
    }

    /// Takes the next batch off the queue, or clears `flushing` when it is empty (under the
    /// same lock, so a request that appends afterwards starts the next drain).
    private func nextBatch() -> [Item]? {
        let logged = log != nil
        let next: (batch: [Item], depth: Int)? = queue.withLock { q in
            guard !q.pending.isEmpty, !(logged && q.stopping) else {
                q.flushing = false
                return nil
            }
            let count = min(logged ? sortMax : maxBatch, q.pending.count)
            let batch = Array(q.pending[..<count])
            q.pending.removeFirst(count)
            q.writing = count
            return (batch, q.pending.count)
        }
        guard let next else { return nil }
        metrics.heartbeatQueueDepth.record(next.depth)
        return next.batch
    }

    /// At shutdown, with a log: lets the batch being written finish and starts no other, so
    /// the store can be closed; what is still queued is in the log and stored at the next
    /// start, and its waiting requests are answered now. Waits at most `timeout` for the
    /// batch. Without a log it does nothing: every waiting request is answered.
    public func stop(timeout: Duration = .seconds(60)) async {
        guard log != nil else { return }
        queue.withLock { q in
            q.stopping = true
            for i in q.pending.indices { q.pending[i].answer() }
        }
        let deadline = ContinuousClock.now + timeout
        // Until no batch is being written and the drain has seen the flag (it may be waiting
        // out a failed batch's pause).
        while queue.withLock({ $0.writing > 0 || $0.flushing }), ContinuousClock.now < deadline {
            do { try await Task.sleep(for: .milliseconds(20)) } catch { return }  // cancelled: stop waiting
        }
    }

    /// The transactions a batch is written in. Without a log: one, the batch as it came.
    /// With a log: the batch in host order (stable, so a host's later heartbeat stays after
    /// its earlier one), cut into transactions of at most `maxBatch`, the last carrying the
    /// log mark (the batch's furthest record: everything before it was stored by earlier
    /// batches or is in this one).
    private func transactions(_ batch: [Item]) -> [(items: [Item], mark: HeartbeatLogMark?)] {
        guard let log, let end = batch.compactMap(\.end).max() else { return [(batch, nil)] }
        let sorted = batch.enumerated().sorted { ($0.element.row.hostID, $0.offset) < ($1.element.row.hostID, $1.offset) }.map(\.element)
        let cuts = stride(from: 0, to: sorted.count, by: maxBatch).map { Array(sorted[$0..<min($0 + maxBatch, sorted.count)]) }
        return cuts.enumerated().map { i, items in
            (items, HeartbeatLogMark(key: log.markKey, value: i == cuts.count - 1 ? end.description : nil,
                                     replay: items.contains(where: \.retried)))
        }
    }

    /// What became of one transaction of a batch.
    private enum Outcome {
        case stored
        /// Written one heartbeat at a time (`HeartbeatIsolation`): these were set aside.
        case isolated(setAside: [(row: HeartbeatRow, error: any Error)])
        case failed(any Error)
    }

    /// Whether a failed transaction is to be written one heartbeat at a time: with a log,
    /// once one of its heartbeats has failed `storeTries` times in all.
    private func isolates(_ items: [Item]) -> Bool {
        log != nil && items.count > 0 && items.contains { $0.failures + 1 >= storeTries }
    }

    /// The outcome of an isolation plan run to its end.
    private static func outcome(_ plan: HeartbeatIsolation, _ items: [Item]) -> Outcome {
        if let failure = plan.storeFailure { return .failed(failure) }
        return .isolated(setAside: plan.setAside.map { (items[$0.index].row, $0.error) })
    }

    /// After one transaction of a batch was written. Without a log: resumes its requests
    /// with the outcome. With a log: on success counts it (and, with the mark, deletes the
    /// log segments the batch completed) and answers its waiting requests; on failure answers
    /// them too (the log keeps the heartbeats) and puts it and the batch's unwritten rest back
    /// at the head of the queue.
    /// - Returns: whether to stop this batch and wait before the next try.
    private func finish(_ items: [Item], rest: ArraySlice<(items: [Item], mark: HeartbeatLogMark?)>, mark: HeartbeatLogMark?,
                        _ outcome: Outcome) -> Bool {
        if let log {
            switch outcome {
            case .stored, .isolated:
                var setAside = 0
                if case .isolated(let refused) = outcome {
                    setAside = refused.count
                    for (row, error) in refused {
                        logger.error("the store refused a heartbeat on its own, again and again, while it stored the others; it is set aside (not stored)", metadata: [
                            "host": "\(row.hostID)", "received_at": "\(row.receivedAt)", "error": "\(error)",
                        ])
                    }
                    metrics.heartbeatsSetAside.increment(by: setAside)
                }
                queue.withLock { $0.writing -= items.count }
                metrics.heartbeatsAccepted.increment(by: items.count - setAside)
                if let value = mark?.value, let end = HeartbeatLog.Position(value) { log.stored(through: end) }
                for var item in items { item.answer() }
                return false
            case .failed(let error):
                let back = (items + rest.flatMap(\.items)).map { item in
                    var item = item
                    item.answer()
                    item.failures += 1
                    return item
                }
                queue.withLock { q in
                    q.pending.insert(contentsOf: back, at: 0)
                    q.writing = 0
                }
                logger.error("could not store heartbeats; they stay in the heartbeat log and are tried again in 1 s", metadata: [
                    "heartbeats": "\(back.count)", "error": "\(error)",
                ])
                return true
            }
        }
        queue.withLock { $0.writing -= items.count }
        switch outcome {
        case .stored, .isolated:
            metrics.heartbeatsAccepted.increment(by: items.count)
            for item in items { item.done?.resume() }
        case .failed(let error):
            for item in items { item.done?.resume(throwing: error) }
        }
        return false
    }

    /// At shutdown, between two transactions of a batch: puts the rest back (it is in the
    /// log) and answers its waiting requests.
    private func putBackIfStopping(_ rest: ArraySlice<(items: [Item], mark: HeartbeatLogMark?)>) -> Bool {
        queue.withLock { q in
            guard q.stopping else { return false }
            q.pending.insert(contentsOf: rest.flatMap(\.items).map { item in
                var item = item
                item.answer()
                return item
            }, at: 0)
            q.writing = 0
            return true
        }
    }

    /// Writes batches on the drainer's thread until the queue is empty.
    private func drain(_ writer: any BlockingHeartbeatWriter) {
        while let batch = nextBatch() {
            let parts = transactions(batch)
            for (i, part) in parts.enumerated() {
                if i > 0, putBackIfStopping(parts[i...]) { break }
                let rows = part.items.map(\.row)
                var outcome: Outcome
                do {
                    try writer.recordHeartbeatsBlocking(rows, logMark: part.mark)
                    outcome = .stored
                } catch {
                    outcome = .failed(error)
                }
                if case .failed = outcome, let mark = part.mark, isolates(part.items) {
                    let plan = HeartbeatIsolation.run(rows, mark: mark, writer: writer)
                    outcome = Self.outcome(plan, part.items)
                }
                if finish(part.items, rest: parts[(i + 1)...], mark: part.mark, outcome) {
                    Thread.sleep(forTimeInterval: 1)
                    break
                }
            }
        }
    }

    /// Writes batches through the store's async API until the queue is empty; one runs at a
    /// time (`flushing`).
    private func flush() async {
        while let batch = nextBatch() {
            let parts = transactions(batch)
            for (i, part) in parts.enumerated() {
                if i > 0, putBackIfStopping(parts[i...]) { break }
                let rows = part.items.map(\.row)
                var outcome: Outcome
                do {
                    try await store.recordHeartbeats(rows, logMark: part.mark)
                    outcome = .stored
                } catch {
                    outcome = .failed(error)
                }
                if case .failed = outcome, let mark = part.mark, isolates(part.items) {
                    let plan = await HeartbeatIsolation.run(rows, mark: mark, store: store)
                    outcome = Self.outcome(plan, part.items)
                }
                if finish(part.items, rest: parts[(i + 1)...], mark: part.mark, outcome) {
                    try? await Task.sleep(for: .seconds(1))
                    break
                }
            }
        }
    }
}

/// Stops `HeartbeatRecorder` at graceful shutdown, before the store is closed.
struct HeartbeatRecorderService: Service {
    let recorder: HeartbeatRecorder

    func run() async throws {
        try? await gracefulShutdown()
        await recorder.stop()
    }
}
