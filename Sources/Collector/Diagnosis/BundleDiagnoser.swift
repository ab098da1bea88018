import Shared

/// Diagnoses a stored, validated bundle: the hook the rules engine plugs into.
///
/// Called after the blob is in place and before the ticket is written, so its findings go
/// on the ticket and into the agent's receipt. A diagnoser that throws does not lose the
/// bundle: the ingest logs the error and stores the bundle without findings.
public protocol BundleDiagnoser: Sendable {
    /// Findings for one bundle, in any order (the ticket service ranks them).
    /// - Parameters:
    ///   - path: the bundle's blob (`.tar.gz`), to re-read members such as the journal.
    ///   - contents: what the reader already decoded (manifest and typed members).
    func diagnose(bundleAt path: String, contents: BundleContents) async throws -> [Finding]
}

/// Finds nothing: the default until the rules engine lands.
public struct EmptyDiagnoser: BundleDiagnoser {
    /// Creates the diagnoser.
    public init() {}

    /// No findings.
    public func diagnose(bundleAt path: String, contents: BundleContents) async throws -> [Finding] { [] }
}
