import Foundation
import Shared

/// `<state>/notified-tickets.json`: what the daemon has told users about their tickets
/// (`TicketsSeen`), so a restart does not tell them again. Mode 0600 (ticket ids and states
/// only, no text), written durably, at most `TicketsSeen.maxTickets` entries.
struct NoticeLedger: Sendable {
    /// The file.
    let path: String
    /// Larger files are not read: the record is far smaller (about 60 bytes a ticket).
    static let maxBytes = 1 << 20

    /// The ledger of `state`.
    init(state: AgentState) { path = state.directory + "/notified-tickets.json" }

    /// The record, or nil when there is none yet (or it cannot be read: then the next check-in
    /// takes note again instead of telling about every old reply).
    func load() -> TicketsSeen? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let size = attributes[.size] as? Int, size <= Self.maxBytes,
              let data = FileManager.default.contents(atPath: path) else { return nil }
        return try? BundleJSON.decoder().decode(TicketsSeen.self, from: data)
    }

    /// Replaces the record.
    /// - Throws: `AgentStateError` when the file cannot be written.
    func save(_ seen: TicketsSeen) throws {
        try DurableFile.write(try BundleJSON.encoder(pretty: false).encode(seen), to: path, mode: 0o600)
    }
}
