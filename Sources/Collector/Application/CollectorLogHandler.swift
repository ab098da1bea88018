import Logging

/// `StreamLogHandler`'s lines on standard error, with the metadata formatted only when a
/// line is written.
///
/// `StreamLogHandler` formats (sorts and joins) its whole metadata each time an item
/// changes, and every request changes it: Hummingbird sets the request id and
/// `HostAuthMiddleware` the host. At the `info` level almost none of those loggers ever
/// writes a line, yet that formatting was ~2 % of a heartbeat's CPU. Here a change only
/// stores the value; a line that is written hands the metadata to a `StreamLogHandler`,
/// so the output is the same.
struct CollectorLogHandler: LogHandler {
    /// Makes the `StreamLogHandler` that writes one line (standard error outside tests).
    typealias Writer = @Sendable (_ label: String, _ metadataProvider: Logger.MetadataProvider?) -> StreamLogHandler

    private let label: String
    private let writer: Writer
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?

    /// A handler for `label` writing lines at `level` and above to standard error.
    init(label: String, level: Logger.Level, metadataProvider: Logger.MetadataProvider? = LoggingSystem.metadataProvider,
         writer: @escaping Writer = { StreamLogHandler.standardError(label: $0, metadataProvider: $1) }) {
        self.label = label
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.writer = writer
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var stream = writer(label, metadataProvider)
        stream.logLevel = logLevel
        stream.metadata = metadata
        stream.log(event: event)
    }
}
