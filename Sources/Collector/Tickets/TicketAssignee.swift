import Foundation

extension CollectorStore {
    /// Checks a ticket's new assignee, for the ticket page and the API alike: empty (nobody) or
    /// the login name of a technician or admin.
    /// - Throws: `APIError` 400 `invalid_assignee` for anyone else.
    func checkAssignee(_ name: String?) async throws {
        guard let name, !name.isEmpty else { return }
        guard name.unicodeScalars.count <= 64, try await users().contains(where: { $0.name == name }) else {
            throw APIError.badRequest("invalid_assignee", "no technician or admin is named \(clippedScalars(name, 64)); send \"\" to unassign")
        }
    }
}
