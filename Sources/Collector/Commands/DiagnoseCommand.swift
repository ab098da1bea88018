import ArgumentParser
import Diagnosis
import Foundation
import Shared

/// `helpline-collector diagnose FILE.tar.gz`: the findings for a bundle, without a server
/// (air-gapped sites, and technicians' own checks).
struct DiagnoseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Print the findings for a bundle without a server.")

    @Argument(help: "A bundle (.tar.gz) made by helpline.")
    var bundle: String

    @Flag(name: .long, help: "Print JSON: {count, findings, top}.")
    var json = false

    @Option(name: .long, help: "Folder of extra diagnosis rules (*.yaml).")
    var rulesDir: String?

    func run() async throws {
        let engine: DiagnosisEngine
        do { engine = try DiagnosisEngine(extraRulesDirectory: rulesDir) } catch {
            Console.err("helpline-collector: diagnosis rules: \(error)")
            throw ExitCode(2)
        }
        let findings: [Finding]
        do { findings = try engine.diagnose(bundleAt: bundle) } catch {
            Console.err("helpline-collector: cannot diagnose \(bundle): \(error)")
            throw ExitCode(1)
        }
        Console.out(json ? try FindingReport.json(findings) : FindingReport.text(findings))
    }
}
