import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A delivery attempt that failed, said so that an admin knows what to fix.
public struct IntegrationError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure: decides whether the worker retries.
    public enum Kind: String, Sendable {
        /// No answer: connection refused, timeout, TLS, a too-long answer. Retried.
        case transport
        /// The remote answered with an error status that may pass (408, 425, 429, 5xx). Retried.
        case remoteBusy = "remote_busy"
        /// The remote refused the request (other 4xx, a redirect): retrying will not help
        /// until the configuration or the remote changes. Dead-lettered at once.
        case refused
        /// The remote's answer lacked what we need (the new issue's key). Retried.
        case badAnswer = "bad_answer"
    }
    /// What kind.
    public var kind: Kind
    /// What happened and what to do.
    public var message: String
    /// HTTP status, when the remote answered.
    public var statusCode: Int?
    /// Seconds the remote asked us to wait (`Retry-After`).
    public var retryAfter: Int?

    /// Creates the error.
    public init(_ kind: Kind, _ message: String, statusCode: Int? = nil, retryAfter: Int? = nil) {
        self.kind = kind; self.message = message; self.statusCode = statusCode; self.retryAfter = retryAfter
    }

    /// `kind: message`.
    public var description: String { "\(kind.rawValue): \(message)" }
}

/// One outbound request a backend builds.
public struct IntegrationRequest: Sendable {
    /// `GET`, `POST`, `PUT`, `PATCH`.
    public var method: String
    /// Where.
    public var url: URL
    /// Headers, secrets included (never logged: only method and URL are).
    public var headers: [(String, String)]
    /// JSON body.
    public var body: Data?
    /// Longest answer read for this request, when it may rightly be longer than
    /// `integration_max_response_bytes` (a page of a remote's issues); nil for that limit.
    public var maxResponseBytes: Int?

    /// Creates a request.
    public init(method: String, url: URL, headers: [(String, String)] = [], body: Data? = nil) {
        self.method = method; self.url = url; self.headers = headers; self.body = body
    }
}

/// A remote's answer, its body bounded by `integration_max_response_bytes`.
public struct IntegrationResponse: Sendable {
    /// HTTP status.
    public var status: Int
    /// The body.
    public var body: Data
}

/// Outbound HTTP for ticket backends: a whole-request deadline, no redirects followed (so a
/// remote can never send the request, and its `Authorization`, to another host), answers
/// read up to a bound, and any status outside 2xx turned into an `IntegrationError`.
public final class IntegrationHTTP: Sendable {
    private let client: HTTPClient
    private let timeout: TimeAmount
    private let maxResponseBytes: Int
    /// TLS for every request: trusting only a backend's `ca_file`; nil: the client's default
    /// (the system's CAs).
    private let tls: TLSConfiguration?

    /// A client with the limits of `limits`. Call `shutdown()` when done.
    public init(limits: CollectorLimits) {
        let seconds = Int64(limits.integrationRequestTimeoutSeconds)
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(seconds), read: .seconds(seconds), write: .seconds(seconds))
        configuration.decompression = .disabled
        // A connection that cannot be made (refused, a failed TLS handshake) fails the attempt
        // at once, with its own error. AsyncHTTPClient would otherwise try again until the
        // request's timeout: every attempt at a remote whose certificate is not trusted took
        // integration_request_timeout_seconds. The worker's backoff is what retries, and the
        // admin page shows each attempt.
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.tlsConfiguration = Self.clientTLS(trusting: nil)
        client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        timeout = .seconds(seconds)
        maxResponseBytes = limits.integrationMaxResponseBytes
        tls = nil
    }

    private init(sharing other: IntegrationHTTP, tls: TLSConfiguration?) {
        client = other.client
        timeout = other.timeout
        maxResponseBytes = other.maxResponseBytes
        self.tls = tls
    }

    /// This client for `backend`: its requests trust only the backend's `ca_file` when it has
    /// one (the same connection pool; only the original is shut down).
    public func trusting(_ backend: IntegrationBackend) -> IntegrationHTTP {
        guard let roots = backend.trustedCAs else { return self }
        return IntegrationHTTP(sharing: self, tls: Self.clientTLS(trusting: roots))
    }

    /// TLS 1.2 or newer (NIOSSL's default minimum is 1.0), the certificate verified against the
    /// host name, trusting `roots` or, when nil, the system's CAs.
    static func clientTLS(trusting roots: [NIOSSLCertificate]?) -> TLSConfiguration {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.minimumTLSVersion = .tlsv12
        if let roots { tls.trustRoots = .certificates(roots) }
        return tls
    }

    /// Sends a request and reads the answer.
    /// - Throws: `IntegrationError`: `.transport` without an answer, `.remoteBusy` or `.refused` for error statuses.
    public func send(_ request: IntegrationRequest) async throws -> IntegrationResponse {
        var r = HTTPClientRequest(url: request.url.absoluteString)
        r.tlsConfiguration = tls
        r.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { r.headers.add(name: name, value: value) }
        if let body = request.body {
            r.body = .bytes(ByteBuffer(bytes: body))
            r.headers.replaceOrAdd(name: "Content-Length", value: String(body.count))
        }
        let target = "\(request.method) \(Self.shown(request.url))"
        let status: Int
        let retryAfter: Int?
        let body: Data
        do {
            let response = try await client.execute(r, timeout: timeout)
            status = Int(response.status.code)
            retryAfter = response.headers.first(name: "Retry-After").flatMap { Int($0.trimmingCharacters(in: .whitespaces)) }
            var buffer = try await response.body.collect(upTo: request.maxResponseBytes ?? maxResponseBytes)
            body = Data(buffer.readBytes(length: buffer.readableBytes) ?? [])
        } catch is NIOTooManyBytesError {
            throw IntegrationError(.transport, "\(target): the answer is longer than \(request.maxResponseBytes.map { "\($0) bytes" } ?? "integration_max_response_bytes (\(maxResponseBytes))"); raise the limit if this remote is right")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout {
            throw IntegrationError(.transport, "\(target): no answer within integration_request_timeout_seconds (\(timeout.nanoseconds / 1_000_000_000) s); check that the remote is up")
        } catch where error is NIOSSLError || error is BoringSSLError {
            throw IntegrationError(.transport, Self.tlsAdvice(target, error, ownCAs: tls != nil))
        } catch {
            throw IntegrationError(.transport, "\(target): \(error); check the URL and that the collector can reach it")
        }
        switch status {
        case 200..<300:
            return IntegrationResponse(status: status, body: body)
        case 300..<400:
            throw IntegrationError(.refused, "\(target) answered \(status), a redirect, which is not followed (credentials must not go elsewhere); configure the final URL",
                                   statusCode: status)
        case 408, 425, 429, 500...:
            throw IntegrationError(.remoteBusy, "\(target) answered \(status): \(Self.excerpt(body)); will retry", statusCode: status, retryAfter: retryAfter)
        default:
            throw IntegrationError(.refused, "\(target) answered \(status): \(Self.excerpt(body)); check the backend's credentials, project and permissions, then retry it from the admin page",
                                   statusCode: status)
        }
    }

    /// Stops the client (after the worker stopped).
    public func shutdown() async {
        try? await client.shutdown()
    }

    /// A failed TLS handshake, said with what to check: the remote's certificate chain, and the
    /// CAs trusted for it (the backend's `ca_file`, or the system's).
    static func tlsAdvice(_ target: String, _ error: any Error, ownCAs: Bool) -> String {
        let trusted = ownCAs ? "the CAs in this backend's ca_file" : "the system's CAs (set ca_file for a tracker behind an internal CA)"
        return "\(target): TLS handshake failed (\(error)); check that the remote's certificate is valid for its host name and signed by \(trusted)"
    }

    /// The URL without its query (which might carry a key).
    static func shown(_ url: URL) -> String {
        var c = URLComponents(url: url, resolvingAgainstBaseURL: false)
        c?.query = nil
        c?.user = nil
        c?.password = nil
        return c?.string ?? url.host ?? "?"
    }

    /// The start of an error answer, printable.
    static func excerpt(_ body: Data) -> String {
        let text = String(decoding: body.prefix(300), as: UTF8.self)
        let clean = String(text.unicodeScalars.map { $0.properties.isWhitespace || $0.value < 0x20 ? " " : Character($0) })
        return clean.isEmpty ? "(empty body)" : clean
    }
}
