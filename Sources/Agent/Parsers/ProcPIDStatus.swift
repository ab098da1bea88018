/// `/proc/PID/status`: `Key:\tvalue` lines. Only what the processes probe needs is kept.
struct ProcPIDStatus: Sendable, Equatable {
    /// Real user id (first of the four `Uid:` values).
    var uid: Int?
    /// `VmRSS` in bytes; nil for kernel threads and zombies, which have no memory map.
    var rssBytes: UInt64?
    /// `Threads`.
    var threads: Int?

    /// Parses the text of `/proc/PID/status`.
    static func parse(_ text: String) -> ProcPIDStatus {
        var s = ProcPIDStatus()
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon]
            let values = line[line.index(after: colon)...].split(whereSeparator: \.isWhitespace)
            switch key {
            case "Uid": s.uid = values.first.flatMap { Int($0) }
            case "Threads": s.threads = values.first.flatMap { Int($0) }
            case "VmRSS":
                if let kb = values.first.flatMap({ UInt64($0) }) {
                    s.rssBytes = kb.multipliedReportingOverflow(by: 1024).overflow ? UInt64.max : kb * 1024
                }
            default: break
            }
        }
        return s
    }
}
