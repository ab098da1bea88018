import Foundation
import Shared

extension DaemonCommand {
    /// What was last sent: the inventory's fingerprint and when.
    struct InventorySent: Codable {
        var fingerprint: String
        var sentAt: Date
    }

    /// An unchanged inventory is sent again after this long (so a collector that lost it, or
    /// a host that re-enrolled, has it within a day).
    static let inventoryRefresh: TimeInterval = 86_400

    /// Sends the inventory when it changed since it was last sent, or a day has passed.
    static func sendInventoryIfDue(state: AgentState, config: AgentConfig, log: DaemonLog, now: Date = Date()) async {
        guard let enrollment = try? state.enrollment() else { return }
        let inventory = InventoryReader.read(now: now)
        let file = state.directory + "/inventory-sent.json"
        let last = try? BundleJSON.decoder().decode(InventorySent.self, from: Data(contentsOf: URL(fileURLWithPath: file)))
        let fingerprint = inventory.fingerprint
        if let last, last.fingerprint == fingerprint, now.timeIntervalSince(last.sentAt) < inventoryRefresh, last.sentAt <= now { return }
        let client = CollectorClient(server: config.server ?? enrollment.server, token: enrollment.hostToken, config: config)
        do {
            let ack = try await client.inventory(inventory)
            try DurableFile.write(try BundleJSON.encoder(pretty: false).encode(InventorySent(fingerprint: fingerprint, sentAt: now)), to: file, mode: 0o600)
            log.line("inventory sent (\(ack.packages) packages)")
        } catch {
            log.line("inventory not sent: \(error)")
        }
    }
}
