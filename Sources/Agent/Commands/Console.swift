import Foundation
import Shared

/// Writes to the terminal through FileHandle (the C `stdout`/`stderr` globals are not
/// concurrency-safe in Swift 6).
enum Console {
    /// Prints `text` and a newline on standard output.
    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }
    /// Prints `text` and a newline on standard error.
    static func error(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }
    /// Whether standard error is a terminal (progress is shown only then).
    static var stderrIsTerminal: Bool { isatty(2) == 1 }
    /// Whether standard output is a terminal.
    static var stdoutIsTerminal: Bool { isatty(1) == 1 }
}

/// Shows long text a screen at a time when standard output is a terminal (`$PAGER`, else
/// `less`), or prints it.
enum Pager {
    static func show(_ bytes: [UInt8]) {
        guard Console.stdoutIsTerminal else {
            FileHandle.standardOutput.write(Data(bytes))
            return
        }
        let pager = ProcessInfo.processInfo.environment["PAGER"].flatMap { $0.isEmpty ? nil : $0 } ?? "less"
        do {
            // Waits as long as the user reads; a pager that cannot start prints instead.
            _ = try ChildProcess.run("/bin/sh", ["-c", pager], input: bytes, stdout: .inherit, stderr: .inherit, timeout: nil)
        } catch {
            FileHandle.standardOutput.write(Data(bytes))
        }
    }
}

/// Plain-language text for what the agent did.
enum Report {
    /// `1.2 MB`, `340 KB`, `12 B`.
    static func size(_ bytes: Int) -> String {
        let b = Double(bytes)
        if b >= 1_000_000_000 { return String(format: "%.1f GB", b / 1e9) }
        if b >= 1_000_000 { return String(format: "%.1f MB", b / 1e6) }
        if b >= 1_000 { return String(format: "%.0f KB", b / 1e3) }
        return "\(bytes) B"
    }

    /// What each probe gathered, one line each.
    static func probeLines(_ manifest: Manifest) -> [String] {
        manifest.probes.map { p in
            var line = "  " + p.name.padding(toLength: 10, withPad: " ", startingAt: 0)
                + p.status.rawValue.padding(toLength: 8, withPad: " ", startingAt: 0)
                + String(format: "%8d items %9@ %6d ms", p.items, size(p.bytes) as NSString, p.durationMS)
            if let e = p.error { line += "  — \(e)" }
            if let t = p.truncation { line += "  — \(t)" }
            if let u = p.unreadable, !u.isEmpty { line += "  — could not read: \(u.joined(separator: ", "))" }
            return line
        }
    }

    /// What redaction replaced, e.g. `Redacted: 2 password, 1 bearer_token`.
    static func redactionLine(_ manifest: Manifest) -> String {
        let parts = manifest.redactions.filter { $0.value > 0 }.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
        return parts.isEmpty ? "Redacted: nothing needed redacting" : "Redacted: " + parts.joined(separator: ", ")
    }

    /// The summary `helpline collect` prints.
    static func bundleSummary(_ result: Collection.Result) -> String {
        var lines = ["Bundle written: \(result.bundle.path) (\(size(result.bundle.bytes)))"]
        lines += probeLines(result.manifest)
        lines.append(redactionLine(result.manifest))
        if !result.redactionMapping.isEmpty {
            lines.append("Placeholders can be resolved on this computer only: \(result.bundle.path).map.json")
        }
        return lines.joined(separator: "\n")
    }

    /// What `helpline preview` prints.
    static func preview(_ result: Collection.Result) -> String {
        var lines = ["This is what a bundle would hold (nothing was sent; the preview was deleted):"]
        lines += probeLines(result.manifest)
        lines.append(redactionLine(result.manifest))
        lines.append("Compressed size: \(size(result.bundle.bytes)). See a probe's content with: helpline preview --probe NAME")
        return lines.joined(separator: "\n")
    }
}

extension Report {
    /// What the user reads after a delivered request.
    static func receipt(_ r: BundleReceipt) -> String {
        var lines: [String] = []
        // `duplicate` means the collector had this bundle already: an earlier attempt got
        // through but its answer was lost. For the user it is simply delivered.
        if r.joinedExistingTicket {
            lines.append("Added to your open ticket #\(r.ticketID) (it looks like the same problem) — \(r.ticketURL)")
        } else {
            lines.append("Ticket #\(r.ticketID) opened — \(r.ticketURL)")
        }
        if r.findings.isEmpty {
            lines.append("Nothing was recognised automatically; a technician will look at what was sent.")
        } else {
            lines.append("The help desk found:")
            lines += findingLines(r.findings)
        }
        return lines.joined(separator: "\n")
    }

    /// What the rules found on this computer, said as such (the help desk diagnoses the
    /// bundle again when it arrives, with newer rules and the fleet's context).
    static func localFindings(_ findings: [Finding]) -> [String] {
        guard !findings.isEmpty else {
            return ["Nothing was recognised on this computer; a technician will look at what was collected."]
        }
        return ["Found on this computer:"] + findingLines(findings)
    }

    /// A bullet per finding, with what the user can do.
    static func findingLines(_ findings: [Finding]) -> [String] {
        findings.flatMap { f in
            ["  • [\(f.severity.rawValue)] \(f.title)"] + (f.userAdvice.isEmpty ? [] : ["    What you can do: \(f.userAdvice)"])
        }
    }

    /// What probes could not read, for the user.
    static func unreadable(_ manifest: Manifest) -> [String] {
        manifest.probes.flatMap { p in (p.unreadable ?? []).map { "\(p.name): \($0)" } }
    }

    /// `helpline status` text.
    static func status(tickets: [HostTicket]?, problem: String?, spooled: [SpoolItem]) -> String {
        var lines: [String] = []
        if let problem {
            lines.append("Could not reach the help desk: \(problem)")
        } else if let tickets {
            if tickets.isEmpty { lines.append("No tickets for this computer.") }
            for t in tickets {
                let updated = t.updatedAt.formatted(date: .abbreviated, time: .shortened)
                lines.append("#\(t.id)  \(t.status.words)  \(t.title)  (updated \(updated)\(t.assignee.map { ", \($0) is on it" } ?? ""))")
                for reply in t.replies {
                    lines.append("    \(reply.author), \(reply.createdAt.formatted(date: .abbreviated, time: .shortened)): \(reply.body)")
                }
            }
        }
        if spooled.isEmpty {
            lines.append("Nothing is waiting to be sent.")
        } else {
            lines.append("Waiting to be sent: \(spooled.count)")
            for s in spooled {
                lines.append("  \(s.bundleID)  \(s.createdAt.formatted(date: .abbreviated, time: .shortened))  \(size(s.bytes))\(s.lastError.map { "  last error: \($0)" } ?? "")")
            }
        }
        return lines.joined(separator: "\n")
    }
}
