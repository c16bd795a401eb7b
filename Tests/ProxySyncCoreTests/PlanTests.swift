import Testing

@testable import ProxySyncCore

struct PlanTests {
    @Test func httpPlusHTTPSRedirectsToSecure() throws {
        let plan = try Fixtures.plan("http://a.example", "https://b.example:8443")
        #expect(
            plan.listeners == [
                Listener(scheme: .http, port: 80, serverName: "a.example", action: .redirect(to: "https://b.example:8443")),
                Listener(scheme: .https, port: 8443, serverName: "b.example", action: .proxy),
            ])
        #expect(plan.sourceLine == "# Source: site_url=http://a.example secure_site_url=https://b.example:8443")
    }

    @Test func httpsOnlyWithRedirect() throws {
        let plan = try Fixtures.plan("https://a.example:8443", "")
        #expect(
            plan.listeners == [
                Listener(scheme: .http, port: 80, serverName: "a.example", action: .redirect(to: "https://a.example:8443")),
                Listener(scheme: .https, port: 8443, serverName: "a.example", action: .proxy),
            ])
    }

    @Test func httpsSameAsSecureIsOneListener() throws {
        let plan = try Fixtures.plan("https://a.example/go", "https://A.example:443", proxy: Fixtures.proxy(redirect: false))
        #expect(plan.listeners == [Listener(scheme: .https, port: 443, serverName: "a.example", action: .proxy)])
    }

    @Test func httpOnlyWarnsAboutTLS() throws {
        let plan = try Fixtures.plan("http://a.example:8080", "", proxy: Fixtures.proxy(certificate: false))
        #expect(plan.listeners == [Listener(scheme: .http, port: 8080, serverName: "a.example", action: .proxy)])
        #expect(plan.warnings.contains { $0.contains("without TLS") })
    }

    @Test func secureOnly() throws {
        let plan = try Fixtures.plan("", "https://b.example", proxy: Fixtures.proxy(redirect: false))
        #expect(plan.listeners == [Listener(scheme: .https, port: 443, serverName: "b.example", action: .proxy)])
        #expect(plan.siteURL == "")
    }

    @Test func twoHTTPSNamesBothProxy() throws {
        let plan = try Fixtures.plan("https://a.example", "https://b.example:8443")
        #expect(
            plan.listeners == [
                Listener(scheme: .https, port: 443, serverName: "a.example", action: .proxy),
                Listener(scheme: .https, port: 8443, serverName: "b.example", action: .proxy),
            ])
    }

    @Test func bothUnsetDerivesNothing() throws {
        #expect(
            try PlanDeriver.derive(SiteURLs(siteURL: "", secureSiteURL: " "), settings: Fixtures.proxy())
                == .nothingToDerive(warnings: [
                    "secure_site_url had surrounding spaces, which were ignored: fix the value in GoCD"
                ]))
    }

    @Test func httpsWithoutCertificateIsRejected() {
        #expect(throws: SiteURLRejection.self) {
            try PlanDeriver.derive(
                SiteURLs(siteURL: "", secureSiteURL: "https://b.example"), settings: Fixtures.proxy(certificate: false))
        }
    }

    @Test func onePortCannotBeBothSchemes() {
        #expect(throws: SiteURLRejection.self) {
            try PlanDeriver.derive(
                SiteURLs(siteURL: "http://a.example:8443", secureSiteURL: "https://b.example:8443"), settings: Fixtures.proxy())
        }
    }

    @Test func hostileSecureRejectsWholeCycle() {
        #expect(throws: SiteURLRejection.self) {
            try PlanDeriver.derive(
                SiteURLs(siteURL: "http://a.example", secureSiteURL: "https://b;c"), settings: Fixtures.proxy())
        }
    }
}

struct RenderGoldenTests {
    static let rows: [(String, String, String)] = [
        ("http-and-https", "http://gocd.example.com", "https://gocd.example.com"),
        ("http-and-https-ports", "http://gocd.old.example:8080", "https://gocd.example.com:8443/go"),
        ("https-only-redirect", "https://gocd.example.com", ""),
        ("http-only", "http://gocd.example.com:8153", ""),
        ("secure-only", "", "https://gocd.example.com"),
        ("two-https", "https://a.example.com", "https://b.example.com:8443"),
        ("ipv6", "", "https://[2001:db8::1]:8443"),
    ]

    @Test(arguments: rows, [ProxyKind.nginx, .apache])
    func golden(row: (String, String, String), kind: ProxyKind) throws {
        let proxy = Fixtures.proxy(kind: kind)
        let plan = try Fixtures.plan(row.1, row.2, proxy: proxy)
        let text = try Renderers.make(for: proxy).render(plan)
        #expect(try Golden.check(text, name: "\(kind.rawValue)-\(row.0).conf"))
        // Deterministic: the same plan renders the same bytes.
        #expect(try Renderers.make(for: proxy).render(plan) == text)
        // Reading the file back gives the plan's listeners.
        #expect(InstalledConfig.read(text, kind: kind).listeners == plan.listeners)
        #expect(InstalledConfig.read(text, kind: kind).isManaged)
    }

    @Test func listenAddressAndApacheListenLines() throws {
        var proxy = Fixtures.proxy(kind: .apache)
        proxy.listenAddresses = ["192.0.2.10"]
        proxy.apacheExistingListenPorts = [80]
        let text = try Renderers.make(for: proxy).render(
            try Fixtures.plan("http://a.example", "https://a.example:8443", proxy: proxy))
        #expect(text.contains("Listen 192.0.2.10:8443\n"))
        #expect(!text.contains("Listen 192.0.2.10:80\n"))
        #expect(text.contains("<VirtualHost 192.0.2.10:80>"))
        var nginx = Fixtures.proxy()
        nginx.listenAddresses = ["::1"]
        let nginxText = try NginxRenderer(settings: nginx).render(try Fixtures.plan("", "https://a.example", proxy: nginx))
        #expect(nginxText.contains("listen [::1]:443 ssl http2;"))
    }

    @Test func unsafeSettingIsRefusedAtRender() {
        var proxy = Fixtures.proxy()
        proxy.tlsCertificate = "/etc/ssl/x;evil"
        #expect(throws: ConfigToken.Unsafe.self) {
            try NginxRenderer(settings: proxy).render(try Fixtures.plan("", "https://a.example", proxy: proxy))
        }
    }
}

struct NginxHTTP2Tests {
    @Test(arguments: [
        ("nginx version: nginx/1.22.1", false), ("nginx version: nginx/1.25.0", false),
        ("nginx version: nginx/1.25.1", true), ("nginx version: nginx/1.27.4 (Ubuntu)", true),
        ("nginx version: nginx/2.0", true), ("sh: nginx: not found", false),
    ])
    func directiveFollowsTheVersion(output: String, directive: Bool) {
        #expect(NginxVersion.usesHTTP2Directive(output) == directive)
    }

    @Test func bothSyntaxesRender() throws {
        var proxy = Fixtures.proxy()
        let plan = try Fixtures.plan("", "https://a.example", proxy: proxy)
        #expect(try NginxRenderer(settings: proxy).render(plan).contains("listen 443 ssl http2;"))
        proxy.nginxHTTP2Directive = true
        let modern = try NginxRenderer(settings: proxy).render(plan)
        #expect(modern.contains("listen 443 ssl;") && modern.contains("    http2 on;\n"))
        proxy.http2 = false
        let off = try NginxRenderer(settings: proxy).render(plan)
        #expect(!off.contains("http2"))
        proxy.hstsMaxAgeSeconds = 31_536_000
        #expect(try NginxRenderer(settings: proxy).render(plan).contains("Strict-Transport-Security \"max-age=31536000\" always"))
    }
}

struct RenderedSiteTests {
    @Test(arguments: [
        ("Server version: Apache/2.4.37 (Red Hat Enterprise Linux)", false),
        ("Server version: Apache/2.4.46 (Unix)", false), ("Server version: Apache/2.4.47 (Unix)", true),
        ("Server version: Apache/2.4.71 (Debian)", true), ("apachectl: not found", true),
    ])
    func websocketUpgradeOptionFollowsTheVersion(output: String, modern: Bool) {
        #expect(ApacheModules.knowsUpgradeOption(output) == modern)
    }

    @Test func olderHttpdGetsTheRewriteWebsocketForm() throws {
        var proxy = Fixtures.proxy(kind: .apache)
        proxy.apacheUpgradeOption = false
        let text = try ApacheRenderer(settings: proxy).render(try Fixtures.plan("", "https://a.example", proxy: proxy))
        #expect(!text.contains("upgrade=websocket"))
        #expect(text.contains("RewriteCond %{HTTP:Upgrade} =websocket [NC]"))
        #expect(text.contains("RewriteRule ^/(.*)$ ws://127.0.0.1:8153/$1 [P,L]"))
        #expect(
            text.contains("RewriteCond %{REQUEST_URI} !^/\\.well-known/gocd-proxy-sync/\n"),
            "the generation path is never handed to GoCD, websocket or not")
        #expect(ApacheModules.required(proxy).contains("rewrite"))
    }

    @Test func missingModulesAreAllNamed() {
        let proxy = Fixtures.proxy(kind: .apache)
        let dump = "Loaded Modules:\n core_module (static)\n proxy_module (shared)\n proxy_http_module (shared)\n"
        let missing = ApacheModules.missing(proxy, loaded: dump)
        #expect(missing == ["proxy_wstunnel", "headers", "ssl"])
        #expect(ApacheModules.advice(missing).contains("a2enmod proxy_wstunnel headers ssl"))
    }

    @Test func nginxListensOnIPv6TooWhereTheHostHasIt() throws {
        var proxy = Fixtures.proxy()
        proxy.ipv6Available = true
        let text = try NginxRenderer(settings: proxy).render(try Fixtures.plan("http://a.example", "", proxy: proxy))
        #expect(text.contains("    listen 80;\n    listen [::]:80;\n"))
        proxy.ipv6Available = false
        #expect(!(try NginxRenderer(settings: proxy).render(try Fixtures.plan("http://a.example", "", proxy: proxy))).contains("[::]"))
        proxy.ipv6Available = true
        proxy.listenAddresses = ["192.0.2.10", "2001:db8::10"]
        let bound = try NginxRenderer(settings: proxy).render(try Fixtures.plan("http://a.example", "", proxy: proxy))
        #expect(bound.contains("    listen 192.0.2.10:80;\n    listen [2001:db8::10]:80;\n"))
        #expect(bound.contains("    2001:db8::10 1;\n"), "listen addresses may ask for the generation")
        let plan = try Fixtures.plan("http://a.example", "", proxy: proxy)
        #expect(InstalledConfig.read(bound, kind: .nginx).listeners == plan.listeners, "one listener, several listen lines")
    }

    @Test func httpsUpstreamIsVerifiedWithSNI() throws {
        var proxy = Fixtures.proxy()
        proxy.upstream = Upstream(scheme: .https, host: "gocd.internal", port: 8154)
        proxy.upstreamCAFile = "/etc/ssl/internal-ca.pem"
        let plan = try Fixtures.plan("", "https://a.example", proxy: proxy)
        let nginx = try NginxRenderer(settings: proxy).render(plan)
        #expect(nginx.contains("proxy_ssl_server_name on;") && nginx.contains("proxy_ssl_name gocd.internal;"))
        #expect(nginx.contains("proxy_ssl_verify on;") && nginx.contains("proxy_ssl_trusted_certificate /etc/ssl/internal-ca.pem;"))
        proxy.kind = .apache
        let apache = try ApacheRenderer(settings: proxy).render(plan)
        #expect(apache.contains("SSLProxyEngine on") && apache.contains("SSLProxyVerify require"))
        #expect(apache.contains("SSLProxyCACertificateFile /etc/ssl/internal-ca.pem"))
        proxy.upstreamTLSVerify = false
        #expect(try ApacheRenderer(settings: proxy).render(plan).contains("SSLProxyVerify none"))
    }
}
