import Testing

@testable import ProxySyncCore

/// SPEC 5d in the rendered files: redirects that keep the method (more in the golden files).
struct RedirectMethodTests {
    @Test(arguments: [ProxyKind.nginx, .apache])
    func getAndHeadGet301OthersGet308ToTheSameLocation(kind: ProxyKind) throws {
        let proxy = Fixtures.proxy(kind: kind)
        let text = try Renderers.make(for: proxy).render(
            try Fixtures.plan("http://a.example:8080", "https://a.example:8443", proxy: proxy))
        switch kind {
        case .nginx:
            #expect(text.contains("if ($request_method !~ ^(GET|HEAD)$) {\n            return 308 https://a.example:8443$request_uri;\n        }\n        return 301 https://a.example:8443$request_uri;\n"))
        case .apache:
            #expect(text.contains("<If \"%{REQUEST_METHOD} in { 'GET', 'HEAD' }\">\n        Redirect permanent / https://a.example:8443/\n    </If>\n    <Else>\n        Redirect 308 / https://a.example:8443/\n    </Else>\n"))
        }
        // Read back as one redirect listener, not two.
        let read = InstalledConfig.read(text, kind: kind).listeners.filter { $0.redirectTarget != nil }
        #expect(read.map(\.redirectTarget) == ["https://a.example:8443"])
    }
}

/// `[proxy] tls_profile`: Mozilla 5.7 in every TLS server / VirtualHost; nothing for inherit.
struct TLSProfileTests {
    static func settings(_ line: String) throws(ConfigError) -> Settings { try Fixtures.settings(line) }

    @Test func intermediateByDefaultAndEachValueDecodes() throws {
        #expect(try Self.settings("").proxy.tlsProfile == .intermediate)
        for profile in TLSProfile.allCases {
            #expect(try Self.settings("tls_profile = \"\(profile.rawValue)\"").proxy.tlsProfile == profile)
        }
    }

    @Test(arguments: ["\"old\"", "\"Modern\"", "1", "\"\""])
    func anUnknownValueNamesTheKey(value: String) {
        #expect {
            try Self.settings("tls_profile = \(value)")
        } throws: { error in
            "\(error)".hasPrefix("/c.toml: proxy.tls_profile: ")
        }
    }

    @Test(arguments: TLSProfile.allCases, [ProxyKind.nginx, .apache])
    func everyTLSListenerGetsTheProfileAndNoPlainOne(profile: TLSProfile, kind: ProxyKind) throws {
        var proxy = Fixtures.proxy(kind: kind)
        proxy.tlsProfile = profile
        let text = try Renderers.make(for: proxy).render(
            try Fixtures.plan("https://a.example.com", "https://b.example.com:8443", proxy: proxy))
        let lines = kind == .nginx ? profile.nginxLines : profile.apacheLines
        let protocolWord = kind == .nginx ? "ssl_protocols" : "SSLProtocol"
        switch profile {
        case .inherit:
            #expect(lines.isEmpty && !text.contains(protocolWord) && !text.contains("TLS profile"))
        case .intermediate, .modern:
            // Two TLS listeners, each with the whole profile; the port-80 redirect has none.
            #expect(text.components(separatedBy: lines).count == 3)
            #expect(text.components(separatedBy: protocolWord).count == 3)
        }
        if profile == .modern {
            #expect(lines.contains(kind == .nginx ? "ssl_protocols TLSv1.3;" : "SSLProtocol -all +TLSv1.3\n"))
            #expect(!lines.contains("TLSv1.2") && !lines.contains("ssl_ciphers") && !lines.contains("SSLCipherSuite"))
        }
        if profile == .intermediate {
            #expect(lines.contains(kind == .nginx ? "ssl_protocols TLSv1.2 TLSv1.3;" : "SSLProtocol -all +TLSv1.2 +TLSv1.3\n"))
            #expect(lines.contains(TLSProfile.intermediateCiphers) && !TLSProfile.intermediateCiphers.contains("CBC"))
            #expect(TLSProfile.intermediateCiphers.split(separator: ":").allSatisfy { $0.contains("GCM") || $0.contains("CHACHA20") })
        }
        if profile != .inherit {
            #expect(lines.contains(kind == .nginx ? "ssl_session_tickets off;" : "SSLSessionTickets off"))
            #expect(lines.contains(kind == .nginx ? "ssl_prefer_server_ciphers off;" : "SSLHonorCipherOrder off"))
            #expect(lines.contains(kind == .nginx ? "ssl_ecdh_curve X25519:prime256v1:secp384r1;" : "SSLOpenSSLConfCmd Curves X25519:prime256v1:secp384r1"))
            #expect(!lines.lowercased().contains("stapling"))
        }
    }
}

/// `[proxy] acme_challenge_dir`: the challenge on every listener, and a challenge-only listener on
/// `acme_http_port` for an HTTPS name without an HTTP listener there.
struct ACMEChallengeTests {
    static func proxy(_ kind: ProxyKind, port: Int = 80) -> ProxySettings {
        var proxy = Fixtures.proxy(kind: kind)
        proxy.acmeChallengeDir = "/var/www/acme"
        proxy.acmeHTTPPort = port
        return proxy
    }

    @Test func decodes() throws {
        let settings = try TLSProfileTests.settings("acme_challenge_dir = \"/var/www/acme/\"\nacme_http_port = 8080")
        #expect(settings.proxy.acmeChallengeDir == "/var/www/acme")
        #expect(settings.proxy.acmeHTTPPort == 8080)
        #expect(try TLSProfileTests.settings("").proxy.acmeChallengeDir == nil)
        #expect(try TLSProfileTests.settings("").proxy.acmeHTTPPort == 80)
        for bad in ["acme_challenge_dir = \"www\"", "acme_challenge_dir = \"/a/../b\"", "acme_challenge_dir = \"/a b\"",
                    "acme_http_port = 0", "acme_http_port = \"80\""] {
            #expect(throws: ConfigError.self) { try TLSProfileTests.settings(bad) }
        }
    }

    @Test func everyHTTPSNameGetsTheChallengeOnTheACMEPort() throws {
        // https-only on 8443 with the port-80 redirect: the redirect listener answers it, nothing is added.
        var plan = try Fixtures.plan("", "https://a.example:8443", proxy: Self.proxy(.nginx))
        #expect(!plan.listeners.contains { $0.action == .challenge })
        // Two https names, no redirect: each gets a challenge-only listener on 80.
        plan = try Fixtures.plan("https://a.example", "https://b.example:8443", proxy: Self.proxy(.nginx))
        #expect(plan.listeners.filter { $0.action == .challenge }.map(\.origin) == ["http://a.example:80", "http://b.example:80"])
        // An http redirect on another port than acme_http_port: one more listener for the https name on 80.
        plan = try Fixtures.plan("http://a.example:8080", "https://b.example:8443", proxy: Self.proxy(.nginx))
        #expect(plan.listeners.filter { $0.action == .challenge }.map(\.origin) == ["http://b.example:80"])
        // acme_http_port serving https in this plan: a warning, no listener.
        plan = try Fixtures.plan("", "https://a.example:80", proxy: Self.proxy(.nginx))
        #expect(!plan.listeners.contains { $0.action == .challenge })
        #expect(plan.warnings.contains { $0.contains("acme_http_port 80 serves https") })
        // Without the directory: nothing.
        plan = try Fixtures.plan("https://a.example", "https://b.example:8443", proxy: Fixtures.proxy())
        #expect(!plan.listeners.contains { $0.action == .challenge })
    }

    @Test(arguments: [ProxyKind.nginx, .apache])
    func golden(kind: ProxyKind) throws {
        let proxy = Self.proxy(kind)
        let plan = try Fixtures.plan("http://gocd.example.com:8080", "https://gocd.example.com:8443", proxy: proxy)
        let text = try Renderers.make(for: proxy).render(plan)
        #expect(try Golden.check(text, name: "\(kind.rawValue)-acme.conf"))
        #expect(InstalledConfig.read(text, kind: kind).listeners == plan.listeners)
        // Every listener (redirect, proxy, challenge-only) has the challenge.
        let marker = kind == .nginx ? "location ^~ /.well-known/acme-challenge/ {" : "AliasMatch \"^/\\.well-known/acme-challenge/"
        #expect(text.components(separatedBy: marker).count == 1 + plan.listeners.count)
        #expect(plan.listeners.count == 3)
        // The proxying listener excludes the path from ProxyPass before ProxyPass /.
        if kind == .apache, let exclusion = text.range(of: "ProxyPass /.well-known/acme-challenge/ !"),
            let proxyPass = text.range(of: "ProxyPass / http://")
        {
            #expect(exclusion.lowerBound < proxyPass.lowerBound)
        } else if kind == .apache {
            Issue.record("no ProxyPass exclusion")
        }
    }

    @Test func anUnsafeDirectoryIsRefusedAtRender() {
        var proxy = Self.proxy(.nginx)
        proxy.acmeChallengeDir = "/var/www/acme;evil"
        #expect(throws: ConfigToken.Unsafe.self) {
            try NginxRenderer(settings: proxy).render(try Fixtures.plan("", "https://a.example", proxy: proxy))
        }
    }
}
