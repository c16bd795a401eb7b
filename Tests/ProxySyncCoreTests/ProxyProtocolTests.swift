import Testing

@testable import ProxySyncCore

/// `proxy_protocol = true` (SPEC 5e): every listener expects the PROXY protocol, believed from trusted_proxies only.
struct ProxyProtocolTests {
    @Test(arguments: ["nginx", "apache"])
    func needsTrustedProxies(kind: String) throws {
        func config(_ lines: String) -> String {
            OperatorSiteTests.config(lines).replacing("kind = \"nginx\"", with: "kind = \"\(kind)\"")
        }
        #expect(try !Settings.decode(config(""), file: "/c.toml").proxy.proxyProtocol)
        let on = try Settings.decode(config("trusted_proxies = [\"192.0.2.0/24\"]\nproxy_protocol = true"), file: "/c.toml")
        #expect(on.proxy.proxyProtocol)
        #expect {
            try Settings.decode(config("proxy_protocol = true"), file: "/c.toml")
        } throws: { error in
            "\(error)".contains("proxy.proxy_protocol: needs trusted_proxies")
        }
    }

    /// Apache: mod_remoteip on every VirtualHost's address; a header naming another address than the peer's is
    /// refused unless the peer is a trusted proxy (httpd keeps CONN_REMOTE_ADDR but cannot make it the client's).
    @Test func everyApacheVirtualHostReadsItAndRefusesAnUntrustedPeersClaim() throws {
        var proxy = Fixtures.proxy(kind: .apache)
        proxy.trustedProxies = ["192.0.2.0/24", "2001:db8::/32"]
        proxy.proxyProtocol = true
        let plan = try Fixtures.plan("http://gocd.example.com", "https://gocd.example.com", proxy: proxy)
        let text = try Renderers.make(for: proxy).render(plan)
        #expect(try Golden.check(text, name: "apache-proxy-protocol.conf"))
        let hosts = text.components(separatedBy: "<VirtualHost ").count - 1
        #expect(hosts == plan.listeners.count && hosts == 2)
        #expect(text.components(separatedBy: "    RemoteIPProxyProtocol On\n").count - 1 == hosts)
        let refusal = """
                <If "!(%{CONN_REMOTE_ADDR} -ipmatch '192.0.2.0/24' || %{CONN_REMOTE_ADDR} -ipmatch '2001:db8::/32') \
            && %{REMOTE_ADDR} != %{CONN_REMOTE_ADDR}">
                    Require all denied
                </If>

            """
        #expect(text.components(separatedBy: refusal).count - 1 == hosts)
        // The PROXY header is the only source of the client address, as NGINX's real_ip_header proxy_protocol.
        #expect(!text.contains("RemoteIPHeader"))
        #expect(ApacheModules.required(proxy).contains("remoteip"))
        // A layer-4 balancer adds no headers: X-Forwarded-Proto/-Host/-Port are this proxy's own from every peer.
        #expect(text.contains("    RequestHeader set X-Forwarded-Proto \"https\"\n"))
        #expect(text.contains("    RequestHeader set X-Forwarded-Host \"expr=%{HTTP_HOST}\"\n"))
        #expect(text.contains("    RequestHeader set X-Forwarded-Port \"443\"\n"))
        #expect(!text.contains("%{req:X-Forwarded-"))
        proxy.proxyProtocol = false
        let plain = try Renderers.make(for: proxy).render(plan)
        #expect(!plain.contains("RemoteIPProxyProtocol") && plain.contains("RemoteIPHeader X-Forwarded-For"))
        #expect(plain.contains("%{req:X-Forwarded-Proto}") && plain.contains("%{req:X-Forwarded-Host}"))
    }

    @Test func everyListenLineExpectsItAndTheClientAddressIsTheHeaders() throws {
        var proxy = Fixtures.proxy(kind: .nginx)
        proxy.trustedProxies = ["192.0.2.0/24"]
        proxy.proxyProtocol = true
        let plan = try Fixtures.plan("http://gocd.example.com", "https://gocd.example.com", proxy: proxy)
        let text = try Renderers.make(for: proxy).render(plan)
        #expect(try Golden.check(text, name: "nginx-proxy-protocol.conf"))
        let listens = text.split(separator: "\n").filter { $0.drop(while: { $0 == " " }).hasPrefix("listen ") }
        #expect(!listens.isEmpty)
        #expect(listens.allSatisfy { $0.hasSuffix(" proxy_protocol;") })
        #expect(text.contains("    set_real_ip_from 192.0.2.0/24;\n    # proxy_protocol"))
        #expect(text.contains("real_ip_header proxy_protocol;"))
        #expect(!text.contains("real_ip_header X-Forwarded-For;"))
        // A layer-4 balancer adds no headers: X-Forwarded-Proto/-Host/-Port are this proxy's own from every peer.
        #expect(text.contains("proxy_set_header X-Forwarded-Proto $scheme;\n"))
        #expect(text.contains("proxy_set_header X-Forwarded-Host $host;\n"))
        #expect(text.contains("proxy_set_header X-Forwarded-Port $server_port;\n"))
        #expect(!text.contains("$http_x_forwarded_") && !text.contains(NginxRenderer.trustedVariable))
        proxy.proxyProtocol = false
        let plain = try Renderers.make(for: proxy).render(plan)
        #expect(!plain.contains("proxy_protocol"))
        #expect(plain.contains("proxy_set_header X-Forwarded-Proto $gocd_proxy_sync_forwarded_proto;\n"))
    }
}
