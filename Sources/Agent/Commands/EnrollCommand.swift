import ArgumentParser
import Foundation
import Shared

/// `helpline enroll`: register this computer with a collector once.
///
/// Every enrollment sends this agent's enrollment key (kept in the state folder) and, when
/// this computer is already enrolled with the same collector, the host token it holds: the
/// collector re-enrolls a known machine only on proof of its current token, or after an
/// administrator approves the request parked under the key.
struct EnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Register this computer with a Helpline collector (stores the host token).")

    @OptionGroup var agent: AgentFlags

    @Option(name: .customLong("secret-file"), help: ArgumentHelp("File holding the enrollment secret from the collector's administrator; - reads standard input.", valueName: "PATH"))
    var secretFile: String?

    @Option(name: .customLong("secret"), help: ArgumentHelp("The enrollment secret itself (or HELPLINE_ENROLL_SECRET). Other users can see it in ps; prefer --secret-file.", valueName: "SECRET"))
    var secret: String?

    func run() async throws {
        let (state, config) = try agent.load()
        guard let server = config.server else {
            throw ValidationError("give the collector with --server URL (or server = … in \(AgentConfig.defaultPath))")
        }
        let secret = try EnrollmentSecret.read(file: secretFile, flag: secret, environment: ProcessInfo.processInfo.environment,
                                               warn: { Console.error($0) })
        let host = HostIdentity.read(context: ProbeContext(sysroot: "", now: Date(), options: CollectOptions(), redactor: try Redactor()), hostID: nil)
        guard let machineID = host.machineID else {
            throw ValidationError("this system has no /etc/machine-id; run systemd-machine-id-setup first")
        }
        let key: String
        let held: AgentState.Enrollment?
        do {
            key = try state.enrollmentKey()
            held = EnrollCommand.heldEnrollment(state)
        } catch {
            Console.error("helpline: enrollment failed: \(error)")
            throw ExitCode(ExitCodes.notEnrolled)
        }
        let request = EnrollRequest(secret: secret, hostname: host.hostname, machineID: machineID, agentVersion: AgentVersion.current,
                                    currentHostToken: EnrollCommand.tokenToPresent(held, to: server), enrollmentKey: key)
        let client = CollectorClient(server: server, token: nil, config: config)
        do {
            let answer = try await client.enroll(request)
            try state.save(.init(server: server, hostID: answer.hostID, hostToken: answer.hostToken, hostname: answer.hostname,
                                 enrolledAt: answer.enrolledAt))
            Console.out("Enrolled \(answer.hostname) with \(server) as host \(answer.hostID)\(answer.reenrolled ? " (again; the old token no longer works)" : "").")
        } catch {
            Console.error(EnrollCommand.explain(error, server: server, hostname: host.hostname, hostID: held?.hostID))
            throw ExitCode(ExitCodes.notEnrolled)
        }
    }

    /// The saved enrollment, or nil when there is none or it is damaged (enrolling again is
    /// how a damaged one is mended, so it must not stop enrollment).
    static func heldEnrollment(_ state: AgentState) -> AgentState.Enrollment? {
        (try? state.enrollment()) ?? nil
    }

    /// The host token to present when enrolling with `server`: only the token this collector
    /// issued, so a token is never shown to another server.
    static func tokenToPresent(_ held: AgentState.Enrollment?, to server: String) -> String? {
        guard let held, held.server.trimmingSuffix("/") == server.trimmingSuffix("/") else { return nil }
        return held.hostToken
    }

    /// What to tell the user when enrollment failed, in plain words.
    static func explain(_ error: any Error, server: String, hostname: String, hostID: String?) -> String {
        guard case let CollectorClient.Failure.rejected(_, code, message) = error else {
            return "helpline: enrollment failed: \(error)"
        }
        let name = hostID.map { "\(hostname) or \($0)" } ?? hostname
        switch code {
        case "approval_pending":
            return """
            helpline: this computer is already enrolled with the collector at \(server).
            An administrator must approve enrolling it again, on the collector:
                helpline-collector admin host approve <hostname or host id>
            (this computer is \(name)). Then run helpline enroll again.
            The collector says: \(message)
            """
        case "approval_required":
            return """
            helpline: this computer is already enrolled with the collector at \(server), and this enrollment cannot be approved (the collector says: \(message)).
            Ask the collector's administrator about host \(name).
            """
        default:
            return "helpline: enrollment failed: \(error)"
        }
    }
}
