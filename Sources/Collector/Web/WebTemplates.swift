import Crypto
import Foundation
import Hummingbird
import Mustache
import NIOCore

/// The compiled-in templates and static files, parsed once at start.
public struct WebTemplates: Sendable {
    /// The templates by name.
    let library: MustacheLibrary
    /// Static files by name: bytes, content type and an ETag.
    let files: [String: (bytes: ByteBuffer, type: String, etag: String)]

    /// The compiled-in templates, parsed once. They are part of the program: one that does
    /// not parse is a build mistake, which `WebAssetsTests` catches before a release.
    static let compiledIn: WebTemplates = {
        do { return try WebTemplates() } catch { fatalError("the compiled-in web templates are broken: \(error)") }
    }()

    /// Parses every template of `WebAssets`.
    /// - Throws: the parser's error with the template's name, for a broken template.
    public init() throws {
        var library = MustacheLibrary()
        for (name, text) in WebAssets.templates {
            do { try library.register(text, named: name) } catch {
                throw WebTemplateError(message: "template \(name).mustache does not parse: \(error)")
            }
        }
        self.library = library
        var files: [String: (ByteBuffer, String, String)] = [:]
        for (name, text) in WebAssets.files {
            let type = name.hasSuffix(".css") ? "text/css; charset=utf-8"
                : name.hasSuffix(".js") ? "text/javascript; charset=utf-8" : "text/plain; charset=utf-8"
            let etag = "\"" + Secrets.hash(text).prefix(16) + "\""
            files[name] = (ByteBuffer(string: text), type, etag)
        }
        self.files = files
    }

    /// Renders a page.
    func render(_ name: String, _ object: Any) throws -> String {
        guard let text = library.render(object, withTemplate: name) else {
            throw WebTemplateError(message: "no template named \(name)")
        }
        return text
    }
}

/// A template is missing or broken (a build problem, not a user's).
struct WebTemplateError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// An HTML page answer with the pages' security headers.
struct HTMLPage: ResponseGenerator {
    var html: String
    var status: HTTPResponse.Status = .ok

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.contentType: "text/html; charset=utf-8"]
        WebHeaders.addPageHeaders(&headers)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: html)))
    }
}

/// A `303 See Other` to a path of this collector.
struct Redirect: ResponseGenerator {
    var location: String
    var cookies: [String] = []

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var headers: HTTPFields = [.location: location, .cacheControl: "no-store"]
        for c in cookies { headers.append(.init(name: .setCookie, value: c)) }
        return Response(status: .seeOther, headers: headers)
    }
}

/// A posted `application/x-www-form-urlencoded` form.
struct WebForm: Sendable {
    /// Field values by name (the first of repeated names).
    var fields: [String: String]

    subscript(_ name: String) -> String? { fields[name] }

    /// Reads and parses a form body of at most `limit` bytes.
    /// - Throws: `APIError` 413 when too large, 415 when not a form, 400 when not UTF-8 or badly escaped.
    static func read(_ request: Request, limit: Int) async throws -> WebForm {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("application/x-www-form-urlencoded") else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", "send the form as application/x-www-form-urlencoded")
        }
        let buffer: ByteBuffer
        do { buffer = try await request.body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "body_too_large", "the form is larger than \(limit) bytes")
        }
        return try parse(String(buffer: buffer))
    }

    /// Parses `a=1&b=two+words`.
    static func parse(_ body: String) throws -> WebForm {
        var fields: [String: String] = [:]
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) throws -> String {
                guard let d = s.replacingOccurrences(of: "+", with: " ").removingPercentEncoding else {
                    throw APIError.badRequest("invalid_form", "the form is not valid URL-encoded UTF-8")
                }
                return d
            }
            let name = try decode(parts[0])
            let value = parts.count > 1 ? try decode(parts[1]) : ""
            if fields[name] == nil { fields[name] = value }
        }
        return WebForm(fields: fields)
    }
}
