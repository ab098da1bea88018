import Testing
@testable import Agent

@Test func passwdMapsUIDsFirstWins() {
    let users = Passwd.parse("root:x:0:0:root:/root:/bin/bash\n# comment\nalice:x:1000:1000::/home/alice:/bin/bash\ntoor:x:0:0::/:/bin/sh\nbroken\n:x:5:5::/:/bin/sh\n+@netgroup\n")
    #expect(users == [0: "root", 1000: "alice"])
}
