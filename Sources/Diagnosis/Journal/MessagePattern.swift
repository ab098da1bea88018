import Foundation

/// Which regular expression engine compiled patterns use. Both give the same results on the
/// rule patterns; `foundation` (ICU's `NSRegularExpression`) is the default because it measured
/// faster here (bench/diagnosis).
public enum RegexEngine: String, Sendable, Codable, CaseIterable {
    /// `NSRegularExpression`.
    case foundation
    /// Swift's `Regex`, compiled from the pattern string at load.
    case swift
}

/// A compiled message regex with its named capture groups (`(?<device>…)`).
///
/// `@unchecked Sendable`: immutable after `init`; `NSRegularExpression` is documented as safe
/// to share between threads, and a Swift `Regex` is an immutable value (its compiled program is
/// never mutated by matching).
final class MessagePattern: @unchecked Sendable {
    /// The pattern as written in the rule.
    let source: String
    /// Named capture groups, in order of appearance.
    let names: [String]
    private let foundation: NSRegularExpression?
    private let swift: Regex<AnyRegexOutput>?

    /// Compiles `source`.
    /// - Throws: the engine's error text, for the loader to wrap with file and line.
    init(_ source: String, engine: RegexEngine) throws {
        self.source = source
        names = Self.captureNames(in: source)
        switch engine {
        case .foundation:
            foundation = try NSRegularExpression(pattern: source)
            swift = nil
        case .swift:
            swift = try Regex(source).matchingSemantics(.unicodeScalar)
            foundation = nil
        }
    }

    /// The named captures of the first match (empty strings for groups that did not take part),
    /// or nil when `text` does not match.
    func match(_ text: String) -> [String: String]? {
        if let foundation {
            let ns = text as NSString
            guard let m = foundation.firstMatch(in: text, range: NSRange(location: 0, length: ns.length)) else { return nil }
            var out: [String: String] = [:]
            for name in names {
                let r = m.range(withName: name)
                out[name] = r.location == NSNotFound ? "" : ns.substring(with: r)
            }
            return out
        }
        if let swift {
            guard let m = try? swift.firstMatch(in: text) else { return nil }
            var out: [String: String] = [:]
            for name in names { out[name] = m.output[name]?.substring.map(String.init) ?? "" }
            return out
        }
        return nil
    }

    /// Names of `(?<name>` groups (not lookbehinds `(?<=`/`(?<!`).
    static func captureNames(in pattern: String) -> [String] {
        var names: [String] = []
        let chars = Array(pattern.utf8)
        var i = 0
        while i + 3 < chars.count {
            if chars[i] == UInt8(ascii: "\\") { i += 2; continue }
            if chars[i] == UInt8(ascii: "("), chars[i + 1] == UInt8(ascii: "?"), chars[i + 2] == UInt8(ascii: "<"),
               chars[i + 3] != UInt8(ascii: "="), chars[i + 3] != UInt8(ascii: "!") {
                var j = i + 3
                while j < chars.count, chars[j] != UInt8(ascii: ">") { j += 1 }
                names.append(String(decoding: chars[(i + 3)..<j], as: UTF8.self))
                i = j
            }
            i += 1
        }
        return names
    }
}
