import Foundation

/// A title/detail/advice text with `{{name}}` or `{{name|fallback}}` placeholders, parsed once at load.
struct Template: Sendable, Equatable {
    /// Literal text or a placeholder.
    enum Part: Sendable, Equatable {
        case text(String)
        case variable(name: String, fallback: String?)
    }
    /// The parsed template, in order.
    let parts: [Part]

    /// Parses `text`.
    /// - Throws: a message when a `{{` is not closed or a name is empty.
    init(_ text: String) throws(TemplateError) {
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            if open.lowerBound > rest.startIndex { parts.append(.text(String(rest[..<open.lowerBound]))) }
            guard let close = rest[open.upperBound...].range(of: "}}") else {
                throw TemplateError(message: "'{{' without a closing '}}'")
            }
            let inner = rest[open.upperBound..<close.lowerBound]
            let pieces = inner.split(separator: "|", maxSplits: 1, omittingEmptySubsequences: false)
            let name = pieces[0].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty else { throw TemplateError(message: "an empty '{{}}' placeholder") }
            parts.append(.variable(name: name, fallback: pieces.count > 1 ? String(pieces[1]) : nil))
            rest = rest[close.upperBound...]
        }
        if !rest.isEmpty { parts.append(.text(String(rest))) }
        self.parts = parts
    }

    /// Placeholder names without a fallback (they must always resolve).
    var requiredNames: [String] {
        parts.compactMap { if case .variable(let n, nil) = $0 { n } else { nil } }
    }

    /// Every placeholder name.
    var names: [String] {
        parts.compactMap { if case .variable(let n, _) = $0 { n } else { nil } }
    }

    /// The text with placeholders replaced: `lookup` first, then the fallback, then `?`.
    func render(_ lookup: (String) -> String?) -> String {
        var out = ""
        for p in parts {
            switch p {
            case .text(let t): out += t
            case .variable(let name, let fallback):
                if let v = lookup(name), !v.isEmpty { out += v } else { out += fallback ?? "?" }
            }
        }
        return out
    }
}

/// Why a template could not be parsed.
struct TemplateError: Error { var message: String }
