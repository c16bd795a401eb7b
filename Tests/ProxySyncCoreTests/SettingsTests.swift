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

    static func withProxy(_ line: String) -> String { minimal + "\n" + line + "\n" }

    /// listen_address(es) and allowed_server_names are compared with what a plan carries and what the kernel and
    /// the proxy's dump report, as text: each is taken only in the one form the site-URL gate accepts.
    static let canonicalOnly: [(String, String)] = [
        ("listen_address = \"0:0:0:0:0:0:0:1\"", "proxy.listen_address: \"0:0:0:0:0:0:0:1\" is not in its canonical form (RFC 5952): write it as \"::1\""),
        ("listen_address = \"[::0001]\"", "write it as \"::1\""),
        ("listen_addresses = [\"127.0.0.1\", \"2001:0db8::1\"]", "proxy.listen_addresses: \"2001:0db8::1\" is not in its canonical form"),
        ("listen_address = \"010.0.0.1\"", "proxy.listen_address: must be an IPv4 or IPv6 address"),
        ("listen_address = \"0x7f000001\"", "must be an IPv4 or IPv6 address"),
        ("allowed_server_names = [\"0:0:0:0:0:0:0:1\"]", "proxy.allowed_server_names: \"0:0:0:0:0:0:0:1\" is not in its canonical form: write it as \"::1\""),
        ("allowed_server_names = [\"[0::1]\"]", "write it as \"[::1]\""),
        ("allowed_server_names = [\"0x7f000002\"]", "\"0x7f000002\" is not a host name, an IP address or a *. wildcard"),
        ("allowed_server_names = [\"127.1\"]", "is not a host name"),
        ("allowed_server_names = [\"*.0x7f\"]", "is not a host name"),
        ("allowed_server_names = [\"*.example.123\"]", "is not a host name"),
        ("allowed_server_names = [\"\\u212Aci.example\"]", "is not a host name"),
    ]

    @Test(arguments: canonicalOnly)
    func addressesAndNamesOnlyInCanonicalForm(line: String, expected: String) {
        do {
            _ = try Settings.decode(Self.withProxy(line), file: "/c.toml")
            Issue.record("accepted: \(line)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }

    @Test func canonicalAddressesAndNamesAreTaken() throws {
        let settings = try Settings.decode(
            Self.withProxy(
                "listen_addresses = [\"10.0.0.1\", \"2001:DB8::1\", \"[::ffff:192.0.2.1]\"]\n"
                    + "allowed_server_names = [\"*.example.com\", \"192.0.2.7\", \"::1\", \"[2001:db8::1]\", \"0x7f.example\"]"),
            file: "/c.toml")
        #expect(settings.proxy.listenAddresses == ["10.0.0.1", "2001:db8::1", "::ffff:192.0.2.1"])
        #expect(settings.proxy.allowedServerNames?.count == 5)
    }

    @Test(arguments: ["https://h/", "http://x:1", "http://[::1]", "http://127.0.0.1:8153"])
    func goodUpstreams(text: String) {
        #expect(ConfigValues.parseUpstream(text) != nil)
    }

    @Test(arguments: [
        "127.0.0.1:8153", "http://h/go", "http://a;b", "http://u@h", "http://h:0", "", "http://0x7f000001:8153",
        "http://127.1:8153", "http://[0:0:0:0:0:0:0:1]:8153",
    ])
    func badUpstreams(text: String) {
        #expect(ConfigValues.parseUpstream(text) == nil)
    }
}

extension String {
    func replacingOccurrences(_ target: String, _ replacement: String) -> String {
        components(separatedBy: target).joined(separator: replacement)
    }
}
