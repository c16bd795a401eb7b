import Testing

@testable import ProxySyncCore

/// `proxy_protocol = true` (SPEC 5e): every listener expects the PROXY protocol, believed from trusted_proxies only.
struct ProxyProtocolTests {
    @Test func needsTrustedProxiesAndNginx() throws {
        #expect(try !Settings.decode(OperatorSiteTests.config(""), file: "/c.toml").proxy.proxyProtocol)
        let on = try Settings.decode(
            OperatorSiteTests.config("trusted_proxies = [\"192.0.2.0/24\"]\nproxy_protocol = true"), file: "/c.toml")
        #expect(on.proxy.proxyProtocol)
        #expect(throws: ConfigError.self) {
            try Settings.decode(OperatorSiteTests.config("proxy_protocol = true"), file: "/c.toml")
        }
        let apache = OperatorSiteTests.config("trusted_proxies = [\"192.0.2.0/24\"]\nproxy_protocol = true")
            .replacing("kind = \"nginx\"", with: "kind = \"apache\"")
        #expect(throws: ConfigError.self) { try Settings.decode(apache, file: "/c.toml") }
    }

    @Test func everyListenLineExpectsItAndTheClientAddressIsTheHeaders() throws {
        var proxy = Fixtures.proxy(kind: .nginx)
        proxy.trustedProxies = ["192.0.2.0/24"]
        proxy.proxyProtocol = true
        let plan = try Fixtures.plan("http://gocd.example.com", "https://gocd.example.com", proxy: proxy)
        let text = try Renderers.make(for: proxy).render(plan)
        let listens = text.split(separator: "\n").filter { $0.drop(while: { $0 == " " }).hasPrefix("listen ") }
        #expect(!listens.isEmpty)
        #expect(listens.allSatisfy { $0.hasSuffix(" proxy_protocol;") })
        #expect(text.contains("    set_real_ip_from 192.0.2.0/24;\n    # proxy_protocol"))
        #expect(text.contains("real_ip_header proxy_protocol;"))
        #expect(!text.contains("real_ip_header X-Forwarded-For;"))
        proxy.proxyProtocol = false
        #expect(!(try Renderers.make(for: proxy).render(plan)).contains("proxy_protocol"))
    }
}
