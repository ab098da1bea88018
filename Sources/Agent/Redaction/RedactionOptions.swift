import Foundation

/// Which optional redactions are on. Secrets (passwords, tokens, keys…) are always redacted;
/// these identify people and machines and are off unless an organisation turns them on.
struct RedactionOptions: Sendable, Equatable {
    /// Replace e-mail addresses with `[email-N]`.
    var emails = false
    /// Replace the host's user names (whole words) and any `/home/NAME` with `[user-N]`.
    var usernames = false
    /// Replace IPv4 and IPv6 addresses with `[ip-N]` (loopback, unspecified and `255.*` masks stay).
    var ipAddresses = false
    /// Replace MAC addresses with `[mac-N]` (all-zero and broadcast stay).
    var macAddresses = false
    /// Replace the host's own names with `[host-N]`.
    var hostnames = false
    /// Folder of extra rule files (`*.rules`, lines `name: REGEX`) an organisation adds
    /// (`--rules-dir`).
    var rulesDirectory: String?
    /// The administrator's folder of such files (agent.conf `rules_dir`), applied besides
    /// `rulesDirectory`: a run that names its own folder still gets the organisation's rules.
    var organisationRulesDirectory: String?
    /// Every extra rules folder to load, each once.
    var rulesDirectories: [String] {
        var folders: [String] = []
        for folder in [organisationRulesDirectory, rulesDirectory].compactMap({ $0 }) where !folders.contains(folder) {
            folders.append(folder)
        }
        return folders
    }
    /// CPU time the extra rules may spend on one line together (`InputLimits.extraRuleLineBudget`);
    /// a line that needs more is replaced whole.
    var extraRuleLineBudget: Duration = Self.defaultExtraRuleLineBudget

    /// The default per-line budget (5 ms). Here, not in `InputLimits`, so the redactor builds
    /// on its own (the fuzz target compiles only this folder).
    static let defaultExtraRuleLineBudget: Duration = .milliseconds(5)
}

extension RedactionOptions {
    /// These options, made at least as strict as `floor`: each identifier redaction is on where
    /// either has it on, and `floor`'s organisation rules folder applies. The line budget stays
    /// this one's (it only bounds CPU time; a line over it is replaced whole either way).
    func atLeast(_ floor: RedactionOptions) -> RedactionOptions {
        var o = self
        o.emails = emails || floor.emails
        o.usernames = usernames || floor.usernames
        o.ipAddresses = ipAddresses || floor.ipAddresses
        o.macAddresses = macAddresses || floor.macAddresses
        o.hostnames = hostnames || floor.hostnames
        o.organisationRulesDirectory = floor.organisationRulesDirectory ?? organisationRulesDirectory
        return o
    }
}

/// Names the opt-in identifier rules replace (the host's users and hostnames).
struct RedactionIdentities: Sendable {
    /// Login names of the host's people, matched as whole words, case-sensitively.
    var usernames: [String]
    /// The host's names (short and fully qualified), matched as whole words, case-insensitively.
    var hostnames: [String]

    /// Identities to replace; both lists empty by default.
    init(usernames: [String] = [], hostnames: [String] = []) {
        self.usernames = usernames
        self.hostnames = hostnames
    }
}

/// Why a `Redactor` could not be built: an extra-rules folder or file that cannot be used.
struct RedactionError: Error, CustomStringConvertible, Equatable {
    /// The file (or folder) at fault.
    var file: String
    /// 1-based line in `file`, nil when the fault is the file as a whole.
    var line: Int?
    /// What is wrong and what to do about it.
    var message: String

    /// An error about `file` (and `line`) saying `message`.
    init(file: String, line: Int? = nil, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `file:line: message`, the form editors and terminals link to.
    var description: String {
        if let line { return "\(file):\(line): \(message)" }
        return "\(file): \(message)"
    }
}
