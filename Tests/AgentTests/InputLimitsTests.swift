import ArgumentParser
import Foundation
import Testing
@testable import Agent
@testable import Shared

/// Numbers people type: every flag and setting refuses out-of-range values with a message
/// naming it and the range, at each edge; nothing traps, nothing wraps.
@Suite struct InputLimitsTests {
    // MARK: durations

    @Test(arguments: [
        ("9223372036854775807d", DurationText.Reading.tooLarge),
        ("9223372036854775807", .tooLarge),               // seconds: × 1000 overflows
        ("9223372036854775807ms", .duration(.milliseconds(Int64.max))),
        ("99999999999999999999s", .tooLarge),             // more digits than Int64 holds
        ("106751991168d", .tooLarge),                     // just past Int64.max ms
        ("106751991167d", .duration(.milliseconds(106_751_991_167 * 86_400_000))),
        ("1e400s", .malformed), ("inf", .malformed), ("nan", .malformed), ("-1s", .malformed), ("1.5h", .malformed),
        ("１h", .malformed),                               // a full-width digit is not ASCII
        ("0", .duration(.zero)),
    ])
    func durationsReadWithoutTrapping(_ text: String, _ expected: DurationText.Reading) {
        #expect(DurationText.read(text) == expected)
    }

    @Test func aSumOfManyPartsThatOverflowsIsTooLarge() {
        #expect(DurationText.read(String(repeating: "9000000000000000000ms", count: 2)) == .tooLarge)
        #expect(DurationText.read(String(repeating: "1w", count: 10_000)) == .duration(.seconds(10_000 * 604_800)))
    }

    @Test(arguments: [
        ("3650d", true), ("87600h", true), ("3649d23h59m59s", true), ("1s", true), ("1000d", true),
        ("3650d1ms", false), ("3651d", false), ("100000d", false), ("9223372036854775807d", false), ("1e400s", false),
        ("0", false), ("0s", false), ("999ms", false), ("-1d", false),
    ])
    func sinceAcceptsOneSecondTo3650Days(_ text: String, _ accepted: Bool) throws {
        let result = Result { () throws(InputValueError) in try DurationText.parse(text, for: "--since", in: InputLimits.journalLookback) }
        switch result {
        case .success: #expect(accepted, "\(text) must be refused")
        case .failure(let e):
            #expect(!accepted, "\(text): \(e)")
            #expect(e.description.hasPrefix("--since '\(text)' "))
            #expect(e.description.contains("give 1s to 3650d"), "\(e)")
        }
    }

    @Test func messagesSayWhatIsWrong() {
        func message(_ text: String, _ range: ClosedRange<Duration>, _ name: String) -> String {
            do { _ = try DurationText.parse(text, for: name, in: range); return "" } catch { return error.description }
        }
        #expect(message("100000d", InputLimits.journalLookback, "--since") == "--since '100000d' is too long; give 1s to 3650d")
        #expect(message("0", InputLimits.journalLookback, "--since") == "--since '0' is too short; give 1s to 3650d")
        #expect(message("9223372036854775807d", InputLimits.journalLookback, "since") == "since '9223372036854775807d' is too long; give 1s to 3650d")
        #expect(message("1e400s", InputLimits.cpuSample, "--cpu-sample")
                == "--cpu-sample '1e400s' is not a duration; write e.g. 90s, 30m, 2h, 1d or 1h30m (give 10ms to 5s)")
        #expect(message("5001ms", InputLimits.cpuSample, "--cpu-sample") == "--cpu-sample '5001ms' is too long; give 10ms to 5s")
        #expect(message("9ms", InputLimits.cpuSample, "--cpu-sample") == "--cpu-sample '9ms' is too short; give 10ms to 5s")
        #expect(message("7d1s", InputLimits.heartbeatInterval, "--heartbeat-interval") == "--heartbeat-interval '7d1s' is too long; give 10s to 7d")
        #expect(message("9s", InputLimits.heartbeatInterval, "--heartbeat-interval") == "--heartbeat-interval '9s' is too short; give 10s to 7d")
    }

    // MARK: sizes and counts

    @Test(arguments: [
        ("512MB", WholeNumberText.Reading.count(512_000_000)), ("1GiB", .count(1 << 30)), ("64M", .count(64 << 20)), ("4096", .count(4096)),
        ("9223372036854775807", .count(Int.max)), ("9223372036854775808", .tooLarge), ("9223372036854775807K", .tooLarge),
        ("8589934592GiB", .tooLarge), ("8589934591GiB", .count(8_589_934_591 << 30)), ("-5MB", .count(-5_000_000)),
        ("-9223372036854775807GB", .count(Int.min)), ("1.5GB", .malformed), ("1e9", .malformed), ("lots", .malformed), ("MB", .malformed),
    ])
    func sizesReadWithoutTrapping(_ text: String, _ expected: WholeNumberText.Reading) {
        #expect(ByteCount.read(text) == expected)
    }

    @Test(arguments: [
        ("1MiB", true), ("1TiB", true), ("1048576", true), ("512MB", true),
        ("1048575", false), ("1TiB1", false), ("1099511627777", false), ("0", false), ("-1", false), ("9223372036854775807K", false),
    ])
    func spoolMaxBytesIsOneMiBToOneTiB(_ text: String, _ accepted: Bool) {
        var c = AgentConfig()
        do {
            try c.apply(text: "spool_max_bytes = \(text)", source: "agent.conf")
            #expect(accepted, "\(text) must be refused")
        } catch {
            #expect(!accepted, "\(text): \(error)")
            #expect("\(error)".hasPrefix("agent.conf:1: spool_max_bytes '\(text)' "), "\(error)")
            #expect("\(error)".contains("give 1MiB to 1TiB"), "\(error)")
        }
    }

    @Test(arguments: [
        ("retries", "1", true), ("retries", "10", true), ("retries", "11", false), ("retries", "0", false), ("retries", "-1", false),
        ("retries", "9223372036854775808", false), ("retries", "1e3", false),
        ("spool_max_bundles", "1000", true), ("spool_max_bundles", "1001", false), ("spool_max_bundles", "0", false),
        ("connect_timeout", "100ms", true), ("connect_timeout", "600s", true), ("connect_timeout", "601s", false),
        ("connect_timeout", "99ms", false), ("connect_timeout", "0", false), ("connect_timeout", "9223372036854775807d", false),
        ("stall_timeout", "1h", true), ("stall_timeout", "3601s", false), ("stall_timeout", "999ms", false),
        ("heartbeat_interval", "7d", true), ("heartbeat_interval", "10s", true), ("heartbeat_interval", "7d1ms", false),
        ("heartbeat_interval", "9s", false), ("heartbeat_interval", "1e400s", false),
        ("since", "3650d", true), ("since", "3651d", false), ("important_since", "100000d", false), ("important_since", "0", false),
        ("extra_rule_line_budget", "1ms", true), ("extra_rule_line_budget", "1s", true), ("extra_rule_line_budget", "0", false),
        ("extra_rule_line_budget", "1s1ms", false), ("extra_rule_line_budget", "1", true), ("extra_rule_line_budget", "2", false),
        ("reply_check_interval", "30s", true), ("reply_check_interval", "1d", true), ("reply_check_interval", "29s", false),
        ("reply_check_interval", "1d1s", false),
        ("mapping_retention", "1h", true), ("mapping_retention", "3650d", true), ("mapping_retention", "3599s", false),
        ("mapping_retention", "3650d1s", false), ("mapping_retention", "0", false),
    ])
    func everyNumericSettingHasARange(_ key: String, _ value: String, _ accepted: Bool) {
        var c = AgentConfig()
        do {
            try c.apply(text: "# agent\n\(key) = \(value)\n", source: "/etc/helpline/agent.conf")
            #expect(accepted, "\(key) = \(value) must be refused")
        } catch {
            #expect(!accepted, "\(key) = \(value): \(error)")
            #expect("\(error)".hasPrefix("/etc/helpline/agent.conf:2: \(key) '\(value)' "), "\(error)")
            #expect("\(error)".contains(" to "), "the message names the range: \(error)")
        }
    }

    // MARK: flags

    @Test(arguments: [
        (["--max-journal-entries", "10000000"], nil),
        (["--max-journal-entries", "10000001"], "--max-journal-entries '10000001' is too large; give 1 to 10000000"),
        (["--max-journal-entries", "0"], "--max-journal-entries '0' is too small; give 1 to 10000000"),
        (["--max-journal-entries=-1"], "--max-journal-entries '-1' is too small; give 1 to 10000000"),
        (["--max-journal-entries", "9223372036854775808"], "--max-journal-entries '9223372036854775808' is too large; give 1 to 10000000"),
        (["--max-journal-bytes", "1GiB"], nil),
        (["--max-journal-bytes", "4096"], nil),
        (["--max-journal-bytes", "4095"], "--max-journal-bytes '4095' is too small; give 4KiB to 1GiB"),
        (["--max-journal-bytes", "1073741825"], "--max-journal-bytes '1073741825' is too large; give 4KiB to 1GiB"),
        (["--max-journal-bytes", "9223372036854775807K"], "--max-journal-bytes '9223372036854775807K' is too large; give 4KiB to 1GiB"),
        (["--cpu-sample", "5s"], nil),
        (["--cpu-sample", "0"], "--cpu-sample '0' is too short; give 10ms to 5s"),
        (["--since", "3650d"], nil),
        (["--since", "100000d"], "--since '100000d' is too long; give 1s to 3650d"),
        (["--important-since", "9223372036854775807d"], "--important-since '9223372036854775807d' is too long; give 1s to 3650d"),
        (["--extra-rule-line-budget", "1ms"], nil),
        (["--extra-rule-line-budget", "0ms"], "--extra-rule-line-budget '0ms' is too short; give 1ms to 1s"),
        (["--extra-rule-line-budget", "2s"], "--extra-rule-line-budget '2s' is too long; give 1ms to 1s"),
        (["--compression-level", "9"], nil),
        (["--compression-level", "10"], "--compression-level '10' is too large; give 1 to 9"),
        (["--compression-level", "99999999999999999999"], "--compression-level '99999999999999999999' is too large; give 1 to 9"),
    ] as [([String], String?)])
    func collectionFlagsRefuseOutOfRangeValues(_ arguments: [String], _ message: String?) {
        do {
            _ = try CollectionFlags.parse(arguments)
            #expect(message == nil, "\(arguments) must be refused")
        } catch {
            #expect(CollectionFlags.message(for: error) == message ?? "", "\(arguments)")
        }
    }

    @Test func theLargestValuesAreUsedAsGiven() throws {
        let o = try CollectionFlags.parse(["--since", "3650d", "--important-since", "3650d", "--max-journal-entries", "10000000",
                                           "--max-journal-bytes", "1GiB", "--cpu-sample", "5s", "--compression-level", "9"])
        #expect(o.options.allSince == .seconds(3650 * 86_400))
        #expect(o.options.importantSince == .seconds(3650 * 86_400))
        #expect(o.options.maxJournalEntries == 10_000_000)
        #expect(o.options.maxJournalBytes == 1 << 30)
        #expect(o.options.cpuSampleInterval == .seconds(5))
        #expect(o.compressionLevel == 9)
    }

    @Test(arguments: [
        (["--heartbeat-interval", "7d"], nil),
        (["--heartbeat-interval", "8d"], "--heartbeat-interval '8d' is too long; give 10s to 7d"),
        (["--heartbeat-interval", "0"], "--heartbeat-interval '0' is too short; give 10s to 7d"),
        (["--heartbeat-interval", "9223372036854775807d"], "--heartbeat-interval '9223372036854775807d' is too long; give 10s to 7d"),
        (["--ticks", "0"], "--ticks '0' is too small; give 1 to 1000000"),
    ] as [([String], String?)])
    func daemonFlagsRefuseOutOfRangeValues(_ arguments: [String], _ message: String?) {
        do {
            _ = try DaemonCommand.parse(arguments)
            #expect(message == nil, "\(arguments) must be refused")
        } catch {
            #expect(DaemonCommand.message(for: error) == message ?? "", "\(arguments)")
        }
    }

    @Test func aDaemonRequestIsCheckedThenCappedAtAWeek() throws {
        #expect(try DaemonCommand.daemonOptions(since: "30d").allSince == DaemonCommand.maxUserLookback)
        #expect(try DaemonCommand.daemonOptions(since: "30d").importantSince == DaemonCommand.maxUserLookback)
        #expect(try DaemonCommand.daemonOptions(since: "2h").allSince == .seconds(7200))
        #expect(try DaemonCommand.daemonOptions(since: nil).allSince == CollectOptions().allSince)
        #expect(throws: InputValueError.self) { try DaemonCommand.daemonOptions(since: "9223372036854775807") }
        #expect(throws: InputValueError.self) { try DaemonCommand.daemonOptions(since: "0") }
    }

    /// agent.conf's `since` and `important_since` reach what the daemon collects: a user's
    /// request without `--since` (at most a week), a technician's request (not capped); a
    /// user's own `--since` still wins.
    @Test func theDaemonCollectsAgentConfsWindowUnlessTheUserGaveOne() throws {
        var config = AgentConfig()
        try config.apply(text: "since = 2h\nimportant_since = 10d\n", source: "agent.conf")
        let user = try DaemonCommand.daemonOptions(for: DaemonRequest(note: "x", since: nil), config: config)
        #expect(user.allSince == .seconds(7200) && user.importantSince == DaemonCommand.maxUserLookback)
        let technician = DaemonCommand.configuredOptions(config)
        #expect(technician.allSince == .seconds(7200) && technician.importantSince == .seconds(10 * 86_400))
        let flagged = try DaemonCommand.daemonOptions(for: DaemonRequest(note: "x", since: "30m"), config: config)
        #expect(flagged.allSince == .seconds(1800))
        let none = DaemonCommand.configuredOptions(AgentConfig())
        #expect(none.allSince == CollectOptions().allSince && none.importantSince == CollectOptions().importantSince)
    }

    // MARK: the arithmetic behind them

    @Test func durationConversionsSaturateInsteadOfTrapping() {
        #expect(Duration.seconds(Int64.max).microseconds == .max)
        #expect(Duration.seconds(Int64.min).microseconds == .min)
        #expect(Duration.seconds(Int64.max).milliseconds == .max)
        #expect(Duration.seconds(9_223_372_036_854).milliseconds == 9_223_372_036_854_000)
        #expect(Duration.milliseconds(1500).microseconds == 1_500_000)
    }

    @Test func aWindowLongerThanSince1970StartsAt1970() {
        let now = JournalProbe.microseconds(since1970: Date(timeIntervalSince1970: 1_717_500_000))
        #expect(now == 1_717_500_000_000_000)
        #expect(JournalProbe.start(of: .seconds(100_000 * 86_400), before: now) == 0, "must not wrap round to the far future")
        #expect(JournalProbe.start(of: .seconds(1000 * 86_400), before: now) == now - 1000 * 86_400 * 1_000_000)
        #expect(JournalProbe.start(of: .seconds(Int64.max), before: now) == 0)
        #expect(JournalProbe.start(of: .seconds(-5), before: now) == now)
        #expect(JournalProbe.microseconds(since1970: Date(timeIntervalSince1970: -1)) == 0)
        #expect(JournalProbe.microseconds(since1970: .distantFuture) == 64_092_211_200_000_000)
    }
}

extension ParsableArguments {
    /// The text ArgumentParser would print for `error`, without the usage lines.
    static func message(for error: any Error) -> String {
        fullMessage(for: error).split(separator: "\n").first.map { String($0).replacingOccurrences(of: "Error: ", with: "") } ?? ""
    }
}
