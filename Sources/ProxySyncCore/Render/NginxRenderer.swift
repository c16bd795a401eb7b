/// Renders a ``ProxyPlan`` as an NGINX `http`-context include, following GoCD's reverse-proxy guide.
public struct NginxRenderer: Renderer {
    public var settings: ProxySettings

    public init(settings: ProxySettings) {
        self.settings = settings
    }

    /// The `map` variable is ours alone, so the file can sit beside sites defining `$connection_upgrade`.
    public static let upgradeVariable = "$gocd_proxy_sync_connection_upgrade"

    public func render(_ plan: ProxyPlan) throws(ConfigToken.Unsafe) -> String {
        var out = Renderers.headerLine + "\n" + plan.sourceLine + "\n"
        out += "# Upstream: \(try ConfigToken.checked(settings.upstream.url))\n"
        if plan.listeners.contains(where: { $0.action == .proxy }) {
            out += """

                # WebSocket upgrade for GoCD's job console (/go/console-websocket/...).
                map $http_upgrade \(Self.upgradeVariable) {
                    default upgrade;
                    ''      close;
                }

                """
        }
        for listener in plan.listeners {
            out += "\n"
            out += try server(listener)
        }
        return out
    }

    func listen(_ listener: Listener) throws(ConfigToken.Unsafe) -> String {
        var address = "\(listener.port)"
        if let bound = settings.listenAddress {
            address = bound.contains(":") ? "[\(bound)]:\(listener.port)" : "\(bound):\(listener.port)"
        }
        return "    listen \(try ConfigToken.checked(address))\(listener.scheme == .https ? " ssl" : "");\n"
    }

    func server(_ listener: Listener) throws(ConfigToken.Unsafe) -> String {
        var out = "server {\n"
        out += try listen(listener)
        out += "    server_name \(try ConfigToken.checked(listener.serverName));\n"
        if listener.scheme == .https, let certificate = settings.tlsCertificate, let key = settings.tlsCertificateKey {
            out += "    ssl_certificate \(try ConfigToken.checked(certificate));\n"
            out += "    ssl_certificate_key \(try ConfigToken.checked(key));\n"
        }
        switch listener.action {
        case .redirect(let target):
            out += "    return 301 \(try ConfigToken.checked(target))$request_uri;\n"
        case .proxy:
            out += "    # GoCD artifact uploads (/go/remoting/files/...) can be several gigabytes.\n"
            out += "    client_max_body_size \(try ConfigToken.checked(settings.clientMaxBodySize));\n"
            out += "\n    location / {\n"
            out += "        proxy_pass \(try ConfigToken.checked(settings.upstream.url));\n"
            out += """
                        proxy_http_version 1.1;
                        # $http_host keeps a non-default port, which GoCD needs to build its links.
                        proxy_set_header Host $http_host;
                        proxy_set_header X-Real-IP $remote_addr;
                        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
                        proxy_set_header X-Forwarded-Proto $scheme;
                        proxy_set_header X-Forwarded-Host $host;
                        proxy_set_header X-Forwarded-Port $server_port;
                        proxy_set_header Upgrade $http_upgrade;
                        proxy_set_header Connection \(Self.upgradeVariable);
                        # Stream large artifacts both ways instead of spooling them to disk.
                        proxy_request_buffering off;
                        proxy_buffering off;
                        proxy_max_temp_file_size 0;
                        proxy_connect_timeout 60s;
                        proxy_send_timeout 3600s;
                        proxy_read_timeout 3600s;
                    }

                """
        }
        out += "}\n"
        return out
    }
}
