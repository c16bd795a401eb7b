import ProxySyncCore
import Testing

/// The `nginx -T` reader on its own, over small dumps: file headers and includes, listen forms, quoting,
/// comments, CRLF, and what makes a dump uncertain (and how that is said).
struct NginxDumpReaderTests {
    /// The reader fed `dump` whole: the inventory, or why there is none.
    static func read(_ dump: String, managed: Set<String> = []) -> (ProxyInventory?, String?) {
        var reader = NginxDumpReader(managedPaths: managed)
        reader.feed(Array(dump.utf8))
        let inventory = reader.finish()
        return (inventory, reader.uncertainty)
    }

    static func file(_ path: String, _ text: String) -> String { "# configuration file \(path):\n\(text)\n" }

    @Test func includedFilesFoldTheirServerDirectivesIntoTheServer() throws {
        let dump =
            Self.file("/etc/nginx/nginx.conf", "http { server { include snippets/*.conf; include /etc/nginx/tls.conf; } }")
            + Self.file("/etc/nginx/snippets/names.conf", "server_name inc.test;")
            + Self.file("/etc/nginx/snippets/port.conf", "listen 8080;")
            + Self.file("/etc/nginx/tls.conf", "listen [::]:8443 ssl;")
        let inventory = try #require(Self.read(dump).0)
        #expect(inventory.sites.map(\.port) == [8080, 8443])
        #expect(inventory.sites.map(\.tls) == [false, true])
        #expect(inventory.sites.allSatisfy { $0.names == ["inc.test"] && $0.file == "/etc/nginx/nginx.conf" })
    }

    @Test func ipv6AndAddressListens() throws {
        let dump = Self.file(
            "/etc/nginx/nginx.conf",
            """
            server { listen [::]:443 ssl; listen [2001:db8::1]:8080; listen 127.0.0.1:81; listen 443 quic;
                     listen unix:/run/nginx.sock; server_name six.test; }
            """)
        let inventory = try #require(Self.read(dump).0)
        #expect(inventory.sites.map(\.address) == [nil, "2001:db8::1", "127.0.0.1"])
        #expect(inventory.sites.map(\.port) == [443, 8080, 81])
        #expect(inventory.sites.map(\.tls) == [true, false, false])
    }

    @Test func aServerWithoutListenIsPort80AndSslOnMakesEveryListenTLS() throws {
        let dump = Self.file("/etc/nginx/nginx.conf", "server { server_name a.test; } server { listen 9443; ssl on; }")
        let inventory = try #require(Self.read(dump).0)
        #expect(inventory.sites.map(\.port) == [80, 9443])
        #expect(inventory.sites.map(\.tls) == [false, true])
    }

    @Test(arguments: [
        ("server { server_name 'it\\'s.test'; }", ["it's.test"]),
        ("server { server_name \"tab\\there.test\"; }", ["tab\there.test"]),
        ("server { server_name back\\\\slash.test; }", ["back\\slash.test"]),
        ("server { server_name a.test b.test \"\"; }", ["a.test", "b.test"]),
        ("server { # server_name commented.test;\n server_name real.test; }", ["real.test"]),
        ("server {\r\n\tserver_name\r\n\tcrlf.test\r\n\t;\r\n}", ["crlf.test"]),
    ])
    func quotingCommentsAndLineEnds(_ server: String, _ names: [String]) throws {
        let inventory = try #require(Self.read(Self.file("/etc/nginx/nginx.conf", server)).0)
        #expect(inventory.sites.first?.names == names)
    }

    /// NGINX writes its headers with LF; a line that only looks like one is a comment, and its servers belong to
    /// the file before it.
    @Test func onlyAnExactHeaderStartsAFile() throws {
        let dump =
            Self.file("/etc/nginx/nginx.conf", "server { server_name one.test; }")
            + "# configuration file /etc/nginx/conf.d/crlf.conf:\r\nserver { server_name two.test; }\n"
            + "# configuration file without a colon\nserver { server_name three.test; }\n"
        let inventory = try #require(Self.read(dump, managed: ["/etc/nginx/conf.d/crlf.conf"]).0)
        #expect(inventory.sites.map(\.names) == [["one.test"], ["two.test"], ["three.test"]])
        #expect(inventory.sites.allSatisfy { $0.file == "/etc/nginx/nginx.conf" })
    }

    @Test func theManagedFileByHeaderIsLeftOut() throws {
        let dump =
            Self.file("/etc/nginx/conf.d/gocd.conf", "server { server_name gocd.test; }")
            + Self.file("/etc/nginx/sites-enabled/other", "server { server_name other.test; }")
        let inventory = try #require(Self.read(dump, managed: ["/etc/nginx/conf.d/gocd.conf"]).0)
        #expect(inventory.sites.map(\.names) == [["other.test"]])
    }

    @Test(arguments: [
        ("server { listen nonsense:port; }", "cannot read \"listen nonsense:port\" in /etc/nginx/nginx.conf"),
        ("server { server_name \"a\"b; }", "unexpected \"b\" after a quoted word in /etc/nginx/nginx.conf"),
        ("server { ; }", "unexpected \";\" in /etc/nginx/nginx.conf"),
        ("server { server_name a }", "unexpected \"}\" in /etc/nginx/nginx.conf"),
        ("server { server_name a.test;", "/etc/nginx/nginx.conf ends inside a block, word or statement"),
        ("server { server_name \(String(repeating: "x", count: 4097)); }",
         "a word longer than 4096 bytes in a server_name directive in /etc/nginx/nginx.conf"),
    ])
    func uncertainDumpsSayWhy(_ server: String, _ why: String) {
        let (inventory, uncertainty) = Self.read(Self.file("/etc/nginx/nginx.conf", server))
        #expect(inventory == nil)
        #expect(uncertainty == why)
    }

    /// An include cycle is given up on after 16 levels: no inventory, and (as the reader stands) no reason either;
    /// the dump command's caller then says "unknown".
    @Test func anIncludeCycleGivesNoInventory() {
        let dump =
            Self.file("/etc/nginx/nginx.conf", "server { include loop.conf; }")
            + Self.file("/etc/nginx/loop.conf", "include loop.conf; listen 81;")
        let (inventory, uncertainty) = Self.read(dump)
        #expect(inventory == nil)
        #expect(uncertainty == nil)
    }

    @Test func aHeaderTwiceIsNotNginxs() {
        let dump = Self.file("/etc/nginx/a.conf", "") + Self.file("/etc/nginx/a.conf", "")
        #expect(Self.read(dump).1 == "the file /etc/nginx/a.conf appears twice in the dump")
    }
}
