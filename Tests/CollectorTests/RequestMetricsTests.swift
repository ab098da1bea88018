import Foundation
import Hummingbird
import HummingbirdTesting
import Prometheus
import Testing
@testable import Collector

/// `RequestMetricsMiddleware`: Hummingbird's request metrics, with a small answer recorded
/// when its handler returns (so its body keeps the one-write path) and a streamed or large
/// one when its body is written.
@Suite struct RequestMetricsTests {
    static func app(_ registry: PrometheusCollectorRegistry) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: RequestMetricsMiddleware(factory: PrometheusMetricsFactory(registry: registry)))
        router.get("small") { _, _ in "ok" }
        router.get("large") { _, _ in
            Response(status: .ok, body: ResponseBody(byteBuffer: ByteBuffer(repeating: 0x61, count: RequestMetricsMiddleware<BasicRequestContext>.streamedBodyBytes + 1)))
        }
        router.get("streamed") { _, _ in
            Response(status: .ok, body: ResponseBody { writer in
                try await Task.sleep(for: .milliseconds(300))
                try await writer.write(ByteBuffer(string: "late"))
                try await writer.finish(nil)
            })
        }
        return Application(router: router)
    }

    static func text(_ registry: PrometheusCollectorRegistry) -> String {
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    /// The value of the first series line starting with `prefix`.
    static func value(_ text: String, _ prefix: String) -> Double? {
        text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { $0.split(separator: " ").last }.flatMap { Double($0) }
    }

    @Test func requestsAreCountedAndTimedWithHummingbirdsNames() async throws {
        let registry = PrometheusCollectorRegistry()
        try await Self.app(registry).test(.live) { client in
            for _ in 0..<3 { try await client.execute(uri: "/small", method: .get) { #expect($0.status == .ok) } }
            try await client.execute(uri: "/large", method: .get) { #expect($0.body.readableBytes == 64 * 1024 + 1) }
            try await client.execute(uri: "/streamed", method: .get) { #expect(String(buffer: $0.body) == "late") }
            try await client.execute(uri: "/missing", method: .get) { #expect($0.status == .notFound) }
        }
        let text = Self.text(registry)
        let small = #"{http_route="/small",http_request_method="GET",http_response_status_code="200"}"#
        #expect(Self.value(text, "hb_requests" + small) == 3)
        #expect(Self.value(text, "http_server_request_duration_count" + small) == 3)
        #expect(Self.value(text, #"hb_requests{http_route="/large",http_request_method="GET",http_response_status_code="200"}"#) == 1)
        #expect(Self.value(text, #"hb_request_errors{http_route="NotFound",http_request_method="GET",error_type="404"}"#) == 1)
        // Every request is over: none is left active.
        #expect(Self.value(text, #"http_server_active_requests{http_request_method="GET"}"#) == 0)
        // The streamed body was timed to the end of its write, which came 0.3 s after the
        // handler returned.
        let streamed = #"{http_route="/streamed",http_request_method="GET",http_response_status_code="200"}"#
        #expect(Self.value(text, "hb_requests" + streamed) == 1)
        #expect((Self.value(text, "http_server_request_duration_sum" + streamed) ?? 0) >= 0.3)
        #expect((Self.value(text, "http_server_request_duration_sum" + small) ?? 1) < 0.3)
    }
}
