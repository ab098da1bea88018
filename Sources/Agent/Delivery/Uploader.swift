import Foundation
import Shared

/// Talks to the collector through libcurl: enrollment, bundles, heartbeats, tickets.
///
/// Retries connection failures, 429 and 5xx (honouring `Retry-After`), never other 4xx:
/// those are the server saying no, and the user is told why.
struct CollectorClient: Sendable {
    /// Collector base URL, without `/api/v1`.
    var server: String
    /// Host token from enrollment (nil before enrolling).
    var token: String?
    var config: AgentConfig
    /// Sleeps between retries; tests make it instant.
    var sleep: @Sendable (Duration) async -> Void = { try? await Task.sleep(for: $0) }

    /// How a call ended.
    enum Failure: Error, CustomStringConvertible {
        /// The server answered no (4xx other than 429): not retried.
        case rejected(status: Int, code: String, message: String)
        /// No answer, or the server was overloaded or broken, after every attempt.
        case unavailable(String, retryAfter: Duration?)
        /// TLS refused (untrusted or pinned-key mismatch), or a local problem: not retried.
        case refused(String)

        var description: String {
            switch self {
            case let .rejected(status, code, message): "the collector refused it (\(status) \(code)): \(message)"
            case let .unavailable(m, _): m
            case let .refused(m): m
            }
        }
    }

    /// `POST /api/v1/bundles`, streaming the file. Same bundle twice → the first receipt.
    ///
    /// A user waiting for the answer gets it within 10 minutes (then the bundle is spooled).
    /// `patient` (the spool's own sending) lets the whole exchange take `uploadTimeout(bytes:)`,
    /// so a bundle on a slow link is not cut at a fixed time and failed at every retry; a dead
    /// link is still given up after `stall_timeout` without a byte moving.
    func upload(bundleAt path: String, attempts: Int? = nil, patient: Bool = false,
                progress: (@Sendable (Int64, Int64) -> Void)? = nil) async throws -> BundleReceipt {
        var st = stat()
        let bytes = stat(path, &st) == 0 ? Int64(st.st_size) : 0
        let response = try await send(method: "POST", path: "/api/v1/bundles", body: .file(path),
                                      contentType: "application/gzip", attempts: attempts ?? config.retries, progress: progress,
                                      totalTimeout: patient ? Self.uploadTimeout(bytes: bytes) : nil)
        return try decode(BundleReceipt.self, response)
    }

    /// The longest one upload of `bytes` may take: 10 minutes, plus the time those bytes take
    /// at the slowest rate the stall guard lets a transfer continue (`HTTPRequest.lowSpeedBytes`
    /// a second): 20 MB gets about 5 h 50 min.
    static func uploadTimeout(bytes: Int64) -> Duration {
        let base = HTTPRequest(url: "").totalTimeout
        let slowest = Int64(max(1, HTTPRequest(url: "").lowSpeedBytes))
        return base + .seconds(max(0, bytes) / slowest)
    }

    /// `POST /api/v1/enroll`.
    func enroll(_ request: EnrollRequest) async throws -> EnrollResponse {
        let body = try BundleJSON.encoder().encode(request)
        let response = try await send(method: "POST", path: "/api/v1/enroll", body: .bytes([UInt8](body)), contentType: "application/json",
                                      attempts: config.retries)
        return try decode(EnrollResponse.self, response)
    }

    /// `POST /api/v1/heartbeats`.
    func heartbeat(_ beat: Heartbeat) async throws -> HeartbeatAck {
        let body = try BundleJSON.encoder().encode(beat)
        let response = try await send(method: "POST", path: "/api/v1/heartbeats", body: .bytes([UInt8](body)), contentType: "application/json",
                                      attempts: 1)
        return try decode(HeartbeatAck.self, response)
    }

    /// `GET /api/v1/hosts/self/tickets`; with `requestedBy`, only the tickets that local
    /// user's requests opened (the daemon asks so for an ordinary user).
    /// - Parameter attempts: tries before giving up; `retries` from the config when nil.
    func tickets(requestedBy: String? = nil, attempts: Int? = nil) async throws -> HostTicketList {
        var path = "/api/v1/hosts/self/tickets"
        if let requestedBy, let encoded = requestedBy.addingPercentEncoding(withAllowedCharacters: .alphanumerics) {
            path += "?requestedBy=" + encoded
        }
        return try decode(HostTicketList.self, try await send(method: "GET", path: path, body: .none, contentType: nil,
                                                              attempts: attempts ?? config.retries))
    }

    /// `POST /api/v1/inventory`: installed packages and hardware, one attempt (the daemon
    /// tries again at its next heartbeat).
    func inventory(_ inventory: Inventory) async throws -> InventoryAck {
        let body = try BundleJSON.encoder().encode(inventory)
        let response = try await send(method: "POST", path: "/api/v1/inventory", body: .bytes([UInt8](body)), contentType: "application/json",
                                      attempts: 1)
        return try decode(InventoryAck.self, response)
    }

    /// The fresh bundles technicians asked this computer for.
    func bundleRequests(attempts: Int? = nil) async throws -> PendingBundleRequestList {
        try decode(PendingBundleRequestList.self, try await send(method: "GET", path: "/api/v1/hosts/self/bundle-requests", body: .none,
                                                                contentType: nil, attempts: attempts ?? config.retries))
    }

    private func decode<T: Decodable>(_ type: T.Type, _ response: HTTPResponse) throws -> T {
        do { return try BundleJSON.decoder().decode(T.self, from: Data(response.body)) } catch {
            throw Failure.unavailable("the collector answered \(response.status) with a body this agent does not understand; is \(server) a Helpline collector?", retryAfter: nil)
        }
    }

    private func send(method: String, path: String, body: HTTPRequest.Body, contentType: String?, attempts: Int,
                      progress: (@Sendable (Int64, Int64) -> Void)? = nil, totalTimeout: Duration? = nil) async throws -> HTTPResponse {
        var request = HTTPRequest(method: method, url: server.trimmingSuffix("/") + path)
        if let totalTimeout { request.totalTimeout = totalTimeout }
        request.body = body
        request.headers["Accept"] = "application/json"
        if let contentType { request.headers["Content-Type"] = contentType }
        if let token { request.headers["Authorization"] = "Bearer \(token)" }
        request.connectTimeout = config.connectTimeout
        request.lowSpeedTime = config.stallTimeout
        request.caFile = config.caFile
        request.pinnedPublicKey = config.pinnedPublicKey
        request.proxy = config.proxy

        var lastFailure = Failure.unavailable("no attempt was made", retryAfter: nil)
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 {
                // Exponential backoff with jitter, or what the server asked for (capped).
                var delay = Duration.milliseconds(Int64(250 * (1 << min(attempt, 6))) + Int64.random(in: 0...250))
                if case let .unavailable(_, retryAfter?) = lastFailure { delay = min(retryAfter, .seconds(30)) }
                await sleep(delay)
            }
            let result = await Self.perform(request, progress: progress)
            switch result {
            case .failure(let error):
                switch error.kind {
                case .tls, .local:
                    throw Failure.refused(error.message)
                case .unreachable, .timeout, .interrupted:
                    lastFailure = .unavailable(error.message, retryAfter: nil)
                }
            case .success(let response):
                switch response.status {
                case 200..<300:
                    return response
                case 429, 500..<600:
                    // Whole seconds, 0 to 30: a negative or huge header is the server's mistake.
                    let retryAfter = response.headers["retry-after"].flatMap(Int64.init).map { Duration.seconds(min(max($0, 0), 30)) }
                    lastFailure = .unavailable("the collector is busy or failing (\(response.status)\(Self.errorText(response).map { ": \($0.message)" } ?? ""))",
                                               retryAfter: retryAfter)
                default:
                    let detail = Self.errorText(response)
                    throw Failure.rejected(status: response.status, code: detail?.code ?? "http_\(response.status)",
                                           message: detail?.message ?? "HTTP \(response.status)")
                }
            }
        }
        throw lastFailure
    }

    private static func errorText(_ response: HTTPResponse) -> APIErrorBody.Detail? {
        (try? BundleJSON.decoder().decode(APIErrorBody.self, from: Data(response.body)))?.error
    }

    /// Runs the blocking libcurl transfer on a thread of its own.
    private static func perform(_ request: HTTPRequest, progress: (@Sendable (Int64, Int64) -> Void)?) async -> Result<HTTPResponse, TransportError> {
        await Collection.onThread(name: "helpline-upload") { () -> Result<HTTPResponse, TransportError> in
            do {
                return .success(try CurlTransfer().perform(request, progress: progress))
            } catch let e as TransportError {
                return .failure(e)
            } catch {
                return .failure(TransportError(kind: .local, message: "\(error)"))
            }
        } ?? .failure(TransportError(kind: .local, message: "the upload thread did not finish"))
    }
}

extension String {
    /// The string without one trailing `suffix`.
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : self
    }
}
