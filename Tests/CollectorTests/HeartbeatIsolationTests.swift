import Foundation
import Testing
@testable import Collector

/// The plan that writes a failing batch one heartbeat at a time (`HeartbeatIsolation`).
@Suite struct HeartbeatIsolationTests {
    struct Refused: Error {}

    /// Runs a plan over `count` heartbeats where the write fails when `fails` says so;
    /// returns the plan and the steps it took.
    static func run(_ count: Int, mark: String? = "1:10", _ fails: (HeartbeatIsolation.Step, Int) -> Bool) -> (HeartbeatIsolation, [HeartbeatIsolation.Step]) {
        var plan = HeartbeatIsolation(count: count, mark: HeartbeatLogMark(key: "k", value: mark))
        var steps: [HeartbeatIsolation.Step] = []
        while let step = plan.next() {
            steps.append(step)
            #expect(steps.count <= 3 * count + 1, "the plan does not end")
            if steps.count > 3 * count + 1 { break }
            plan.record(fails(step, steps.count) ? .failure(Refused()) : .success(()))
        }
        return (plan, steps)
    }

    @Test func eachHeartbeatIsWrittenAloneThenTheRefusedOnesAgainThenTheMark() {
        let (plan, steps) = Self.run(5) { step, _ in step.indexes == [2] }
        #expect(steps.map(\.indexes) == [[0], [1], [2], [3], [4], [2], []])
        // Each heartbeat with the key, no value (the mark stays put), and history de-duplicated.
        #expect(steps.dropLast().allSatisfy { $0.mark == HeartbeatLogMark(key: "k", value: nil, replay: true) })
        #expect(steps.last?.mark == HeartbeatLogMark(key: "k", value: "1:10"))
        #expect(plan.stored == [0, 1, 3, 4])
        #expect(plan.setAside.map(\.index) == [2])
        #expect(plan.storeFailure == nil)
    }

    @Test func aHeartbeatThatFailedOnceAndIsTakenTheSecondTimeIsStored() {
        let (plan, _) = Self.run(3) { step, n in step.indexes == [0] && n == 1 }
        #expect(plan.stored == [1, 2, 0])
        #expect(plan.setAside.isEmpty && plan.storeFailure == nil)
    }

    @Test func whenEveryOneFailsTheStoreIsBlamedAndNothingIsSetAside() {
        let (plan, steps) = Self.run(4) { _, _ in true }
        #expect(steps.map(\.indexes) == [[0], [1], [2], [3]])
        #expect(plan.storeFailure is Refused)
        #expect(plan.setAside.isEmpty && plan.stored.isEmpty)
    }

    @Test func aStoreThatFailsTheFirstEightIsBlamedWithoutTryingTheRest() {
        let (plan, steps) = Self.run(5000) { _, _ in true }
        #expect(steps.count == HeartbeatIsolation.failuresBeforeBlamingTheStore)
        #expect(plan.storeFailure != nil)
        // One stored among the first eight is enough to go on.
        let (other, _) = Self.run(20) { step, _ in step.indexes != [7] && step.indexes.first.map { $0 < 19 } == true }
        #expect(other.storeFailure == nil)
        #expect(other.stored == [7, 19])
        #expect(other.setAside.count == 18)
    }

    @Test func aMarkThatCannotBeWrittenIsTheStoresFailureAndWithoutAValueNoMarkIsWritten() {
        let (plan, _) = Self.run(2) { step, _ in step.indexes.isEmpty }
        #expect(plan.storeFailure is Refused)
        let (none, steps) = Self.run(2, mark: nil) { _, _ in false }
        #expect(steps.map(\.indexes) == [[0], [1]])
        #expect(none.storeFailure == nil && none.stored == [0, 1])
    }
}
