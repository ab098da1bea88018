import Foundation

/// A bounded queue from one thread to another, ending with an outcome: how
/// `BundleReader.read(path:limits:onJournalEntry:)` passes inflated chunks from the thread that
/// reads and inflates the file to the thread that parses them, and parsed journal entries from
/// there to the calling thread, so each stage runs on its own core.
///
/// At most `capacity` items wait at a time: the producer blocks when the consumer falls behind,
/// so memory stays bounded whatever the bundle's size. The producer ends with `finish(_:)` (its
/// outcome or its error); the consumer stops the producer early with `cancel()`.
final class BoundedHandOff<Item: Sendable, Outcome: Sendable>: @unchecked Sendable {
    // @unchecked: every stored property below but `capacity` is read and written only with
    // `condition` locked.
    /// Items waiting at most.
    let capacity: Int

    private let condition = NSCondition()
    private var items: [Item] = []
    private var outcome: Result<Outcome, any Error>?
    private var cancelled = false

    /// A hand-off holding at most `capacity` items.
    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Producer side: queues `item`, waiting while the queue is full.
    /// - Returns: false when the consumer cancelled (the producer should stop).
    func put(_ item: Item) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while items.count >= capacity && !cancelled { condition.wait() }
        guard !cancelled else { return false }
        items.append(item)
        condition.broadcast()
        return true
    }

    /// Producer side: the work is over, with its outcome or its error.
    func finish(_ result: Result<Outcome, any Error>) {
        condition.lock()
        outcome = result
        condition.broadcast()
        condition.unlock()
    }

    /// Consumer side: the next item, waiting for one; nil once the producer finished and every
    /// item was taken (then `result` is set).
    func take() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && outcome == nil { condition.wait() }
        guard !items.isEmpty else { return nil }
        condition.broadcast()
        return items.removeFirst()
    }

    /// Consumer side: how the producer finished (valid once `take()` returned nil).
    var result: Result<Outcome, any Error> {
        condition.lock()
        defer { condition.unlock() }
        return outcome ?? .failure(BundleError(.io, "a bundle reader thread ended without a result"))
    }

    /// True once the consumer cancelled.
    var isCancelled: Bool {
        condition.lock()
        defer { condition.unlock() }
        return cancelled
    }

    /// Consumer side: stop the producer (it sees `put` return false); queued items are dropped.
    func cancel() {
        condition.lock()
        cancelled = true
        items.removeAll()
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
