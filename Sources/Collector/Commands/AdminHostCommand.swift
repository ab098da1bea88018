import ArgumentParser
import Foundation

/// `admin host list|revoke|approve`: enrolled machines and their re-enrollments.
public struct AdminHostCommand: AsyncParsableCommand {
    /// Command help.
    public static let configuration = CommandConfiguration(
        commandName: "host", abstract: "Enrolled hosts: list them, revoke one, approve a re-enrollment.",
        subcommands: [List.self, Revoke.self, Approve.self])

    /// Creates the command.
    public init() {}

    /// Finds a host by id or by unique hostname.
    static func resolve(_ name: String, in store: any CollectorStore) async throws -> HostRecord {
        if let host = try await store.host(id: name.lowercased()) { return host }
        let matches = try await store.hosts().filter { $0.hostname == name }
        guard matches.count == 1, let host = matches.first else {
            throw ValidationError(matches.isEmpty
                ? "no host has the id or hostname \(name); see `admin host list`"
                : "\(matches.count) hosts are named \(name); give the host id from `admin host list`")
        }
        return host
    }

    /// `admin host list`.
    public struct List: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(abstract: "List hosts, with revoked ones and re-enrollments waiting for approval.")
        @OptionGroup var store: StoreOptions
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            let hosts = try await db.hosts()
            try await db.close()
            let f = ISO8601DateFormatter()
            Console.out(formatTable(["ID", "HOSTNAME", "ENROLLED", "LAST SEEN", "STATE", "RE-ENROLLMENT"], hosts.map { h in
                let state = h.revokedAt.map { "revoked " + f.string(from: $0) } ?? "active"
                let pending = h.pendingEnrollment.map { p in
                    (p.approvedAt != nil ? "approved" : "waiting") + " (asked \(f.string(from: p.requestedAt)) as \(p.hostname), key \(p.keyFingerprint))"
                } ?? "-"
                return [h.id, h.hostname, f.string(from: h.enrolledAt), h.lastSeenAt.map(f.string) ?? "never", state, pending]
            }))
        }
    }

    /// `admin host revoke HOST`.
    public struct Revoke: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(
            abstract: "Revoke a host: its token stops working (within host_token_cache_seconds in a running collector) and re-enrolling needs approval.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Host id or hostname (from `list`).") var host: String
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            do {
                let record = try await AdminHostCommand.resolve(host, in: db)
                guard try await db.revokeHost(id: record.id, now: Date()) else {
                    throw ValidationError("host \(record.id) (\(record.hostname)) is already revoked")
                }
                Console.err("revoked host \(record.id) (\(record.hostname))")
            } catch {
                try? await db.close()
                throw error
            }
            try await db.close()
        }
    }

    /// `admin host approve HOST`.
    public struct Approve: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(
            abstract: "Approve the re-enrollment a known machine asked for; its next `helpline enroll` gets a new token.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Host id or hostname (from `list`).") var host: String
        @Option(help: "Who approves (recorded).") var by: String = ProcessInfo.processInfo.environment["USER"] ?? "admin"
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            do {
                let record = try await AdminHostCommand.resolve(host, in: db)
                guard let pending = record.pendingEnrollment else {
                    throw ValidationError("host \(record.id) (\(record.hostname)) has no re-enrollment waiting; the machine must run `helpline enroll` first")
                }
                _ = try await db.approveEnrollment(hostID: record.id, by: by, now: Date())
                Console.err("approved the re-enrollment of host \(record.id) asked as \(pending.hostname) with key \(pending.keyFingerprint); "
                            + "it gets its new token when it runs `helpline enroll` again")
            } catch {
                try? await db.close()
                throw error
            }
            try await db.close()
        }
    }
}
