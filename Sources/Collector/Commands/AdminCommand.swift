import ArgumentParser

/// `helpline-collector admin …`: manage enrollment secrets, accounts and API tokens
/// directly in the store (run on the collector host, with the same --data-dir/--database).
public struct AdminCommand: AsyncParsableCommand {
    /// Command help.
    public static let configuration = CommandConfiguration(
        commandName: "admin",
        abstract: "Manage enrollment secrets, technician accounts, API tokens and hosts.",
        subcommands: [AdminSecretCommand.self, AdminUserCommand.self, AdminTokenCommand.self, AdminHostCommand.self])

    /// Creates the command.
    public init() {}
}

/// Formats a table for `list` subcommands: columns padded, one row a line.
func formatTable(_ header: [String], _ rows: [[String]]) -> String {
    let all = [header] + rows
    let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
    return all.map { row in
        row.enumerated().map { i, cell in i == row.count - 1 ? cell : cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }.joined(separator: "\n")
}
