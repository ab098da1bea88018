import Foundation
import Hummingbird

extension WebController {
    // MARK: Integrations (admin)

    /// `GET /admin/integrations?status=dead`: configured backends and deliveries, newest first,
    /// with a retry button on each dead, skipped or waiting one.
    @Sendable func integrationsPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        _ = try requireAdmin(context)
        let status = try Self.parameter(request, "status", max: 32).map { text -> IntegrationDeliveryStatus in
            guard let s = IntegrationDeliveryStatus(rawValue: text) else {
                throw APIError.badRequest("invalid_query", "status is one of \(IntegrationDeliveryStatus.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return s
        }
        let deliveries = try await store.deliveries(status: status, limit: 200, offset: 0)
        let now = Date()
        let rows = deliveries.map { d in
            IntegrationsPage.Row(id: d.id, backend: d.backend, event: d.event.kind.rawValue,
                                 target: d.event.ticketID.map { "#\($0)" } ?? d.event.incidentID.map { "incident \($0)" } ?? "",
                                 targetHref: d.event.ticketID.map { "/tickets/\($0)" } ?? d.event.incidentID.map { "/incidents/\($0)" } ?? "",
                                 status: d.status.rawValue, attempts: d.attempts,
                                 next: d.status == .pending ? WebFormat.time(d.nextAttemptAt) : "",
                                 error: WebFormat.untrusted(d.lastError ?? "", max: 500), created: WebFormat.time(d.createdAt),
                                 age: WebFormat.age(d.createdAt, now: now),
                                 retryAction: [.dead, .skipped, .pending].contains(d.status) ? "/admin/integrations/deliveries/\(d.id)/retry" : nil)
        }
        let backends = integrations.map {
            IntegrationsPage.Backend(name: $0.name, kind: $0.kind.rawValue, url: IntegrationHTTP.shown($0.url), inbound: $0.inboundSecret != nil,
                                     trust: $0.trustDescription)
        }
        let filters = [nil] + IntegrationDeliveryStatus.allCases.map(Optional.some)
        let model = IntegrationsPage(chrome: PageChrome(context: context, title: "Integrations", section: "integrations"),
                                     backends: backends, noBackends: backends.isEmpty, rows: rows, noRows: rows.isEmpty,
                                     filters: filters.map { s in
                                         IntegrationsPage.Filter(label: s?.rawValue ?? "all", href: s.map { "/admin/integrations?status=\($0.rawValue)" } ?? "/admin/integrations",
                                                                 active: s == status)
                                     })
        return try page("integrations", model)
    }

    /// `POST /admin/integrations/deliveries/{id}/retry`: back to the list with the delivery in line again.
    @Sendable func retryDeliveryFromPage(request: Request, context: CollectorRequestContext) async throws -> Response {
        _ = try requireAdmin(context)
        _ = try await form(request, context)
        guard let text = context.parameters.get("deliveryID"), let id = Int64(text), id > 0, let record = try await store.delivery(id: id) else {
            throw APIError.notFound("delivery \(context.parameters.get("deliveryID")?.prefix(20) ?? "")")
        }
        guard try await store.retryDelivery(id: id, now: Date()) else {
            throw APIError(.conflict, code: "not_retryable", "delivery \(id) is \(record.status.rawValue); only dead, skipped or waiting deliveries can be retried")
        }
        await audit(context, "integration_retry", "delivery \(id)", "\(record.backend) \(record.event.kind.rawValue)")
        return try Redirect(location: "/admin/integrations").response(from: request, context: context)
    }
}
