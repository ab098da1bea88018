import Testing
@testable import Agent

@Test func procPIDCmdlineJoinsArguments() {
    #expect(ProcPIDCmdline.parse("/usr/bin/python3\0-m\0http.server\0") == "/usr/bin/python3 -m http.server")
    #expect(ProcPIDCmdline.parse("") == "")
    // setproctitle-style: one argument with spaces and trailing NUL padding.
    #expect(ProcPIDCmdline.parse("postgres: checkpointer \0\0\0") == "postgres: checkpointer ")
}
