import Glibc
import ProxySyncCore
import Testing

@testable import ProxySyncSystem

/// The staged config test with real mounts: the test command sees the new bytes at the output's path, every
/// other process the previous ones (README: How a change is applied, step 3). Needs root (CAP_SYS_ADMIN), as
/// `make test` and CI run; skipped elsewhere.
struct StagedConfigTestTests {
    static let root = geteuid() == 0

    /// A fresh root-only directory under /tmp (sticky, root-owned: the state directory's rules allow it).
    func scratch() throws -> String {
        var template = Array("/tmp/gps-staged-XXXXXX".utf8CString)
        let made: String? = template.withUnsafeMutableBufferPointer { buffer in
            mkdtemp(buffer.baseAddress!).map { String(cString: $0) }
        }
        return try #require(made)
    }

    func write(_ text: String, to path: String) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        close(fd)
    }

    func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            out += buffer[0..<count]
        }
        return String(decoding: out, as: UTF8.self)
    }

    @Test(.enabled(if: root)) func theTestSeesTheNewBytesWhileTheLivePathKeepsTheOldOnes() throws {
        let dir = try scratch()
        defer { _ = system("rm -rf '\(dir)'") }
        mkdir(dir + "/conf.d", 0o755)
        let output = dir + "/conf.d/gocd.conf"
        write("old\n", to: output)
        // The test prints what it sees at the output's path, and (through this process's root, outside its
        // namespace) what everyone else sees there.
        let outside = "/proc/\(getpid())/root"
        let command = ["sh", "-c", "cat '\(output)'; cat \(outside)'\(output)'"]
        let outcome = StagedConfigTest.run(
            Array("new\n".utf8), output: output, stateDirectory: dir + "/state", testCommand: command,
            timeoutSeconds: 10)
        guard case .tested(let result) = outcome else {
            Issue.record("not staged: \(outcome)")
            return
        }
        #expect(result.succeeded)
        #expect(result.output == "new\nold", "the test saw the new bytes; outside its namespace, the old ones")
        #expect(result.argv == command, "reported as the test command")
        #expect(read(output) == "old\n", "the live path was never touched")
    }

    @Test(.enabled(if: root)) func aFirstFileIsAddedForTheTestOnly() throws {
        let dir = try scratch()
        defer { _ = system("rm -rf '\(dir)'") }
        mkdir(dir + "/conf.d", 0o755)
        write("other site\n", to: dir + "/conf.d/other.conf")
        let output = dir + "/conf.d/gocd.conf"
        let outcome = StagedConfigTest.run(
            Array("new\n".utf8), output: output, stateDirectory: dir + "/state",
            testCommand: ["sh", "-c", "cat '\(dir)'/conf.d/*.conf"], timeoutSeconds: 10)
        guard case .tested(let result) = outcome else {
            Issue.record("not staged: \(outcome)")
            return
        }
        #expect(result.output == "new\nother site", "the test saw the whole directory with the new file in it")
        #expect(access(output, F_OK) != 0, "nothing at the live path afterwards")
    }

    @Test(.enabled(if: root)) func aFailingTestIsReportedAsTheTestsOwnResult() throws {
        let dir = try scratch()
        defer { _ = system("rm -rf '\(dir)'") }
        let output = dir + "/gocd.conf"
        write("old\n", to: output)
        let outcome = StagedConfigTest.run(
            Array("new\n".utf8), output: output, stateDirectory: dir + "/state",
            testCommand: ["sh", "-c", "echo 'nginx: [emerg] unknown directive' >&2; exit 1"], timeoutSeconds: 10)
        guard case .tested(let result) = outcome else {
            Issue.record("not staged: \(outcome)")
            return
        }
        #expect(result.exitStatus == 1)
        #expect(result.output == "nginx: [emerg] unknown directive")
    }

    /// What the staging printed, split: the staging's own words before the marker, the test's after it.
    @Test func theOutputIsSplitAtTheReadyMarker() {
        var ran = CommandResult(
            argv: ["unshare"], exitStatus: 0, output: "\(StagedConfigTest.readyMarker)\nsyntax is ok\ntest is successful")
        #expect(StagedConfigTest.outcome(of: &ran, testCommand: ["nginx", "-t"]) == .tested(
            CommandResult(argv: ["nginx", "-t"], exitStatus: 0, output: "syntax is ok\ntest is successful")))
        var refused = CommandResult(
            argv: ["unshare"], exitStatus: 1, output: "unshare: unshare failed: Operation not permitted")
        #expect(
            StagedConfigTest.outcome(of: &refused, testCommand: ["nginx", "-t"])
                == .unavailable("unshare: unshare failed: Operation not permitted"))
        var failed = CommandResult(
            argv: ["unshare"], exitStatus: 125,
            output: "mount: permission denied\n\(StagedConfigTest.failureMarker): bind-mount the new file at /x")
        guard case .unavailable(let why) = StagedConfigTest.outcome(of: &failed, testCommand: ["nginx"]) else {
            Issue.record("expected unavailable")
            return
        }
        #expect(why.contains("permission denied") && why.contains("bind-mount"))
    }
}
