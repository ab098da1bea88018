import ArgumentParser
import Foundation

/// Where the agent keeps its state and reads its settings; shared by every networked command.
struct AgentFlags: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: ArgumentHelp("Agent state folder (enrollment, spool). Default: /var/lib/helpline for root, ~/.local/state/helpline otherwise; or HELPLINE_STATE_DIR.", valueName: "DIR"))
    var stateDirectory: String?

    @Option(name: .customLong("config"), help: ArgumentHelp("Settings file (default /etc/helpline/agent.conf, or HELPLINE_CONFIG).", valueName: "FILE"))
    var configFile: String?

    @Option(name: .customLong("server"), help: ArgumentHelp("Collector URL, overriding config and enrollment.", valueName: "URL"))
    var server: String?

    @Option(name: .customLong("ca-file"), help: ArgumentHelp("PEM file of CAs to trust for the collector.", valueName: "FILE"))
    var caFile: String?

    /// State, settings and enrollment together.
    func load() throws -> (AgentState, AgentConfig) {
        let state = AgentState.resolve(flag: stateDirectory)
        var config = try AgentConfig.load(path: configFile)
        if let server { config.server = server }
        if let caFile { config.caFile = caFile }
        return (state, config)
    }
}

/// Exit codes of `helpline` (README lists them).
enum ExitCodes {
    /// The request reached the collector (or, for `collect`, the bundle was written).
    static let delivered: Int32 = 0
    /// No bundle could be made.
    static let collectionFailed: Int32 = 3
    /// The bundle is kept in the spool and will be sent automatically.
    static let spooled: Int32 = 4
    /// This computer is not enrolled with a collector.
    static let notEnrolled: Int32 = 5
    /// The collector refused the bundle (4xx); it is kept for the user to inspect.
    static let rejected: Int32 = 6
    /// The bundle could not be sent nor kept in the spool.
    static let notKept: Int32 = 7
    /// The daemon did not take an ordinary user's request: they have requests pending with it
    /// already, or asked `user_requests_per_hour` times this hour. Nothing was collected.
    static let notTaken: Int32 = 8
}
