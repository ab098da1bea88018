import Foundation
import Shared

/// `/etc/os-release` (os-release(5)): shell-like `KEY=value` lines.
enum OSRelease {
    /// Every assignment in `text`, with quotes removed and `\"`, `\\`, `\$`, `` \` `` unescaped.
    /// Comment lines, blank lines and lines without `=` are ignored; a later key wins.
    static func fields(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#"), let eq = line.firstIndex(of: "=") else { continue }
            let key = String(line[..<eq])
            guard !key.isEmpty, key.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else { continue }
            out[key] = unquote(String(line[line.index(after: eq)...]))
        }
        return out
    }

    /// The fields a bundle keeps (`ID`, `VERSION_ID`, `PRETTY_NAME`).
    static func parse(_ text: String) -> SystemInfo.OSRelease {
        let f = fields(text)
        return SystemInfo.OSRelease(id: f["ID"], versionID: f["VERSION_ID"], prettyName: f["PRETTY_NAME"])
    }

    private static func unquote(_ value: String) -> String {
        var v = Substring(value)
        if v.count >= 2, let q = v.first, q == "\"" || q == "'", v.last == q {
            v = v.dropFirst().dropLast()
            if q == "'" { return String(v) }
        } else if let q = v.first, q == "\"" || q == "'" {
            // Unterminated quote: keep what follows it rather than drop the value.
            v = v.dropFirst()
        }
        var out = ""
        var escaped = false
        for c in v {
            if escaped {
                if !"\"\\$`".contains(c) { out.append("\\") }
                out.append(c)
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        if escaped { out.append("\\") }
        return out
    }
}
