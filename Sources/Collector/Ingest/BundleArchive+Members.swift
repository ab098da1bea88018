import Foundation
import Shared

extension BundleArchive {
    /// The bytes of several members in one pass over the blob, stopping once all are found.
    /// Members missing from the bundle are missing from the answer.
    /// - Throws: `BundleError` (`.memberTooLarge` when one is over `maxBytes`, `.io`…).
    public func members(_ names: Set<String>, maxBytes: Int) throws -> [String: [UInt8]] {
        var found: [String: [UInt8]] = [:]
        var current: String?
        var bytes: [UInt8] = []
        try stream { event in
            switch event {
            case .begin(let entry):
                current = nil
                if entry.kind == .file, names.contains(entry.name), found[entry.name] == nil {
                    guard entry.size <= maxBytes else {
                        throw BundleError(.memberTooLarge, "member \(entry.name) is \(entry.size) bytes, over the limit of \(maxBytes)")
                    }
                    current = entry.name
                    bytes = []
                    bytes.reserveCapacity(entry.size)
                }
            case .data(let chunk):
                if current != nil { bytes.append(contentsOf: chunk) }
            case .end:
                if let name = current {
                    found[name] = bytes
                    current = nil
                    if found.count == names.count { return false }
                }
            }
            return true
        }
        return found
    }
}
