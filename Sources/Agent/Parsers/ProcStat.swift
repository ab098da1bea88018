/// `/proc/stat`: kernel and system statistics. Only what the probes need is kept.
struct ProcStat: Sendable, Equatable {
    /// `btime`: boot time, seconds since the Unix epoch.
    var bootTime: UInt64?

    /// Parses the text of `/proc/stat`.
    static func parse(_ text: String) -> ProcStat {
        var stat = ProcStat()
        for line in text.split(whereSeparator: \.isNewline) where line.hasPrefix("btime ") {
            stat.bootTime = line.split(separator: " ").dropFirst().first.flatMap { UInt64($0) }
        }
        return stat
    }
}
