import Foundation

/// Writes a failing batch of logged heartbeats one heartbeat per transaction, so that a
/// heartbeat the store refuses on its own (whatever in it the store cannot take) does not
/// hold back the heartbeats around it, nor the log behind them, for ever.
///
/// The store is trusted to work only when some heartbeat of the batch is stored on its own:
/// when every one fails (or the first `failuresBeforeBlamingTheStore` do), the fault is the store's (a full disk, a lost connection), nothing
/// is set aside, and `storeFailure` says why; the caller tries the batch again later. A
/// heartbeat that failed on its own is tried once more after the others; failing again,
/// it is set aside. Last, the batch's log mark is written on its own, so the log moves past
/// what was set aside.
///
/// A plan, not a loop, so the recorder's thread (blocking writes) and async callers drive
/// it alike: `while let step = plan.next() { plan.record(write(step)) }`.
struct HeartbeatIsolation {
    /// One write: the batch's heartbeats at `indexes` (none: the mark alone), with `mark`.
    struct Step {
        let indexes: [Int]
        let mark: HeartbeatLogMark
    }

    private enum Phase { case first(Int), again(Int), mark, done }

    /// Heartbeats failing on their own, none stored yet, after which the store is blamed
    /// without trying the rest (a store that is down fails every write; this spares writing
    /// a whole batch one at a time each second).
    static let failuresBeforeBlamingTheStore = 8

    private let count: Int
    private let mark: HeartbeatLogMark
    private var phase: Phase
    private var failedOnce: [(index: Int, error: any Error)] = []
    /// Indexes of the heartbeats stored on their own.
    private(set) var stored: [Int] = []
    /// The heartbeats refused twice on their own while others were stored, with the store's error.
    private(set) var setAside: [(index: Int, error: any Error)] = []
    /// Set when the store itself failed: every heartbeat failed on its own, or the mark could
    /// not be written. The batch is then to be tried again as it was.
    private(set) var storeFailure: (any Error)?

    /// - Parameters:
    ///   - count: heartbeats in the batch.
    ///   - mark: the batch's mark; each heartbeat is written with its key and no value (the
    ///     mark stays put) and `replay` on, since an earlier try may have committed.
    init(count: Int, mark: HeartbeatLogMark) {
        self.count = count
        self.mark = mark
        phase = count > 0 ? .first(0) : .mark
    }

    /// The next write to make, or nil when done.
    func next() -> Step? {
        let single = HeartbeatLogMark(key: mark.key, value: nil, replay: true)
        switch phase {
        case .first(let i): return Step(indexes: [i], mark: single)
        case .again(let j): return Step(indexes: [failedOnce[j].index], mark: single)
        case .mark: return mark.value == nil ? nil : Step(indexes: [], mark: mark)
        case .done: return nil
        }
    }

    /// What the step `next()` gave did.
    mutating func record(_ outcome: Result<Void, any Error>) {
        switch phase {
        case .first(let i):
            switch outcome {
            case .success: stored.append(i)
            case .failure(let error): failedOnce.append((i, error))
            }
            if i + 1 < count, !(stored.isEmpty && failedOnce.count >= Self.failuresBeforeBlamingTheStore) {
                phase = .first(i + 1)
            } else if stored.isEmpty {
                storeFailure = failedOnce.first?.error
                phase = .done
            } else {
                phase = failedOnce.isEmpty ? .mark : .again(0)
            }
        case .again(let j):
            switch outcome {
            case .success: stored.append(failedOnce[j].index)
            case .failure(let error): setAside.append((failedOnce[j].index, error))
            }
            phase = j + 1 < failedOnce.count ? .again(j + 1) : .mark
        case .mark:
            if case .failure(let error) = outcome { storeFailure = error }
            phase = .done
        case .done:
            break
        }
    }
}

extension HeartbeatIsolation {
    /// Runs the plan for `rows` through the store's async API.
    static func run(_ rows: [HeartbeatRow], mark: HeartbeatLogMark, store: any CollectorStore) async -> HeartbeatIsolation {
        var plan = HeartbeatIsolation(count: rows.count, mark: mark)
        while let step = plan.next() {
            do {
                try await store.recordHeartbeats(step.indexes.map { rows[$0] }, logMark: step.mark)
                plan.record(.success(()))
            } catch {
                plan.record(.failure(error))
            }
        }
        return plan
    }

    /// Runs the plan for `rows` on the caller's thread (`BlockingHeartbeatWriter`).
    static func run(_ rows: [HeartbeatRow], mark: HeartbeatLogMark, writer: any BlockingHeartbeatWriter) -> HeartbeatIsolation {
        var plan = HeartbeatIsolation(count: rows.count, mark: mark)
        while let step = plan.next() {
            plan.record(Result { try writer.recordHeartbeatsBlocking(step.indexes.map { rows[$0] }, logMark: step.mark) })
        }
        return plan
    }
}
