import Foundation
import Hummingbird
import NIOCore
import NIOHTTP1
import Shared

/// Every error the HTTP API answers, as `{"error":{"code","message"}}` with its status.
///
/// `code` is stable (clients and metrics key on it); `message` says what was wrong and what
/// to do. Other errors are turned into this by `APIErrorMiddleware`.
public struct APIError: Error, HTTPResponseError, Sendable, CustomStringConvertible {
    /// HTTP status.
    public var status: HTTPResponse.Status
    /// Stable machine-readable reason.
    public var code: String
    /// What was wrong and what to do.
    public var message: String
    /// Extra headers (`Retry-After`, `WWW-Authenticate`).
    public var headers: HTTPFields

    /// Creates an error.
    public init(_ status: HTTPResponse.Status, code: String, _ message: String, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers
    }

    /// `status code: message`.
    public var description: String { "\(status.code) \(code): \(message)" }

    /// The JSON body.
    public struct Body: Codable, Sendable, Equatable {
        /// The error.
        public struct Detail: Codable, Sendable, Equatable {
            /// Stable reason.
            public var code: String
            /// Human message.
            public var message: String
        }
        /// The error.
        public var error: Detail
    }

    /// Writes the JSON body.
    public func response(from request: Request, context: some RequestContext) throws -> Response {
        let data = try BundleJSON.encoder().encode(Body(error: .init(code: code, message: message)))
        var headers = self.headers
        headers[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    // MARK: Common errors

    /// 400 for a malformed request.
    public static func badRequest(_ code: String = "bad_request", _ message: String) -> APIError {
        APIError(.badRequest, code: code, message)
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    public static func unauthorized(_ code: String, _ message: String) -> APIError {
        APIError(.unauthorized, code: code, message, headers: [.wwwAuthenticate: "Bearer realm=\"helpline\""])
    }

    /// 403.
    public static func forbidden(_ code: String, _ message: String) -> APIError {
        APIError(.forbidden, code: code, message)
    }

    /// 404.
    public static func notFound(_ what: String) -> APIError {
        APIError(.notFound, code: "not_found", "\(what) does not exist")
    }

    /// 429 or 503 with `Retry-After`.
    public static func overloaded(_ status: HTTPResponse.Status, code: String, _ message: String, retryAfter: Int) -> APIError {
        APIError(status, code: code, message, headers: [.retryAfter: String(retryAfter)])
    }

    /// The answer for a bundle the reader rejected: 413 when too large compressed, else 422.
    public init(bundle error: BundleError) {
        switch error.code {
        case .compressedTooLarge:
            self.init(.contentTooLarge, code: error.code.rawValue, error.message)
        case .io, .zlib:
            self.init(.internalServerError, code: error.code.rawValue, "the collector could not process the bundle: \(error.message)")
        default:
            self.init(.unprocessableContent, code: error.code.rawValue, error.message)
        }
    }

    /// The answer for a store failure; `retryAfter` is `retry_after_seconds`.
    public init(store error: StoreError, retryAfter: Int) {
        switch error.kind {
        case .conflict: self.init(.conflict, code: "conflict", error.message)
        case .notFound: self.init(.notFound, code: "not_found", error.message)
        case .unavailable, .corrupt:
            self.init(.serviceUnavailable, code: "store_unavailable", "the collector's database is not available; try again later",
                      headers: [.retryAfter: String(retryAfter)])
        }
    }

    /// The documented answer for an error whose meaning is known (store, bundle, full disk,
    /// malformed or cut-off HTTP), or nil for an unexpected one. One mapping for the error
    /// middleware and for the ingest metrics, so both name a refusal by the same code.
    public static func known(_ error: any Error, retryAfter: Int) -> APIError? {
        switch error {
        case let e as APIError: return e
        case let e as StoreError: return APIError(store: e, retryAfter: retryAfter)
        case let e as BundleError: return APIError(bundle: e)
        case let e as BlobStoreError where e.isOutOfSpace:
            return .overloaded(.serviceUnavailable, code: "disk_full", "the collector's disk is full; retry after \(retryAfter) s", retryAfter: retryAfter)
        case let e as HTTPParserError:
            // The client sent something that is not HTTP (a bad chunk, a body cut short).
            return .badRequest("malformed_request", "the request could not be read as HTTP: \(e)")
        case let e as ChannelError:
            return .badRequest("connection_closed", "the connection closed before the request was read: \(e)")
        default: return nil
        }
    }
}
