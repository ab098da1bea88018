import Foundation
import Hummingbird
import Shared

/// Knowledge from technicians over the API: the rules with their known fixes and figures,
/// and setting or removing a fix. Technicians and admins (API token or web session); host
/// tokens open nothing here.
public struct RuleController: Sendable {
    let knowledge: RuleKnowledge
    let store: any CollectorStore
    let limits: CollectorLimits
    let publicURL: String?

    /// Creates the controller.
    public init(knowledge: RuleKnowledge, store: any CollectorStore, limits: CollectorLimits, publicURL: String?) {
        self.knowledge = knowledge
        self.store = store
        self.limits = limits
        self.publicURL = publicURL
    }

    /// The routes, relative to `/api/v1`.
    public var routes: RouteCollection<CollectorRequestContext> {
        let routes = RouteCollection(context: CollectorRequestContext.self)
        routes.add(middleware: TechnicianAuthMiddleware(store: store, publicURL: publicURL))
        routes.get("rules", use: list)
        routes.get("rules/{ruleID}", use: get)
        routes.put("rules/{ruleID}/fix", use: setFix)
        routes.delete("rules/{ruleID}/fix", use: deleteFix)
        return routes
    }

    private func ruleID(_ context: CollectorRequestContext) -> String { context.parameters.get("ruleID") ?? "" }

    /// `GET /rules`: every rule in force, most corrected first.
    @Sendable func list(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<RuleList> {
        _ = try context.requireUser()
        return JSONResponse(RuleList(rules: try await knowledge.list()))
    }

    /// `GET /rules/{id}`: one rule, its fix, figures and newest corrections.
    @Sendable func get(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<RuleDetail> {
        _ = try context.requireUser()
        return JSONResponse(try await knowledge.detail(ruleID(context)))
    }

    /// `PUT /rules/{id}/fix` `{"text", "link"?}`: sets or replaces the rule's known fix.
    @Sendable func setFix(request: Request, context: CollectorRequestContext) async throws -> JSONResponse<RuleFix> {
        let user = try context.requireUser()
        _ = try knowledge.rule(ruleID(context))
        let body = try await request.decodeJSON(RuleFixRequest.self, limit: limits.maxJSONBodyBytes)
        return JSONResponse(try await knowledge.setFix(ruleID: ruleID(context), text: body.text, link: body.link, by: user, via: "API",
                                                       from: context.clientAddress))
    }

    /// `DELETE /rules/{id}/fix`: removes the rule's known fix (404 when it has none).
    @Sendable func deleteFix(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try context.requireUser()
        try await knowledge.deleteFix(ruleID: ruleID(context), by: user, via: "API", from: context.clientAddress)
        return Response(status: .noContent)
    }
}
