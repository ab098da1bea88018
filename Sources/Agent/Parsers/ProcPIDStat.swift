/// `/proc/PID/stat` (proc_pid_stat(5)): one line, `pid (comm) state ppid …`.
///
/// `comm` may hold spaces and parentheses (`my (weird) proc`), so it runs from the first
/// `(` to the LAST `)`; the numbered fields follow it.
struct ProcPIDStat: Sendable, Equatable {
    /// Process id.
    var pid: Int
    /// The command name, up to 15 bytes, as the kernel keeps it.
    var comm: String
    /// State letter (R, S, D, Z, T, t, X, I…).
    var state: String
    /// Parent process id (0 for the kernel's own roots).
    var ppid: Int
    /// User-mode CPU time, in clock ticks (field 14).
    var utime: UInt64
    /// Kernel-mode CPU time, in clock ticks (field 15).
    var stime: UInt64
    /// Threads (field 20).
    var threads: Int
    /// Start time after boot, in clock ticks (field 22).
    var startTicks: UInt64
    /// Resident set size in pages (field 24).
    var rssPages: Int64

    /// CPU time used so far, user + kernel, in clock ticks.
    var cpuTicks: UInt64 { utime &+ stime }

    /// Parses the line, or nil when it is truncated or malformed.
    static func parse(_ text: String) -> ProcPIDStat? {
        guard let open = text.firstIndex(of: "("), let close = text.lastIndex(of: ")"), open < close,
              let pid = Int(text[..<open].trimmingWhitespace) else { return nil }
        let comm = String(text[text.index(after: open)..<close])
        // Fields after comm start at field 3 (state); index k here is field k + 3.
        let rest = text[text.index(after: close)...].split(whereSeparator: \.isWhitespace)
        func field(_ n: Int) -> Substring? { n - 3 < rest.count ? rest[n - 3] : nil }
        guard let state = field(3), let ppid = field(4).flatMap({ Int($0) }),
              let utime = field(14).flatMap({ UInt64($0) }), let stime = field(15).flatMap({ UInt64($0) }),
              let threads = field(20).flatMap({ Int($0) }), let start = field(22).flatMap({ UInt64($0) }),
              let rss = field(24).flatMap({ Int64($0) }) else { return nil }
        return ProcPIDStat(pid: pid, comm: comm, state: String(state), ppid: ppid, utime: utime, stime: stime,
                           threads: threads, startTicks: start, rssPages: rss)
    }
}

extension StringProtocol {
    /// The text without leading and trailing spaces, tabs and newlines.
    var trimmingWhitespace: Substring {
        let s = self[...]
        guard let first = s.firstIndex(where: { !$0.isWhitespace }),
              let last = s.lastIndex(where: { !$0.isWhitespace }) else { return Substring() }
        return Substring(s[first...last])
    }
}
