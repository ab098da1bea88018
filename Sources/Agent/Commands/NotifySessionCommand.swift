import ArgumentParser
import Foundation

/// `helpline notify-session` (hidden): shows one desktop notification on the session bus named
/// on standard input. The daemon starts it as the user the notice is for (`SessionNotifier`),
/// so the bus sees that user's own credentials.
struct NotifySessionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "notify-session",
        abstract: "Show one desktop notification (run by the daemon as the user it is for).",
        shouldDisplay: false)

    /// The application name notification servers show.
    static let appName = "Helpline"
    /// A freedesktop icon name every icon theme has.
    static let icon = "help-browser"

    func run() throws {
        let data = FileHandle.standardInput.readData(ofLength: SessionNoticeRequest.maxBytes + 1)
        guard data.count <= SessionNoticeRequest.maxBytes,
              let request = try? JSONDecoder().decode(SessionNoticeRequest.self, from: data) else {
            Console.error("notify-session: expected one notice as JSON on standard input (the helpline daemon sends it)")
            throw ExitCode(64)
        }
        let bus: SessionBus
        do { bus = try SessionBus(address: SessionBus.address(socketPath: request.socketPath)) } catch let error as BusError
            where [ENOENT, ECONNREFUSED, ENOTDIR].contains(error.code) {
            throw ExitCode(SessionNoticeRequest.noSessionStatus)
        }
        // The body is markup for servers that say so; escape then. If the question fails,
        // escape anyway: entities shown raw are ugly, a tag or link from a reply is worse.
        let markup = (try? bus.capabilities())?.contains("body-markup") ?? true
        let body = markup ? NoticeText.markupEscaped(request.body) : request.body
        do {
            _ = try bus.notify(appName: Self.appName, icon: Self.icon, summary: request.summary, body: body)
        } catch {
            Console.error("\(error)")
            throw ExitCode(1)
        }
    }
}
