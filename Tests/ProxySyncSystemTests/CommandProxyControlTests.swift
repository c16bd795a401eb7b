import ProxySyncCore
import ProxySyncSystem
import Testing

struct CommandProxyControlTests {
    func settings(test: [String]) throws -> ProxySettings {
        let text = """
            [gocd]
            server_url = "http://127.0.0.1:8153/go"
            [proxy]
            kind = "nginx"
            output = "/tmp/gps-unused/gocd.conf"
            upstream = "http://127.0.0.1:8153"
            test_command = [\(test.map { "'\($0)'" }.joined(separator: ", "))]
            """
        return try Settings.decode(text, file: "/test.toml").proxy
    }

    @Test func aConflictingServerNameWarningIsAFailedTest() async throws {
        let warning = "nginx: [warn] conflicting server name intranet.example on 0.0.0.0:80, ignored"
        let control = CommandProxyControl(settings: try settings(test: ["sh", "-c", "echo \(warning) >&2; exit 0"]), stateDirectory: nil)
        let result = await control.test()
        #expect(!result.succeeded)
        #expect(result.output.contains("conflicting server name"))
    }

    @Test func aCleanTestPasses() async throws {
        let control = CommandProxyControl(settings: try settings(test: ["sh", "-c", "echo syntax is ok >&2"]), stateDirectory: nil)
        #expect(await control.test().succeeded)
    }
}
