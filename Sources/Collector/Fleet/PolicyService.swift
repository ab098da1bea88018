import Foundation
import Logging
import ServiceLifecycle

/// Runs fleet policies: saved queries marked to run every N minutes. Every host a policy
/// newly answers (its `host_id` column) gets a ticket with the policy's advice — or a note on
/// its open ticket from the same policy — before its user calls.
public struct PolicyService: Service {
    let queries: FleetQueries
    let store: any CollectorStore
    let limits: CollectorLimits
    let logger: Logger

    /// Creates the service.
    public init(queries: FleetQueries, store: any CollectorStore, limits: CollectorLimits, logger: Logger) {
        self.queries = queries
        self.store = store
        self.limits = limits
        self.logger = logger
    }

    /// Looks for due policies every minute until graceful shutdown.
    public func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while !Task.isCancelled {
                    // With several collectors on one database, one of them runs each pass.
                    do { _ = try await store.runExclusively("policies") { _ = try await runDue(now: Date()) } } catch is CancellationError { return } catch {
                        logger.error("policy pass failed; will retry", metadata: ["error": "\(error)"])
                    }
                    try await Task.sleep(for: .seconds(60))
                }
            }
        } catch is CancellationError {}
    }

    /// Runs every due policy once. Answers the tickets opened.
    @discardableResult
    public func runDue(now: Date) async throws -> [Int64] {
        var opened: [Int64] = []
        for policy in try await store.duePolicies(now: now) {
            opened += try await runOnce(policy, now: now)
        }
        return opened
    }

    /// Runs one policy as its owner and records what it found.
    func runOnce(_ policy: SavedQuery, now: Date) async throws -> [Int64] {
        let result: QueryResult
        do {
            result = try await queries.run(policy.sql, by: policy.owner, clientAddress: nil, audit: false)
        } catch let e as APIError {
            _ = try await store.recordPolicyRun(policy, matches: nil, summary: "failed: \(e.message)", maxNewTickets: 0, now: now)
            logger.warning("policy failed", metadata: ["policy": "\(policy.name)", "error": "\(e.message)"])
            return []
        }
        guard let hostColumn = result.columns.firstIndex(of: "host_id") else {
            _ = try await store.recordPolicyRun(policy, matches: nil, summary: "failed: a policy's query must answer a host_id column",
                                                maxNewTickets: 0, now: now)
            return []
        }
        if result.truncated {
            // A cut answer would make the hosts past the cut look like they stopped matching.
            _ = try await store.recordPolicyRun(policy, matches: nil, summary: "failed: more than query_max_rows hosts match; narrow the query",
                                                maxNewTickets: 0, now: now)
            return []
        }
        let matches = result.rows.compactMap { row -> (hostID: String, detail: String)? in
            guard case .text(let host) = row[hostColumn] else { return nil }
            let detail = zip(result.columns, row).filter { $0.0 != "host_id" }.map { "\($0.0) \($0.1.text)" }.joined(separator: ", ")
            return (host, String(detail.prefix(500)))
        }
        let opened = try await store.recordPolicyRun(policy, matches: matches, summary: "", maxNewTickets: limits.policyMaxNewTickets, now: now)
        if !opened.isEmpty { logger.notice("policy opened tickets", metadata: ["policy": "\(policy.name)", "tickets": "\(opened)"]) }
        return opened
    }
}
