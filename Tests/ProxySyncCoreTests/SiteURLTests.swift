import Testing

@testable import ProxySyncCore

struct SiteURLTests {
    static let valid: [(String, String)] = [
        ("http://ci.example.com", "http://ci.example.com"),
        ("https://ci.example.com", "https://ci.example.com"),
        ("https://ci.example.com/go", "https://ci.example.com"),
        ("https://ci.example.com/go/", "https://ci.example.com"),
        ("https://ci.example.com/", "https://ci.example.com"),
        ("HTTPS://CI.Example.COM", "https://ci.example.com"),
        ("Http://ci.example.com:8080", "http://ci.example.com:8080"),
        ("https://ci.example.com:443", "https://ci.example.com"),
        ("http://ci.example.com:80/", "http://ci.example.com"),
        ("https://ci.example.com.", "https://ci.example.com"),
        ("https://ci.example.com.:8443/go", "https://ci.example.com:8443"),
        ("http://10.0.0.1", "http://10.0.0.1"),
        ("http://192.168.1.254:8153/go", "http://192.168.1.254:8153"),
        ("https://[::1]", "https://[::1]"),
        ("https://[2001:DB8::1]:8443", "https://[2001:db8::1]:8443"),
        ("https://[::ffff:192.0.2.1]", "https://[::ffff:192.0.2.1]"),
        ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example"),
        ("https://a-b.c-d.example", "https://a-b.c-d.example"),
        ("https://localhost:65535", "https://localhost:65535"),
        ("http://gocd:1", "http://gocd:1"),
        ("https://ci.example.com/a.b_c~d-e/f", "https://ci.example.com"),
        ("  https://ci.example.com  ", "https://ci.example.com"),
        (
            "https://" + String(repeating: "a", count: 63) + ".example",
            "https://" + String(repeating: "a", count: 63) + ".example"
        ),
        ("https://1ci.example.com", "https://1ci.example.com"),
    ]

    @Test(arguments: valid)
    func acceptsAndNormalises(raw: String, origin: String) throws {
        let checked = try SiteURL.check(raw, field: .siteURL)
        #expect(checked.url?.origin == origin)
        #expect(checked.trimmed == raw.hasPrefix(" "))
    }

    static let hostile: [String] = [
        "https://x;include /etc/shadow;",
        "https://x;include/etc/shadow",
        "https://gocd.example.com}",
        "https://gocd.example.com{",
        "https://gocd.example.com/$request_uri",
        "https://gocd.example.com$host",
        "https://gocd.example.com\\",
        "https://gocd.example.com/%2e%2e",
        "https://gocd.example.com/#frag",
        "https://gocd.example.com/?q=1",
        "https://gocd.example.com?",
        "https://user@gocd.example.com",
        "https://user:pass@gocd.example.com",
        "https://gocd.example.com\n",
        "https://gocd.example.com\r\nX-Header: 1",
        "https://gocd\t.example.com",
        "https://gocd.example.com\u{0}",
        "https://gocd example.com",
        "https://gocd.example.com/a b",
        "https://\"gocd.example.com\"",
        "https://'gocd.example.com'",
        "https://gocd.example.com:0",
        "https://gocd.example.com:65536",
        "https://gocd.example.com:99999",
        "https://gocd.example.com:abc",
        "https://gocd.example.com:",
        "https://gocd.example.com:-1",
        "https://",
        "https:///go",
        "ftp://gocd.example.com",
        "gocd.example.com",
        "//gocd.example.com",
        "javascript:alert(1)",
        "https://my_host.example.com",
        "https://-gocd.example.com",
        "https://gocd-.example.com",
        "https://gocd..example.com",
        "https://" + String(repeating: "a", count: 64) + ".example",
        "https://" + String(repeating: "abcdefghi.", count: 26) + "com",
        "https://bücher.example",
        "https://gocd.example.com/ü",
        "https://999.1.1.1",
        "https://1.2.3",
        "https://01.2.3.4",
        "https://[::1",
        "https://[fe80::1%eth0]",
        "https://[::1]x",
        "https://[1:2:3:4:5:6:7:8:9]",
        "https://[gggg::1]",
        "https://gocd.example.com/<script>",
        "https://gocd.example.com/a|b",
        "https://gocd.example.com/a*b",
        "https://gocd.example.com/a`id`",
        "https://gocd.example.com/a(b)",
        "https://gocd.example.com/a,b",
        "https://gocd.example.com/a=b",
        "https://gocd.example.com/a+b",
        "https://gocd.example.com/a!b",
        "https://gocd.example.com/a&b",
        "https://gocd.example.com/a:b",
        "https://gocd.example.com/a@b",
        "http://gocd.example.com\u{7F}",
    ]

    @Test(arguments: hostile)
    func rejectsHostile(raw: String) {
        #expect(throws: SiteURLRejection.self) { try SiteURL.check(raw, field: .siteURL) }
    }

    @Test func secureSiteURLMustBeHTTPS() {
        #expect(throws: SiteURLRejection.self) { try SiteURL.check("http://gocd.example.com", field: .secureSiteURL) }
    }

    @Test func rejectionNamesFieldAndEscapesValue() throws {
        do {
            _ = try SiteURL.check("https://a\nb", field: .secureSiteURL)
            Issue.record("accepted a newline")
        } catch {
            #expect(error.field == "secure_site_url")
            #expect(error.value == "https://a\\nb")
            #expect(error.reason.contains("control character"))
        }
    }

    /// Hosts the gate takes, and the name the plan carries: a name ending in a number only as a canonical dotted
    /// quad, IPv6 only in its RFC 5952 form (case is folded, as for every host).
    static let acceptedHosts: [(String, String)] = [
        ("10.0.0.1", "10.0.0.1"),
        ("0.0.0.0", "0.0.0.0"),
        ("255.255.255.255", "255.255.255.255"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0x7f.example.com", "0x7f.example.com"),
        ("1.2.3.4.example", "1.2.3.4.example"),
        ("ci-0x1", "ci-0x1"),
        ("0x1g", "0x1g"),
        ("1e5", "1e5"),
        ("a.0xg", "a.0xg"),
        ("[::1]", "[::1]"),
        ("[::]", "[::]"),
        ("[2001:db8::1]", "[2001:db8::1]"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
        ("[2001:db8:0:1:1:1:1:1]", "[2001:db8:0:1:1:1:1:1]"),
        ("[2001:db8::1:0:0:1]", "[2001:db8::1:0:0:1]"),
        ("[1::]", "[1::]"),
        ("[fe80::]", "[fe80::]"),
        ("[::ffff:192.0.2.1]", "[::ffff:192.0.2.1]"),
        ("[::ffff:0.0.0.0]", "[::ffff:0.0.0.0]"),
        ("[::1.2.3.4]", "[::1.2.3.4]"),
        ("[64:ff9b::c000:201]", "[64:ff9b::c000:201]"),
    ]

    @Test(arguments: acceptedHosts)
    func acceptsCanonicalHosts(host: String, served: String) throws {
        let checked = try SiteURL.check("https://\(host):8443/go", field: .siteURL)
        #expect(checked.url?.host == served)
        #expect(try HostName.normalise(served) == served)
    }

    /// Hosts that end in a number, non-canonical IPv6, and a part of the reason each refusal must give.
    static let refusedHosts: [(String, String)] = [
        ("0x7f000002", "read it as the IPv4 address 127.0.0.2: write it as 127.0.0.2"),
        ("0X7F000002", "read it as the IPv4 address 127.0.0.2"),
        ("0x7f.0.0.2", "write it as 127.0.0.2"),
        ("10.0.0.0x1", "write it as 10.0.0.1"),
        ("1.2.3", "write it as 1.2.0.3"),
        ("127.1", "write it as 127.0.0.1"),
        ("0177.0.0.1", "write it as 127.0.0.1"),
        ("010.0.0.1", "write it as 8.0.0.1"),
        ("01.2.3.4", "write it as 1.2.3.4"),
        ("2130706433", "write it as 127.0.0.1"),
        ("0x", "ends in a number (0x)"),
        ("example.0x", "ends in a number (0x)"),
        ("example.0X", "ends in a number (0x)"),
        ("gocd.example.123", "ends in a number (123)"),
        ("gocd.123.", "ends in a number (123)"),
        ("1.2.3.4.5", "not an IPv4 address written as four decimal numbers"),
        ("999.1.1.1", "not an IPv4 address written as four decimal numbers"),
        ("08.1.1.1", "not an IPv4 address"),
        ("1..2.3", "not an IPv4 address"),
        ("4294967296", "not an IPv4 address"),
        ("[0:0:0:0:0:0:0:1]", "not in its canonical form (RFC 5952): write it as [::1]"),
        ("[::0001]", "write it as [::1]"),
        ("[0::1]", "write it as [::1]"),
        ("[2001:0db8::1]", "write it as [2001:db8::1]"),
        ("[2001:db8:0:0:1:0:0:1]", "write it as [2001:db8::1:0:0:1]"),
        ("[2001:db8:0:0:1::1]", "write it as [2001:db8::1:0:0:1]"),
        ("[2001:db8::1:1:1:1:1]", "write it as [2001:db8:0:1:1:1:1:1]"),
        ("[1:0:0:2:0:0:0:3]", "write it as [1:0:0:2::3]"),
        ("[::ffff:7f00:1]", "write it as [::ffff:127.0.0.1]"),
        ("[0:0:0:0:0:ffff:127.0.0.1]", "write it as [::ffff:127.0.0.1]"),
        ("[::102:304]", "write it as [::1.2.3.4]"),
        ("[1.2.3.4::]", "malformed IPv6"),
        ("[::ffff:010.0.0.1]", "malformed IPv6"),
    ]

    @Test(arguments: refusedHosts)
    func refusesHostsClientsReadOtherwise(host: String, reason: String) {
        do {
            _ = try SiteURL.check("http://\(host):8153", field: .siteURL)
            Issue.record("accepted \(host)")
        } catch {
            #expect(error.field == "site_url")
            #expect(error.value == "http://\(host):8153")
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    @Test(arguments: ["", " ", "   "])
    func blankIsUnset(raw: String) throws {
        #expect(try SiteURL.check(raw, field: .siteURL).url == nil)
    }
}
