import Foundation
import Testing
@testable import Agent
@testable import Shared

/// The daemon's socket against peers that connect and say nothing: the daemon serves one
/// request at a time, so without a deadline one silent peer would hold up every later one.
@Suite(.serialized) struct DaemonSocketDeadlineTests {
    /// Connects to `path` as a raw client; fails the test when nothing listens.
    private func connect(_ path: String) throws -> Int32 {
        try #require(SocketLines.connect(path: path), "nothing listens at \(path)")
    }

    @Test func aSilentConnectionIsDroppedAfterTheDeadlineAndTheNextRequestIsAnswered() async throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let listener = try DaemonSocket(path: dir.file("agent.sock"))
        defer { listener.stopListening() }
        // Not enrolled: a status request is answered at once, without any network.
        let state = AgentState(directory: dir.file("state"))
        var deadlines = SocketDeadlines()
        deadlines.request = .milliseconds(500)
        deadlines.answerLine = .seconds(5)
        DaemonCommand.serve(listener, state: state, config: AgentConfig(), log: DaemonLog(), deadlines: deadlines)

        let silent = try connect(listener.path)
        defer { close(silent) }
        usleep(100_000)  // the daemon turns to the silent peer first
        let real = try connect(listener.path)
        defer { close(real) }
        // The client waits on a thread of its own, so the daemon's task has the test's
        // cooperative thread; long enough for a loaded machine, far short of "forever".
        var clientDeadlines = SocketDeadlines()
        clientDeadlines.answer = .seconds(60)
        let client = clientDeadlines
        let reply = await Collection.onThread(name: "test-client") { DaemonClient.status(fd: real, deadlines: client) }
        #expect(reply?.problem == "this computer is not connected to a help desk yet", "\(String(describing: reply))")

        // The silent peer was hung up on: it reads the end of the stream, not a wait forever.
        let end = await Collection.onThread(name: "test-silent") { () -> SocketLineReader.Outcome in
            var reader = SocketLineReader(fd: silent)
            return reader.next(limit: 1024, within: .seconds(30))
        }
        #expect(end == .end)
    }

    @Test func aClientGivesUpOnADaemonThatNeverAnswers() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        // A socket that accepts (the kernel does, from the backlog) and never answers.
        let listener = try DaemonSocket(path: dir.file("agent.sock"))
        defer { listener.stopListening() }
        let fd = try connect(listener.path)
        defer { close(fd) }
        var deadlines = SocketDeadlines()
        deadlines.answer = .milliseconds(300)
        let started = ContinuousClock.now
        let answer = DaemonClient.ask(fd: fd, request: DaemonRequest(note: "printer"), progress: nil, deadlines: deadlines)
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(answer.outcome == "not_kept")
        #expect(answer.message.contains("did not answer within"), "\(answer.message)")
    }

    @Test func socketLineReaderSplitsLinesAndBoundsTheirLength() throws {
        var pair: [Int32] = [0, 0]
        try #require(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0)
        defer { close(pair[0]); close(pair[1]) }
        let text = Array("one\ntwo\n".utf8) + [UInt8](repeating: 0x61, count: 100) + [0x0A]
        #expect(write(pair[1], text, text.count) == text.count)
        var reader = SocketLineReader(fd: pair[0])
        #expect(reader.next(limit: 50, within: .seconds(1)) == .line(Array("one".utf8)))
        #expect(reader.next(limit: 50, within: .seconds(1)) == .line(Array("two".utf8)))
        #expect(reader.next(limit: 50, within: .seconds(1)) == .tooLong)
        // Nothing more is sent: the wait ends at the deadline.
        var idle = SocketLineReader(fd: pair[0])
        #expect(idle.next(limit: 50, within: .milliseconds(100)) == .timedOut)
        // A line without its newline before the peer closes still counts.
        #expect(write(pair[1], "last", 4) == 4)
        shutdown(pair[1], Int32(SHUT_WR))
        #expect(idle.next(limit: 50, within: .seconds(1)) == .line(Array("last".utf8)))
        #expect(idle.next(limit: 50, within: .seconds(1)) == .end)
    }
}
