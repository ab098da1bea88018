import Foundation
import Testing
@testable import Diagnosis

/// The rules compiled into the binaries are the rule files, exactly: edit a file and forget
/// `scripts/embed-rules.py`, and this fails.
@Suite struct BuiltInRulesTests {
    /// `Sources/Diagnosis/Rules`, from this file's place in the checkout.
    static var rulesFolder: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources/Diagnosis/Rules").path
    }

    @Test func theCompiledInRulesAreTheRuleFiles() throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.rulesFolder)
            .filter { ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) && !JournalRuleLoader.isExamplesFile($0) }.sorted()
        #expect(BuiltInRules.files.map(\.name) == names, "run scripts/embed-rules.py")
        for (name, yaml, examples) in BuiltInRules.files {
            let file = try String(contentsOfFile: Self.rulesFolder + "/" + name, encoding: .utf8)
            #expect(yaml == file, "\(name) differs from its compiled-in copy; run scripts/embed-rules.py")
            let examplesFile = try String(contentsOfFile: Self.rulesFolder + "/" + JournalRuleLoader.examplesName(for: name), encoding: .utf8)
            #expect(examples == examplesFile, "the examples of \(name) differ from their compiled-in copy; run scripts/embed-rules.py")
        }
    }

    @Test func anEngineNeedsNoRulesFolder() throws {
        // Built from the compiled-in copies (no HELPLINE_BUILTIN_RULES in the test environment).
        #expect(ProcessInfo.processInfo.environment["HELPLINE_BUILTIN_RULES"] == nil)
        let engine = try DiagnosisEngine()
        let journalRules = engine.rules.filter { $0.kind == .journal }
        #expect(journalRules.count >= BuiltInRules.files.count)
        // The same rules as loading the folder.
        let fromFolder = try DiagnosisEngine(builtInRulesDirectory: Self.rulesFolder)
        #expect(engine.rules.map(\.id) == fromFolder.rules.map(\.id))
    }
}
