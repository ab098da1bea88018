import Foundation
import Shared

/// A rule over the bundle's typed members, written in Swift: one file per rule under
/// `MetricRules/`, listed once in `MetricRules.builtIn`.
public protocol MetricRule: Sendable {
    /// Id, category and summary.
    var description: RuleDescription { get }
    /// The findings this rule raises for `contents` (none when all is well).
    func evaluate(_ contents: BundleContents, configuration: DiagnosisConfiguration) -> [Finding]
}

/// The built-in metric rules. Adding one = one file + one line here + one test.
public enum MetricRules {
    /// Every built-in metric rule, in documentation order.
    public static let builtIn: [any MetricRule] = [
        DiskSpaceRule(), InodeRule(), ReadOnlyFilesystemRule(),
        MemoryPressureRule(), LowAvailableMemoryRule(), SwapExhaustionRule(), OOMKillCounterRule(),
        FailedUnitsRule(), CPUHogRule(), MemoryHogRule(), HighLoadRule(), IOPressureRule(), CPUPressureRule(),
    ]
}

/// Human figures for titles and evidence.
enum Figures {
    /// `12.3 GB`, `512 MB` (decimal units, as file managers show).
    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var v = Double(n)
        var i = 0
        while v >= 1000 && i < units.count - 1 { v /= 1000; i += 1 }
        return i == 0 ? "\(n) B" : String(format: v >= 100 ? "%.0f" : "%.1f", v) + " " + units[i]
    }

    /// `97.0 %`.
    static func percent(_ p: Double) -> String { String(format: "%.1f %%", p) }

    /// `2.14`.
    static func decimal(_ d: Double) -> String { String(format: "%.2f", d) }

    /// A metric evidence item.
    static func metric(_ label: String, _ value: String) -> Evidence { Evidence(kind: "metric", label: label, value: value) }
}
