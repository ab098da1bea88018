import Foundation
import Testing
@testable import Agent

/// `ChildProcess`: posix_spawn with pipes, input written while output is read, a deadline.
@Suite struct ChildProcessTests {
    @Test func capturesBothOutputsAndTheExitStatus() throws {
        let o = try ChildProcess.run("/bin/sh", ["-c", "echo out; echo err >&2; exit 3"])
        #expect(o.exitStatus == 3 && o.signal == nil && !o.timedOut)
        #expect(String(decoding: o.output, as: UTF8.self) == "out\n")
        #expect(String(decoding: o.error, as: UTF8.self) == "err\n")
    }

    @Test func aMegabyteGoesInAndComesBackWithoutEitherPipeBlocking() throws {
        let input = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let o = try ChildProcess.run("/bin/cat", [], input: input)
        #expect(o.exitStatus == 0)
        #expect(o.output == input)
    }

    @Test func aChildThatReadsNoInputEndsCleanlyWithoutSIGPIPEHere() throws {
        let o = try ChildProcess.run("/bin/true", [], input: [UInt8](repeating: 65, count: 4 << 20))
        #expect(o.exitStatus == 0)
    }

    @Test func pastItsDeadlineAChildIsKilledAndReaped() throws {
        let started = ContinuousClock.now
        let o = try ChildProcess.run("/bin/sleep", ["30"], timeout: .milliseconds(300))
        #expect(o.timedOut && o.signal == SIGKILL && o.exitStatus == nil)
        #expect(ContinuousClock.now - started < .seconds(10))
    }

    @Test func theEnvironmentAndDirectoryAreTheGivenOnesAndNoOtherDescriptorIsInherited() throws {
        let dir = NSTemporaryDirectory() + "helpline-child-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let o = try ChildProcess.run("/bin/sh", ["-c", "env; pwd; ls /proc/$$/fd"], environment: ["ONLY": "this"], directory: dir)
        let lines = String(decoding: o.output, as: UTF8.self).split(separator: "\n").map(String.init)
        // dash adds PWD to its environment; nothing else of this process's.
        #expect(lines.contains("ONLY=this"))
        #expect(!lines.contains { $0.hasPrefix("HOME=") || $0.hasPrefix("PATH=/") })
        #expect(lines.contains(dir))
        let fds = lines.filter { Int($0) != nil }
        #expect(fds == ["0", "1", "2"], "descriptors the child holds: \(fds)")
    }

    @Test func aMissingProgramIsAnErrorNotACrash() {
        #expect(throws: ChildProcess.SpawnError.self) { try ChildProcess.run("/nonexistent/helpline-child", []) }
    }

    @Test func aSpawnedChildRunsBesideTheCallerAndStopsOnSIGTERMOrIsKilledPastItsWait() throws {
        // Reads its input back line by line until told to stop.
        let child = try ChildProcess.spawn("/bin/sh", ["-c", "trap 'exit 7' TERM; while read line; do echo \"got $line\"; done; sleep 30 & wait"],
                                           input: true, stdout: .capture, stderr: .discard)
        #expect(child.isRunning)
        _ = "ping\n".utf8CString.withUnsafeBufferPointer { write(child.stdin, $0.baseAddress, 5) }
        let reader = LineReader(fd: child.stdout)
        #expect(reader.nextLine(before: Date().addingTimeInterval(10)) == "got ping")
        child.closeInput()  // the loop ends; the shell sleeps, and the trap ends it
        usleep(200_000)
        child.send(SIGTERM)
        #expect(child.wait(upTo: .seconds(10)))
        #expect(child.exitStatus == 7 && child.signal == nil && !child.isRunning)

        let stubborn = try ChildProcess.spawn("/bin/sh", ["-c", "trap '' TERM; sleep 30"], stdout: .discard, stderr: .discard)
        usleep(200_000)
        stubborn.send(SIGTERM)
        let started = ContinuousClock.now
        #expect(!stubborn.wait(upTo: .milliseconds(300)), "it ignores SIGTERM: killed past the wait")
        #expect(stubborn.signal == SIGKILL && ContinuousClock.now - started < .seconds(10))
    }
}
