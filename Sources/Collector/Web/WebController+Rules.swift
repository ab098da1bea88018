import Foundation
import HTTPTypes
import Hummingbird
import Shared

extension WebController {
    // MARK: Rules (knowledge from technicians)

    /// `/rules`: every rule with its figures and known fix, the most corrected first.
    @Sendable func rulesPage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        let now = Date()
        let rows = try await knowledge.list().map { r in
            RulesPage.Row(href: "/rules/\(WebLinks.encode(r.id))", id: WebFormat.untrusted(r.id, max: 200), category: r.category.rawValue,
                          kind: r.kind.rawValue, summary: WebFormat.untrusted(r.summary, max: 300), findings: r.stats.findings,
                          tickets: r.stats.topTickets, splits: r.stats.splits, reclassified: r.stats.reclassified,
                          rate: r.stats.topTickets > 0 ? WebFormat.percent(r.correctionRate * 100) : "—",
                          needsWork: Self.needsWork(r.stats), hasFix: r.knownFix != nil,
                          lastHit: r.stats.lastHitAt.map { WebFormat.age($0, now: now) } ?? "never")
        }
        return try page("rules", RulesPage(chrome: PageChrome(context: context, title: "Rules", section: "rules"), rows: rows,
                                           withFix: rows.filter(\.hasFix).count, needingWork: rows.filter(\.needsWork).count))
    }

    /// Corrected on at least a quarter of its tickets, at least twice: worth a look.
    static func needsWork(_ s: RuleStats) -> Bool { s.splits + s.reclassified >= 2 && s.correctionRate >= 0.25 }

    /// `/rules/ID`: the rule, its known fix with the form to change it, its corrections.
    @Sendable func rulePage(request: Request, context: CollectorRequestContext) async throws -> HTMLPage {
        try await rulePage(context, ruleID: context.parameters.get("ruleID") ?? "", form: nil, error: nil, status: .ok)
    }

    func rulePage(_ context: CollectorRequestContext, ruleID: String, form: (text: String, link: String)?, error: String?,
                  status: HTTPResponse.Status) async throws -> HTMLPage {
        let detail = try await knowledge.detail(ruleID)
        let r = detail.rule
        let events = detail.events.map { e in
            RulePage.EventView(kind: e.kind == .split ? "split" : "reclassified", ticketHref: e.ticketID.map { "/tickets/\($0)" }, ticketID: e.ticketID,
                               actor: WebFormat.untrusted(e.actor, max: 128), detail: WebFormat.untrusted(e.detail, max: 500),
                               time: WebFormat.time(e.createdAt))
        }
        let model = RulePage(
            chrome: PageChrome(context: context, title: "Rule \(WebFormat.untrusted(r.id, max: 120))", section: "rules"),
            id: WebFormat.untrusted(r.id, max: 200), category: r.category.rawValue, kind: r.kind.rawValue,
            summary: WebFormat.untrusted(r.summary, max: 1000), source: WebFormat.untrusted(r.source, max: 1000),
            findings: r.stats.findings, tickets: r.stats.topTickets, splits: r.stats.splits, reclassified: r.stats.reclassified,
            rate: r.stats.topTickets > 0 ? WebFormat.percent(r.correctionRate * 100) : "—",
            lastHit: r.stats.lastHitAt.map { WebFormat.time($0) } ?? "never", fix: r.knownFix.map(KnownFixView.init),
            formText: form?.text ?? r.knownFix?.text ?? "", formLink: form?.link ?? r.knownFix?.link ?? "", error: error,
            formAction: "/rules/\(WebLinks.encode(r.id))/fix", maxBytes: limits.ruleFixMaxBytes, events: events)
        return try page("rule", model, status: status)
    }

    /// `POST /rules/ID/fix` (`text`, `link`): sets the known fix; a refused one shows the
    /// form again with what was sent and why.
    @Sendable func saveRuleFix(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try self.user(context)
        let ruleID = context.parameters.get("ruleID") ?? ""
        let rule = try knowledge.rule(ruleID)
        let form = try await form(request, context)
        let text = form["text"] ?? "", link = form["link"] ?? ""
        do {
            _ = try await knowledge.setFix(ruleID: rule.id, text: text, link: link, by: user, via: "web", from: context.clientAddress)
        } catch let e as APIError where e.status == .badRequest {
            return try await rulePage(context, ruleID: rule.id, form: (String(text.prefix(70_000)), String(link.prefix(9000))), error: e.message,
                                      status: .badRequest).response(from: request, context: context)
        }
        return try Redirect(location: "/rules/\(WebLinks.encode(rule.id))").response(from: request, context: context)
    }

    /// `POST /rules/ID/fix/delete`: removes the known fix.
    @Sendable func deleteRuleFix(request: Request, context: CollectorRequestContext) async throws -> Response {
        let user = try self.user(context)
        let ruleID = context.parameters.get("ruleID") ?? ""
        let rule = try knowledge.rule(ruleID)
        _ = try await form(request, context)
        try await knowledge.deleteFix(ruleID: rule.id, by: user, via: "web", from: context.clientAddress)
        return try Redirect(location: "/rules/\(WebLinks.encode(rule.id))").response(from: request, context: context)
    }
}
