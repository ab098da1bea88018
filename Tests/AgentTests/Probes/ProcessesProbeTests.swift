import Foundation
import Shared
import Testing
@testable import Agent

@Test func processesProbeOnLaptopFixture() throws {
    let out = try ProcessesProbe().collect(fixtureContext(fixturePath("sysroot-laptop")))
    #expect(out.status == .ok)
    let list = try decode(ProcessList.self, out)
    #expect(list.sampleIntervalMS == 500)
    #expect(list.processes.map(\.pid) == [1, 2, 15, 812, 1523, 2210, 3345, 3400, 4100, 4200])
    let byPID = Dictionary(uniqueKeysWithValues: list.processes.map { ($0.pid, $0) })

    let weird = try #require(byPID[3345])
    #expect(weird.name == "my (weird) proc")
    #expect(weird.commandLine == "/home/alice/bin/my (weird) proc --watch /home/alice/My Documents")
    #expect(weird.user == "alice")
    #expect(weird.uid == 1000)
    #expect(weird.ppid == 1523)
    #expect(weird.threads == 2)
    #expect(weird.rssBytes == 8644 * 1024)

    let zombie = try #require(byPID[3400])
    #expect(zombie.state == "Z")
    #expect(zombie.commandLine == "")
    #expect(zombie.rssBytes == 0)

    let kthread = try #require(byPID[15])
    #expect(kthread.state == "I")
    #expect(kthread.commandLine == "")
    #expect(kthread.user == "root")
    #expect(kthread.name == "kworker/1:0H-events_highpri")

    // 100 ticks/s over 0.5 s: 48 ticks = 96 %.
    let hog = try #require(byPID[4100])
    #expect(abs(hog.cpuPercent - 96.0) < 1e-9)
    #expect(hog.startTime == Date(timeIntervalSince1970: 1_717_400_000 + 93_000))
    #expect(abs((byPID[2210]?.cpuPercent ?? 0) - 24.0) < 1e-9)
    #expect(abs((byPID[1523]?.cpuPercent ?? 0) - 6.0) < 1e-9)
    // Exited between the samples: kept, 0 %.
    #expect(byPID[4200]?.cpuPercent == 0)
    #expect(byPID[4200]?.commandLine == "sleep 0.3")

    #expect(Set(list.processes.filter(\.topCPU).map(\.pid)) == [4100, 2210, 1523, 812])
    #expect(Set(list.processes.filter(\.topMemory).map(\.pid)) == [2210, 4100, 1523, 812, 1])
    #expect(out.items == 10)
}

@Test func processesWithoutSecondSampleHaveZeroCPU() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    try tree.remove("/helpline-fixture/proc2")
    let list = try decode(ProcessList.self, ProcessesProbe().collect(fixtureContext(tree.root)))
    #expect(list.processes.count == 10)
    #expect(list.processes.allSatisfy { $0.cpuPercent == 0 && !$0.topCPU })
}

@Test func processesProcessExitingBetweenSamplesKeepsFirstSample() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    // The CPU hog exits before the second sample.
    try tree.remove("/helpline-fixture/proc2/4100")
    let list = try decode(ProcessList.self, ProcessesProbe().collect(fixtureContext(tree.root)))
    let hog = try #require(list.processes.first { $0.pid == 4100 })
    #expect(hog.cpuPercent == 0)
    #expect(!hog.topCPU)
    #expect(hog.topMemory)
    #expect(hog.name == "cc1plus")
}

@Test func processesUnreadableFilesArePartial() throws {
    let tree = try FixtureCopy("sysroot-laptop")
    defer { tree.cleanup() }
    try tree.makeUnreadable("/proc/812/cmdline")
    try tree.makeUnreadable("/proc/1523/stat")
    let out = try ProcessesProbe().collect(fixtureContext(tree.root))
    #expect(out.status == .partial)
    #expect(out.unreadable == ["/proc/812/cmdline", "/proc/1523/stat"])
    let list = try decode(ProcessList.self, out)
    #expect(list.processes.first { $0.pid == 812 }?.commandLine == "")
    #expect(list.processes.first { $0.pid == 812 }?.name == "NetworkManager")
    #expect(!list.processes.contains { $0.pid == 1523 })
}

@Test func processesCPUPercentIgnoresReusedPID() throws {
    let a = try #require(ProcPIDStat.parse("9 (a) R 1 9 9 0 -1 0 0 0 0 0 100 0 0 0 20 0 1 0 500 0 0 0"))
    let reused = try #require(ProcPIDStat.parse("9 (b) R 1 9 9 0 -1 0 0 0 0 0 300 0 0 0 20 0 1 0 900 0 0 0"))
    let same = try #require(ProcPIDStat.parse("9 (a) R 1 9 9 0 -1 0 0 0 0 0 150 0 0 0 20 0 1 0 500 0 0 0"))
    #expect(ProcessesProbe.cpuPercent(first: a, second: reused, intervalSeconds: 1, ticksPerSecond: 100) == 0)
    #expect(ProcessesProbe.cpuPercent(first: a, second: same, intervalSeconds: 1, ticksPerSecond: 100) == 50)
    #expect(ProcessesProbe.cpuPercent(first: a, second: nil, intervalSeconds: 1, ticksPerSecond: 100) == 0)
    #expect(ProcessesProbe.cpuPercent(first: same, second: a, intervalSeconds: 1, ticksPerSecond: 100) == 0)
}

@Test func processesWithoutProcFails() throws {
    let tree = try FixtureCopy()
    defer { tree.cleanup() }
    #expect(throws: ProbeError.self) { try ProcessesProbe().collect(fixtureContext(tree.root)) }
}

@Test func processesProbeOnLiveSystem() throws {
    let out = try ProcessesProbe().collect(liveContext())
    let list = try decode(ProcessList.self, out)
    let me = try #require(list.processes.first { $0.pid == Int(getpid()) })
    #expect(me.rssBytes > 0)
    #expect(!me.commandLine.isEmpty)
    #expect(me.startTime != nil)
    #expect(list.sampleIntervalMS >= 50)
}
