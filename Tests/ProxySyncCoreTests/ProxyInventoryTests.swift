import Foundation
import Testing

@testable import ProxySyncCore

/// The dump readers, over real `nginx -T` and `httpd -t -D DUMP_VHOSTS` outputs (captured with nginx 1.22.1
/// and httpd 2.4 on Debian 12; the RHEL file is RHEL 9's stock `nginx.conf` with a few sites added) and over
/// the tokenizer's edge cases.
struct ProxyInventoryTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Dumps")

    static func dump(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: directory.appendingPathComponent(name)))
    }

    static func nginx(_ text: String, managed: String = "/etc/nginx/conf.d/gocd.conf") -> ProxyInventory? {
        ProxyInventory.nginx(text, managedPath: managed)
    }

    static func refusals(_ inventory: ProxyInventory, _ site: String, _ secure: String = "") throws -> [Refusal] {
        let plan = try Fixtures.plan(site, secure, proxy: Fixtures.proxy(redirect: false))
        return inventory.collisions(with: plan, addresses: [])
    }

    @Test func debianStockDefaultSiteAllowsTheFirstApplyOnPort80() throws {
        var reader = NginxDumpReader(managedPaths: ["/etc/nginx/conf.d/gocd.conf"])
        reader.feed(try Self.dump("debian12-nginx-T.txt"))
        let read = reader.finish()
        let inventory = try #require(read)
        #expect(inventory.sites.map(\.port) == [80, 80])
        #expect(inventory.sites.allSatisfy { $0.names == ["_"] && $0.tls == false && $0.file == "/etc/nginx/sites-enabled/default" })
        #expect(try Self.refusals(inventory, "http://gocd.example.com").isEmpty)
        #expect(try Self.refusals(inventory, "", "https://gocd.example.com").isEmpty)
        // Port 80 is plain HTTP there: TLS on it would break the default site.
        #expect(try Self.refusals(inventory, "", "https://gocd.example.com:80").count == 1)
    }

    @Test func rhelLayoutWithIncludesRegexSuffixWildcardsCRLFAndSslOn() throws {
        let inventory = try #require(Self.nginx(String(decoding: try Self.dump("rhel-layout-nginx-T.txt"), as: UTF8.self)))
        // The default server's names and its TLS port come from a file it includes.
        let defaults = inventory.sites.filter { $0.file == "/etc/nginx/nginx.conf" }
        #expect(Set(defaults.map(\.port)) == [80, 8443])
        #expect(defaults.allSatisfy { $0.names.contains("intranet.example.com") })
        #expect(defaults.first { $0.port == 8443 }?.tls == true)
        for (claimed, why) in [
            ("http://intranet.example.com", "included server_name"),
            ("http://wiki7.example.com", "regex name"),
            ("http://WIKI12.example.com", "regex name, any case"),
            ("http://www.example.org", "suffix wildcard"),
            ("http://quoted.example.com", "quoted name"),
            ("http://trailing.example.com", "trailing dot"),
            ("http://crlf.example.com:8080", "CRLF file with a comment"),
        ] {
            #expect(try Self.refusals(inventory, claimed).count == 1, "\(why): \(claimed)")
        }
        #expect(try Self.refusals(inventory, "http://wiki.example.com").isEmpty, "the regex needs digits")
        #expect(try Self.refusals(inventory, "http://gocd.example.com").isEmpty)
        // `ssl on;` makes the legacy server's port a TLS port: plain HTTP there would break it.
        let legacy = try #require(inventory.sites.first { $0.port == 9443 })
        #expect(legacy.tls == true)
        #expect(try Self.refusals(inventory, "http://gocd.example.com:9443").count == 1)
        #expect(try Self.refusals(inventory, "", "https://gocd.example.com:9443").isEmpty)
    }

    @Test func readingByteByByteGivesTheSameInventory() throws {
        let bytes = try Self.dump("rhel-layout-nginx-T.txt")
        var whole = NginxDumpReader(managedPaths: [])
        whole.feed(bytes)
        var single = NginxDumpReader(managedPaths: [])
        for byte in bytes { single.feed(CollectionOfOne(byte)) }
        #expect(whole.finish() == single.finish())
    }

    @Test(arguments: [
        // (dump, the names of the one server it has)
        ("server { server_name a\"b.test; }", ["a\"b.test"]),
        ("server { server_name a'b.test; }", ["a'b.test"]),
        ("server { server_name \"x.test\"; }", ["x.test"]),
        ("server { server_name 'y.test'; }", ["y.test"]),
        ("server { server_name a#b.test; }", ["a#b.test"]),
        ("server { server_name a}b.test; }", ["a}b.test"]),
        ("server { server_name \"q\\\"x.test\"; }", ["q\"x.test"]),
        ("server { server_name z.test; # } not a close\n }", ["z.test"]),
        ("server {\r\n # comment\r\n server_name crlf.test;\r\n}\r\n", ["crlf.test"]),
        ("server { location / { return 200 \"}\"; } server_name after.test; }", ["after.test"]),
        ("server { set $x \"${host}\"; server_name v.test; }", ["v.test"]),
        ("server { server_name UPPER.Test.; }", ["upper.test"]),
        // `)` right after a quoted word (the ACME location's `if`): the next word, as NGINX reads it.
        ("server { if ($request_uri ~ \"^/a(?!b)\") { return 404; } server_name if.test; }", ["if.test"]),
    ])
    func tokenizerCases(_ dump: String, _ names: [String]) throws {
        let inventory = try #require(Self.nginx("# configuration file /etc/nginx/nginx.conf:\n" + dump + "\n"))
        #expect(inventory.sites.count == 1)
        #expect(inventory.sites.first?.names == names)
    }

    @Test(arguments: [
        "server { server_name a.test;",  // unbalanced
        "server { server_name \"a.test; }",  // unclosed quote
        "server { } }",  // unexpected }
        "server { server_name \"a\"b; }",  // a quoted word must end at space, ; or {
        "# configuration file /etc/nginx/nginx.conf:\nserver { }\n# configuration file /etc/nginx/nginx.conf:\nserver { }",
    ])
    func uncertainDumpsAreRefused(_ dump: String) {
        #expect(Self.nginx(dump) == nil)
    }

    @Test func theManagedFileIsLeftOutAndAHeaderInsideABlockIsNotAHeader() throws {
        let dump = """
            # configuration file /etc/nginx/nginx.conf:
            http {
            # configuration file /etc/nginx/conf.d/gocd.conf:
            server { server_name kept.test; }
            }
            # configuration file /etc/nginx/conf.d/gocd.conf:
            server { server_name gocd.test; }

            """
        let inventory = try #require(Self.nginx(dump))
        #expect(inventory.sites.map(\.names) == [["kept.test"]])
    }

    @Test func listenForms() {
        #expect(ProxyInventory.parseNginxListen("80")! == (nil, 80))
        #expect(ProxyInventory.parseNginxListen("127.0.0.1")! == ("127.0.0.1", 80))
        #expect(ProxyInventory.parseNginxListen("127.0.0.1:8080")! == ("127.0.0.1", 8080))
        #expect(ProxyInventory.parseNginxListen("[::]:443")! == (nil, 443))
        #expect(ProxyInventory.parseNginxListen("[::1]")! == ("::1", 80))
        #expect(ProxyInventory.parseNginxListen("*:80")! == (nil, 80))
        #expect(ProxyInventory.parseNginxListen("localhost:8080")! == (nil, 8080))
        #expect(ProxyInventory.parseNginxListen("unix:/run/x.sock") == nil)
        #expect(ProxyInventory.parseNginxListen("99999") == nil)
    }

    @Test func manySitesAreReadAsAStream() throws {
        var reader = NginxDumpReader(managedPaths: [])
        reader.feed(Array("# configuration file /etc/nginx/nginx.conf:\n".utf8))
        for index in 0..<20_000 {
            reader.feed(Array("server { listen 80; server_name site\(index).test www.site\(index).test; }\n".utf8))
        }
        let read = reader.finish()
        let inventory = try #require(read)
        #expect(inventory.sites.count == 20_000)
        #expect(try Self.refusals(inventory, "http://www.site19999.test").count == 1)
    }

    // MARK: Apache

    @Test func apacheDumpAliasesWildAliasesAndTLSFromACRLFFile() throws {
        var reader = ApacheDumpReader(managedPaths: [])
        reader.feed(try Self.dump("apache-name-and-single-vhosts-DUMP_VHOSTS.txt"))
        let read = reader.finish()
        var inventory = try #require(read)
        inventory.apacheNames = true
        #expect(inventory.sites.map(\.line) == [1, 5, 9])
        #expect(inventory.sites[0].names == ["wiki.example.com", "www.wiki.example.com", "*.wiki.example.com"])
        let vhosts = ApacheVirtualHostScanner.scan(try Self.dump("apache-sites-crlf.conf"))
        #expect(vhosts[1]?.tls == false)
        #expect(vhosts[9]?.tls == true, "SSLEngine on, in a CRLF file")
        #expect(vhosts[9]?.names == ["secure.example.com", "secure?.example.com"], "the alias the dump leaves out")
        for index in inventory.sites.indices {
            let found = try #require(vhosts[inventory.sites[index].line!])
            inventory.sites[index].tls = found.tls
            inventory.sites[index].names += found.names.filter { !inventory.sites[index].names.contains($0) }
        }
        let plan = try Fixtures.plan("http://deep.wiki.example.com:18080", "", proxy: Fixtures.proxy(kind: .apache, redirect: false))
        #expect(inventory.collisions(with: plan, addresses: ["127.0.0.1"]).count == 1, "wild alias")
        let secure = try Fixtures.plan("", "https://secure1.example.com:18443", proxy: Fixtures.proxy(kind: .apache, redirect: false))
        #expect(inventory.collisions(with: secure, addresses: ["127.0.0.1"]).count == 1, "alias of a single vhost")
        let plain = try Fixtures.plan("http://gocd.example.com:18443", "", proxy: Fixtures.proxy(kind: .apache, redirect: false))
        #expect(inventory.collisions(with: plain, addresses: ["127.0.0.1"]).count == 1, "plain HTTP on a TLS port")
        let free = try Fixtures.plan("", "https://gocd.example.com:18443", proxy: Fixtures.proxy(kind: .apache, redirect: false))
        #expect(inventory.collisions(with: free, addresses: ["127.0.0.1"]).isEmpty)
    }

    @Test func debianApacheStockSites() throws {
        var reader = ApacheDumpReader(managedPaths: [])
        reader.feed(try Self.dump("debian12-apache2-DUMP_VHOSTS.txt"))
        let read = reader.finish()
        let inventory = try #require(read)
        #expect(inventory.sites.map(\.port) == [80, 443])
        #expect(inventory.sites.allSatisfy { $0.address == nil })
    }

    @Test(arguments: [
        ("*.example.com", "a.example.com", false, true),
        ("*.example.com", "a.b.example.com", false, true),
        ("*.example.com", "example.com", false, false),
        ("a?c", "abc", false, true),
        ("/etc/nginx/*.conf", "/etc/nginx/a.conf", true, true),
        ("/etc/nginx/*.conf", "/etc/nginx/sub/a.conf", true, false),
        ("/etc/nginx/*", "/etc/nginx/.hidden", true, false),
        ("/etc/nginx/[ab].conf", "/etc/nginx/b.conf", true, true),
        ("/etc/nginx/[!ab].conf", "/etc/nginx/b.conf", true, false),
    ])
    func globs(_ pattern: String, _ text: String, _ pathname: Bool, _ expected: Bool) {
        #expect(Glob.matches(pattern, text, pathname: pathname) == expected)
    }

    @Test func nginxNameRules() {
        #expect(ServerNameMatch.nginx("www.example.*", matches: "www.example.co.uk") == true)
        #expect(ServerNameMatch.nginx("www.example.*", matches: "www.example") == false)
        #expect(ServerNameMatch.nginx(".example.org", matches: "example.org") == true)
        #expect(ServerNameMatch.nginx("*.example.org", matches: "example.org") == false)
        #expect(ServerNameMatch.nginx("~^(?<sub>.+)\\.ci\\.test$", matches: "a.ci.test") == true)
        #expect(ServerNameMatch.nginx("~(unclosed", matches: "a.test") == nil)
    }
}
