import Foundation
import Testing
@testable import Agent
@testable import Shared

/// A request killed between writing its bundle and delivering or spooling it (found by the
/// fault suite: the bundle stayed in `outgoing/` and was never sent, and a killed collection
/// left its temp files there for good).
@Suite struct OutgoingFolderTests {
    private func writeBundle(_ path: String) throws -> Manifest {
        let writer = try BundleWriter(path: path, level: 1)
        try writer.add(BundleMember.journal, bytes: Array("{\"ts\":1}\n".utf8))
        let manifest = Manifest(bundleID: UUID().uuidString.lowercased(), createdAt: Date(), agentVersion: "t",
                                host: HostIdentity(hostname: "h"), reason: .userRequest)
        _ = try writer.finish(manifest: manifest)
        return manifest
    }

    @Test func anAbandonedBundleJoinsTheSpoolAndAbandonedTempFilesGo() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let outgoing = OutgoingFolder(directory: dir.file("outgoing"))
        try FileManager.default.createDirectory(atPath: outgoing.directory, withIntermediateDirectories: true)
        let spool = Spool(directory: dir.file("spool"), maxBundles: 5, maxBytes: 1 << 20)

        // A request that died after writing its bundle: its claim was dropped without release.
        var dead: OutgoingFolder.Claim? = outgoing.claim("bundle-dead0001")
        #expect(dead != nil)
        let abandoned = try writeBundle(outgoing.bundlePath("bundle-dead0001"))
        // A collection that died half-way: temp files and no bundle (no claim left either).
        FileManager.default.createFile(atPath: outgoing.directory + "/bundle-dead0002.tar.gz.journal.jsonl.x1", contents: Data(count: 1000))
        FileManager.default.createFile(atPath: outgoing.directory + "/bundle-dead0002.tar.gz.body.x2", contents: Data())
        // A request that is still running: its claim is held, its files are left alone.
        let live = outgoing.claim("bundle-live0003")
        let running = try writeBundle(outgoing.bundlePath("bundle-live0003"))
        FileManager.default.createFile(atPath: outgoing.directory + "/bundle-live0003.tar.gz.body.x3", contents: Data())

        // While the first request's process still holds its lock its bundle is not taken over;
        // the dead collection's temp files (nobody holds their lock) go at once.
        let first = outgoing.recover(into: spool)
        #expect(first.adopted.isEmpty)
        #expect(first.removedTempFiles == 2)
        dead = nil  // the process is gone: the kernel drops its lock (here: the descriptor is closed)
        _ = dead

        let recovery = outgoing.recover(into: spool)
        #expect(recovery.adopted == [abandoned.bundleID])
        #expect(recovery.removedTempFiles == 0)
        #expect(recovery.problems.isEmpty)
        #expect(spool.items().map(\.bundleID) == [abandoned.bundleID])
        let left = try FileManager.default.contentsOfDirectory(atPath: outgoing.directory).sorted()
        #expect(left == ["bundle-live0003.lock", "bundle-live0003.tar.gz", "bundle-live0003.tar.gz.body.x3"])
        #expect(running.bundleID != abandoned.bundleID)
        live?.release()
        #expect(!FileManager.default.fileExists(atPath: outgoing.directory + "/bundle-live0003.lock"))
    }

    @Test func aDamagedAbandonedBundleIsReportedAndLeftInPlace() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let outgoing = OutgoingFolder(directory: dir.file("outgoing"))
        try FileManager.default.createDirectory(atPath: outgoing.directory, withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: outgoing.bundlePath("bundle-bad00001"), contents: Data("not a bundle".utf8))
        let spool = Spool(directory: dir.file("spool"), maxBundles: 5, maxBytes: 1 << 20)
        let recovery = outgoing.recover(into: spool)
        #expect(recovery.adopted.isEmpty)
        #expect(recovery.problems.count == 1)
        #expect(FileManager.default.fileExists(atPath: outgoing.bundlePath("bundle-bad00001")))
        #expect(spool.items().isEmpty)
    }
}
