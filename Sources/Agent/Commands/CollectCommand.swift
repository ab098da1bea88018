import ArgumentParser
import Foundation
import Shared

/// `helpline collect`: write a bundle to a file, send nothing.
struct CollectCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "collect",
        abstract: "Write a diagnostic bundle (.tar.gz) without sending it.")

    @OptionGroup var flags: CollectionFlags

    @Option(name: .shortAndLong, help: ArgumentHelp("Bundle file to write (default: helpline-<host>-<UTC time>-<id>.tar.gz here).", valueName: "FILE"))
    var output: String?

    @OptionGroup var notes: NoteFlags

    func run() async throws {
        // agent.conf (HELPLINE_CONFIG, else /etc/helpline/agent.conf when there is one): its
        // window and the organisation's redaction, which the flags only add to, as for a request.
        let config: AgentConfig
        do { config = try AgentConfig.load(path: nil) } catch {
            Console.error("helpline: \(error)")
            throw ExitCode(ExitCodes.collectionFailed)
        }
        var collection = Collection(options: flags.options(defaultsFrom: config), note: try notes.resolve())
        collection.compressionLevel = flags.compressionLevel
        let path = output ?? BundleNaming.defaultPath(sysroot: flags.options.sysroot, now: collection.now)
        let result: Collection.Result
        do { result = try await collection.run(to: path) } catch {
            Console.error("helpline: \(error)")
            throw ExitCode(ExitCodes.collectionFailed)
        }
        try BundleNaming.saveMapping(result.redactionMapping, besides: result.bundle.path)
        Console.out(Report.bundleSummary(result))
    }
}

/// Where bundles are written and how they are named.
enum BundleNaming {
    /// `helpline-<hostname>-<UTC time>-<short id>.tar.gz` in the current directory.
    static func defaultPath(sysroot: String, now: Date) -> String {
        let host = (try? String(contentsOfFile: sysroot + "/proc/sys/kernel/hostname", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ProcessInfo.processInfo.hostName
        let safeHost = String(host.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." ? $0 : "_" }.prefix(64))
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: now)
        let stamp = String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
        let id = UUID().uuidString.lowercased().prefix(8)
        return FileManager.default.currentDirectoryPath + "/helpline-\(safeHost.isEmpty ? "host" : safeHost)-\(stamp)-\(id).tar.gz"
    }

    /// Writes the opt-in redaction mapping beside the bundle (`<bundle>.map.json`, mode 0600):
    /// it never goes into the bundle, so placeholders can be resolved only on this host.
    static func saveMapping(_ mapping: [String: String], besides bundlePath: String) throws {
        guard !mapping.isEmpty else { return }
        let data = try BundleJSON.encoder(pretty: true).encode(mapping)
        let path = bundlePath + ".map.json"
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CollectionError("could not write the redaction mapping \(path)")
        }
    }
}

