import Foundation

/// What to collect and from where; set by `helpline collect`/`preview`/`request` flags.
struct CollectOptions: Sendable {
    /// Root of the system to read (`""` = this machine).
    var sysroot: String = ""
    /// Read journal files from this folder instead of the system journal.
    var journalDirectory: String?
    /// Every journal entry from this long ago.
    var allSince: Duration = .seconds(60 * 60)
    /// Warnings and worse from this long ago.
    var importantSince: Duration = .seconds(72 * 60 * 60)
    /// Priority threshold for `importantSince` (4 = warning).
    var importantPriority: Int = 4
    /// Most journal entries in a bundle.
    var maxJournalEntries: Int = 200_000
    /// Most uncompressed bytes of journal.jsonl.
    var maxJournalBytes: Int = 64 << 20
    /// Time between the two CPU samples of the processes probe.
    var cpuSampleInterval: Duration = .milliseconds(500)
    /// Redaction switches.
    var redaction = RedactionOptions()
}
