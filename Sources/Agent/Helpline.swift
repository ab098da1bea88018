import ArgumentParser

/// `helpline`: ask for help with one command. Thin entry point; the work lives in
/// `Collection` and the probes.
@main
struct Helpline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "helpline",
        abstract: "Gather what a technician needs to fix this computer, redacted, in one bundle.",
        version: AgentVersion.current,
        subcommands: [CollectCommand.self, PreviewCommand.self])
}
