import Diagnosis
import Foundation
import Shared

/// The collector's diagnosis rules, run on this computer on the bundle a request just made,
/// so the user gets an answer at once — whether or not the help desk can be reached.
///
/// The rules are compiled into the agent (`BuiltInRules`); the collector may know newer ones
/// and the fleet's context, so its findings replace these when it answers.
enum LocalDiagnosis {
    /// Ranked findings for the bundle at `path`, or nil when it could not be diagnosed (a
    /// local diagnosis never stops a request; `problem` hears why).
    static func findings(bundleAt path: String, problem: ((String) -> Void)? = nil) -> [Finding]? {
        do {
            return try DiagnosisEngine().diagnose(bundleAt: path)
        } catch {
            problem?("could not diagnose the bundle on this computer: \(error)")
            return nil
        }
    }
}
