import Foundation
import Hummingbird
import Logging
import NIOCore
import Shared

/// Who made a request, once an auth middleware has checked it.
public enum Identity: Sendable, Equatable {
    /// An enrolled workstation (host token).
    case host(HostRecord)
    /// A technician or admin (API token or web session).
    case user(Principal)
}

/// An authenticated technician or admin.
public struct Principal: Sendable, Equatable {
    /// How they proved who they are.
    public enum Credential: String, Sendable {
        case apiToken = "api_token"
        case session
    }
    /// Token or user name (shown as comment author).
    public var name: String
    public var role: UserRole
    public var credential: Credential
}

/// The request context of every collector route: Hummingbird's core plus the caller's identity.
public struct CollectorRequestContext: RequestContext {
    /// Hummingbird's storage.
    public var coreContext: CoreRequestContextStorage
    /// Set by `HostAuthMiddleware` or `TechnicianAuthMiddleware`.
    public var identity: Identity?
    /// Set by `WebAuthMiddleware` for pages: the session's CSRF token and hash.
    public var web: WebSession?

    /// Creates a context for a new request.
    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress
    }

    /// The client's IP address (sign-in throttling and the audit log); nil when unknown.
    public var clientAddress: String?

    /// Bodies are read by the controllers with their own limits (`max_json_body_bytes`,
    /// `max_bundle_bytes`); this is only Hummingbird's fallback.
    public var maxUploadSize: Int { 1 << 20 }

    /// The authenticated host, or 401.
    public func requireHost() throws -> HostRecord {
        guard case .host(let host) = identity else {
            throw APIError.unauthorized("missing_token", "this endpoint needs a host token: Authorization: Bearer hlh_…")
        }
        return host
    }

    /// The authenticated technician or admin, or 401.
    public func requireUser() throws -> Principal {
        guard case .user(let user) = identity else {
            throw APIError.unauthorized("missing_token", "this endpoint needs an API token: Authorization: Bearer hlt_…")
        }
        return user
    }
}

extension Request {
    /// The bearer token of the `Authorization` header, if any.
    var bearerToken: String? {
        guard let value = headers[.authorization] else { return nil }
        return Self.bearerToken(in: value)
    }

    /// The token of an `Authorization` value `Bearer <token>` (scheme in any case, spaces or
    /// tabs around the token ignored). Works on UTF-8 bytes: every authenticated request
    /// passes here, and Foundation's `trimmingCharacters`/`lowercased` showed in the profile.
    static func bearerToken(in value: String) -> String? {
        var utf8 = Substring(value).utf8
        let scheme = "bearer".utf8
        guard utf8.count > scheme.count,
              zip(utf8, scheme).allSatisfy({ $0 | 0x20 == $1 }),
              utf8[utf8.index(utf8.startIndex, offsetBy: scheme.count)] == UInt8(ascii: " ") else { return nil }
        utf8 = utf8.dropFirst(scheme.count + 1)
        func isBlank(_ b: UInt8) -> Bool { b == UInt8(ascii: " ") || b == UInt8(ascii: "\t") }
        while let first = utf8.first, isBlank(first) { utf8 = utf8.dropFirst() }
        while let last = utf8.last, isBlank(last) { utf8 = utf8.dropLast() }
        return utf8.isEmpty ? nil : String(Substring(utf8))
    }

    /// Reads and decodes a JSON body of at most `limit` bytes with the wire contract's coders.
    /// - Throws: `APIError` 413 when too large, 415 when not JSON, 400 when malformed.
    func decodeJSON<T: Decodable>(_ type: T.Type, limit: Int) async throws -> T {
        try Self.decodeJSON(type, from: Data(buffer: try await collectJSON(limit: limit)))
    }

    /// The body of a JSON request, at most `limit` bytes, not yet decoded.
    /// - Throws: `APIError` 413 when too large, 415 when not JSON.
    func collectJSON(limit: Int) async throws -> ByteBuffer {
        if let contentType = headers[.contentType], !contentType.lowercased().hasPrefix("application/json") {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", "send the body as application/json, not \(contentType)")
        }
        do { return try await body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw APIError(.contentTooLarge, code: "body_too_large", "the JSON body is larger than the limit of \(limit) bytes (max_json_body_bytes)")
        }
    }

    /// Decodes a JSON body with the wire contract's decoder.
    /// - Throws: `APIError` 400 `invalid_json` naming what was wrong.
    static func decodeJSON<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        do {
            return try BundleJSON.decoder().decode(T.self, from: data)
        } catch {
            throw APIError.badRequest("invalid_json", "the body is not the expected JSON: \(BundleJSONErrors.describe(error))")
        }
    }
}

/// Short descriptions of decoding errors (no dumps of the whole input).
enum BundleJSONErrors {
    static func describe(_ error: any Error) -> String {
        func path(_ keys: [any CodingKey]) -> String {
            keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case DecodingError.keyNotFound(let key, let ctx): return "missing \(path(ctx.codingPath + [key]))"
        case DecodingError.typeMismatch(_, let ctx), DecodingError.valueNotFound(_, let ctx): return "wrong type at \(path(ctx.codingPath))"
        case DecodingError.dataCorrupted(let ctx): return ctx.codingPath.isEmpty ? "not valid JSON" : "bad value at \(path(ctx.codingPath))"
        default: return "\(error)"
        }
    }
}

/// A JSON response with the wire contract's encoder (ISO 8601 dates, sorted keys).
public struct JSONResponse<Value: Encodable & Sendable>: ResponseGenerator, Sendable {
    /// The body.
    public var value: Value
    /// The status.
    public var status: HTTPResponse.Status
    /// Headers besides Content-Type.
    public var headers: HTTPFields

    /// Creates the response.
    public init(_ value: Value, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) {
        self.value = value
        self.status = status
        self.headers = headers
    }

    /// The body already encoded (as `BundleJSON.encoder()` would), for hot routes that build
    /// their answer by hand.
    private var encoded: [UInt8]?

    /// Creates the response from `value` already encoded as `encoded`.
    public init(_ value: Value, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:], encoded: [UInt8]) {
        self.init(value, status: status, headers: headers)
        self.encoded = encoded
    }

    /// Encodes the body.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        if let encoded {
            var fields = headers
            fields[.contentType] = "application/json; charset=utf-8"
            return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: encoded)))
        }
        let data = try BundleJSON.encoder().encode(value)
        var fields = headers
        fields[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
