/// A configuration mistake: the file, the key and what is wrong, on one line.
public struct ConfigError: Error, Equatable, Sendable, CustomStringConvertible {
    public var file: String
    public var key: String?
    public var problem: String

    public init(file: String, key: String?, problem: String) {
        self.file = file
        self.key = key
        self.problem = problem
    }

    public var description: String {
        if let key { return "\(file): \(key): \(problem)" }
        return "\(file): \(problem)"
    }
}

extension Settings {
    /// Parses and validates the TOML text of a configuration file.
    ///
    /// - Throws: ``ConfigError`` for syntax errors, unknown keys, wrong types, missing required keys,
    ///   relative paths and values that could not safely reach a proxy configuration.
    public static func decode(_ text: String, file: String) throws(ConfigError) -> Settings {
        let doc: TOML.Document
        do {
            doc = try TOML.parse(text)
        } catch {
            throw ConfigError(file: file, key: nil, problem: "line \(error.line): \(error.message)")
        }
        var reader = Reader(doc: doc, file: file)
        return try reader.settings()
    }

    struct Reader {
        let doc: TOML.Document
        let file: String

        func fail(_ key: String, _ problem: String) -> ConfigError {
            ConfigError(file: file, key: key, problem: problem)
        }

        mutating func settings() throws(ConfigError) -> Settings {
            let known: [String: Set<String>] = [
                "gocd": [
                    "server_url", "token_file", "username", "password_file", "ca_file", "tls_verify", "timeout_seconds",
                    "allow_insecure_http", "proxy",
                ],
                "proxy": [
                    "kind", "output", "upstream", "tls_certificate", "tls_certificate_key", "tls_certificate_chain",
                    "listen_address", "redirect_http_to_https", "client_max_body_size", "test_command", "reload_command",
                    "command_timeout_seconds", "apache_listen_ports", "check_ports", "confirm_timeout_seconds",
                    "listen_addresses", "http2", "hsts_max_age_seconds", "upstream_ca_file", "upstream_tls_verify",
                    "allowed_server_names", "allowed_ports", "dump_command", "check_other_sites",
                    "tls_profile", "acme_challenge_dir", "acme_http_port",
                    "tls_certificate_dir", "certificate_command", "certificate_command_timeout_seconds",
                    "trusted_proxies", "include_in_server", "include_in_location", "include_in_redirect",
                    "keep_previous_names_hours", "proxy_protocol",
                ],
                "sync": ["interval_seconds", "state_dir", "max_backoff_seconds"],
                "metrics": ["textfile"],
            ]
            for (table, entries) in doc.sorted(by: { $0.key < $1.key }) {
                guard let keys = known[table] else {
                    if table.isEmpty {
                        if let first = entries.sorted(by: { $0.value.line < $1.value.line }).first {
                            throw fail(
                                Escaping.printable(first.key),
                                "line \(first.value.line): unknown key outside any table (expected [gocd], [proxy], [sync] or [metrics])"
                            )
                        }
                        continue
                    }
                    throw fail("[\(Escaping.printable(table))]", "unknown table (expected [gocd], [proxy], [sync] or [metrics])")
                }
                for (key, entry) in entries.sorted(by: { $0.value.line < $1.value.line }) where !keys.contains(key) {
                    throw fail(Escaping.printable("\(table).\(key)"), "line \(entry.line): unknown key")
                }
            }
            let gocd = try gocdSettings()
            let proxy = try proxySettings()
            let sync = try syncSettings()
            let metrics = MetricsSettings(textfile: try path("metrics", "textfile"))
            return Settings(gocd: gocd, proxy: proxy, sync: sync, metrics: metrics)
        }

        // MARK: tables

        func gocdSettings() throws(ConfigError) -> GoCDSettings {
            guard let serverURL = try string("gocd", "server_url") else {
                throw fail("gocd.server_url", "required key is missing")
            }
            guard ConfigValues.isServerURL(serverURL) else {
                throw fail(
                    "gocd.server_url",
                    "must be http(s)://host[:port]/go (GoCD as reached from this host), not \"\(Escaping.printable(serverURL))\"")
            }
            var gocd = GoCDSettings(serverURL: serverURL)
            gocd.tokenFile = try path("gocd", "token_file")
            gocd.username = try string("gocd", "username")
            gocd.passwordFile = try path("gocd", "password_file")
            gocd.caFile = try path("gocd", "ca_file")
            gocd.tlsVerify = try bool("gocd", "tls_verify") ?? true
            gocd.timeoutSeconds = try integer("gocd", "timeout_seconds", in: 1...600) ?? 10
            gocd.allowInsecureHTTP = try bool("gocd", "allow_insecure_http") ?? false
            if let proxy = try string("gocd", "proxy") {
                guard ConfigValues.parseUpstream(proxy) != nil else {
                    throw fail("gocd.proxy", "must be http(s)://host[:port], not \"\(Escaping.printable(proxy))\"")
                }
                gocd.proxy = proxy
            }
            if gocd.tokenFile != nil && (gocd.username != nil || gocd.passwordFile != nil) {
                throw fail("gocd.token_file", "set either token_file or username/password_file, not both")
            }
            if let username = gocd.username {
                if gocd.passwordFile == nil { throw fail("gocd.password_file", "required when username is set") }
                if username.isEmpty || username.contains(":") || username.unicodeScalars.contains(where: { $0.value < 0x20 }) {
                    throw fail("gocd.username", "must be non-empty, without ':' or control characters")
                }
            } else if gocd.passwordFile != nil {
                throw fail("gocd.username", "required when password_file is set")
            }
            return gocd
        }

        func proxySettings() throws(ConfigError) -> ProxySettings {
            guard let kindText = try string("proxy", "kind") else { throw fail("proxy.kind", "required key is missing") }
            guard let kind = ProxyKind(rawValue: kindText) else {
                throw fail("proxy.kind", "must be \"nginx\" or \"apache\", not \"\(Escaping.printable(kindText))\"")
            }
            guard let output = try path("proxy", "output") else { throw fail("proxy.output", "required key is missing") }
            guard let upstreamText = try string("proxy", "upstream") else {
                throw fail("proxy.upstream", "required key is missing")
            }
            guard let upstream = ConfigValues.parseUpstream(upstreamText) else {
                throw fail("proxy.upstream", "must be http(s)://host[:port] (no path), not \"\(Escaping.printable(upstreamText))\"")
            }
            var proxy = ProxySettings(
                kind: kind, output: output, upstream: upstream,
                testCommand: kind.defaultTestCommand, reloadCommand: kind.defaultReloadCommand)
            if output.hasSuffix("/") { throw fail("proxy.output", "must name a file, not a directory") }
            proxy.tlsCertificate = try path("proxy", "tls_certificate")
            proxy.tlsCertificateKey = try path("proxy", "tls_certificate_key")
            proxy.tlsCertificateChain = try path("proxy", "tls_certificate_chain")
            if (proxy.tlsCertificate == nil) != (proxy.tlsCertificateKey == nil) {
                throw fail(
                    proxy.tlsCertificate == nil ? "proxy.tls_certificate" : "proxy.tls_certificate_key",
                    "tls_certificate and tls_certificate_key must be set together")
            }
            proxy.tlsCertificateDir = try path("proxy", "tls_certificate_dir")
            if proxy.tlsCertificateDir != nil && proxy.tlsCertificate != nil {
                throw fail(
                    "proxy.tls_certificate_dir",
                    "set tls_certificate_dir or tls_certificate/tls_certificate_key, not both")
            }
            if proxy.tlsCertificateDir != nil && proxy.tlsCertificateChain != nil {
                throw fail(
                    "proxy.tls_certificate_chain",
                    "tls_certificate_dir serves each name's fullchain.pem; tls_certificate_chain goes with tls_certificate only")
            }
            let single = try string("proxy", "listen_address")
            let several = try stringArray("proxy", "listen_addresses")
            if single != nil && several != nil {
                throw fail("proxy.listen_addresses", "set listen_address or listen_addresses, not both")
            }
            for address in several ?? single.map { [$0] } ?? [] {
                var bare = address
                if bare.hasPrefix("[") && bare.hasSuffix("]") { bare = String(bare.dropFirst().dropLast()) }
                bare = bare.lowercased()
                let key = several == nil ? "proxy.listen_address" : "proxy.listen_addresses"
                guard HostName.isIPv4(bare) || HostName.isIPv6(bare) else {
                    throw fail(key, "must be an IPv4 or IPv6 address, not \"\(Escaping.printable(address))\"")
                }
                // The address is compared with the proxy's dump and with the kernel's sockets as text: one form only.
                if let canonical = HostName.canonicalIPv6(bare), canonical != bare {
                    throw fail(
                        key,
                        "\"\(Escaping.printable(address))\" is not in its canonical form (RFC 5952): write it as \"\(canonical)\"")
                }
                if !proxy.listenAddresses.contains(bare) { proxy.listenAddresses.append(bare) }
            }
            proxy.redirectHTTPToHTTPS = try bool("proxy", "redirect_http_to_https") ?? true
            if let size = try string("proxy", "client_max_body_size") {
                guard ConfigValues.isBodySize(size) else {
                    throw fail(
                        "proxy.client_max_body_size", "must be a number with an optional k, m or g suffix (e.g. \"10000m\"), or 0"
                    )
                }
                proxy.clientMaxBodySize = size.lowercased()
            }
            if let command = try stringArray("proxy", "test_command") { proxy.testCommand = command }
            if let command = try stringArray("proxy", "reload_command") { proxy.reloadCommand = command }
            proxy.commandTimeoutSeconds = try integer("proxy", "command_timeout_seconds", in: 1...3600) ?? 30
            if let ports = try integerArray("proxy", "apache_listen_ports") {
                for port in ports where !(1...65535).contains(port) {
                    throw fail("proxy.apache_listen_ports", "\(port) is not a port number (1-65535)")
                }
                proxy.apacheExistingListenPorts = Array(Set(ports)).sorted()
            }
            proxy.checkPorts = try bool("proxy", "check_ports") ?? true
            if let command = try stringArray("proxy", "dump_command") { proxy.dumpCommand = command }
            proxy.checkOtherSites = try bool("proxy", "check_other_sites") ?? true
            proxy.confirmTimeoutSeconds = try decimal("proxy", "confirm_timeout_seconds", in: 0...600) ?? 10
            proxy.http2 = try bool("proxy", "http2") ?? true
            proxy.hstsMaxAgeSeconds = try integer("proxy", "hsts_max_age_seconds", in: 0...315_360_000) ?? 0
            proxy.upstreamCAFile = try path("proxy", "upstream_ca_file")
            proxy.upstreamTLSVerify = try bool("proxy", "upstream_tls_verify") ?? true
            if let names = try stringArray("proxy", "allowed_server_names") {
                for name in names where !ServerNamePattern.isValid(name) {
                    if let canonical = ServerNamePattern.canonicalForm(name) {
                        throw fail(
                            "proxy.allowed_server_names",
                            "\"\(Escaping.printable(name))\" is not in its canonical form: write it as \"\(canonical)\"")
                    }
                    throw fail(
                        "proxy.allowed_server_names",
                        "\"\(Escaping.printable(name))\" is not a host name, an IP address or a *. wildcard")
                }
                proxy.allowedServerNames = names.map { $0.lowercased() }
            }
            if let ports = try integerArray("proxy", "allowed_ports") {
                for port in ports where !(1...65535).contains(port) {
                    throw fail("proxy.allowed_ports", "\(port) is not a port number (1-65535)")
                }
                proxy.allowedPorts = Array(Set(ports)).sorted()
            }
            if let profile = try string("proxy", "tls_profile") {
                guard let known = TLSProfile(rawValue: profile) else {
                    throw fail(
                        "proxy.tls_profile",
                        "must be \"intermediate\", \"modern\" or \"inherit\", not \"\(Escaping.printable(profile))\"")
                }
                proxy.tlsProfile = known
            }
            proxy.acmeChallengeDir = try path("proxy", "acme_challenge_dir")
            if let dir = proxy.acmeChallengeDir {
                if dir.split(separator: "/").contains("..") {
                    throw fail("proxy.acme_challenge_dir", "must not contain \"..\": \"\(Escaping.printable(dir))\"")
                }
                while proxy.acmeChallengeDir!.count > 1 && proxy.acmeChallengeDir!.hasSuffix("/") {
                    proxy.acmeChallengeDir!.removeLast()
                }
            }
            proxy.acmeHTTPPort = try integer("proxy", "acme_http_port", in: 1...65535) ?? 80
            proxy.certificateCommand = try certificateCommand(proxy)
            proxy.certificateCommandTimeoutSeconds =
                try integer("proxy", "certificate_command_timeout_seconds", in: 1...3600) ?? 300
            proxy.trustedProxies = try cidrs("proxy", "trusted_proxies")
            proxy.includeInServer = try paths("proxy", "include_in_server")
            proxy.includeInLocation = try paths("proxy", "include_in_location")
            proxy.includeInRedirect = try paths("proxy", "include_in_redirect")
            proxy.keepPreviousNamesHours = try decimal("proxy", "keep_previous_names_hours", in: 0...87_600) ?? 0
            proxy.proxyProtocol = try bool("proxy", "proxy_protocol") ?? false
            if proxy.proxyProtocol && proxy.trustedProxies.isEmpty {
                throw fail(
                    "proxy.proxy_protocol",
                    "needs trusted_proxies: the PROXY header is believed only from the front proxies listed there")
            }
            return proxy
        }

        /// `certificate_command`: argv whose program is an absolute path (no `PATH` search for a command run as root
        /// with names GoCD chose), with `tls_certificate_dir` (where the certificate is looked for afterwards) and
        /// `acme_challenge_dir` (the webroot the proxy answers the challenge from) both set.
        func certificateCommand(_ proxy: ProxySettings) throws(ConfigError) -> [String]? {
            guard let command = try stringArray("proxy", "certificate_command") else { return nil }
            let key = "proxy.certificate_command"
            if proxy.tlsCertificateDir == nil {
                throw fail(
                    key,
                    "needs tls_certificate_dir: the certificate it obtains is looked for there (<dir>/<name>/fullchain.pem and privkey.pem)")
            }
            if proxy.acmeChallengeDir == nil {
                throw fail(
                    key,
                    "needs acme_challenge_dir: the ACME client writes the http-01 challenge there (its webroot), and the proxy answers it from there")
            }
            if let problem = ConfigValues.pathProblem(command[0]) {
                throw fail(
                    key,
                    "the program \(problem) (it runs as root with names GoCD chose; no PATH search): \"\(Escaping.printable(command[0]))\"")
            }
            return command
        }

        func syncSettings() throws(ConfigError) -> SyncSettings {
            var sync = SyncSettings()
            sync.intervalSeconds = try decimal("sync", "interval_seconds", in: 0.1...86_400) ?? 30
            sync.stateDir = try path("sync", "state_dir") ?? sync.stateDir
            sync.maxBackoffSeconds = try decimal("sync", "max_backoff_seconds", in: 0.1...86_400) ?? 300
            if sync.maxBackoffSeconds < sync.intervalSeconds { sync.maxBackoffSeconds = sync.intervalSeconds }
            return sync
        }

        // MARK: typed access

        func entry(_ table: String, _ key: String) -> TOML.Entry? { doc[table]?[key] }

        func string(_ table: String, _ key: String) throws(ConfigError) -> String? {
            guard let entry = entry(table, key) else { return nil }
            guard case .string(let text) = entry.value else {
                throw fail("\(table).\(key)", "line \(entry.line): expected a string, found \(entry.value.typeName)")
            }
            return text
        }

        func path(_ table: String, _ key: String) throws(ConfigError) -> String? {
            guard let text = try string(table, key) else { return nil }
            if let problem = ConfigValues.pathProblem(text) {
                throw fail("\(table).\(key)", "\(problem): \"\(Escaping.printable(text))\"")
            }
            return text
        }

        func bool(_ table: String, _ key: String) throws(ConfigError) -> Bool? {
            guard let entry = entry(table, key) else { return nil }
            guard case .boolean(let value) = entry.value else {
                throw fail("\(table).\(key)", "line \(entry.line): expected true or false, found \(entry.value.typeName)")
            }
            return value
        }

        func integer(_ table: String, _ key: String, in range: ClosedRange<Int>) throws(ConfigError) -> Int? {
            guard let entry = entry(table, key) else { return nil }
            guard case .integer(let value) = entry.value else {
                throw fail("\(table).\(key)", "line \(entry.line): expected an integer, found \(entry.value.typeName)")
            }
            guard range.contains(value) else {
                throw fail("\(table).\(key)", "line \(entry.line): must be between \(range.lowerBound) and \(range.upperBound)")
            }
            return value
        }

        /// An integer or a decimal number, as seconds.
        func decimal(_ table: String, _ key: String, in range: ClosedRange<Double>) throws(ConfigError) -> Double? {
            guard let entry = entry(table, key) else { return nil }
            let value: Double
            switch entry.value {
            case .integer(let whole): value = Double(whole)
            case .float(let number): value = number
            default:
                throw fail("\(table).\(key)", "line \(entry.line): expected a number, found \(entry.value.typeName)")
            }
            guard range.contains(value) else {
                throw fail(
                    "\(table).\(key)",
                    "line \(entry.line): must be between \(Self.show(range.lowerBound)) and \(Self.show(range.upperBound))")
            }
            return value
        }

        static func show(_ value: Double) -> String {
            value == value.rounded() ? "\(Int(value))" : "\(value)"
        }

        func stringArray(_ table: String, _ key: String) throws(ConfigError) -> [String]? {
            guard let entry = entry(table, key) else { return nil }
            guard case .array(let items) = entry.value, !items.isEmpty else {
                throw fail("\(table).\(key)", "line \(entry.line): expected a non-empty array of strings (argv, no shell)")
            }
            var out: [String] = []
            for item in items {
                guard case .string(let text) = item, !text.isEmpty else {
                    throw fail("\(table).\(key)", "line \(entry.line): every element must be a non-empty string")
                }
                out.append(text)
            }
            return out
        }

        /// An array of absolute paths (each once, in the file's order); empty when unset.
        func paths(_ table: String, _ key: String) throws(ConfigError) -> [String] {
            guard let entry = entry(table, key) else { return [] }
            guard case .array(let items) = entry.value else {
                throw fail("\(table).\(key)", "line \(entry.line): expected an array of absolute paths")
            }
            var out: [String] = []
            for item in items {
                guard case .string(let text) = item else {
                    throw fail("\(table).\(key)", "line \(entry.line): every element must be a string (an absolute path)")
                }
                if let problem = ConfigValues.pathProblem(text) {
                    throw fail("\(table).\(key)", "\(problem): \"\(Escaping.printable(text))\"")
                }
                if !out.contains(text) { out.append(text) }
            }
            return out
        }

        /// An array of CIDRs (a bare address is one host), each in its canonical form; empty when unset.
        func cidrs(_ table: String, _ key: String) throws(ConfigError) -> [String] {
            guard let entry = entry(table, key) else { return [] }
            guard case .array(let items) = entry.value else {
                throw fail("\(table).\(key)", "line \(entry.line): expected an array of CIDRs (e.g. [\"192.0.2.0/24\"])")
            }
            var out: [String] = []
            for item in items {
                guard case .string(let text) = item else {
                    throw fail("\(table).\(key)", "line \(entry.line): every element must be a string such as \"192.0.2.0/24\"")
                }
                if let problem = ConfigValues.cidrProblem(text) {
                    throw fail("\(table).\(key)", "\"\(Escaping.printable(text))\" \(problem)")
                }
                if !out.contains(text) { out.append(text) }
            }
            return out
        }

        func integerArray(_ table: String, _ key: String) throws(ConfigError) -> [Int]? {
            guard let entry = entry(table, key) else { return nil }
            guard case .array(let items) = entry.value else {
                throw fail("\(table).\(key)", "line \(entry.line): expected an array of integers")
            }
            var out: [Int] = []
            for item in items {
                guard case .integer(let value) = item else {
                    throw fail("\(table).\(key)", "line \(entry.line): every element must be an integer")
                }
                out.append(value)
            }
            return out
        }
    }
}
