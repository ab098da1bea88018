import ArgumentParser

/// `helpline`: ask for help with one command. Thin entry point; the work lives in
/// `Collection` and the probes.
@main
struct Helpline: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "helpline",
        abstract: "Ask for help: gather what a technician needs to fix this computer, redacted, and send it.",
        version: AgentVersion.current,
        subcommands: [RequestCommand.self, CollectCommand.self, PreviewCommand.self, EnrollCommand.self, StatusCommand.self,
                      SpoolCommand.self, DaemonCommand.self, NotifySessionCommand.self],
        defaultSubcommand: RequestCommand.self)
}
