import Testing
@testable import Agent

@Test func osReleaseQuotingAndComments() {
    let text = """
    # comment
    NAME="Fedora Linux"
    ID=fedora
    VERSION_ID=40
    PRETTY_NAME='Fedora Linux 40 (Workstation Edition)'
    QUOTED="say \\"hi\\" \\$HOME \\\\ end"

    not a line
    BAD KEY=x
    """
    let f = OSRelease.fields(text)
    #expect(f["NAME"] == "Fedora Linux")
    #expect(f["QUOTED"] == "say \"hi\" $HOME \\ end")
    #expect(f["BAD KEY"] == nil)
    let r = OSRelease.parse(text)
    #expect(r.id == "fedora")
    #expect(r.versionID == "40")
    #expect(r.prettyName == "Fedora Linux 40 (Workstation Edition)")
}

@Test func osReleaseUnterminatedQuoteAndEmpty() {
    #expect(OSRelease.fields("ID=\"arch\nVERSION_ID=").values.sorted() == ["", "arch"])
    #expect(OSRelease.parse("") == .init())
}
