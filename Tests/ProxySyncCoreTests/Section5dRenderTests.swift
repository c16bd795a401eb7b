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
