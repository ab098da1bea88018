import Foundation
import Shared

/// `processes.json`: every process in `/proc` with owner, state, command line (redacted),
/// threads, RSS, start time and CPU % between two samples, the top consumers marked.
///
/// Edge cases, decided:
/// - `comm` is read up to the LAST `)` of `/proc/PID/stat`, so names with spaces and
///   parentheses survive.
/// - Kernel threads and zombies have an empty command line and no RSS (0).
/// - A process that exits between the two samples keeps its first-sample record with
///   0% CPU: it was running when collection began, and dropping it would hide a
///   short-lived culprit. A pid reused by a new process (different start time) counts as exited.
/// - A process that exits before its first sample is fully read is left out.
/// - Files that exist but cannot be read (`hidepid`, permissions) are named in
///   `unreadable` (at most `unreadableCap`, then a count) and the status is `partial`.
/// - Users are resolved from `<sysroot>/etc/passwd` only (no NSS), so directory-service
///   users show their uid with a nil `user`.
struct ProcessesProbe: Probe {
    /// `processes`.
    let name = "processes"
    /// What it gathers, for `helpline preview`.
    let summary = "Every process: owner, state, command line (redacted), threads, memory, start time, CPU %"
    /// Two samples `cpuSampleInterval` apart plus reading every /proc/PID.
    let timeout: Duration = .seconds(15)
    /// How many processes are marked as top consumers of CPU and of memory.
    var topCount = 5
    /// Most unreadable paths listed by name.
    var unreadableCap = 50

    /// Reads `/proc` twice, `context.options.cpuSampleInterval` apart (under a sysroot, the
    /// second sample is `FixtureOverrides.secondSampleRoot` and nothing sleeps).
    /// - Throws: `ProbeError` when `/proc` cannot be listed.
    func collect(_ context: ProbeContext) throws -> ProbeOutput {
        guard let entries = context.directory("/proc") else {
            throw ProbeError("cannot list \(context.path("/proc")); is /proc mounted?")
        }
        var unreadable: [String] = []
        let pids = entries.compactMap { Int($0) }.sorted()
        let users = context.source("/etc/passwd").text.map(Passwd.parse) ?? [:]
        let bootTime = context.text("/proc/stat", unreadable: &unreadable).flatMap { ProcStat.parse($0).bootTime }
        let ticksPerSecond = Self.ticksPerSecond(context)

        let clock = ContinuousClock()
        let firstAt = clock.now
        var first: [(stat: ProcPIDStat, status: ProcPIDStatus, cmdline: String)] = []
        for pid in pids {
            let dir = "/proc/\(pid)"
            guard let statText = context.text(dir + "/stat", unreadable: &unreadable),
                  let stat = ProcPIDStat.parse(statText) else { continue }
            let status = context.text(dir + "/status", unreadable: &unreadable).map(ProcPIDStatus.parse) ?? ProcPIDStatus()
            let cmdline = context.text(dir + "/cmdline", unreadable: &unreadable).map(ProcPIDCmdline.parse) ?? ""
            first.append((stat, status, cmdline))
        }

        let secondRoot: String
        let interval: Double
        if context.sysroot.isEmpty {
            let nominal = context.options.cpuSampleInterval
            Thread.sleep(forTimeInterval: Self.seconds(nominal))
            secondRoot = "/proc"
            interval = Self.seconds(clock.now - firstAt)
        } else {
            secondRoot = FixtureOverrides(context: context).secondSampleRoot ?? "/proc"
            interval = Self.seconds(context.options.cpuSampleInterval)
        }

        var records: [ProcessRecord] = []
        for (stat, status, cmdline) in first {
            let later = context.source("\(secondRoot)/\(stat.pid)/stat").text.flatMap(ProcPIDStat.parse)
            let startTime = bootTime.map {
                Date(timeIntervalSince1970: Double($0) + Double(stat.startTicks) / ticksPerSecond)
            }
            records.append(ProcessRecord(
                pid: stat.pid, ppid: stat.ppid, uid: status.uid ?? -1, user: status.uid.flatMap { users[$0] }.map(context.redactor.redact),
                state: stat.state, name: context.redactor.redact(stat.comm),
                commandLine: context.redactor.redact(cmdline), threads: status.threads ?? stat.threads,
                rssBytes: status.rssBytes ?? 0, startTime: startTime,
                cpuPercent: Self.cpuPercent(first: stat, second: later, intervalSeconds: interval,
                                            ticksPerSecond: ticksPerSecond)))
        }
        Self.markTopConsumers(&records, count: topCount)

        if unreadable.count > unreadableCap {
            let more = unreadable.count - unreadableCap
            unreadable = Array(unreadable.prefix(unreadableCap)) + ["… and \(more) more"]
        }
        let list = ProcessList(sampleIntervalMS: Int((interval * 1000).rounded()), processes: records)
        return try .json(BundleMember.processes, list, items: records.count, status: unreadable.isEmpty ? .ok : .partial,
                         error: unreadable.isEmpty ? nil : "some process files could not be read", unreadable: unreadable)
    }

    /// CPU use between two samples of one process, in % of one core: the growth of
    /// `utime + stime` over the interval. 0 when the process is gone from the second
    /// sample, or the pid now belongs to a process with another start time.
    static func cpuPercent(first: ProcPIDStat, second: ProcPIDStat?, intervalSeconds: Double,
                           ticksPerSecond: Double) -> Double {
        guard let second, second.startTicks == first.startTicks, second.cpuTicks >= first.cpuTicks,
              intervalSeconds > 0, ticksPerSecond > 0 else { return 0 }
        return Double(second.cpuTicks - first.cpuTicks) / ticksPerSecond / intervalSeconds * 100
    }

    /// Marks the `count` processes using the most CPU (above 0%) and the most memory (above 0 B).
    static func markTopConsumers(_ records: inout [ProcessRecord], count: Int) {
        let byCPU = records.indices.filter { records[$0].cpuPercent > 0 }
            .sorted { (records[$0].cpuPercent, records[$1].pid) > (records[$1].cpuPercent, records[$0].pid) }
        for i in byCPU.prefix(count) { records[i].topCPU = true }
        let byMemory = records.indices.filter { records[$0].rssBytes > 0 }
            .sorted { (records[$0].rssBytes, records[$1].pid) > (records[$1].rssBytes, records[$0].pid) }
        for i in byMemory.prefix(count) { records[i].topMemory = true }
    }

    /// `USER_HZ`: 100 on every Linux architecture Helpline runs on; asked of the live
    /// system only when reading it.
    private static func ticksPerSecond(_ context: ProbeContext) -> Double {
        guard context.sysroot.isEmpty else { return 100 }
        let hz = sysconf(Int32(_SC_CLK_TCK))
        return hz > 0 ? Double(hz) : 100
    }

    private static func seconds(_ d: Duration) -> Double {
        Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
    }
}
