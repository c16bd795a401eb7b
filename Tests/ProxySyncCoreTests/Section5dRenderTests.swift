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
    static func settings(_ line: String) throws(ConfigError) -> Settings {
        try Settings.decode(
            """
            [gocd]
            server_url = "http://127.0.0.1:8153/go"
            [proxy]
            kind = "nginx"
            output = "/etc/nginx/conf.d/gocd.conf"
            upstream = "http://127.0.0.1:8153"
            \(line)
            """, file: "/c.toml")
    }

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
