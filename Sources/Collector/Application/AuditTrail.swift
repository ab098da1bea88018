import Foundation

extension CollectorStore {
    /// Records in the audit log that the caller of `context` did `action` to `target`, with
    /// where the request came from. Pages and the API write the same actions. A failure is
    /// logged, not thrown: the change it describes is already made.
    func audit(_ context: CollectorRequestContext, _ action: String, _ target: String, _ detail: String = "") async {
        let actor: String
        if case .user(let p) = context.identity { actor = p.name } else { actor = "?" }
        let origin = context.clientAddress.map { "from \($0)" } ?? ""
        do {
            try await recordAudit(AuditEntry(at: Date(), actor: actor, action: action, target: target,
                                             detail: [detail, origin].filter { !$0.isEmpty }.joined(separator: " · ")))
        } catch {
            context.logger.error("could not write the audit log", metadata: ["error": "\(error)", "action": "\(action)"])
        }
    }
}
