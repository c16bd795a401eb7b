import ProxySyncCore
import Testing

/// Which modules the file needs that httpd does not load, from what the lister got.
struct ApacheModuleListerTests {
    struct Listed: ApacheModuleLister {
        let output: String?
        func loadedModules() -> String? { output }
    }

    @Test func missingModulesFromTheList() {
        let proxy = Fixtures.proxy(kind: .apache)
        let listed = "Loaded Modules:\n core_module (static)\n proxy_module (shared)\n proxy_http_module (shared)\n"
        #expect(Listed(output: listed).missingModules(proxy) == ["proxy_wstunnel", "headers", "ssl"])
    }

    @Test func noListIsNotAnEmptyList() {
        let proxy = Fixtures.proxy(kind: .apache)
        #expect(Listed(output: nil).missingModules(proxy) == nil, "no command to ask")
        #expect(Listed(output: "AH00526: Syntax error on line 3").missingModules(proxy) == nil, "an error, not a list")
    }
}
