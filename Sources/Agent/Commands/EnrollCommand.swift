import ArgumentParser
import Foundation
import Shared

/// `helpline enroll`: register this computer with a collector once.
struct EnrollCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Register this computer with a Helpline collector (stores the host token).")

    @OptionGroup var agent: AgentFlags

    @Option(name: .customLong("secret"), help: ArgumentHelp("Enrollment secret from the collector's administrator (or HELPLINE_ENROLL_SECRET).", valueName: "SECRET"))
    var secret: String?

    func run() async throws {
        let (state, config) = try agent.load()
        guard let server = config.server else {
            throw ValidationError("give the collector with --server URL (or server = … in \(AgentConfig.defaultPath))")
        }
        guard let secret = secret ?? ProcessInfo.processInfo.environment["HELPLINE_ENROLL_SECRET"], !secret.isEmpty else {
            throw ValidationError("give the enrollment secret with --secret SECRET (or HELPLINE_ENROLL_SECRET)")
        }
        let host = HostIdentity.read(context: ProbeContext(sysroot: "", now: Date(), options: CollectOptions(), redactor: try Redactor()), hostID: nil)
        guard let machineID = host.machineID else {
            throw ValidationError("this system has no /etc/machine-id; run systemd-machine-id-setup first")
        }
        let client = CollectorClient(server: server, token: nil, config: config)
        do {
            let answer = try await client.enroll(EnrollRequest(secret: secret, hostname: host.hostname, machineID: machineID,
                                                               agentVersion: AgentVersion.current))
            try state.save(.init(server: server, hostID: answer.hostID, hostToken: answer.hostToken, hostname: answer.hostname,
                                 enrolledAt: answer.enrolledAt))
            Console.out("Enrolled \(answer.hostname) with \(server) as host \(answer.hostID)\(answer.reenrolled ? " (again; the old token no longer works)" : "").")
        } catch {
            Console.error("helpline: enrollment failed: \(error)")
            throw ExitCode(ExitCodes.notEnrolled)
        }
    }
}
