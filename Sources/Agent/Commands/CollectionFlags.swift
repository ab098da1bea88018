import ArgumentParser
import Foundation

/// Collection options shared by `collect`, `preview` and `request`.
struct CollectionFlags: ParsableArguments {
    @Option(name: .customLong("since"), help: ArgumentHelp("Every journal entry from this long ago (e.g. 30m, 2h, 1d; at most 3650d; default agent.conf's since, else 1h).", valueName: "DURATION"))
    var since: String?
    /// The window when neither `--since` nor agent.conf's `since` says.
    static let defaultSince = "1h"

    @Option(name: .customLong("important-since"), help: ArgumentHelp("Warnings and worse from this long ago (at most 3650d).", valueName: "DURATION"))
    var importantSince: String = "72h"

    @Option(name: .customLong("sysroot"), help: ArgumentHelp("Read /proc, /sys, /etc and /run under DIR (a mounted system, a fixture).", valueName: "DIR"))
    var sysroot: String?

    @Option(name: .customLong("journal-directory"), help: ArgumentHelp("Read journal files from DIR, like journalctl --directory.", valueName: "DIR"))
    var journalDirectory: String?

    @Option(name: .customLong("max-journal-entries"), help: ArgumentHelp("Most journal entries in the bundle (1 to 10000000); the newest are kept.", valueName: "N"))
    var maxJournalEntries: String = "200000"

    @Option(name: .customLong("max-journal-bytes"), help: ArgumentHelp("Most uncompressed bytes of journal.jsonl (4KiB to 1GiB, e.g. 64MiB); the newest entries are kept.", valueName: "SIZE"))
    var maxJournalBytes: String = "64MiB"

    @Option(name: .customLong("cpu-sample"), help: ArgumentHelp("Time between the two CPU samples of the processes probe (10ms to 5s).", valueName: "DURATION"))
    var cpuSample: String = "500ms"

    @Option(name: .customLong("rules-dir"), help: ArgumentHelp("Extra redaction rules (*.rules files).", valueName: "DIR"))
    var rulesDirectory: String?

    @Option(name: .customLong("extra-rule-line-budget"), help: ArgumentHelp("CPU time the extra rules may spend on one line, 1ms to 1s (default from config: 5ms); a line that needs more is replaced whole.", valueName: "DURATION"))
    var extraRuleLineBudget: String?

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

    @Option(name: .customLong("compression-level"), help: ArgumentHelp("Deflate level, 1 (fastest) to 9 (smallest).", valueName: "LEVEL"))
    var compressionLevelText: String = "3"

    /// `--compression-level`, checked by `validate()`.
    var compressionLevel: Int32 { (try? checked().level) ?? 3 }

    func validate() throws {
        do { _ = try checked() } catch { throw ValidationError(error.description) }
        if let sysroot, !FileManager.default.fileExists(atPath: sysroot) {
            throw ValidationError("--sysroot \(sysroot) does not exist")
        }
        if let journalDirectory, !FileManager.default.fileExists(atPath: journalDirectory) {
            throw ValidationError("--journal-directory \(journalDirectory) does not exist")
        }
    }

    /// Every number these flags hold, parsed and range-checked.
    /// - Throws: `InputValueError` naming the first flag out of range.
    func checked() throws(InputValueError) -> (options: CollectOptions, level: Int32) {
        var o = CollectOptions()
        o.sysroot = sysroot.map { $0 == "/" ? "" : ($0.hasSuffix("/") ? String($0.dropLast()) : $0) } ?? ""
        o.journalDirectory = journalDirectory
        o.allSince = try DurationText.parse(since ?? Self.defaultSince, for: "--since", in: InputLimits.journalLookback)
        o.importantSince = max(try DurationText.parse(importantSince, for: "--important-since", in: InputLimits.journalLookback), o.allSince)
        o.maxJournalEntries = try WholeNumberText.parse(maxJournalEntries, for: "--max-journal-entries", in: InputLimits.journalEntries)
        o.maxJournalBytes = try ByteCount.parse(maxJournalBytes, for: "--max-journal-bytes", in: InputLimits.journalBytes)
        o.cpuSampleInterval = try DurationText.parse(cpuSample, for: "--cpu-sample", in: InputLimits.cpuSample)
        o.redaction = RedactionOptions(emails: redactEmails, usernames: redactUsernames, ipAddresses: redactIPs,
                                       macAddresses: redactMACs, hostnames: redactHostnames, rulesDirectory: rulesDirectory)
        if let extraRuleLineBudget {
            o.redaction.extraRuleLineBudget = try DurationText.parse(extraRuleLineBudget, for: "--extra-rule-line-budget",
                                                                     in: InputLimits.extraRuleLineBudget)
        }
        let level = try WholeNumberText.parse(compressionLevelText, for: "--compression-level", in: InputLimits.compressionLevel)
        return (o, Int32(level))
    }

    /// The options these flags describe, with the config file's `since`/`important_since`
    /// where the flags were left at their defaults, and the config file's redaction always:
    /// its `rules_dir` besides any `--rules-dir`, and each `redact_*` it turns on (a flag can
    /// turn more on, never one off).
    func options(defaultsFrom config: AgentConfig) -> CollectOptions {
        var o = options
        o.redaction = o.redaction.atLeast(config.redaction)
        // The config file's values were range-checked when it was read.
        if since == nil, let d = config.since.flatMap(DurationText.parse) { o.allSince = min(d, InputLimits.maxJournalLookback) }
        if importantSince == "72h", let d = config.importantSince.flatMap(DurationText.parse) {
            o.importantSince = max(min(d, InputLimits.maxJournalLookback), o.allSince)
        }
        if extraRuleLineBudget == nil { o.redaction.extraRuleLineBudget = config.extraRuleLineBudget }
        return o
    }

    /// The options these flags describe (checked by `validate()`, which runs before any command).
    var options: CollectOptions { (try? checked().options) ?? CollectOptions() }
}
