import Testing

@testable import ProxySyncCore

/// The operator's own site (README: The operator's own site): front proxies and includes.
struct OperatorSiteTests {
    static func config(_ proxyLines: String) -> String { Fixtures.config(proxyLines) }

    @Test(arguments: ["192.0.2.0/24", "10.0.0.1", "0.0.0.0/0", "2001:db8::/32", "::1", "::/0", "198.51.100.7/32"])
    func acceptsCIDRs(_ cidr: String) throws {
        let settings = try Settings.decode(Self.config("trusted_proxies = [\"\(cidr)\"]"), file: "/c.toml")
        #expect(settings.proxy.trustedProxies == [cidr])
    }

    @Test(arguments: [
        ("192.0.2.1/24", "address bits set below its /24 prefix"),
        ("192.0.2.0/33", "no valid prefix length (0-32)"),
        ("192.0.2.0/", "no valid prefix length"),
        ("192.0.2.0/024", "no valid prefix length"),
        ("192.0.2/24", "is not a CIDR"),
        ("gocd.example.com", "is not a CIDR"),
        ("2001:DB8::/32", "write it as \"2001:db8::/32\""),
        ("2001:db8::1/32", "address bits set below its /32 prefix"),
        ("10.0.0.0/8; include /etc/passwd", "is not a CIDR"),
        ("", "is not a CIDR"),
    ])
    func refusesMalformedCIDRs(_ row: (String, String)) {
        #expect {
            _ = try Settings.decode(Self.config("trusted_proxies = [\"\(row.0)\"]"), file: "/c.toml")
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("/c.toml: proxy.trusted_proxies: \"\(row.0)\"") && text.contains(row.1)
        }
    }

    @Test func unsetMeansNoneTrusted() throws {
        #expect(try Settings.decode(Self.config(""), file: "/c.toml").proxy.trustedProxies.isEmpty)
        #expect(try Settings.decode(Self.config("trusted_proxies = []"), file: "/c.toml").proxy.trustedProxies.isEmpty)
    }

    @Test(arguments: [ProxyKind.nginx, .apache])
    func trustedProxiesRender(kind: ProxyKind) throws {
        var proxy = Fixtures.proxy(kind: kind)
        proxy.trustedProxies = ["192.0.2.0/24", "2001:db8::/32"]
        let text = try Renderers.make(for: proxy).render(
            try Fixtures.plan("http://gocd.old.example:8080", "https://gocd.example.com:8443", proxy: proxy))
        #expect(try Golden.check(text, name: "\(kind.rawValue)-trusted-proxies.conf"))
        if kind == .apache { #expect(ApacheModules.required(proxy).contains("remoteip")) }
    }

    @Test(arguments: [ProxyKind.nginx, .apache])
    func includesRender(kind: ProxyKind) throws {
        var proxy = Fixtures.proxy(kind: kind)
        proxy.includeInServer = ["/etc/gocd-proxy-sync/site.conf"]
        proxy.includeInLocation = ["/etc/gocd-proxy-sync/location.conf"]
        proxy.includeInRedirect = ["/etc/gocd-proxy-sync/redirect.conf", "/etc/gocd-proxy-sync/site.conf"]
        proxy.includeDigests = [
            "/etc/gocd-proxy-sync/site.conf": "00000000000000a1", "/etc/gocd-proxy-sync/location.conf": "00000000000000b2",
            "/etc/gocd-proxy-sync/redirect.conf": "00000000000000c3",
        ]
        let plan = try Fixtures.plan("http://gocd.old.example:8080", "https://gocd.example.com:8443", proxy: proxy)
        let text = try Renderers.make(for: proxy).render(plan)
        #expect(try Golden.check(text, name: "\(kind.rawValue)-includes.conf"))
        #expect(Includes.named(in: text) == proxy.includeDigests)
        // An edited include is a new file with a new generation.
        proxy.includeDigests["/etc/gocd-proxy-sync/site.conf"] = "00000000000000a2"
        let edited = try Renderers.make(for: proxy).render(plan)
        #expect(Generation.of(edited) != Generation.of(text))
        #expect(SyncEngine.changedIncludes(installed: text, rendered: edited) == ["/etc/gocd-proxy-sync/site.conf"])
    }

    @Test func includePathsAreAbsolute() {
        #expect(throws: ConfigError.self) {
            _ = try Settings.decode(Self.config("include_in_server = [\"site.conf\"]"), file: "/c.toml")
        }
        #expect(throws: ConfigError.self) {
            _ = try Settings.decode(Self.config("include_in_location = [\"/etc/x;y\"]"), file: "/c.toml")
        }
    }
}
