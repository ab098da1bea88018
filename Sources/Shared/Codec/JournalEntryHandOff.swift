import Foundation

/// A bounded queue of parsed journal entries from the thread that reads a bundle file (inflate,
/// tar, JSON) to the thread that consumes them (`BundleReader.read(path:limits:onJournalEntry:)`),
/// so both halves run on their own core.
///
/// At most `maxBatches` batches of `batchSize` entries wait at a time: the reader blocks when the
/// consumer falls behind, so memory stays bounded whatever the bundle's size. The reader ends with
/// `finish(_:)` (its contents or its error); the consumer stops the reader early with `cancel()`.
final class JournalEntryHandOff: @unchecked Sendable {
    // @unchecked: every stored property below is read and written only with `condition` locked.
    /// Entries per batch: large enough that locking is rare, small enough to stay in cache.
    static let batchSize = 512
    /// Batches waiting at most (about 2 000 entries, a few hundred KB).
    static let maxBatches = 4

    private let condition = NSCondition()
    private var batches: [[JournalEntry]] = []
    private var outcome: Result<BundleContents, any Error>?
    private var cancelled = false

    /// Reader side: queues `batch`, waiting while the queue is full.
    /// - Returns: false when the consumer cancelled (the reader should stop).
    func put(_ batch: [JournalEntry]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while batches.count >= Self.maxBatches && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        batches.append(batch)
        condition.broadcast()
        return true
    }

    /// Reader side: the read is over, with the bundle's contents or the reader's error.
    func finish(_ result: Result<BundleContents, any Error>) {
        condition.lock()
        outcome = result
        condition.broadcast()
        condition.unlock()
    }

    /// Consumer side: the next batch, waiting for one; nil once the reader finished and every
    /// batch was taken (then `outcome` is set).
    func take() -> [JournalEntry]? {
        condition.lock()
        defer { condition.unlock() }
        while batches.isEmpty && outcome == nil { condition.wait() }
        guard !batches.isEmpty else { return nil }
        condition.broadcast()
        return batches.removeFirst()
    }

    /// Consumer side: how the reader finished (valid once `take()` returned nil).
    var result: Result<BundleContents, any Error> {
        condition.lock()
        defer { condition.unlock() }
        return outcome ?? .failure(BundleError(.io, "the bundle reader thread ended without a result"))
    }

    /// True once the consumer cancelled.
    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    /// Consumer side: stop the reader (it sees `put` return false); queued batches are dropped.
    func cancel() {
        condition.lock()
        cancelled = true
        batches.removeAll()
        condition.broadcast()
        condition.unlock()
    }
}

/// A POSIX thread running one closure, joined by `join()`. (Foundation's `Thread` cannot be
/// joined, and a thread that outlives the read would leak its reader.)
struct JoinableThread {
    private let id: pthread_t

    /// Starts `body` on a new thread, or returns nil when the system cannot make one (the caller
    /// then does the work itself).
    static func start(_ body: @escaping @Sendable () -> Void) -> JoinableThread? {
        final class Box: Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var id = pthread_t()
        let rc = pthread_create(&id, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            return nil
        }
        return JoinableThread(id: id)
    }

    /// Waits for the thread's closure to return.
    func join() {
        pthread_join(id, nil)
    }
}
