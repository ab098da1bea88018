import Foundation
/// `/proc/cpuinfo`: one block per logical CPU, `key<TAB>: value` lines.
struct CPUInfo: Sendable, Equatable {
    /// `model name` of the first CPU (x86), or `Model`/`Hardware`/`cpu model` on other
    /// architectures.
    var model: String?
    /// Logical CPUs (`processor` lines).
    var count: Int
    /// The `hypervisor` CPU flag: the kernel runs under a hypervisor.
    var hypervisorFlag: Bool

    /// Parses the text of `/proc/cpuinfo`.
    static func parse(_ text: String) -> CPUInfo {
        var model: String?
        var fallbackModel: String?
        var count = 0
        var hypervisor = false
        for line in text.split(whereSeparator: \.isNewline) {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            switch key {
            case "processor": count += 1
            case "model name": if model == nil, !value.isEmpty { model = value }
            case "Model", "Hardware", "cpu model", "uarch":
                if fallbackModel == nil, !value.isEmpty { fallbackModel = value }
            case "flags":
                if value.split(separator: " ").contains("hypervisor") { hypervisor = true }
            default: break
            }
        }
        return CPUInfo(model: model ?? fallbackModel, count: count, hypervisorFlag: hypervisor)
    }
}
