import Testing

@testable import ProxySyncCore

struct SettingsTests {
    static let minimal = """
        [gocd]
        server_url = "http://127.0.0.1:8153/go"
        token_file = "/etc/gocd-proxy-sync/token"   # comment

        [proxy]
        kind = "nginx"
        output = "/etc/nginx/conf.d/gocd.conf"
        upstream = "http://127.0.0.1:8153"
        test_command = [
          "nginx", "-t",  # multi-line arrays
          '-q',
        ]
        """

    @Test func decodesWithDefaults() throws {
        let settings = try Settings.decode(Self.minimal, file: "/c.toml")
        #expect(settings.gocd.tokenFile == "/etc/gocd-proxy-sync/token")
        #expect(settings.gocd.timeoutSeconds == 10)
        #expect(settings.gocd.tlsVerify)
        #expect(settings.proxy.testCommand == ["nginx", "-t", "-q"])
        #expect(settings.proxy.reloadCommand == ["nginx", "-s", "reload"])
        #expect(settings.proxy.redirectHTTPToHTTPS)
        #expect(settings.sync.intervalSeconds == 30)
        #expect(settings.sync.stateDir == "/var/lib/gocd-proxy-sync")
        #expect(settings.gocd.siteURLsEndpoint == "http://127.0.0.1:8153/go/api/admin/config/server/site_urls")
    }

    @Test func apacheDefaults() throws {
        let settings = try Settings.decode(
            Self.minimal.replacingOccurrences("kind = \"nginx\"", "kind = \"apache\""), file: "/c.toml")
        #expect(settings.proxy.testCommand == ["nginx", "-t", "-q"])  // set explicitly above
        let bare = try Settings.decode(
            """
            [gocd]
            server_url = "https://gocd.internal:8154/go"
            [proxy]
            kind = "apache"
            output = "/etc/apache2/sites-enabled/gocd.conf"
            upstream = "http://[::1]:8153"
            """, file: "/c.toml")
        #expect(bare.proxy.testCommand == ["apachectl", "configtest"])
        #expect(bare.proxy.reloadCommand == ["apachectl", "-k", "graceful"])
        #expect(bare.proxy.upstream.url == "http://[::1]:8153")
    }

    static let mistakes: [(String, String)] = [
        ("[gocd]\nserver_url = 1\n", "gocd.server_url: line 2: expected a string, found an integer"),
        ("[gocd]\nserver_url = \"http://x/go\"\nfoo = 1\n", "gocd.foo: line 3: unknown key"),
        ("[gocd]\nserver_url = \"http://x/go\"\n", "proxy.kind: required key is missing"),
        ("[gocd]\nserver_url = \"ftp://x\"\n", "gocd.server_url: must be http(s)://host[:port]/go"),
        ("[gocd]\nserver_url = \"http://x/go\"\ntoken_file = \"token\"\n", "gocd.token_file: must be an absolute path"),
        ("[gocd]\nserver_url = \"http://x/go\"\nusername = \"a\"\n", "gocd.password_file: required when username is set"),
        (
            "[gocd]\nserver_url = \"http://x/go\"\ntimeout_seconds = 0\n",
            "gocd.timeout_seconds: line 3: must be between 1 and 600"
        ),
        ("[gocd]\nserver_url = \"http://x/go\"\ntls_verify = \"no\"\n", "gocd.tls_verify: line 3: expected true or false"),
        ("[gocd\n", "line 1: expected ] to close the table header"),
        ("x = 1\n", "x: line 1: unknown key outside any table"),
        ("[gocd]\n\"a\\nb\" = 1\n", "gocd.a\\nb: line 2: unknown key"),
        ("[\"x\\ty\"]\n", "[x\\ty]: unknown table"),
        ("\"x\\u001b[31m\" = 1\n", "x\\x1b[31m: line 1: unknown key outside any table"),
        ("[gocd]\nserver_url = \"http://x/go\nfoo\"\n", "line 2: unterminated string"),
    ]

    @Test(arguments: mistakes)
    func mistakesNameFileKeyAndReason(text: String, expected: String) {
        do {
            _ = try Settings.decode(text, file: "/etc/gocd-proxy-sync/config.toml")
            Issue.record("accepted: \(text)")
        } catch {
            #expect(error.description.hasPrefix("/etc/gocd-proxy-sync/config.toml: "))
            #expect(error.description.contains(expected), "\(error.description)")
            #expect(!error.description.contains("\n"))
        }
    }

    @Test(arguments: ["https://h/", "http://x:1", "http://[::1]", "http://127.0.0.1:8153"])
    func goodUpstreams(text: String) {
        #expect(ConfigValues.parseUpstream(text) != nil)
    }

    @Test(arguments: ["127.0.0.1:8153", "http://h/go", "http://a;b", "http://u@h", "http://h:0", ""])
    func badUpstreams(text: String) {
        #expect(ConfigValues.parseUpstream(text) == nil)
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        components(separatedBy: target).joined(separator: replacement)
    }
}
