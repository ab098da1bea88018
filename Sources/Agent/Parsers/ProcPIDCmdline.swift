/// `/proc/PID/cmdline`: the arguments, each ended by a NUL.
enum ProcPIDCmdline {
    /// The arguments joined by spaces; empty for kernel threads and zombies. A process that
    /// rewrote its argv with spaces instead of NULs (`setproctitle`) reads as-is.
    static func parse(_ text: String) -> String {
        text.split(separator: "\0", omittingEmptySubsequences: true).joined(separator: " ")
    }
}
