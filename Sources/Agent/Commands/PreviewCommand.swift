import ArgumentParser
import Foundation
import Shared

/// `helpline preview`: show what would be collected, before anything is sent.
struct PreviewCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "preview",
        abstract: "Show what a bundle would hold, redacted, without keeping or sending it.")

    @OptionGroup var flags: CollectionFlags

    @Option(name: .long, help: ArgumentHelp("Show this probe's redacted content itself (journal, system, processes…).", valueName: "NAME"))
    var probe: String?

    @Option(name: .long, help: "The note you would send, to see how it is redacted.")
    var note: String?

    func validate() throws {
        if let probe, !Collection.probeNames.contains(probe) {
            throw ValidationError("unknown probe '\(probe)'; probes: \(Collection.probeNames.joined(separator: ", "))")
        }
    }

    func run() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("helpline-preview-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // agent.conf (HELPLINE_CONFIG, else /etc/helpline/agent.conf when there is one): its
        // window and the organisation's redaction, which the flags only add to, as for a request.
        let config: AgentConfig
        do { config = try AgentConfig.load(path: nil) } catch {
            Console.error("helpline: \(error)")
            throw ExitCode(ExitCodes.collectionFailed)
        }
        var collection = Collection(options: flags.options(defaultsFrom: config), note: note)
        if let probe { collection.onlyProbes = [probe] }
        let result: Collection.Result
        do { result = try await collection.run(to: dir + "/preview.tar.gz") } catch {
            Console.error("helpline: \(error)")
            throw ExitCode(ExitCodes.collectionFailed)
        }
        guard let probe else {
            Console.out(Report.preview(result))
            return
        }
        guard let member = result.manifest.probes.first(where: { $0.name == probe })?.member else {
            Console.out(Report.preview(result))
            return
        }
        let content = try PreviewCommand.extract(member: member, from: result.bundle.path)
        Pager.show(content)
    }

    /// The bytes of one member of a bundle, read back through `BundleReader`'s stream parser.
    static func extract(member: String, from path: String) throws -> [UInt8] {
        var out: [UInt8] = []
        let inflater = try GzipInflater()
        var tar = TarStreamParser()
        var inMember = false
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        try data.withUnsafeBytes { raw in
            try inflater.decompress(raw) { plain in
                try tar.feed(plain) { event in
                    switch event {
                    case .begin(let e): inMember = e.name == member
                    case .data(let d): if inMember { out.append(contentsOf: d) }
                    case .end: inMember = false
                    }
                }
            }
        }
        return out
    }
}
