import Glibc
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

    /// The crash campaign arms points by name: each must be one the binary has, and every point an apply passes
    /// must be armed by some scenario. Only the files published for readers every cycle (the metrics textfile,
    /// the live record: never part of an apply, and whole or absent on their own) are left out.
    @Test func theCrashCampaignArmsEveryPointOfAnApplyAndNoOther() throws {
        var root = #filePath
        for _ in 0..<3 { root = String(root[..<root.lastIndex(of: "/")!]) }
        let command = "cd '\(root)/Tests/crash' && python3 -c 'import campaign; print(\" \".join(campaign.armed_names()))'"
        let pipe = try #require(popen(command, "r"))
        var output = ""
        var buffer = [CChar](repeating: 0, count: 4096)
        while fgets(&buffer, Int32(buffer.count), pipe) != nil { output += String(cString: buffer) }
        #expect(pclose(pipe) == 0, "the campaign could not be imported")
        let armed = Set(output.split(whereSeparator: \.isWhitespace).map(String.init))
        let known = Set(FaultPoint.allCases.map(\.name))
        let published = Set(FaultPoint.allCases.filter {
            if case .write(let file, _) = $0 { return file == .metrics || file == .live }
            return false
        }.map(\.name))
        #expect(armed.subtracting(known).isEmpty, "the campaign arms points the binary does not have")
        #expect(known.subtracting(armed) == published, "points of an apply no scenario arms")
    }
}
