/// Renders a ``ProxyPlan`` as an Apache httpd 2.4 include (needs proxy, proxy_http, proxy_wstunnel,
/// headers and, for HTTPS, ssl).
public struct ApacheRenderer: Renderer {
    public var settings: ProxySettings

    public init(settings: ProxySettings) {
        self.settings = settings
    }

    /// Ports the main configuration listens on already; Debian's ports.conf has 80 and 443.
    public var existingListenPorts: [Int] { settings.apacheExistingListenPorts ?? [80, 443] }

    public func render(_ plan: ProxyPlan) throws(ConfigToken.Unsafe) -> String {
        let upstream = try ConfigToken.checked(settings.upstream.url)
        var out = Renderers.headerLine + "\n" + plan.sourceLine + "\n"
        out += "# Upstream: \(upstream)\n"
        out += "# Needs: a2enmod proxy proxy_http proxy_wstunnel headers ssl\n"
        out += try Includes.head(settings)
        let ports = Set(plan.listeners.map(\.port)).subtracting(existingListenPorts).sorted()
        if !ports.isEmpty {
            out += "\n# Ports the main configuration does not listen on yet (see apache_listen_ports).\n"
            for port in ports {
                for address in addresses(port) {
                    out += "Listen \(try ConfigToken.checked(address))\n"
                }
            }
        }
        for listener in plan.primaryListeners {
            out += "\n"
            out += try virtualHost(listener, upstream: upstream, keptNames: plan.keptNames(joining: listener))
        }
        return Generation.seal(out)
    }

    /// `ADDRESS:PORT` for each configured listen address, or `*:PORT` (`PORT` for `Listen`) for all.
    func addresses(_ port: Int) -> [String] {
        if settings.listenAddresses.isEmpty { return ["\(port)"] }
        return settings.listenAddresses.map { $0.contains(":") ? "[\($0)]:\(port)" : "\($0):\(port)" }
    }

    func virtualHost(_ listener: Listener, upstream: String, keptNames: [String] = []) throws(ConfigToken.Unsafe) -> String {
        var bound: [String] = []
        if settings.listenAddresses.isEmpty {
            bound = ["*:\(listener.port)"]
        } else {
            for address in addresses(listener.port) { bound.append(try ConfigToken.checked(address)) }
        }
        var out = "<VirtualHost \(bound.joined(separator: " "))>\n"
        out += "    ServerName \(try ConfigToken.checked(listener.serverName))\n"
        if !keptNames.isEmpty {
            var aliases: [String] = []
            for name in keptNames { aliases.append(try ConfigToken.checked(name)) }
            out += "    # Kept after a rename (keep_previous_names_hours).\n"
            out += "    ServerAlias \(aliases.joined(separator: " "))\n"
        }
        if listener.scheme == .https, let pair = settings.certificatePair(for: listener.serverName) {
            out += "    SSLEngine on\n"
            out += "    SSLCertificateFile \(try ConfigToken.checked(pair.certificate))\n"
            out += "    SSLCertificateKeyFile \(try ConfigToken.checked(pair.key))\n"
            if let chain = pair.chain {
                out += "    SSLCertificateChainFile \(try ConfigToken.checked(chain))\n"
            }
            out += settings.tlsProfile.apacheLines
            if settings.http2 {
                out += "    <IfModule http2_module>\n        Protocols h2 http/1.1\n    </IfModule>\n"
            }
            if settings.hstsMaxAgeSeconds > 0 {
                out += "    Header always set Strict-Transport-Security \"max-age=\(settings.hstsMaxAgeSeconds)\"\n"
            }
        }
        out += try proxyProtocol()
        switch listener.action {
        case .redirect(let target):
            out += try Includes.directives(settings.includeInRedirect, key: "include_in_redirect", kind: .apache, indent: "    ")
            // Any body size: a redirect is the answer, not httpd's 413 for a large upload (GoCD agents PUT artifacts).
            out += "    LimitRequestBody 0\n"
            out += try acmeBlock(proxying: false)
            out += try redirect(to: target)
        case .challenge:
            out += try challengeOnly()
        case .proxy:
            out += try acmeBlock(proxying: true)
            out += """
                    ProxyRequests Off
                    ProxyPreserveHost On
                    # What this proxy saw replaces whatever the client sent (README: Behind a load balancer).
                    ProxyAddHeaders Off
                    RequestHeader set X-Forwarded-For "expr=%{REMOTE_ADDR}"
                    RequestHeader set X-Real-IP "expr=%{REMOTE_ADDR}"
                    RequestHeader set X-Forwarded-Host "expr=%{HTTP_HOST}"\(try unlessTrusted("Host"))
                    RequestHeader set X-Forwarded-Proto "\(listener.scheme.rawValue)"\(try unlessTrusted("Proto"))
                    RequestHeader set X-Forwarded-Port "\(listener.port)"\(try unlessTrusted("Port"))
                    RequestHeader unset Forwarded
                    RequestHeader unset X-Forwarded-Server

                """
            out += try remoteIP()
            out += """
                    # GoCD artifact uploads (/go/remoting/files/...) can be several gigabytes.
                    LimitRequestBody 0
                    ProxyTimeout 3600
                    <Location />
                        Require all granted
                    </Location>
                    # Answered here, never forwarded: gocd-proxy-sync confirms after each reload that this listener
                    # serves this file (the digest below is of this file's text). Only this host may ask.
                    ProxyPass \(Generation.prefix) !
                    <Location \(Generation.prefix)>
                        Require expr "\(try localClients())"
                        ErrorDocument 404 "\(Generation.bodyPrefix)\(Generation.placeholder)"
                    </Location>

                """
            out += try Includes.directives(settings.includeInServer, key: "include_in_server", kind: .apache, indent: "    ")
            if !settings.includeInLocation.isEmpty {
                out += "    <Location />\n"
                out += try Includes.directives(
                    settings.includeInLocation, key: "include_in_location", kind: .apache, indent: "        ")
                out += "    </Location>\n"
            }
            if settings.apacheUpgradeOption {
                out += """
                        # upgrade=websocket carries GoCD's job console (/go/console-websocket/...).
                        ProxyPass / \(upstream)/ upgrade=websocket
                        ProxyPassReverse / \(upstream)/

                    """
            } else {
                let websocket = (settings.upstream.scheme == .https ? "wss" : "ws") + upstream.drop(while: { $0 != ":" })
                out += """
                        # httpd before 2.4.47: mod_rewrite hands GoCD's job console (/go/console-websocket/...) to
                        # mod_proxy_wstunnel.
                        RewriteEngine On
                        RewriteCond %{REQUEST_URI} !^\(Generation.prefix.replacing(".", with: "\\."))
                        RewriteCond %{HTTP:Upgrade} =websocket [NC]
                        RewriteRule ^/(.*)$ \(websocket)/$1 [P,L]
                        ProxyPass / \(upstream)/
                        ProxyPassReverse / \(upstream)/

                    """
            }
            out += try upstreamTLS()
        }
        out += "</VirtualHost>\n"
        return out
    }

    /// A redirect listener's answer: 301 for GET and HEAD, 308 for every other method, which keeps the method
    /// and the body (SPEC 5d: GoCD agents POST); the same `Location` for both. In `<If>`/`<Else>` (mod_alias
    /// applies them after the path is mapped), so that an earlier branch can leave a path alone.
    func redirect(to target: String) throws(ConfigToken.Unsafe) -> String {
        let location = try ConfigToken.checked(target) + "/"
        if !settings.includeInRedirect.isEmpty {
            return redirectUnlessMapped(to: location)
        }
        if settings.acmeChallengeDir != nil {
            return """
                    # The ACME challenge is answered above, never redirected. Then GET and HEAD: 301; any other
                    # method: 308, which keeps the method and the body.
                    <If "%{REQUEST_URI} =~ m#^/\\.well-known/acme-challenge/#">
                    </If>
                    <ElseIf "%{REQUEST_METHOD} in { 'GET', 'HEAD' }">
                        Redirect permanent / \(location)
                    </ElseIf>
                    <Else>
                        Redirect 308 / \(location)
                    </Else>

                """
        }
        return """
                # GET and HEAD: 301; any other method: 308, which keeps the method and the body.
                <If "%{REQUEST_METHOD} in { 'GET', 'HEAD' }">
                    Redirect permanent / \(location)
                </If>
                <Else>
                    Redirect 308 / \(location)
                </Else>

            """
    }

    /// With `include_in_redirect`: a path the operator's directives mapped to something of their own is theirs.
    /// The `<If>` is evaluated after the path is translated (Alias, AliasMatch, ProxyPass, RewriteRule in the
    /// VirtualHost) and before the fixups that apply a `Redirect` in it; a path nothing translated is the
    /// DocumentRoot's (core: `DocumentRoot` + the path, split into filename and path info by the directory walk),
    /// and only that is redirected, whatever the DocumentRoot holds. A redirect of the include's own (translated,
    /// or a one-argument `Redirect` in a `<Location>`) is applied before this one.
    func redirectUnlessMapped(to location: String) -> String {
        let acme = settings.acmeChallengeDir != nil ? "%{REQUEST_URI} =~ m#^/\\.well-known/acme-challenge/# || " : ""
        let challenge = settings.acmeChallengeDir != nil ? " The ACME challenge is answered above." : ""
        return """
                # Redirected: only a path nothing here mapped to a file, a directory or a proxy of its own (an Alias,
                # ProxyPass or RewriteRule in include_in_redirect serves its path; the DocumentRoot is no one's).\(challenge)
                # Then GET and HEAD: 301; any other method: 308, which keeps the method and the body.
                <If "\(acme)%{REQUEST_FILENAME} . %{PATH_INFO} != %{DOCUMENT_ROOT} . %{REQUEST_URI}">
                </If>
                <ElseIf "%{REQUEST_METHOD} in { 'GET', 'HEAD' }">
                    Redirect permanent / \(location)
                </ElseIf>
                <Else>
                    Redirect 308 / \(location)
                </Else>

            """
    }

    /// What a front proxy's `X-Forwarded-<name>` must look like to be believed (as the NGINX file's maps).
    static let forwardedPatterns = ["Host": "/^[A-Za-z0-9.:_-]+$/", "Proto": "/^https?$/", "Port": "/^[0-9]{1,5}$/"]

    /// With `trusted_proxies`: the condition that keeps a trusted peer's well-formed `X-Forwarded-<name>`
    /// (this proxy's value is set only when it does not hold); empty without, and with `proxy_protocol`: the peer
    /// is then a layer-4 balancer, which adds no headers, so those on its connections are the end client's and
    /// this proxy's own value is set whoever the peer is (the client address alone comes from the PROXY header).
    func unlessTrusted(_ name: String) throws(ConfigToken.Unsafe) -> String {
        guard !settings.trustedProxies.isEmpty, !settings.proxyProtocol, let pattern = Self.forwardedPatterns[name] else { return "" }
        var peers: [String] = []
        for cidr in settings.trustedProxies { peers.append("%{CONN_REMOTE_ADDR} -ipmatch '\(try ConfigToken.checked(cidr))'") }
        return " \"expr=!((\(peers.joined(separator: " || "))) && %{req:X-Forwarded-\(name)} =~ \(pattern))\""
    }

    /// With `trusted_proxies` (mod_remoteip): the client address those peers pass in X-Forwarded-For becomes the
    /// request's client address; anyone else's X-Forwarded-For is ignored. With `proxy_protocol` the PROXY header
    /// is the only source (``proxyProtocol()``), as NGINX's `real_ip_header proxy_protocol`.
    func remoteIP() throws(ConfigToken.Unsafe) -> String {
        guard !settings.trustedProxies.isEmpty, !settings.proxyProtocol else { return "" }
        var out = "    # The client address front proxies (trusted_proxies) pass; anyone else's X-Forwarded-For is ignored.\n"
        out += "    RemoteIPHeader X-Forwarded-For\n"
        for cidr in settings.trustedProxies { out += "    RemoteIPInternalProxy \(try ConfigToken.checked(cidr))\n" }
        return out
    }

    /// With `proxy_protocol` (SPEC 5e), in every VirtualHost: mod_remoteip reads a PROXY header (v1 or v2) on every
    /// connection to this address and port, from any peer, and makes its address the client's (`REMOTE_ADDR`).
    /// It keeps the connection's own address (`CONN_REMOTE_ADDR`, `%{c}a`) but has no setting to put it back, so
    /// "believed only from trusted_proxies" is kept by refusal: a request from any other peer whose header names
    /// another address than the connection's own is denied (403) before anything else reads the client address.
    func proxyProtocol() throws(ConfigToken.Unsafe) -> String {
        guard settings.proxyProtocol, !settings.trustedProxies.isEmpty else { return "" }
        var peers: [String] = []
        for cidr in settings.trustedProxies { peers.append("%{CONN_REMOTE_ADDR} -ipmatch '\(try ConfigToken.checked(cidr))'") }
        var out = "    # proxy_protocol: every connection starts with a PROXY header (v1 or v2). Its client address is believed\n"
        out += "    # from trusted_proxies only: from anyone else a header naming another address than the peer's is refused.\n"
        out += "    # X-Forwarded-Proto/-Host/-Port are this proxy's own from every peer: a layer-4 balancer adds no\n"
        out += "    # headers, so those on its connections are the client's.\n"
        out += "    RemoteIPProxyProtocol On\n"
        out += "    <If \"!(\(peers.joined(separator: " || "))) && %{REMOTE_ADDR} != %{CONN_REMOTE_ADDR}\">\n"
        out += "        Require all denied\n"
        out += "    </If>\n"
        return out
    }

    /// An ap_expr true for clients on this host: loopback and the listen addresses (mod_authz_core only).
    func localClients() throws(ConfigToken.Unsafe) -> String {
        var ranges = ["127.0.0.0/8", "::1"]
        for address in settings.listenAddresses { ranges.append(try ConfigToken.checked(address)) }
        return ranges.map { "-R '\($0)'" }.joined(separator: " || ")
    }

    /// For an https upstream: mod_ssl's proxy engine, with the upstream's certificate checked unless turned off.
    func upstreamTLS() throws(ConfigToken.Unsafe) -> String {
        guard settings.upstream.scheme == .https else { return "" }
        var out = "    # The upstream speaks TLS.\n    SSLProxyEngine on\n"
        if settings.upstreamTLSVerify {
            out += "    SSLProxyVerify require\n    SSLProxyVerifyDepth 4\n    SSLProxyCheckPeerName on\n"
            out += "    SSLProxyCACertificateFile \(try ConfigToken.checked(settings.upstreamCABundle))\n"
        } else {
            out += "    SSLProxyVerify none\n    SSLProxyCheckPeerName off\n    SSLProxyCheckPeerExpire off\n"
        }
        return out
    }
}
