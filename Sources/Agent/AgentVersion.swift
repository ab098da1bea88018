import Shared

/// The agent's version, printed by `--version` and recorded in every manifest.
enum AgentVersion {
    /// Set once for both programs in Shared (`HelplineVersion`).
    static let current = HelplineVersion.current
}
