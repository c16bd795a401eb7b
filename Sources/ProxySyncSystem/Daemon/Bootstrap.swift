import Glibc
import Logging
import ProxySyncCore

/// Everything a command needs, built from the config file and the environment.
public struct Bootstrap: Sendable {
    public var configPath: String
    public var settings: Settings
    public var environment: [String: String]

    /// The config path: `--config`, else `$GOCD_PROXY_SYNC_CONFIG`, else `/etc/gocd-proxy-sync/config.toml`.
    public static func configPath(option: String?, environment: [String: String]) -> String {
        if let option, !option.isEmpty { return option }
        if let fromEnvironment = environment["GOCD_PROXY_SYNC_CONFIG"], !fromEnvironment.isEmpty { return fromEnvironment }
        return "/etc/gocd-proxy-sync/config.toml"
    }

    public static var processEnvironment: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }

    /// The largest config file read: far above any real one, small enough that a wrong path cannot flood memory.
    public static let maximumConfigBytes = 1 << 20

    /// Reads and validates the config file: a regular file of at most 1 MiB (a FIFO, device or directory is refused
    /// at once, never waited on).
    ///
    /// - Throws: ``ConfigError`` (exit 2).
    public static func loadSettings(path: String) throws(ConfigError) -> Settings {
        let bytes: [UInt8]?
        do {
            bytes = try Posix.readRegularFile(path, maxBytes: maximumConfigBytes)
        } catch {
            throw ConfigError(file: path, key: nil, problem: error.reason)
        }
        guard let bytes else {
            throw ConfigError(file: path, key: nil, problem: "no such file (pass --config PATH or set GOCD_PROXY_SYNC_CONFIG)")
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw ConfigError(file: path, key: nil, problem: "not valid UTF-8 text")
        }
        var settings = try Settings.decode(text, file: path)
        adaptToHost(&settings.proxy)
        return settings
    }

    /// What the rendered file depends on in the installed software: NGINX's HTTP/2 syntax (read once per
    /// start from `nginx -v`) and where the system's CA bundle is (Debian or RHEL layout).
    static func adaptToHost(_ proxy: inout ProxySettings) {
        if access(proxy.systemCABundle, R_OK) != 0, access("/etc/pki/tls/certs/ca-bundle.crt", R_OK) == 0 {
            proxy.systemCABundle = "/etc/pki/tls/certs/ca-bundle.crt"
        }
        proxy.ipv6Available = hostHasIPv6()
        switch proxy.kind {
        case .nginx:
            guard proxy.http2 else { return }
            let binary = proxy.testCommand.first { Posix.basename($0) == "nginx" } ?? "nginx"
            let version = CommandRunner.runBlocking([binary, "-v"], timeoutSeconds: 10).output
            proxy.nginxHTTP2Directive = NginxVersion.usesHTTP2Directive(version)
        case .apache:
            let tools: Set<String> = ["apache2", "httpd", "apachectl", "apache2ctl"]
            let binary = proxy.testCommand.first { tools.contains(Posix.basename($0)) } ?? "apachectl"
            let version = CommandRunner.runBlocking([binary, "-v"], timeoutSeconds: 10).output
            proxy.apacheUpgradeOption = ApacheModules.knowsUpgradeOption(version)
        }
    }

    /// True when an IPv6 socket can be bound here (a host booted with IPv6 disabled cannot).
    static func hostHasIPv6() -> Bool {
        let fd = socket(AF_INET6, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in6()
        address.sin6_family = sa_family_t(AF_INET6)
        address.sin6_addr = in6addr_loopback
        return withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in6>.size)) == 0
            }
        }
    }

    public init(configOption: String?) throws(ConfigError) {
        environment = Self.processEnvironment
        configPath = Self.configPath(option: configOption, environment: environment)
        settings = try Self.loadSettings(path: configPath)
    }

    /// The GoCD client with the configured credentials.
    ///
    /// - Throws: ``ConfigError`` for unsafe or unreadable credential files.
    public func makeSource() throws(ConfigError) -> (CurlSiteURLSource, CurlClient, CurlOptions.Auth) {
        let auth = try CredentialLoader.load(settings.gocd, configFile: configPath, environment: environment)
        if case .none = auth {
        } else if let problem = Transport.cleartextProblem(settings.gocd) {
            throw ConfigError(file: configPath, key: "gocd.server_url", problem: problem)
        }
        var options = CurlOptions(
            auth: auth, caFile: settings.gocd.caFile, tlsVerify: settings.gocd.tlsVerify,
            timeoutSeconds: settings.gocd.timeoutSeconds)
        options.proxy = settings.gocd.proxy
        let client = CurlClient(options: options)
        return (CurlSiteURLSource(client: client, settings: settings.gocd, credentials: auth.kind), client, auth)
    }

    public func makeEngine(logger: Logger) throws(ConfigError) -> SyncEngine {
        let (source, _, _) = try makeSource()
        if let command = settings.proxy.certificateCommand, let problem = PathSafety.problem(forCommand: command[0]) {
            throw ConfigError(file: configPath, key: "proxy.certificate_command", problem: problem)
        }
        return makeEngine(source: source, proxy: CommandProxyControl(settings: settings.proxy, stateDirectory: settings.sync.stateDir), logger: logger)
    }

    /// The engine with the real store and state, and the given source and proxy control.
    public func makeEngine(source: any SiteURLSource, proxy: any ProxyControl, logger: Logger) -> SyncEngine {
        SyncEngine(
            settings: settings, source: source,
            store: FileConfigStore(output: settings.proxy.output, stateDir: settings.sync.stateDir),
            proxy: proxy, state: JSONStateStore(stateDir: settings.sync.stateDir),
            serving: LiveServingCheck(settings: settings.proxy), logger: logger, includes: FileIncludeReader(),
            certificateFiles: StatFileIdentityReader(), certificates: DirectoryCertificateLocator(),
            certificateRequester: CommandCertificateRequester(settings: settings.proxy))
    }

    /// Logs the start-up warnings every start must show.
    public func warnAtStart(_ logger: Logger) {
        if settings.proxy.listenAddresses.isEmpty {
            logger.info(
                settings.proxy.ipv6Available
                    ? "no listen_address: the listeners bind all IPv4 and IPv6 addresses"
                    : "no listen_address: the listeners bind all IPv4 addresses (this host has no IPv6)",
                metadata: ["event": Event.started.value])
        }
        if !settings.gocd.tlsVerify {
            logger.warning(
                "TLS verification of GoCD is OFF (tls_verify = false): anyone on the path can impersonate GoCD and choose the proxy's server names",
                metadata: ["event": Event.started.value])
        }
        if let warning = Self.otherSitesWarning(settings.proxy) {
            logger.warning("\(warning)", metadata: ["event": Event.started.value])
        }
    }

    /// The other-sites check turned off on purpose (`check_other_sites = false`), said at every start and by `check`.
    public static func otherSitesWarning(_ proxy: ProxySettings) -> String? {
        proxy.checkOtherSites
            ? nil
            : "the other-sites check is OFF (check_other_sites = false): a GoCD admin can claim a name or port another site of this proxy serves"
    }
}
