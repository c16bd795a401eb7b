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
        let ports = Set(plan.listeners.map(\.port)).subtracting(existingListenPorts).sorted()
        if !ports.isEmpty {
            out += "\n# Ports the main configuration does not listen on yet (see apache_listen_ports).\n"
            for port in ports {
                out += "Listen \(try ConfigToken.checked(address(port)))\n"
            }
        }
        for listener in plan.listeners {
            out += "\n"
            out += try virtualHost(listener, upstream: upstream)
        }
        return out
    }

    func address(_ port: Int) -> String {
        guard let bound = settings.listenAddress else { return "\(port)" }
        return bound.contains(":") ? "[\(bound)]:\(port)" : "\(bound):\(port)"
    }

    func virtualHost(_ listener: Listener, upstream: String) throws(ConfigToken.Unsafe) -> String {
        let host = settings.listenAddress.map { $0.contains(":") ? "[\($0)]" : $0 } ?? "*"
        let address = host == "*" ? "*:\(listener.port)" : try ConfigToken.checked("\(host):\(listener.port)")
        var out = "<VirtualHost \(address)>\n"
        out += "    ServerName \(try ConfigToken.checked(listener.serverName))\n"
        if listener.scheme == .https, let certificate = settings.tlsCertificate, let key = settings.tlsCertificateKey {
            out += "    SSLEngine on\n"
            out += "    SSLCertificateFile \(try ConfigToken.checked(certificate))\n"
            out += "    SSLCertificateKeyFile \(try ConfigToken.checked(key))\n"
            if let chain = settings.tlsCertificateChain {
                out += "    SSLCertificateChainFile \(try ConfigToken.checked(chain))\n"
            }
        }
        switch listener.action {
        case .redirect(let target):
            out += "    Redirect permanent / \(try ConfigToken.checked(target))/\n"
        case .proxy:
            out += """
                    ProxyRequests Off
                    ProxyPreserveHost On
                    RequestHeader set X-Forwarded-Proto "\(listener.scheme.rawValue)"
                    RequestHeader set X-Forwarded-Port "\(listener.port)"
                    # GoCD artifact uploads (/go/remoting/files/...) can be several gigabytes.
                    LimitRequestBody 0
                    ProxyTimeout 3600
                    <Location />
                        Require all granted
                    </Location>
                    # upgrade=websocket carries GoCD's job console (/go/console-websocket/...).
                    ProxyPass / \(upstream)/ upgrade=websocket
                    ProxyPassReverse / \(upstream)/

                """
        }
        out += "</VirtualHost>\n"
        return out
    }
}
