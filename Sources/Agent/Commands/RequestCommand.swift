import ArgumentParser
import Foundation
import Shared

/// `helpline` / `helpline request`: collect, send, and answer in plain words.
struct RequestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "request",
        abstract: "Ask for help: collect what a technician needs, send it, and show the ticket and what was found.")

    @OptionGroup var agent: AgentFlags
    @OptionGroup var flags: CollectionFlags

    /// `--note` or `--note-file`; asked for in a terminal when neither is given (Enter skips).
    @OptionGroup var notes: NoteFlags

    @Flag(name: .long, help: "Print the result as JSON (for scripts and the desktop launcher).")
    var json = false

    @Option(name: .customLong("daemon-socket"), help: ArgumentHelp("The daemon's socket (default /run/helpline/agent.sock, or HELPLINE_DAEMON_SOCKET).", valueName: "PATH"))
    var daemonSocket: String?

    @Flag(name: .customLong("via-daemon"), help: "Ask the daemon to collect even when running as root.")
    var viaDaemon = false

    func run() async throws {
        var note = try notes.resolve()
        if note == nil, notes.noteFile == nil, !json, isatty(0) == 1 {
            FileHandle.standardError.write(Data("What is going wrong? (a few words, Enter to skip): ".utf8))
            note = readLine(strippingNewline: true)
            if let typed = note, typed.utf8.count > NoteFlags.maxNoteBytes {
                throw ValidationError("the note is \(typed.utf8.count) bytes; a note holds at most \(NoteFlags.maxNoteBytes) (a few words, or an error message)")
            }
        }
        let interactive = !json && Console.stderrIsTerminal
        let printer: @Sendable (String) -> Void = { Console.error($0) }
        let progress = interactive ? printer : nil

        // An ordinary user cannot read the system journal: when the daemon runs, it collects.
        let socketPath = daemonSocket ?? ProcessInfo.processInfo.environment["HELPLINE_DAEMON_SOCKET"] ?? DaemonCommand.defaultSocket
        if geteuid() != 0 || viaDaemon, let fd = SocketLines.connect(path: socketPath) {
            defer { close(fd) }
            // The daemon reads no rules folder a user names (it runs as root) and keeps the
            // administrator's budget; the --redact-* switches go with the request and only add.
            if flags.rulesDirectory != nil || flags.extraRuleLineBudget != nil {
                throw ValidationError("--rules-dir and --extra-rule-line-budget cannot be used through the helpline daemon, which collects with the redaction rules set in /etc/helpline/agent.conf (rules_dir); ask an administrator to add your rules there, or run helpline request as root")
            }
            // Only a --since the user gave: without one the daemon uses agent.conf's window.
            var request = DaemonRequest(note: note, since: flags.since)
            let switches = flags.options.redaction.switchesOn
            request.redact = switches.isEmpty ? nil : switches
            let answer = DaemonClient.ask(fd: fd, request: request, progress: progress)
            emit(answer)
            if answer.exitCode != 0 { throw ExitCode(answer.exitCode) }
            return
        }

        let (state, config) = try agent.load()
        let options = flags.options(defaultsFrom: config)
        let flow = RequestFlow(state: state, config: config, options: options, note: note,
                               requestedBy: ProcessInfo.processInfo.environment["SUDO_USER"] ?? ProcessInfo.processInfo.environment["USER"],
                               compressionLevel: flags.compressionLevel)
        let answer = await flow.run(progress: progress)
        emit(answer)
        if answer.exitCode != 0 { throw ExitCode(answer.exitCode) }
    }

    private func emit(_ answer: RequestFlow.Answer) {
        if json {
            Console.out(String(decoding: (try? BundleJSON.encoder(pretty: true).encode(answer)) ?? Data(), as: UTF8.self))
        } else if answer.outcome == "delivered" {
            Console.out(answer.message)
            if let u = answer.unreadable, !u.isEmpty {
                Console.out("Note: some things could not be read without more rights: \(u.joined(separator: "; ")).")
            }
        } else {
            Console.error(answer.message)
        }
    }
}

/// The user's side of the daemon socket.
enum DaemonClient {
    /// Longest line taken from the daemon: a status answer lists this user's tickets.
    static let maxAnswerLineBytes = 8 << 20

    /// Asks for the tickets this user's requests opened, waiting at most `deadlines.answer`.
    static func status(fd: Int32, deadlines: SocketDeadlines = .standard) -> DaemonMessage {
        guard SocketLines.send(DaemonRequest(action: "status"), to: fd, within: deadlines.request) else {
            return DaemonMessage(problem: "the helpline daemon did not take the request")
        }
        let end = ContinuousClock.now + deadlines.answer
        var reader = SocketLineReader(fd: fd)
        while true {
            switch reader.next(limit: maxAnswerLineBytes, within: end - ContinuousClock.now) {
            case .line(let line):
                if let message = try? BundleJSON.decoder().decode(DaemonMessage.self, from: Data(line)),
                   message.tickets != nil || message.problem != nil {
                    return message
                }
            case .timedOut:
                return DaemonMessage(problem: "the helpline daemon did not answer within \(deadlines.answer); try again later")
            case .end, .tooLong:
                return DaemonMessage(problem: "the helpline daemon stopped before answering")
            }
        }
    }

    /// Sends the request and relays progress until the answer arrives, at most
    /// `deadlines.answer` after sending.
    static func ask(fd: Int32, request: DaemonRequest, progress: (@Sendable (String) -> Void)?,
                    deadlines: SocketDeadlines = .standard) -> RequestFlow.Answer {
        guard SocketLines.send(request, to: fd, within: deadlines.request) else {
            return .init(outcome: "not_kept", message: "The helpline daemon did not take the request.", exitCode: ExitCodes.notKept)
        }
        let end = ContinuousClock.now + deadlines.answer
        var reader = SocketLineReader(fd: fd)
        while true {
            switch reader.next(limit: maxAnswerLineBytes, within: end - ContinuousClock.now) {
            case .line(let line):
                guard let message = try? BundleJSON.decoder().decode(DaemonMessage.self, from: Data(line)) else { continue }
                if let p = message.progress { progress?(p) }
                if let answer = message.answer { return answer }
            case .timedOut:
                return .init(outcome: "not_kept",
                             message: "The helpline daemon did not answer within \(deadlines.answer). It may still send your request: check with helpline status, or run helpline as root.",
                             exitCode: ExitCodes.notKept)
            case .end, .tooLong:
                return .init(outcome: "not_kept", message: "The helpline daemon stopped before answering; try again, or run helpline as root.",
                             exitCode: ExitCodes.notKept)
            }
        }
    }
}
