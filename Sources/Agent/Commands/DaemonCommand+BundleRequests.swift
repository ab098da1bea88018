import Foundation
import Shared

extension DaemonCommand {
    /// Most answered request ids remembered (the collector forgets requests after
    /// `bundle_request_hours`; this only has to outlive that for a spooled answer).
    static let answeredRequestsKept = 500

    /// Collects and sends the fresh bundles technicians asked this computer for: one bundle
    /// per request (reason `technician_request`, the request's id in the manifest so it joins
    /// the request's ticket). A bundle that could only be spooled counts as answered: the
    /// spool sends it, and it is not collected twice meanwhile. Runs in the check-in child
    /// (`--check-in-once`), whose parent keeps systemd's watchdog fed.
    static func answerBundleRequests(state: AgentState, config: AgentConfig, log: DaemonLog) async {
        guard let enrollment = try? state.enrollment() else { return }
        let client = CollectorClient(server: config.server ?? enrollment.server, token: enrollment.hostToken, config: config)
        let requests: [PendingBundleRequest]
        do { requests = try await client.bundleRequests(attempts: 1).requests } catch {
            log.line("bundle requests not checked: \(error)")
            return
        }
        let file = state.directory + "/bundle-requests-answered.json"
        var answered = (try? BundleJSON.decoder().decode([Int64].self, from: Data(contentsOf: URL(fileURLWithPath: file)))) ?? []
        for request in requests.prefix(5) where !answered.contains(request.id) {
            log.line("collecting a fresh bundle for \(request.requestedBy) (request #\(request.id))")
            let why = request.note.map { ": \($0)" } ?? ""
            // agent.conf's window and the organisation's redaction, as for every bundle the daemon makes.
            let options = configuredOptions(config)
            var flow = RequestFlow(state: state, config: config, options: options,
                                   note: "Fresh information asked for by \(request.requestedBy) at the help desk\(why)", requestedBy: nil)
            flow.reason = .technicianRequest
            flow.bundleRequestID = request.id
            let answer = await flow.run(progress: nil)
            log.line("request #\(request.id): \(answer.outcome)\(answer.receipt.map { " (ticket #\($0.ticketID))" } ?? "")")
            if answer.outcome == "delivered" || answer.outcome == "spooled" {
                answered.append(request.id)
                answered = Array(answered.suffix(answeredRequestsKept))
                do {
                    try DurableFile.write(try BundleJSON.encoder(pretty: false).encode(answered), to: file, mode: 0o600)
                } catch {
                    log.line("cannot remember answered bundle requests: \(error)")
                }
            }
        }
    }
}
