import ArgumentParser
import Foundation

/// Collection options shared by `collect`, `preview` and `request`.
struct CollectionFlags: ParsableArguments {
    @Option(name: .customLong("since"), help: ArgumentHelp("Every journal entry from this long ago (e.g. 30m, 2h, 1d).", valueName: "DURATION"))
    var since: String = "1h"

    @Option(name: .customLong("important-since"), help: ArgumentHelp("Warnings and worse from this long ago.", valueName: "DURATION"))
    var importantSince: String = "72h"

    @Option(name: .customLong("sysroot"), help: ArgumentHelp("Read /proc, /sys, /etc and /run under DIR (a mounted system, a fixture).", valueName: "DIR"))
    var sysroot: String?

    @Option(name: .customLong("journal-directory"), help: ArgumentHelp("Read journal files from DIR, like journalctl --directory.", valueName: "DIR"))
    var journalDirectory: String?

    @Option(name: .customLong("max-journal-entries"), help: "Most journal entries in the bundle; the newest are kept.")
    var maxJournalEntries: Int = 200_000

    @Option(name: .customLong("max-journal-bytes"), help: "Most uncompressed bytes of journal.jsonl; the newest entries are kept.")
    var maxJournalBytes: Int = 64 << 20

    @Option(name: .customLong("cpu-sample"), help: ArgumentHelp("Time between the two CPU samples of the processes probe.", valueName: "DURATION"))
    var cpuSample: String = "500ms"

    @Option(name: .customLong("rules-dir"), help: ArgumentHelp("Extra redaction rules (*.rules files).", valueName: "DIR"))
    var rulesDirectory: String?

    @Flag(name: .customLong("redact-emails"), help: "Replace e-mail addresses with consistent placeholders.")
    var redactEmails = false
    @Flag(name: .customLong("redact-usernames"), help: "Replace local user names with consistent placeholders.")
    var redactUsernames = false
    @Flag(name: .customLong("redact-ips"), help: "Replace IPv4/IPv6 addresses with consistent placeholders.")
    var redactIPs = false
    @Flag(name: .customLong("redact-macs"), help: "Replace MAC addresses with consistent placeholders.")
    var redactMACs = false
    @Flag(name: .customLong("redact-hostnames"), help: "Replace this machine's host names with consistent placeholders.")
    var redactHostnames = false

    @Option(name: .customLong("compression-level"), help: "Deflate level, 1 (fastest) to 9 (smallest).")
    var compressionLevel: Int32 = 3

    func validate() throws {
        for (flag, text) in [("--since", since), ("--important-since", importantSince), ("--cpu-sample", cpuSample)] {
            guard DurationText.parse(text) != nil else {
                throw ValidationError("\(flag) '\(text)' is not a duration; write e.g. 90s, 30m, 2h, 1d or 1h30m")
            }
        }
        guard maxJournalEntries > 0 else { throw ValidationError("--max-journal-entries must be at least 1") }
        guard maxJournalBytes >= 4096 else { throw ValidationError("--max-journal-bytes must be at least 4096") }
        guard (1...9).contains(compressionLevel) else { throw ValidationError("--compression-level must be 1 to 9") }
        if let sysroot, !FileManager.default.fileExists(atPath: sysroot) {
            throw ValidationError("--sysroot \(sysroot) does not exist")
        }
        if let journalDirectory, !FileManager.default.fileExists(atPath: journalDirectory) {
            throw ValidationError("--journal-directory \(journalDirectory) does not exist")
        }
    }

    /// The options these flags describe, with the config file's `since`/`important_since`
    /// where the flags were left at their defaults.
    func options(defaultsFrom config: AgentConfig) -> CollectOptions {
        var o = options
        if since == "1h", let d = config.since.flatMap(DurationText.parse) { o.allSince = d }
        if importantSince == "72h", let d = config.importantSince.flatMap(DurationText.parse) { o.importantSince = max(d, o.allSince) }
        return o
    }

    /// The options these flags describe.
    var options: CollectOptions {
        var o = CollectOptions()
        o.sysroot = sysroot.map { $0 == "/" ? "" : ($0.hasSuffix("/") ? String($0.dropLast()) : $0) } ?? ""
        o.journalDirectory = journalDirectory
        o.allSince = DurationText.parse(since) ?? o.allSince
        o.importantSince = max(DurationText.parse(importantSince) ?? o.importantSince, o.allSince)
        o.maxJournalEntries = maxJournalEntries
        o.maxJournalBytes = maxJournalBytes
        o.cpuSampleInterval = DurationText.parse(cpuSample) ?? o.cpuSampleInterval
        o.redaction = RedactionOptions(emails: redactEmails, usernames: redactUsernames, ipAddresses: redactIPs,
                                       macAddresses: redactMACs, hostnames: redactHostnames, rulesDirectory: rulesDirectory)
        return o
    }
}

/// Durations as people type them: `90s`, `30m`, `2h`, `1d`, `1h30m`, `500ms`.
enum DurationText {
    /// The duration `text` spells, or nil.
    static func parse(_ text: String) -> Duration? {
        var total: Duration = .zero
        var number = ""
        var sawUnit = false
        var chars = Array(text.lowercased().trimmingCharacters(in: .whitespaces))
        guard !chars.isEmpty else { return nil }
        var i = 0
        while i < chars.count {
            let c = chars[i]
            if c.isNumber { number.append(c); i += 1; continue }
            guard let n = Int64(number), n >= 0, n < 1_000_000_000 else { return nil }
            number = ""
            var unit = String(c)
            if c == "m", i + 1 < chars.count, chars[i + 1] == "s" { unit = "ms"; i += 1 }
            i += 1
            switch unit {
            case "ms": total += .milliseconds(n)
            case "s": total += .seconds(n)
            case "m": total += .seconds(n * 60)
            case "h": total += .seconds(n * 3600)
            case "d": total += .seconds(n * 86_400)
            case "w": total += .seconds(n * 604_800)
            default: return nil
            }
            sawUnit = true
        }
        if !number.isEmpty {
            // A bare number means seconds.
            guard let n = Int64(number) else { return nil }
            total += .seconds(n)
            sawUnit = true
        }
        chars.removeAll()
        return sawUnit ? total : nil
    }
}
