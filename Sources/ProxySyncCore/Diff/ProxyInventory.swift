/// What the proxy serves besides the managed file, read from its own dump of the configuration
/// (`nginx -T`, `apachectl -t -D DUMP_VHOSTS`), for the collision pre-flight (README: Security model).
public struct ProxyInventory: Equatable, Sendable {
    /// One address and port another site listens on, with its names.
    public struct Site: Equatable, Sendable {
        /// nil for all addresses.
        public var address: String?
        public var port: Int
        /// nil when the dump does not say (Apache's vhost dump).
        public var tls: Bool?
        public var names: [String]
        /// Where it is configured, for the message.
        public var file: String
        /// The line of its `<VirtualHost>` (Apache's dump says), for reading `SSLEngine` there.
        public var line: Int?

        public init(address: String?, port: Int, tls: Bool?, names: [String], file: String, line: Int? = nil) {
            self.address = address
            self.port = port
            self.tls = tls
            self.names = names
            self.file = file
            self.line = line
        }
    }

    public var sites: [Site] = []

    /// Whose rules of server selection the names follow (Apache's `ServerAlias` globs, or NGINX's).
    public var apacheNames = false

    public init(sites: [Site] = [], apacheNames: Bool = false) {
        self.sites = sites
        self.apacheNames = apacheNames
    }

    /// Reads a whole `nginx -T` output (stdout only), leaving out the file at `managedPath`; nil when it
    /// cannot be read with certainty. The daemon streams the dump through ``NginxDumpReader`` instead.
    public static func nginx(_ dump: String, managedPath: String) -> ProxyInventory? {
        var reader = NginxDumpReader(managedPaths: [managedPath])
        reader.feed(dump.utf8)
        return reader.finish()
    }

    /// Reads a whole `httpd -t -D DUMP_VHOSTS` output, leaving out vhosts defined in `managedPath`.
    public static func apache(_ dump: String, managedPath: String) -> ProxyInventory? {
        var reader = ApacheDumpReader(managedPaths: [managedPath])
        reader.feed(dump.utf8)
        return reader.finish()
    }

    /// An NGINX `listen` address (`80`, `127.0.0.1:80`, `127.0.0.1` (port 80), `[::]:443`, `[::1]`, `*:80`,
    /// `localhost:8080`), or an Apache vhost address: (address, nil for all addresses or a host name, port).
    /// nil for `unix:` sockets and anything else.
    public static func parseNginxListen(_ text: String) -> (String?, Int)? {
        if text.hasPrefix("unix:") || text.isEmpty { return nil }
        if text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) {
            guard let port = Int(text), (1...65535).contains(port) else { return nil }
            return (nil, port)
        }
        var address: Substring
        var port = 80
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { return nil }
            address = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = Int(rest.dropFirst()), (1...65535).contains(value) else {
                    return nil
                }
                port = value
            }
        } else if let colon = text.lastIndex(of: ":") {
            guard let value = Int(text[text.index(after: colon)...]), (1...65535).contains(value) else { return nil }
            address = text[..<colon]
            port = value
        } else {
            address = text[...]
        }
        let lowered = address.lowercased()
        if lowered == "*" || lowered == "0.0.0.0" || lowered == "::" || lowered == "_default_" { return (nil, port) }
        // A host name is resolved by the proxy: it may be any address, so it counts as all of them.
        if !lowered.contains(":") && !lowered.utf8.allSatisfy({ (0x30...0x39).contains($0) || $0 == 0x2E }) {
            return (nil, port)
        }
        return (lowered, port)
    }

    /// Reasons `plan` would take over another site: a name it serves on the same address and port, or a port
    /// it uses with the other scheme. `addresses` are the plan's listen addresses (empty: all).
    public func collisions(with plan: ProxyPlan, addresses: [String], proxyProtocol: Bool = false) -> [Refusal] {
        var refusals: [Refusal] = []
        for listener in plan.listeners {
            let wanted: [String?] = addresses.isEmpty ? [nil] : addresses
            for site in sites where site.port == listener.port {
                guard wanted.contains(where: { $0 == nil || site.address == nil || $0 == site.address }) else { continue }
                let at = "\(site.address ?? "*"):\(site.port)"
                if proxyProtocol {
                    // Both proxies turn the PROXY protocol on per address and port, not per site: the other site's
                    // clients would be closed (NGINX) or could claim any address from any peer (Apache).
                    refusals.append(
                        Refusal(
                            listener: listener.origin,
                            reason:
                                "port \(listener.port) is used by another site (\(site.file)) on \(at); with proxy_protocol = true the PROXY protocol would be expected on that site's connections too (the proxy sets it per address and port): choose another port in GoCD"
                        ))
                    break
                }
                guard let tls = site.tls else {
                    refusals.append(
                        Refusal(
                            listener: listener.origin,
                            reason:
                                "port \(listener.port) is used by another site (\(site.file)) whose TLS setting cannot be told (it includes other files and sets no SSLEngine itself); refusing rather than guessing: set SSLEngine in that VirtualHost or choose another port in GoCD"
                        ))
                    break
                }
                if tls != (listener.scheme == .https) {
                    refusals.append(
                        Refusal(
                            listener: listener.origin,
                            reason:
                                "port \(listener.port) is used by another site (\(site.file)) with \(tls ? "https" : "http"); serving \(listener.scheme.rawValue) on it would break that site: choose another port in GoCD"
                        ))
                    break
                }
                if let name = site.names.first(where: { matches($0, listener.serverName) != false }) {
                    let unknown = matches(name, listener.serverName) == nil
                    refusals.append(
                        Refusal(
                            listener: listener.origin,
                            reason: unknown
                                ? "server name \(listener.serverName) may be served on \(at) by another site (\(site.file)): its server_name \(name) is a regular expression this program cannot evaluate; refusing rather than guessing"
                                : "server name \(listener.serverName) is already served on \(at) by another site (\(site.file)\(name == listener.serverName ? "" : ", as \(name)")); this program manages the GoCD site only"
                        ))
                    break
                }
            }
        }
        return refusals
    }

    /// Whether another site's name takes `host`; nil when that cannot be evaluated.
    func matches(_ pattern: String, _ host: String) -> Bool? {
        apacheNames ? ServerNameMatch.apache(pattern, matches: host) : ServerNameMatch.nginx(pattern, matches: host)
    }
}
