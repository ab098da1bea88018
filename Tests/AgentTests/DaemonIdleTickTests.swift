import Foundation
import Testing
@testable import Agent

/// The daemon's idle tick looks for work with two directory listings (`somethingToSend`).
@Suite struct DaemonIdleTickTests {
    @Test func onlyABundleOrItsStateInTheSpoolOrOutgoingFolderIsWork() throws {
        let dir = try TempDir(); defer { dir.cleanup() }
        let state = AgentState(directory: dir.file("state"))
        #expect(!DaemonCommand.somethingToSend(state: state), "no folders yet")
        try FileManager.default.createDirectory(atPath: state.spoolDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: state.directory + "/outgoing", withIntermediateDirectories: true)
        #expect(!DaemonCommand.somethingToSend(state: state), "empty folders")
        try dir.write("state/spool/.lock", "")
        try dir.write("state/outgoing/.claim", "")
        #expect(!DaemonCommand.somethingToSend(state: state), "dot files are locks")
        try dir.write("state/outgoing/b-1.tar.gz", "x")
        #expect(DaemonCommand.somethingToSend(state: state), "a bundle in the outgoing folder")
        try FileManager.default.removeItem(atPath: dir.file("state/outgoing/b-1.tar.gz"))
        try dir.write("state/spool/b-2.json", "{}")
        #expect(DaemonCommand.somethingToSend(state: state), "a bundle's state in the spool")
    }
}
