import Foundation

/// Hands byte chunks from a producer thread to a consumer running on a thread of its own,
/// so JSON encoding (producer) and deflate (consumer) overlap on two cores.
///
/// At most `depth` chunks wait at once, so memory stays bounded whatever the volume.
/// The first error thrown by the consumer is rethrown to the producer.
final class ChunkPipe: @unchecked Sendable {
    // @unchecked: every mutable field is guarded by `condition`.
    private let condition = NSCondition()
    private var queue: [[UInt8]] = []
    private var closed = false
    private var failure: (any Error)?
    private var finishedConsumer = false
    private let depth: Int

    /// Starts the consumer thread running `consume` for each chunk.
    init(depth: Int = 4, consume: @escaping @Sendable ([UInt8]) throws -> Void) {
        self.depth = depth
        let t = Thread { [self] in self.drain(consume) }
        t.name = "helpline-deflate"
        t.start()
    }

    private func drain(_ consume: ([UInt8]) throws -> Void) {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty && closed {
                finishedConsumer = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let chunk = queue.removeFirst()
            condition.broadcast()
            let failed = failure != nil
            condition.unlock()
            if failed { continue }
            do { try consume(chunk) } catch {
                condition.lock()
                failure = error
                condition.unlock()
            }
        }
    }

    /// Queues a chunk, waiting while `depth` chunks are already queued.
    /// - Throws: the consumer's error, if it failed.
    func send(_ chunk: [UInt8]) throws {
        condition.lock()
        defer { condition.unlock() }
        while queue.count >= depth && failure == nil { condition.wait() }
        if let failure { throw failure }
        queue.append(chunk)
        condition.broadcast()
    }

    /// Waits until every chunk was consumed.
    /// - Throws: the consumer's error, if it failed.
    func finish() throws {
        condition.lock()
        closed = true
        condition.broadcast()
        while !finishedConsumer { condition.wait() }
        let failure = self.failure
        condition.unlock()
        if let failure { throw failure }
    }
}
