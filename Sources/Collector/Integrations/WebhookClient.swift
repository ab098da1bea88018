import Foundation

/// The signed webhook: every event as JSON, `Helpline-*` headers, HMAC-SHA256 signature.
public struct WebhookClient: TicketBackendClient {
    /// Configuration.
    public let backend: IntegrationBackend

    /// Posts the event.
    public func deliver(_ context: IntegrationContext, http: IntegrationHTTP, now: Date) async throws -> BackendResult {
        let body = try context.webhookBody()
        let timestamp = Int(now.timeIntervalSince1970)
        let signature = WebhookSignature.header(key: backend.secret?.value ?? "", timestamp: timestamp, body: body)
        _ = try await http.send(IntegrationRequest(method: "POST", url: backend.url, headers: [
            ("Content-Type", "application/json"), ("User-Agent", "helpline-collector"),
            (WebhookSignature.eventHeader, context.event.kind.rawValue), (WebhookSignature.deliveryHeader, context.event.uuid),
            (WebhookSignature.timestampHeader, String(timestamp)), (WebhookSignature.signatureHeader, signature),
        ], body: body))
        return .sent(link: nil)
    }
}
