/// What the proxy serves besides the managed file, read from its own dump of the configuration
/// (`nginx -T`, `apachectl -t -D DUMP_VHOSTS`), for the collision pre-flight (SPEC §5b).
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
    }

    public var sites: [Site] = []

    /// Parses `nginx -T` output, leaving out the file at `managedPath`.
    public static func nginx(_ dump: String, managedPath: String) -> ProxyInventory {
        var inventory = ProxyInventory()
        var file = ""
        var depth = 0
        var serverDepth: Int?
        var listens: [(String?, Int, Bool)] = []
        var names: [String] = []
        for rawLine in dump.split(separator: "\n", omittingEmptySubsequences: false) {
            if rawLine.hasPrefix("# configuration file ") {
                file = String(rawLine.dropFirst("# configuration file ".count))
                if file.hasSuffix(":") { file.removeLast() }
                depth = 0
                serverDepth = nil
                continue
            }
            if file == managedPath { continue }
            var line = rawLine
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            // Statements end at ';', blocks open at '{' and close at '}'; several may share a line.
            var statement: [Substring] = []
            var token = ""
            func flushToken() {
                if !token.isEmpty { statement.append(Substring(token)) }
                token = ""
            }
            for character in line {
                switch character {
                case " ", "\t", "\r":
                    flushToken()
                case ";":
                    flushToken()
                    if let serverDepth, depth == serverDepth + 1, let keyword = statement.first {
                        if keyword == "listen", statement.count > 1, let parsed = parseListen(statement[1]) {
                            listens.append((parsed.0, parsed.1, statement.contains("ssl")))
                        } else if keyword == "server_name" {
                            names += statement.dropFirst().map { $0.lowercased() }
                        }
                    }
                    statement = []
                case "{":
                    flushToken()
                    if serverDepth == nil, statement.first == "server", statement.count == 1 {
                        serverDepth = depth
                        listens = []
                        names = []
                    }
                    depth += 1
                    statement = []
                case "}":
                    flushToken()
                    depth -= 1
                    if let start = serverDepth, depth == start {
                        for (address, port, tls) in listens.isEmpty ? [(nil, 80, false)] : listens {
                            inventory.sites.append(Site(address: address, port: port, tls: tls, names: names, file: file))
                        }
                        serverDepth = nil
                    }
                    statement = []
                default:
                    token.append(character)
                }
            }
            flushToken()
        }
        return inventory
    }

    /// `80`, `127.0.0.1:80`, `[::]:443`, `*:80` → (address or nil for all, port); nil for `unix:` sockets.
    static func parseListen(_ text: Substring) -> (String?, Int)? {
        if text.hasPrefix("unix:") { return nil }
        if let port = Int(text) { return (nil, port) }
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]) else {
            return nil
        }
        var address = String(text[..<colon])
        if address.hasPrefix("[") && address.hasSuffix("]") { address = String(address.dropFirst().dropLast()) }
        if address == "*" || address == "0.0.0.0" || address == "::" { return (nil, port) }
        return (address.lowercased(), port)
    }

    /// Parses `httpd -t -D DUMP_VHOSTS` output, leaving out vhosts defined in `managedPath`.
    public static func apache(_ dump: String, managedPath: String) -> ProxyInventory {
        var inventory = ProxyInventory()
        var current: (String?, Int)?
        for rawLine in dump.split(separator: "\n") {
            let words = rawLine.split(separator: " ", omittingEmptySubsequences: true)
            guard let first = words.first else { continue }
            let indented = rawLine.hasPrefix(" ") || rawLine.hasPrefix("\t")
            if !indented {
                // `*:80                   is a NameVirtualHost` or `127.0.0.1:8443   gocd.test (/path:3)`.
                guard let parsed = parseListen(first) else {
                    current = nil
                    continue
                }
                current = parsed
                if words.count >= 3, words[1] != "is", let file = location(words.last!) {
                    if file != managedPath {
                        inventory.sites.append(
                            Site(address: parsed.0, port: parsed.1, tls: nil, names: [words[1].lowercased()], file: file))
                    }
                }
                continue
            }
            // `        port 80 namevhost other.test (/etc/apache2/sites-enabled/other.conf:1)`
            guard let (address, port) = current else { continue }
            if first == "port", words.count >= 5, words[2] == "namevhost", let file = location(words[4]) {
                if file != managedPath {
                    inventory.sites.append(
                        Site(address: address, port: port, tls: nil, names: [words[3].lowercased()], file: file))
                }
            } else if first == "alias", words.count >= 2, let last = inventory.sites.last, last.port == port {
                inventory.sites[inventory.sites.count - 1].names.append(words[1].lowercased())
            }
        }
        return inventory
    }

    /// `(/etc/apache2/sites-enabled/other.conf:1)` → the path.
    static func location(_ word: Substring) -> String? {
        guard word.hasPrefix("("), word.hasSuffix(")"), let colon = word.lastIndex(of: ":") else { return nil }
        return String(word[word.index(after: word.startIndex)..<colon])
    }

    /// Reasons `plan` would take over another site: a name it serves on the same address and port, or a port
    /// it uses with the other scheme. `addresses` are the plan's listen addresses (empty: all).
    public func collisions(with plan: ProxyPlan, addresses: [String]) -> [Refusal] {
        var refusals: [Refusal] = []
        for listener in plan.listeners {
            let wanted: [String?] = addresses.isEmpty ? [nil] : addresses
            for site in sites where site.port == listener.port {
                guard wanted.contains(where: { $0 == nil || site.address == nil || $0 == site.address }) else { continue }
                let at = "\(site.address ?? "*"):\(site.port)"
                if let tls = site.tls, tls != (listener.scheme == .https) {
                    refusals.append(
                        Refusal(
                            listener: listener.origin,
                            reason:
                                "port \(listener.port) is used by another site (\(site.file)) with \(tls ? "https" : "http"); serving \(listener.scheme.rawValue) on it would break that site: choose another port in GoCD"
                        ))
                    break
                }
                if site.names.contains(where: { Self.nameMatches($0, listener.serverName) }) {
                    refusals.append(
                        Refusal(
                            listener: listener.origin,
                            reason:
                                "server name \(listener.serverName) is already served on \(at) by another site (\(site.file)); this program manages the GoCD site only"
                        ))
                    break
                }
            }
        }
        return refusals
    }

    /// An NGINX/Apache server name (exact, `*.suffix` or `.suffix`) matching a host.
    static func nameMatches(_ pattern: String, _ host: String) -> Bool {
        if pattern == host { return true }
        if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst(1)) }
        if pattern.hasPrefix(".") { return host == pattern.dropFirst() || host.hasSuffix(pattern) }
        return false
    }
}
