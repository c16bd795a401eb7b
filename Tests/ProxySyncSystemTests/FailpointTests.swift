@testable import ProxySyncSystem
import Testing

@Suite struct FailpointTests {
    @Test func parsesNameKillAndNth() {
        #if DEBUG
        #expect(Failpoint.parse("output-after-rename:kill")! == ("output-after-rename", 1))
        #expect(Failpoint.parse("output-after-rename:kill:2")! == ("output-after-rename", 2))
        #expect(Failpoint.parse("after-test:kill:0") == nil)
        #expect(Failpoint.parse("after-test:pause") == nil)
        #expect(Failpoint.parse(":kill") == nil)
        #expect(Failpoint.parse("after-test") == nil)
        #endif
    }

    @Test func commandsNeverSeeTheVariable() {
        #expect(CommandRunner.privateVariables.contains(Failpoint.variable))
    }
}
