import Foundation
import Hummingbird

/// Admin actions on hosts: revoke one, approve a parked re-enrollment. Behind
/// `TechnicianAuthMiddleware` with the admin role.
public struct HostAdminController: Sendable {
    let store: any CollectorStore
    let publicURL: String?

    /// Creates the controller.
    public init(store: any CollectorStore, publicURL: String? = nil) {
        self.store = store
        self.publicURL = publicURL
    }

    /// The routes, relative to `/api/v1`.
    public var routes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.add(middleware: TechnicianAuthMiddleware(store: store, minimumRole: .admin, publicURL: publicURL))
        routes.post("hosts/{hostID}/revoke", use: revoke)
        routes.post("hosts/{hostID}/enrollment/approve", use: approve)
        return routes
    }

    private func host(_ context: CollectorRequestContext) async throws -> HostRecord {
        let id = (context.parameters.get("hostID") ?? "").lowercased()
        guard (1...64).contains(id.utf8.count), let host = try await store.host(id: id) else {
            throw APIError.notFound("host \(id.prefix(64))")
        }
        return host
    }

    /// `POST /hosts/{id}/revoke`: the host's token stops working at once in this collector.
    @Sendable func revoke(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<HostRecord> {
        let user = try context.requireUser()
        let record = try await host(context)
        guard try await store.revokeHost(id: record.id, now: Date()) else {
            throw APIError(.conflict, code: "already_revoked", "host \(record.id) is already revoked")
        }
        context.logger.notice("host revoked", metadata: ["host.id": .string(record.id), "by": .string(user.name)])
        return JSONResponse(try await store.host(id: record.id) ?? record)
    }

    /// `POST /hosts/{id}/enrollment/approve`: the machine's next enrollment with the same key gets a token.
    @Sendable func approve(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<HostRecord> {
        let user = try context.requireUser()
        let record = try await host(context)
        guard record.pendingEnrollment != nil, try await store.approveEnrollment(hostID: record.id, by: user.name, now: Date()) else {
            throw APIError(.conflict, code: "nothing_to_approve",
                           "host \(record.id) has no re-enrollment waiting; the machine must run `helpline enroll` first")
        }
        context.logger.notice("re-enrollment approved", metadata: ["host.id": .string(record.id), "by": .string(user.name)])
        return JSONResponse(try await store.host(id: record.id) ?? record)
    }
}
