import ArgumentParser
import Foundation

/// `admin user add|reset|remove|list`: technician and admin accounts.
public struct AdminUserCommand: AsyncParsableCommand {
    /// Command help.
    public static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Technician and admin accounts for the web UI.",
        subcommands: [Add.self, Reset.self, Remove.self, List.self])

    /// Creates the command.
    public init() {}

    /// The password from stdin (`--password-stdin`), or a generated one that is printed.
    static func password(fromStdin: Bool) throws -> (password: String, generated: Bool) {
        if fromStdin {
            guard let line = Console.readLine(), line.count >= 8 else {
                throw ValidationError("--password-stdin: give a password of at least 8 characters on standard input")
            }
            return (line, false)
        }
        return (Secrets.generatePassword(), true)
    }

    /// `admin user add NAME --role technician|admin`.
    public struct Add: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(
            abstract: "Add an account; prints the generated password (only it) unless --password-stdin.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Login name.") var name: String
        @Option(help: "technician or admin.") var role: UserRole = .technician
        @Flag(name: .customLong("password-stdin"), help: "Read the password from the first line of standard input.") var passwordStdin = false
        /// Creates the command.
        public init() {}
        /// Checks the name.
        public func validate() throws {
            guard (1...64).contains(name.unicodeScalars.count), !name.contains(where: \.isWhitespace) else {
                throw ValidationError("a login name is 1 to 64 characters (Unicode code points) without spaces")
            }
        }
        /// Runs it.
        public func run() async throws {
            let (password, generated) = try AdminUserCommand.password(fromStdin: passwordStdin)
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            do {
                _ = try await db.addUser(name: name, role: role, passwordHash: Secrets.hashPassword(password), now: Date())
            } catch let error as StoreError {
                try? await db.close()
                throw ValidationError(error.message)
            }
            try await db.close()
            if generated { Console.out(password) }
        }
    }

    /// `admin user reset NAME`.
    public struct Reset: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(
            abstract: "Set a new password (ends the account's sessions; the user must choose their own at the next sign-in); prints it unless --password-stdin.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Login name.") var name: String
        @Flag(name: .customLong("password-stdin"), help: "Read the password from the first line of standard input.") var passwordStdin = false
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let (password, generated) = try AdminUserCommand.password(fromStdin: passwordStdin)
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            let done = try await db.resetPassword(name: name, passwordHash: Secrets.hashPassword(password), now: Date())
            try await db.close()
            guard done else { throw ValidationError("no user named \(name); see `admin user list`") }
            if generated { Console.out(password) }
        }
    }

    /// `admin user remove NAME`.
    public struct Remove: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(abstract: "Remove an account and its sessions.")
        @OptionGroup var store: StoreOptions
        @Argument(help: "Login name.") var name: String
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            let done = try await db.removeUser(name: name)
            try await db.close()
            guard done else { throw ValidationError("no user named \(name); see `admin user list`") }
            Console.err("removed user \(name)")
        }
    }

    /// `admin user list`.
    public struct List: AsyncParsableCommand {
        /// Command help.
        public static let configuration = CommandConfiguration(abstract: "List accounts.")
        @OptionGroup var store: StoreOptions
        /// Creates the command.
        public init() {}
        /// Runs it.
        public func run() async throws {
            let db = try await openStore(try store.resolve(flags: store.flagSettings))
            let users = try await db.users()
            try await db.close()
            let f = ISO8601DateFormatter()
            Console.out(formatTable(["NAME", "ROLE", "CREATED"], users.map { [$0.name, $0.role.rawValue, f.string(from: $0.createdAt)] }))
        }
    }
}
