/// The agent's version, printed by `--version` and recorded in every manifest.
enum AgentVersion {
    static let current = "0.1.0"
}
