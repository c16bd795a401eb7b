/// Renders a ``ProxyPlan`` as an NGINX `http`-context include, following GoCD's reverse-proxy guide.
public struct NginxRenderer: Renderer {
    public var settings: ProxySettings

    public init(settings: ProxySettings) {
        self.settings = settings
    }

    /// The `map` variable is ours alone, so the file can sit beside sites defining `$connection_upgrade`.
    public static let upgradeVariable = "$gocd_proxy_sync_connection_upgrade"
    /// 1 for clients on this host (loopback or a listen address), which alone may ask for the generation.
    public static let localVariable = "$gocd_proxy_sync_local_client"

    public func render(_ plan: ProxyPlan) throws(ConfigToken.Unsafe) -> String {
        var out = Renderers.headerLine + "\n" + plan.sourceLine + "\n"
        out += "# Upstream: \(try ConfigToken.checked(settings.upstream.url))\n"
        out += try Includes.head(settings)
        if plan.listeners.contains(where: { $0.redirectTarget == nil }) {
            out += """

                # WebSocket upgrade for GoCD's job console (/go/console-websocket/...).
                # Other requests send no Connection header, so the upstream connection stays open for the next one.
                map $http_upgrade \(Self.upgradeVariable) {
                    default upgrade;
                    ''      "";
                }

                # Clients on this host; only they may ask a listener which generation of this file it serves.
                geo \(settings.trustedProxies.isEmpty ? "" : "$realip_remote_addr ")\(Self.localVariable) {
                    default 0;
                    127.0.0.0/8 1;
                    ::1 1;

                """
            for address in settings.listenAddresses {
                out += "    \(try ConfigToken.checked(address)) 1;\n"
            }
            out += "}\n"
            out += try upstreamBlock()
            out += try trustedPeers()
        }
        for listener in plan.primaryListeners {
            out += "\n"
            out += try server(listener, keptNames: plan.keptNames(joining: listener))
        }
        return Generation.seal(out)
    }

    /// The `listen` lines of one listener: one per configured address, or one for all addresses.
    func listen(_ listener: Listener) throws(ConfigToken.Unsafe) -> String {
        var flags = ""
        if listener.scheme == .https {
            flags = " ssl"
            if settings.http2 && !settings.nginxHTTP2Directive { flags += " http2" }
        }
        // proxy_protocol = true: every connection starts with a PROXY header (v1 or v2; SPEC 5e).
        if settings.proxyProtocol { flags += " proxy_protocol" }
        // All addresses: IPv4, and IPv6 too where the host has it (ipv6only is NGINX's default, so the two
        // lines do not collide, and other sites' `[::]` listens keep their options).
        var addresses = settings.listenAddresses.map { Optional($0) }
        if addresses.isEmpty { addresses = settings.ipv6Available ? [nil, "::"] : [nil] }
        var out = ""
        for bound in addresses {
            var address = "\(listener.port)"
            if let bound { address = bound.contains(":") ? "[\(bound)]:\(listener.port)" : "\(bound):\(listener.port)" }
            out += "    listen \(try ConfigToken.checked(address))\(flags);\n"
        }
        return out
    }

    func server(_ listener: Listener, keptNames: [String] = []) throws(ConfigToken.Unsafe) -> String {
        var out = "server {\n"
        out += try listen(listener)
        var names = try ConfigToken.checked(listener.serverName)
        for name in keptNames { names += " " + (try ConfigToken.checked(name)) }
        if !keptNames.isEmpty { out += "    # Kept after a rename (keep_previous_names_hours): \(keptNames.joined(separator: " ")).\n" }
        out += "    server_name \(names);\n"
        if listener.scheme == .https, let pair = settings.certificatePair(for: listener.serverName) {
            let (certificate, key) = (pair.certificate, pair.key)
            if settings.http2 && settings.nginxHTTP2Directive { out += "    http2 on;\n" }
            out += "    ssl_certificate \(try ConfigToken.checked(certificate));\n"
            out += "    ssl_certificate_key \(try ConfigToken.checked(key));\n"
            out += settings.tlsProfile.nginxLines
            if settings.hstsMaxAgeSeconds > 0 {
                out += "    add_header Strict-Transport-Security \"max-age=\(settings.hstsMaxAgeSeconds)\" always;\n"
            }
        }
        switch listener.action {
        case .redirect(let target):
            // The includes first, the redirect in `location /`: a path an include's own location serves is served.
            out += try Includes.directives(settings.includeInRedirect, key: "include_in_redirect", kind: .nginx, indent: "    ")
            out += try acmeLocation()
            out += try redirect(to: target)
        case .challenge:
            out += try challengeOnly()
        case .proxy:
            out += "    # GoCD artifact uploads (/go/remoting/files/...) can be several gigabytes.\n"
            out += "    client_max_body_size \(try ConfigToken.checked(settings.clientMaxBodySize));\n"
            out += try realIP()
            out += try Includes.directives(settings.includeInServer, key: "include_in_server", kind: .nginx, indent: "    ")
            out += try acmeLocation()
            out += "\n" + Self.generationLocation
            out += "\n    location / {\n"
            out += "        proxy_pass \(settings.upstream.scheme.rawValue)://\(Self.upstreamName);\n"
            out += """
                        proxy_http_version 1.1;
                        # $http_host keeps a non-default port, which GoCD needs to build its links.
                        proxy_set_header Host $http_host;
                        # What this proxy saw replaces whatever the client sent (README: Behind a load balancer).
                        proxy_set_header X-Real-IP $remote_addr;
                        proxy_set_header X-Forwarded-For $remote_addr;
                        proxy_set_header X-Forwarded-Proto \(forwarded("proto", ours: "$scheme"));
                        proxy_set_header X-Forwarded-Host \(forwarded("host", ours: "$host"));
                        proxy_set_header X-Forwarded-Port \(forwarded("port", ours: "$server_port"));
                        proxy_set_header Forwarded "";
                        proxy_set_header X-Forwarded-Server "";
                        proxy_set_header Upgrade $http_upgrade;
                        proxy_set_header Connection \(Self.upgradeVariable);
                        # Stream large artifacts both ways instead of spooling them to disk.
                        proxy_request_buffering off;
                        proxy_buffering off;
                        proxy_max_temp_file_size 0;
                        proxy_connect_timeout 60s;
                        proxy_send_timeout 3600s;
                        proxy_read_timeout 3600s;

                """
            out += try upstreamTLS()
            out += try Includes.directives(
                settings.includeInLocation, key: "include_in_location", kind: .nginx, indent: "        ")
            out += "    }\n"
        }
        out += "}\n"
        return out
    }

    /// Answered here, never forwarded: the generation of this file, to clients on this host.
    static let generationLocation = """
            # Answered here, never forwarded: gocd-proxy-sync confirms after each reload that this listener
            # serves this file (the digest below is of this file's text). Other hosts get a 404.
            location ^~ \(Generation.prefix) {
                if (\(localVariable) = 0) {
                    return 404;
                }
                default_type text/plain;
                return 200 "\(Generation.bodyPrefix)\(Generation.placeholder)\\n";
            }

        """

    /// A redirect listener's answer, in `location /` (so that a more specific location can answer a path
    /// itself): 301 for GET and HEAD, 308 for every other method, which keeps the method and the body (SPEC 5d:
    /// GoCD agents POST, and a 301 turns a POST into a GET in most clients); the same `Location` for both.
    func redirect(to target: String) throws(ConfigToken.Unsafe) -> String {
        let location = try ConfigToken.checked(target) + "$request_uri"
        return """
                location / {
                    # GET and HEAD: 301; any other method: 308, which keeps the method and the body.
                    if ($request_method !~ ^(GET|HEAD)$) {
                        return 308 \(location);
                    }
                    return 301 \(location);
                }

            """
    }

    /// 1 when the connection comes from one of `trusted_proxies` (read before realip replaces `$remote_addr`).
    public static let trustedVariable = "$gocd_proxy_sync_trusted_peer"

    /// Whether a trusted peer's `X-Forwarded-Proto`/`-Host`/`-Port` are believed: with `trusted_proxies` over HTTP
    /// only. With `proxy_protocol` the peer is a layer-4 balancer, which adds no headers: those on its connections
    /// are the end client's, so this proxy's own values are sent whoever the peer is (the client address alone
    /// comes from the front, in the PROXY header).
    var believesForwardedHeaders: Bool { !settings.trustedProxies.isEmpty && !settings.proxyProtocol }

    /// The variable GoCD gets for `X-Forwarded-<name>`: this proxy's own value, or (with `trusted_proxies`, without
    /// `proxy_protocol`) the map that believes a trusted peer's header.
    func forwarded(_ name: String, ours: String) -> String {
        believesForwardedHeaders ? "$gocd_proxy_sync_forwarded_\(name)" : ours
    }

    /// The name of GoCD's upstream block (its own, so it cannot collide with another site's).
    public static let upstreamName = "gocd_proxy_sync_upstream"

    /// GoCD as an `upstream` with idle connections kept: without it NGINX opens a new connection (and leaves a
    /// socket in TIME_WAIT) for every request it forwards. Websocket upgrades still get their own connection.
    func upstreamBlock() throws(ConfigToken.Unsafe) -> String {
        let port = settings.upstream.port ?? (settings.upstream.scheme == .https ? 443 : 80)
        return """

            # GoCD, with idle connections kept open for the next request.
            upstream \(Self.upstreamName) {
                server \(try ConfigToken.checked("\(settings.upstream.host):\(port)"));
                keepalive 32;
            }

            """
    }

    /// With `trusted_proxies` (without `proxy_protocol`): which peers are trusted, and the maps that pass their
    /// X-Forwarded-Proto/-Host/-Port (when well-formed) and put this proxy's own values in their place for anyone else.
    func trustedPeers() throws(ConfigToken.Unsafe) -> String {
        guard believesForwardedHeaders else { return "" }
        var out = "\n# Front proxies (trusted_proxies) whose forwarded headers are believed; anyone else's are replaced.\n"
        out += "geo $realip_remote_addr \(Self.trustedVariable) {\n    default 0;\n"
        for cidr in settings.trustedProxies { out += "    \(try ConfigToken.checked(cidr)) 1;\n" }
        out += "}\n"
        let maps: [(String, String, String)] = [
            ("proto", "$scheme", #""~^1:(https?)$""#),
            ("host", "$host", #""~^1:([A-Za-z0-9.:_-]+)$""#),
            ("port", "$server_port", #""~^1:([0-9]{1,5})$""#),
        ]
        for (name, ours, pattern) in maps {
            out += "\nmap \"\(Self.trustedVariable):$http_x_forwarded_\(name)\" \(forwarded(name, ours: ours)) {\n"
            out += "    default \(ours);\n    \(pattern) $1;\n}\n"
        }
        return out
    }

    /// With `trusted_proxies`: the client address a trusted peer passes in X-Forwarded-For becomes `$remote_addr`.
    func realIP() throws(ConfigToken.Unsafe) -> String {
        guard !settings.trustedProxies.isEmpty else { return "" }
        var out = "    # The client address front proxies (trusted_proxies) pass; anyone else's X-Forwarded-For is ignored.\n"
        for cidr in settings.trustedProxies { out += "    set_real_ip_from \(try ConfigToken.checked(cidr));\n" }
        if settings.proxyProtocol {
            out += "    # proxy_protocol: the client address is the PROXY header's, believed from these peers only.\n"
            out += "    # X-Forwarded-Proto/-Host/-Port are this proxy's own from every peer: a layer-4 balancer adds no\n"
            out += "    # headers, so those on its connections are the client's.\n"
            out += "    real_ip_header proxy_protocol;\n"
        } else {
            out += "    real_ip_header X-Forwarded-For;\n    real_ip_recursive on;\n"
        }
        return out
    }

    /// For an https upstream: SNI with the upstream's name, and its certificate verified unless turned off.
    func upstreamTLS() throws(ConfigToken.Unsafe) -> String {
        guard settings.upstream.scheme == .https else { return "" }
        var out = "        # The upstream speaks TLS: send its name (SNI) and check its certificate.\n"
        out += "        proxy_ssl_server_name on;\n"
        out += "        proxy_ssl_name \(try ConfigToken.checked(settings.upstream.host));\n"
        if settings.upstreamTLSVerify {
            out += "        proxy_ssl_verify on;\n"
            out += "        proxy_ssl_verify_depth 4;\n"
            out += "        proxy_ssl_trusted_certificate \(try ConfigToken.checked(settings.upstreamCABundle));\n"
        } else {
            out += "        proxy_ssl_verify off;\n"
        }
        return out
    }
}
