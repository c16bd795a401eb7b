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

    /// Parses `nginx -T` output (stdout only), leaving out the file at `managedPath`. nil when the dump cannot
    /// be read with certainty (unbalanced braces or quotes): the caller must then refuse rather than guess.
    ///
    /// A small tokenizer of NGINX's syntax: quoted strings (with backslash escapes) are one word and may hold
    /// `{`, `}`, `;` and `#`; `#` starts a comment only where a word would start; `# configuration file PATH:`
    /// marks the next file only between files (at depth 0).
    public static func nginx(_ dump: String, managedPath: String) -> ProxyInventory? {
        var inventory = ProxyInventory()
        var file = ""
        var depth = 0
        var serverDepth: Int?
        var listens: [(String?, Int, Bool)] = []
        var names: [String] = []
        var statement: [String] = []
        var word = ""
        var wordStarted = false
        var quote: Character?
        var escaped = false
        var comment = false
        var atLineStart = true
        var line = ""

        func endWord() {
            if wordStarted { statement.append(word) }
            word = ""
            wordStarted = false
        }
        func endStatement() {
            if file != managedPath, let serverDepth, depth == serverDepth + 1, let keyword = statement.first {
                if keyword == "listen", statement.count > 1, let parsed = parseListen(Substring(statement[1])) {
                    listens.append((parsed.0, parsed.1, statement.contains("ssl")))
                } else if keyword == "server_name" {
                    names += statement.dropFirst().map { $0.lowercased() }
                }
            }
            statement = []
        }

        let characters = Array(dump)
        var index = 0
        while index < characters.count {
            let character = characters[index]
            index += 1
            if atLineStart && depth == 0 && quote == nil && !comment {
                // Read the whole line to see whether it is a file header.
                var end = index - 1
                while end < characters.count && characters[end] != "\n" { end += 1 }
                line = String(characters[(index - 1)..<end])
                if line.hasPrefix("# configuration file ") {
                    if !statement.isEmpty || wordStarted { return nil }
                    file = String(line.dropFirst("# configuration file ".count))
                    if file.hasSuffix(":") { file.removeLast() }
                    index = end + 1
                    continue
                }
            }
            atLineStart = character == "\n"
            if comment {
                if character == "\n" { comment = false }
                continue
            }
            if let open = quote {
                if escaped {
                    word.append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == open {
                    quote = nil
                } else {
                    word.append(character)
                }
                continue
            }
            switch character {
            case " ", "\t", "\r", "\n":
                endWord()
            case "\"", "'" where !wordStarted:
                quote = character
                wordStarted = true
            case "#" where !wordStarted:
                comment = true
            case ";":
                endWord()
                endStatement()
            case "{":
                endWord()
                if file != managedPath, serverDepth == nil, statement == ["server"] {
                    serverDepth = depth
                    listens = []
                    names = []
                }
                depth += 1
                statement = []
            case "}":
                endWord()
                if !statement.isEmpty { return nil }
                depth -= 1
                if depth < 0 { return nil }
                if let start = serverDepth, depth == start {
                    for (address, port, tls) in listens.isEmpty ? [(nil, 80, false)] : listens {
                        inventory.sites.append(Site(address: address, port: port, tls: tls, names: names, file: file))
                    }
                    serverDepth = nil
                }
            default:
                word.append(character)
                wordStarted = true
            }
        }
        endWord()
        guard depth == 0, quote == nil, statement.isEmpty else { return nil }
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
                            Site(
                                address: parsed.0, port: parsed.1, tls: nil, names: [words[1].lowercased()], file: file,
                                line: lineNumber(words.last!)))
                    }
                }
                continue
            }
            // `        port 80 namevhost other.test (/etc/apache2/sites-enabled/other.conf:1)`
            guard let (address, port) = current else { continue }
            if first == "port", words.count >= 5, words[2] == "namevhost", let file = location(words[4]) {
                if file != managedPath {
                    inventory.sites.append(
                        Site(
                            address: address, port: port, tls: nil, names: [words[3].lowercased()], file: file,
                            line: lineNumber(words[4])))
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

    /// `(/etc/apache2/sites-enabled/other.conf:12)` → 12.
    static func lineNumber(_ word: Substring) -> Int? {
        guard word.hasSuffix(")"), let colon = word.lastIndex(of: ":") else { return nil }
        return Int(word[word.index(after: colon)..<word.index(before: word.endIndex)])
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
