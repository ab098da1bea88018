import Diagnosis
import Shared

/// The rules engine (`Diagnosis`) as the collector's diagnoser: built-in rules plus a
/// technician's own from the configured rules folder, loaded once at startup.
public struct RuleDiagnoser: BundleDiagnoser {
    /// The loaded rules.
    public let engine: DiagnosisEngine

    /// Loads the rules.
    /// - Throws: `DiagnosisError` naming the rule file, line and what to fix.
    public init(extraRulesDirectory: String?) throws {
        engine = try DiagnosisEngine(extraRulesDirectory: extraRulesDirectory)
    }

    /// The engine's rules: built-in and the rules folder's.
    public var rules: [RuleDescription] { engine.rules }

    /// A pass feeding the engine's session.
    public func startPass() -> any DiagnosisPass { Pass(session: engine.session()) }

    final class Pass: DiagnosisPass, @unchecked Sendable {
        // @unchecked: the session is fed and finished by one upload, strictly in sequence
        // (never concurrently), as `DiagnosisPass` requires.
        let session: DiagnosisSession
        init(session: DiagnosisSession) { self.session = session }
        func consume(_ entry: JournalEntry) { session.consume(entry) }
        func finish(bundleAt path: String, contents: BundleContents) async throws -> [Finding] {
            session.finish(contents: contents)
        }
    }
}
