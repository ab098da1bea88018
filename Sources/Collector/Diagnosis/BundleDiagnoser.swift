import Diagnosis
import Shared

/// Diagnoses uploads: the hook the rules engine plugs into.
///
/// A pass starts when an upload starts; the ingest hands it every journal entry while
/// `BundleReader` validates the stream (so the bundle is read once), and `finish` runs after
/// the blob is in place and before the ticket is written, so its findings go on the ticket
/// and into the agent's receipt. A diagnoser that throws does not lose the bundle: the
/// ingest logs the error and stores the bundle without findings.
public protocol BundleDiagnoser: Sendable {
    /// A fresh pass for one upload.
    func startPass() -> any DiagnosisPass
    /// The rules it applies (id, category, kind, summary), for the rules page and API.
    var rules: [RuleDescription] { get }
}

extension BundleDiagnoser {
    /// No rules to list (a diagnoser without a catalogue).
    public var rules: [RuleDescription] { [] }
}

/// One bundle's diagnosis in progress. Used by one upload at a time: fed while the body
/// streams, then finished inside the ingest's per-bundle critical section (hence Sendable).
public protocol DiagnosisPass: AnyObject, Sendable {
    /// One journal entry, in bundle order.
    func consume(_ entry: JournalEntry)
    /// Findings for the bundle, in any order (the ticket service ranks them).
    /// - Parameters:
    ///   - path: the stored blob, for rules that need to re-read a member.
    ///   - contents: what the reader decoded (manifest and typed members).
    func finish(bundleAt path: String, contents: BundleContents) async throws -> [Finding]
}

/// Finds nothing (tests and tools that need no rules).
public struct EmptyDiagnoser: BundleDiagnoser {
    /// Creates the diagnoser.
    public init() {}

    /// A pass that finds nothing.
    public func startPass() -> any DiagnosisPass { Pass() }

    final class Pass: DiagnosisPass {
        // Stateless.
        func consume(_ entry: JournalEntry) {}
        func finish(bundleAt path: String, contents: BundleContents) async throws -> [Finding] { [] }
    }
}
