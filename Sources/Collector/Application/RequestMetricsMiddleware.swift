import Dispatch
import Hummingbird
import Metrics
import Synchronization

/// Hummingbird's `MetricsMiddleware`, with its names and dimensions (`hb.requests`,
/// `http.server.request.duration`, `hb.request.errors`, `http.server.active_requests`), but a
/// small answer's figures are recorded when the handler returns instead of after its body is
/// written.
///
/// Hummingbird's wraps every body in a closure to record after the write, and a closure body
/// loses the server's fast path that sends head and body in one write: every answer went out
/// as two `write` calls and two TCP segments, each with its own async writer round trip. Here
/// only a body that is streamed or large (`streamedBodyBytes`; unknown length, bundle
/// downloads) is wrapped, so its duration still covers the transfer; a small body's duration
/// ends when it is ready to send, microseconds before it is sent.
public struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Bodies longer than this (or of unknown length) are timed to the end of their write.
    public static var streamedBodyBytes: Int { 64 * 1024 }

    private let cache: RequestMetricsCache

    /// Creates the middleware; its metrics are made by `factory` (the collector's registry).
    public init(factory: any MetricsFactory = MetricsSystem.factory) {
        cache = RequestMetricsCache(factory: factory)
    }

    /// Counts and times the request.
    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = DispatchTime.now().uptimeNanoseconds
        let active = cache.active(request.method)
        active.increment()
        do {
            var response = try await next(request, context)
            let metrics = cache.endpoint(RequestMetricsCache.Key(route: context.endpointPath ?? "Unknown", method: request.method,
                                                                 status: response.status))
            let done: @Sendable () -> Void = {
                metrics.record(since: start)
                active.decrement()
            }
            if let length = response.body.contentLength, length <= Self.streamedBodyBytes {
                done()
            } else {
                let body = response.body
                response.body = ResponseBody(contentLength: body.contentLength) { writer in
                    defer { done() }
                    try await body.write(writer)
                }
            }
            return response
        } catch {
            let status = (error as? any HTTPResponseError)?.status ?? .internalServerError
            let metrics = cache.endpoint(RequestMetricsCache.Key(route: context.endpointPath ?? "NotFound", method: request.method, status: status))
            metrics.requests.increment()
            metrics.errors.increment()
            active.decrement()
            throw error
        }
    }
}

/// The metric objects per method and per route, method and status: made once, found under a
/// lock (the factory's own lookup is slower).
final class RequestMetricsCache: Sendable {
    struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: HTTPResponse.Status
    }

    struct Endpoint: Sendable {
        let requests: Counter
        let duration: Metrics.Timer
        let errors: Counter

        init(_ key: Key, factory: any MetricsFactory) {
            let dimensions = [("http.route", key.route), ("http.request.method", key.method.rawValue),
                              ("http.response.status_code", String(key.status.code))]
            requests = Counter(label: "hb.requests", dimensions: dimensions, factory: factory)
            duration = Metrics.Timer(label: "http.server.request.duration", dimensions: dimensions, preferredDisplayUnit: .seconds, factory: factory)
            errors = Counter(label: "hb.request.errors", dimensions: [("http.route", key.route), ("http.request.method", key.method.rawValue),
                                                                      ("error.type", String(key.status.code))], factory: factory)
        }

        func record(since start: UInt64) {
            requests.increment()
            duration.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - start)
        }
    }

    private let factory: any MetricsFactory
    private let methods = Mutex<[HTTPRequest.Method: Meter]>([:])
    private let endpoints = Mutex<[Key: Endpoint]>([:])

    init(factory: any MetricsFactory) { self.factory = factory }

    func active(_ method: HTTPRequest.Method) -> Meter {
        methods.withLock { cached in
            if let meter = cached[method] { return meter }
            let meter = Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)], factory: factory)
            cached[method] = meter
            return meter
        }
    }

    func endpoint(_ key: Key) -> Endpoint {
        endpoints.withLock { cached in
            if let endpoint = cached[key] { return endpoint }
            let endpoint = Endpoint(key, factory: factory)
            cached[key] = endpoint
            return endpoint
        }
    }
}
