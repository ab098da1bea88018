import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import HummingbirdTesting
import Logging
import NIOSSL
import Synchronization

/// A request a test remote received.
struct Recorded: Sendable {
    var method: String
    /// Path and query.
    var path: String
    /// Lower-cased names.
    var headers: [String: String]
    var body: Data

    /// The body as a JSON object.
    var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    /// The body as text.
    var text: String { String(decoding: body, as: UTF8.self) }
}

/// What the test remote answers.
struct Reply: Sendable {
    var status: Int = 200
    var body: String = "{}"
    var headers: [String: String] = [:]
    var delayMS: Int = 0
}

/// A real HTTP server on 127.0.0.1 standing in for a webhook receiver, Jira, Zendesk or GitHub:
/// it records every request and answers what the test's `respond` says (by request and its
/// 1-based number).
final class RemoteRecorder: Sendable {
    private struct State {
        var requests: [Recorded] = []
        var respond: @Sendable (Recorded, Int) -> Reply = { _, _ in Reply() }
    }
    private let state = Mutex(State())

    /// Every request so far, in arrival order.
    var requests: [Recorded] { state.withLock { $0.requests } }

    /// Sets how the remote answers from now on.
    func respond(_ f: @escaping @Sendable (Recorded, Int) -> Reply) { state.withLock { $0.respond = f } }

    private func record(_ r: Recorded) -> Reply {
        state.withLock { s in
            s.requests.append(r)
            return s.respond(r, s.requests.count)
        }
    }

    /// Runs the server for the duration of `body`, which gets its base URL (`http://127.0.0.1:PORT`,
    /// or `https://` with `tls`).
    func serve<T: Sendable>(tls: TLSConfiguration? = nil, _ body: @escaping @Sendable (String) async throws -> T) async throws -> T {
        let router = Router()
        for method in [HTTPRequest.Method.get, .post, .put, .patch] {
            router.on("**", method: method) { request, _ -> Response in
                let buffer = try await request.body.collect(upTo: 16 << 20)
                var headers: [String: String] = [:]
                for field in request.headers { headers[field.name.canonicalName] = field.value }
                let path = request.uri.path + (request.uri.query.map { "?\($0)" } ?? "")
                let reply = self.record(Recorded(method: request.method.rawValue, path: path, headers: headers, body: Data(buffer: buffer)))
                if reply.delayMS > 0 { try await Task.sleep(for: .milliseconds(reply.delayMS)) }
                var fields = HTTPFields()
                fields[.contentType] = "application/json"
                for (name, value) in reply.headers { fields[HTTPField.Name(name)!] = value }
                return Response(status: .init(code: reply.status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: reply.body)))
            }
        }
        var logger = Logger(label: "test-remote")
        logger.logLevel = .critical
        let server: HTTPServerBuilder = try tls.map { try .tls(.http1(), tlsConfiguration: $0) } ?? .http1()
        let app = Application(router: router, server: server, configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        return try await app.test(.live) { client in
            try await body("\(tls == nil ? "http" : "https")://127.0.0.1:\(client.port ?? 0)")
        }
    }
}
