// libFuzzer target: GoCD's two site URLs → PlanDeriver → both renderers → InstalledConfig read-back.
//
// Input: `site_url`, a newline, `secure_site_url` (no newline: secure_site_url is empty).
// Properties, for every fixture below:
//   - nothing traps;
//   - an accepted plan has only listeners whose server name, port and redirect target pass ConfigToken.checked;
//   - it renders (a ConfigToken refusal of an accepted plan is a gap in validation);
//   - every rendered line is one of the renderer's own directive shapes: a known first word, `;` only as
//     an NGINX line's last byte, braces and Apache sections only as the renderer's structure;
//   - InstalledConfig.read(text, kind:) gives back the plan's listeners (sorted);
//   - a host that passes the gate (the site URL's, the plan's server names, and the first line taken as a bare host)
//     is canonical: it equals its re-normalisation, no accepted name ends in a number (checked here independently of
//     HostName) unless it is a canonical dotted quad, and an accepted IPv6 address is its own inet_ntop form.

struct Fixture {
    var name: String
    var settings: ProxySettings
    /// Each listener is written once per listen address, and the reader reports one per listen line.
}

func baseSettings(_ kind: ProxyKind) -> ProxySettings {
    var proxy = ProxySettings(
        kind: kind, output: "/etc/gocd.conf",
        upstream: Upstream(scheme: .http, host: "127.0.0.1", port: 8153),
        testCommand: kind.defaultTestCommand, reloadCommand: kind.defaultReloadCommand)
    proxy.tlsCertificate = "/etc/ssl/gocd/fullchain.pem"
    proxy.tlsCertificateKey = "/etc/ssl/gocd/privkey.pem"
    return proxy
}

let fixtures: [Fixture] = {
    var out: [Fixture] = []
    out.append(Fixture(name: "nginx", settings: baseSettings(.nginx)))
    var nginx = baseSettings(.nginx)
    nginx.ipv6Available = true
    nginx.nginxHTTP2Directive = true
    nginx.hstsMaxAgeSeconds = 31_536_000
    nginx.upstream = Upstream(scheme: .https, host: "gocd.internal", port: nil)
    out.append(Fixture(name: "nginx-ipv6-https-upstream", settings: nginx))
    var nginxBound = baseSettings(.nginx)
    nginxBound.listenAddresses = ["192.0.2.10", "2001:db8::1"]
    nginxBound.redirectHTTPToHTTPS = false
    nginxBound.upstreamTLSVerify = false
    nginxBound.upstream = Upstream(scheme: .https, host: "[::1]", port: 8154)
    out.append(Fixture(name: "nginx-listen-addresses", settings: nginxBound))
    out.append(Fixture(name: "apache", settings: baseSettings(.apache)))
    var apache = baseSettings(.apache)
    apache.apacheUpgradeOption = false
    apache.tlsCertificateChain = "/etc/ssl/gocd/chain.pem"
    apache.hstsMaxAgeSeconds = 300
    apache.listenAddresses = ["192.0.2.10", "2001:db8::1"]
    apache.apacheExistingListenPorts = [80]
    apache.upstream = Upstream(scheme: .https, host: "gocd.internal", port: 8154)
    apache.upstreamCAFile = "/etc/ssl/gocd/upstream-ca.pem"
    out.append(Fixture(name: "apache-old-httpd-listen-addresses", settings: apache))
    var bounded = baseSettings(.apache)
    bounded.allowedServerNames = ["*.example.com", "gocd.example.org", "192.0.2.7"]
    bounded.allowedPorts = [80, 443, 8443]
    out.append(Fixture(name: "apache-bounded", settings: bounded))
    // A redirect include (what it maps is not redirected), with and without the ACME challenge beside it.
    var redirectInclude = baseSettings(.apache)
    redirectInclude.includeInRedirect = ["/etc/gocd-proxy-sync/redirect.conf"]
    out.append(Fixture(name: "apache-redirect-include", settings: redirectInclude))
    redirectInclude.acmeChallengeDir = "/var/www/acme"
    out.append(Fixture(name: "apache-redirect-include-acme", settings: redirectInclude))
    // Front proxies over HTTP (their forwarded headers believed: NGINX's geo and maps, Apache's conditions) and over
    // the PROXY protocol (NGINX's listen flag and realip lines, Apache's mod_remoteip and the refusal of an
    // untrusted peer's claim; the forwarded headers always this proxy's own).
    for kind in [ProxyKind.nginx, .apache] {
        var behind = baseSettings(kind)
        behind.trustedProxies = ["192.0.2.0/24", "2001:db8::/32"]
        out.append(Fixture(name: "\(kind.rawValue)-trusted-proxies", settings: behind))
        behind.proxyProtocol = true
        out.append(Fixture(name: "\(kind.rawValue)-proxy-protocol", settings: behind))
    }
    return out
}()

func fail(_ message: String, _ fixture: Fixture, _ urls: SiteURLs, _ text: String = "") -> Never {
    print("PROPERTY FAILED [\(fixture.name)]: \(message)")
    print("site_url=\(Escaping.printable(urls.siteURL)) secure_site_url=\(Escaping.printable(urls.secureSiteURL))")
    if !text.isEmpty { print("---- rendered ----\n\(text)---- end ----") }
    fatalError(message)
}

let nginxDirectives: Set<Substring> = [
    "map", "default", "''", "geo", "127.0.0.0/8", "::1", "192.0.2.10", "2001:db8::1", "server", "listen",
    "server_name", "http2", "ssl_certificate", "ssl_certificate_key", "add_header", "return", "client_max_body_size",
    "location", "if", "default_type", "proxy_pass", "proxy_http_version", "proxy_set_header", "proxy_request_buffering",
    "proxy_buffering", "proxy_max_temp_file_size", "proxy_connect_timeout", "proxy_send_timeout", "proxy_read_timeout",
    "proxy_ssl_server_name", "proxy_ssl_name", "proxy_ssl_verify", "proxy_ssl_verify_depth",
    "proxy_ssl_trusted_certificate", "}",
    // The TLS profile, the upstream block with kept connections, the ACME location, includes and trusted peers.
    "ssl_protocols", "ssl_ecdh_curve", "ssl_ciphers", "ssl_prefer_server_ciphers", "ssl_session_tickets", "upstream",
    "keepalive", "root", "try_files", "include", "set_real_ip_from", "real_ip_header", "real_ip_recursive",
    // The trusted peers' `geo` lines (the trusted-proxies fixtures' CIDRs) and their forwarded-header maps.
    "192.0.2.0/24", "2001:db8::/32", #""~^1:(https?)$""#, #""~^1:([A-Za-z0-9.:_-]+)$""#, #""~^1:([0-9]{1,5})$""#,
]

/// The NGINX renderer's own fragments that hold braces (a map's pattern); nothing else may.
let nginxStaticExpressions = ["{1,5}"]

let apacheDirectives: Set<Substring> = [
    "Listen", "<VirtualHost", "ServerName", "SSLEngine", "SSLCertificateFile", "SSLCertificateKeyFile",
    "SSLCertificateChainFile", "<IfModule", "Protocols", "</IfModule>", "Header", "Redirect", "ProxyRequests",
    "ProxyPreserveHost", "RequestHeader", "LimitRequestBody", "ProxyTimeout", "<Location", "Require", "</Location>",
    "ProxyPass", "ErrorDocument", "ProxyPassReverse", "RewriteEngine", "RewriteCond", "RewriteRule", "SSLProxyEngine",
    "SSLProxyVerify", "SSLProxyVerifyDepth", "SSLProxyCheckPeerName", "SSLProxyCACertificateFile",
    "SSLProxyCheckPeerExpire", "</VirtualHost>",
    // 301/308 by method, the TLS profile, the ACME directory, includes, forwarded headers and trusted peers.
    "<If", "</If>", "<ElseIf", "</ElseIf>", "<Else>", "</Else>", "SSLProtocol", "SSLCipherSuite", "SSLHonorCipherOrder",
    "SSLSessionTickets", "SSLOpenSSLConfCmd", "<Directory", "</Directory>", "AliasMatch", "AllowOverride", "Options",
    "ForceType", "RedirectMatch", "Include", "ProxyAddHeaders", "RemoteIPHeader", "RemoteIPInternalProxy",
    "RemoteIPProxyProtocol",
]

/// The ap_expr variables and lists the Apache renderer writes itself (forwarded headers, the redirect by method and
/// what an include mapped).
let apacheStaticExpressions = [
    "%{REMOTE_ADDR}", "%{HTTP_HOST}", "%{REQUEST_METHOD}", "%{REQUEST_URI}", "%{CONN_REMOTE_ADDR}",
    "%{req:X-Forwarded-Host}", "%{req:X-Forwarded-Proto}", "%{req:X-Forwarded-Port}", "{ 'GET', 'HEAD' }", "{1,5}",
    // A redirect server with include_in_redirect: what the include mapped is not redirected.
    "%{REQUEST_FILENAME}", "%{PATH_INFO}", "%{DOCUMENT_ROOT}",
]

func trimmed(_ line: Substring) -> Substring {
    var text = line
    while text.first == " " { text = text.dropFirst() }
    while text.last == " " { text = text.dropLast() }
    return text
}

/// The only comment line that carries GoCD's values, and what it must say.
func checkComment(_ line: Substring, plan: ProxyPlan, fixture: Fixture, urls: SiteURLs, text: String) {
    if line.hasPrefix("# Source:") {
        if line != plan.sourceLine { fail("source line is not the plan's: \(line)", fixture, urls, text) }
        return
    }
    // Every other comment is the renderer's own fixed text (or the fixture's upstream). A comment ends at the
    // line break, so text smuggled into one could only do harm on a following line, which the directive checks see.
    if line.hasPrefix("# Upstream:") && line != "# Upstream: \(fixture.settings.upstream.url)" {
        fail("upstream comment is not the settings' upstream: \(line)", fixture, urls, text)
    }
}

func checkNginx(_ text: String, plan: ProxyPlan, fixture: Fixture, urls: SiteURLs) {
    var depth = 0
    var servers = 0
    for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
        let line = trimmed(raw)
        if line.isEmpty { continue }
        if line.hasPrefix("#") {
            checkComment(line, plan: plan, fixture: fixture, urls: urls, text: text)
            continue
        }
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = words.first, nginxDirectives.contains(first) else {
            fail("unknown NGINX directive in line: \(line)", fixture, urls, text)
        }
        var rest = String(line)
        for fragment in nginxStaticExpressions { rest = rest.replacing(fragment, with: "") }
        let semicolons = rest.filter { $0 == ";" }.count
        let opens = rest.filter { $0 == "{" }.count
        let closes = rest.filter { $0 == "}" }.count
        if line == "}" {
            depth -= 1
            if depth < 0 { fail("unbalanced }", fixture, urls, text) }
            continue
        }
        if closes != 0 { fail("} inside a line: \(line)", fixture, urls, text) }
        if opens == 1 {
            guard line.hasSuffix(" {"), semicolons == 0 else { fail("{ not ending a block line: \(line)", fixture, urls, text) }
            if first == "server" {
                guard depth == 0, line == "server {" else { fail("nested or odd server block: \(line)", fixture, urls, text) }
                servers += 1
            }
            depth += 1
            continue
        }
        guard opens == 0, semicolons == 1, line.hasSuffix(";") else {
            fail("not a single directive ending in ;: \(line)", fixture, urls, text)
        }
        // A quoted argument is ours (the generation answer, HSTS): an even number of quotes.
        if line.filter({ $0 == "\"" }).count % 2 != 0 { fail("odd quotes: \(line)", fixture, urls, text) }
        if first == "server_name" {
            guard words.count == 2, plan.listeners.contains(where: { $0.serverName + ";" == words[1] }) else {
                fail("server_name is not one of the plan's: \(line)", fixture, urls, text)
            }
        }
    }
    if depth != 0 { fail("unbalanced braces (depth \(depth) at the end)", fixture, urls, text) }
    if servers != plan.listeners.count {
        fail("\(servers) server blocks for \(plan.listeners.count) listeners", fixture, urls, text)
    }
}

func checkApache(_ text: String, plan: ProxyPlan, fixture: Fixture, urls: SiteURLs) {
    var sections: [Substring] = []
    var hosts = 0
    for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
        let line = trimmed(raw)
        if line.isEmpty { continue }
        if line.hasPrefix("#") {
            checkComment(line, plan: plan, fixture: fixture, urls: urls, text: text)
            continue
        }
        let words = line.split(separator: " ", omittingEmptySubsequences: true)
        guard let first = words.first, apacheDirectives.contains(first) else {
            fail("unknown Apache directive in line: \(line)", fixture, urls, text)
        }
        // The renderer's own ap_expr fragments may hold braces; nothing else may (a value from GoCD never does).
        var rest = String(line)
        for fragment in apacheStaticExpressions { rest = rest.replacing(fragment, with: "") }
        if rest.contains(";") || rest.contains("{") && first != "RewriteCond" || rest.contains("}") && first != "RewriteCond" {
            fail("; or a brace in an Apache line: \(line)", fixture, urls, text)
        }
        if line.filter({ $0 == "\"" }).count % 2 != 0 { fail("odd quotes: \(line)", fixture, urls, text) }
        let angles = line.filter { $0 == "<" || $0 == ">" }.count
        if first.hasPrefix("</") {
            guard line == first, let open = sections.popLast(), "</" + open.dropFirst() + ">" == line else {
                fail("unbalanced section close: \(line)", fixture, urls, text)
            }
            continue
        }
        if first.hasPrefix("<") {
            guard angles == 2, line.hasSuffix(">") else { fail("odd section line: \(line)", fixture, urls, text) }
            if first == "<VirtualHost" {
                guard sections.isEmpty else { fail("nested VirtualHost", fixture, urls, text) }
                hosts += 1
            }
            sections.append(first.hasSuffix(">") ? first.dropLast() : first)  // `<Else>` has no arguments
            continue
        }
        if angles != 0 { fail("angle bracket in a directive: \(line)", fixture, urls, text) }
        if first == "ServerName" {
            guard words.count == 2, plan.listeners.contains(where: { $0.serverName == words[1] }) else {
                fail("ServerName is not one of the plan's: \(line)", fixture, urls, text)
            }
        }
    }
    if !sections.isEmpty { fail("unclosed sections \(sections)", fixture, urls, text) }
    if hosts != plan.listeners.count {
        fail("\(hosts) VirtualHosts for \(plan.listeners.count) listeners", fixture, urls, text)
    }
}

/// The WHATWG "ends in a number" checker, written out again so the property does not trust HostName's copy.
func endsInANumber(_ host: String) -> Bool {
    var labels = host.split(separator: ".", omittingEmptySubsequences: false)
    if labels.last == "" {
        if labels.count == 1 { return false }
        labels.removeLast()
    }
    guard let last = labels.last else { return false }
    let digits: Set<Character> = Set("0123456789")
    let hex: Set<Character> = Set("0123456789abcdefABCDEF")
    if !last.isEmpty && last.allSatisfy({ digits.contains($0) }) { return true }
    if last.hasPrefix("0x") || last.hasPrefix("0X") { return last.dropFirst(2).allSatisfy({ hex.contains($0) }) }
    return false
}

/// A canonical dotted quad, written out again: four decimal octets 0-255 without leading zeros.
func isDottedQuad(_ host: String) -> Bool {
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts.allSatisfy { part in
        guard let value = Int(part), (0...255).contains(value), String(value) == part else { return false }
        return true
    }
}

/// What every host the gate lets through must be.
func checkAcceptedHost(_ host: String, _ context: String) {
    func fail(_ message: String) -> Never {
        print("PROPERTY FAILED [host gate]: \(message): \(Escaping.printable(host)) (\(context))")
        fatalError(message)
    }
    guard let again = try? HostName.normalise(host) else { fail("an accepted host is refused when checked again") }
    if again != host { fail("an accepted host is not its own normalisation (\(Escaping.printable(again)))") }
    if host.hasPrefix("[") {
        let inner = String(host.dropFirst().dropLast())
        guard host.hasSuffix("]"), HostName.canonicalIPv6(inner) == inner else { fail("non-canonical IPv6") }
        if inner.contains(where: { $0.isUppercase }) { fail("upper-case IPv6") }
        return
    }
    if host.isEmpty || host.hasSuffix(".") || host.utf8.contains(where: { $0 >= 0x41 && $0 <= 0x5A || $0 >= 0x80 }) {
        fail("an accepted name is empty, ends in a dot, or is not lower-case ASCII")
    }
    if endsInANumber(host) && !isDottedQuad(host) { fail("an accepted name ends in a number and is no dotted quad") }
}

func check(_ urls: SiteURLs, _ fixture: Fixture) {
    let derivation: Derivation
    do {
        derivation = try PlanDeriver.derive(urls, settings: fixture.settings)
    } catch {
        if error.description.contains("\n") { fail("a rejection spans lines: \(error)", fixture, urls) }
        return
    }
    guard case .plan(let plan) = derivation else { return }
    if plan.listeners.isEmpty { fail("a plan without listeners", fixture, urls) }
    if plan.listeners != plan.listeners.sorted() { fail("listeners not sorted", fixture, urls) }
    for listener in plan.listeners {
        checkAcceptedHost(listener.serverName, "a server name of the plan for \(fixture.name)")
        guard (1...65535).contains(listener.port) else { fail("port \(listener.port)", fixture, urls) }
        guard (try? ConfigToken.checked(listener.serverName)) != nil else {
            fail("server name \(Escaping.printable(listener.serverName)) fails ConfigToken.checked", fixture, urls)
        }
        guard (try? ConfigToken.checked(String(listener.port))) != nil else { fail("port token", fixture, urls) }
        if let target = listener.redirectTarget, (try? ConfigToken.checked(target)) == nil {
            fail("redirect target \(Escaping.printable(target)) fails ConfigToken.checked", fixture, urls)
        }
    }
    let text: String
    do {
        text = try Renderers.make(for: fixture.settings).render(plan)
    } catch {
        fail("an accepted plan was refused by the renderer: \(error)", fixture, urls)
    }
    switch fixture.settings.kind {
    case .nginx: checkNginx(text, plan: plan, fixture: fixture, urls: urls)
    case .apache: checkApache(text, plan: plan, fixture: fixture, urls: urls)
    }
    let installed = InstalledConfig.read(text, kind: fixture.settings.kind)
    if !installed.isManaged { fail("the rendered file does not read back as managed", fixture, urls, text) }
    // A listener with several listen lines (IPv6, several addresses) reads back once.
    let expected = plan.listeners
    if installed.listeners != expected {
        fail("read back \(installed.listeners), expected \(expected)", fixture, urls, text)
    }
    if Generation.of(text) == nil && plan.listeners.contains(where: { $0.action == .proxy }) {
        fail("a proxying file without a generation", fixture, urls, text)
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let bytes = size == 0 ? [] : Array(UnsafeBufferPointer(start: data, count: size))
    let cut = bytes.firstIndex(of: 0x0A) ?? bytes.count
    let site = String(decoding: bytes[..<cut], as: UTF8.self)
    let secure = cut < bytes.count ? String(decoding: bytes[(cut + 1)...], as: UTF8.self) : ""
    let urls = SiteURLs(siteURL: site, secureSiteURL: secure)
    // The gate itself, for the first line as a URL and as a bare host (the path any host of a URL takes).
    if let url = (try? SiteURL.check(site, field: .siteURL))?.url { checkAcceptedHost(url.host, "the site URL's host") }
    if let host = try? HostName.normalise(site) { checkAcceptedHost(host, "the first line as a host") }
    for fixture in fixtures { check(urls, fixture) }
    return 0
}
