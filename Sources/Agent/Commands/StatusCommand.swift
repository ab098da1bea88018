import ArgumentParser
import Foundation
import Shared

/// `helpline status`: this computer's tickets and what is waiting to be sent.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show this computer's tickets, technicians' replies, and bundles waiting to be sent.")

    @OptionGroup var agent: AgentFlags

    @Flag(name: .long, help: "Print JSON for scripts.")
    var json = false

    @Option(name: .customLong("daemon-socket"), help: ArgumentHelp("The daemon's socket (default /run/helpline/agent.sock, or HELPLINE_DAEMON_SOCKET).", valueName: "PATH"))
    var daemonSocket: String?

    func run() async throws {
        // An ordinary user may have no state folder of their own (the daemon holds the
        // computer's); root's must load.
        let loaded: (AgentState, AgentConfig)?
        do { loaded = try agent.load() } catch where geteuid() != 0 { loaded = nil }
        let waiting = loaded.map { state, config in
            Spool(directory: state.spoolDirectory, maxBundles: config.spoolMaxBundles, maxBytes: config.spoolMaxBytes).items()
        } ?? []
        var tickets: [HostTicket]?
        var problem: String?
        if let (state, config) = loaded, let enrollment = try state.enrollment() {
            // Root (or a user who enrolled their own state): every ticket of this computer.
            let client = CollectorClient(server: config.server ?? enrollment.server, token: enrollment.hostToken, config: config)
            do { tickets = try await client.tickets().tickets } catch { problem = "\(error)" }
        } else if geteuid() != 0,
                  let fd = SocketLines.connect(path: daemonSocket ?? ProcessInfo.processInfo.environment["HELPLINE_DAEMON_SOCKET"] ?? DaemonCommand.defaultSocket) {
            // An ordinary user on a computer root enrolled: the daemon asks the help desk for the
            // tickets this user's requests opened (it knows the user from the kernel, not from us).
            defer { close(fd) }
            let reply = DaemonClient.status(fd: fd)
            tickets = reply.tickets
            problem = reply.problem
        } else {
            Console.error("helpline: this computer is not enrolled; run: helpline enroll --server URL --secret-file FILE")
            if !waiting.isEmpty { Console.error(Report.status(tickets: nil, problem: nil, spooled: waiting)) }
            throw ExitCode(ExitCodes.notEnrolled)
        }
        if json {
            struct Status: Encodable { var tickets: [HostTicket]?; var spooled: [SpoolItem]; var error: String? }
            Console.out(String(decoding: try BundleJSON.encoder(pretty: true).encode(Status(tickets: tickets, spooled: waiting, error: problem)), as: UTF8.self))
        } else {
            Console.out(Report.status(tickets: tickets, problem: problem, spooled: waiting))
        }
        if problem != nil { throw ExitCode(ExitCodes.spooled) }
    }
}

/// `helpline spool flush`: send what is waiting now.
struct SpoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spool",
        abstract: "Bundles waiting to be sent.",
        subcommands: [Flush.self, List.self])

    struct Flush: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "flush", abstract: "Send every waiting bundle now.")
        @OptionGroup var agent: AgentFlags

        func run() async throws {
            let (state, config) = try agent.load()
            guard let enrollment = try state.enrollment() else {
                Console.error("helpline: this computer is not enrolled; run: helpline enroll --server URL --secret-file FILE")
                throw ExitCode(ExitCodes.notEnrolled)
            }
            let delivery = Delivery(state: state, config: config, enrollment: enrollment)
            guard let results = await delivery.flushSpool(force: true) else {
                Console.error("helpline: another helpline is sending the spool right now; try again in a moment")
                throw ExitCode(ExitCodes.spooled)
            }
            for r in results { Console.out(r.line) }
            if results.isEmpty { Console.out("Nothing is waiting to be sent.") }
            if results.contains(where: { !$0.delivered }) { throw ExitCode(ExitCodes.spooled) }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List waiting bundles.")
        @OptionGroup var agent: AgentFlags

        func run() async throws {
            let (state, config) = try agent.load()
            let spool = Spool(directory: state.spoolDirectory, maxBundles: config.spoolMaxBundles, maxBytes: config.spoolMaxBytes)
            Console.out(Report.status(tickets: nil, problem: nil, spooled: spool.items()))
        }
    }
}
