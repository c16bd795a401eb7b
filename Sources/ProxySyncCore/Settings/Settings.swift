/// The daemon's configuration, validated. Built only through ``Settings/decode(_:file:)``.
public struct Settings: Equatable, Sendable {
    public var gocd: GoCDSettings
    public var proxy: ProxySettings
    public var sync: SyncSettings
    public var metrics: MetricsSettings = MetricsSettings()
}

public struct MetricsSettings: Equatable, Sendable {
    /// node_exporter's textfile collector file; nil when metrics are off.
    public var textfile: String?
}

public enum Credentials: Equatable, Sendable {
    case none
    case tokenFile(String)
    case basic(username: String, passwordFile: String)
    /// `$CREDENTIALS_DIRECTORY/gocd-token`, resolved by the system layer.
    case credentialsDirectoryToken
}

public struct GoCDSettings: Equatable, Sendable {
    public var serverURL: String
    public var tokenFile: String?
    public var username: String?
    public var passwordFile: String?
    public var caFile: String?
    public var tlsVerify: Bool = true
    public var timeoutSeconds: Int = 10
    /// Credentials may go over plain http:// to a host that is not loopback.
    public var allowInsecureHTTP: Bool = false
    /// An explicit HTTP proxy for reaching GoCD; environment proxies are always ignored.
    public var proxy: String?

    /// The site-URLs endpoint: `server_url` + `/api/admin/config/server/site_urls`.
    public var siteURLsEndpoint: String { trimmedServerURL + "/api/admin/config/server/site_urls" }
    /// The version endpoint, used by `check`.
    public var versionEndpoint: String { trimmedServerURL + "/api/version" }

    var trimmedServerURL: String {
        var url = serverURL
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}

public enum ProxyKind: String, Equatable, Sendable {
    case nginx, apache

    public var defaultTestCommand: [String] {
        self == .nginx ? ["nginx", "-t", "-q"] : ["apachectl", "configtest"]
    }

    public var defaultReloadCommand: [String] {
        self == .nginx ? ["nginx", "-s", "reload"] : ["apachectl", "-k", "graceful"]
    }
}

/// Where the proxy forwards to: `http(s)://host[:port]`.
public struct Upstream: Equatable, Sendable {
    public var scheme: SiteURL.Scheme
    public var host: String
    public var port: Int?

    public var url: String {
        if let port { return "\(scheme.rawValue)://\(host):\(port)" }
        return "\(scheme.rawValue)://\(host)"
    }
}

public struct ProxySettings: Equatable, Sendable {
    public var kind: ProxyKind
    public var output: String
    public var upstream: Upstream
    public var tlsCertificate: String?
    public var tlsCertificateKey: String?
    public var tlsCertificateChain: String?
    /// certbot's `live/` directory (SPEC 5d): each HTTPS name served from `<dir>/<name>/fullchain.pem` and
    /// `privkey.pem`, else any `<dir>/*/fullchain.pem` that covers it; instead of `tlsCertificate`.
    public var tlsCertificateDir: String?
    /// With ``tlsCertificateDir``: what each HTTPS name was found served from, filled in by the engine every cycle.
    public var certificatePairs: [String: CertificatePair] = [:]
    /// IPv4 addresses, or IPv6 addresses without brackets; empty means all addresses.
    public var listenAddresses: [String] = []
    public var redirectHTTPToHTTPS: Bool = true
    public var clientMaxBodySize: String = "10000m"
    public var testCommand: [String]
    public var reloadCommand: [String]
    public var commandTimeoutSeconds: Int = 30
    /// Apache only: ports the main configuration already has `Listen` lines for.
    public var apacheExistingListenPorts: [Int]?
    /// Refuse a plan whose new port another program holds.
    public var checkPorts: Bool = true
    /// The command that prints the proxy's whole configuration (`nginx -T`, `apachectl -t -D DUMP_VHOSTS`);
    /// nil: derived from ``testCommand`` when it starts with the proxy's own program.
    public var dumpCommand: [String]?
    /// Refuse a plan that takes another site's name or port (false: off on purpose, with a warning).
    public var checkOtherSites: Bool = true
    /// Seconds to wait for the proxy to serve a reloaded file; 0 turns confirmation off.
    public var confirmTimeoutSeconds: Double = 10
    /// HTTP/2 on the TLS listeners.
    public var http2: Bool = true
    /// NGINX 1.25.1 and later take `http2 on;` instead of `listen … http2` (read from `nginx -v` at start).
    public var nginxHTTP2Directive: Bool = false
    /// httpd 2.4.47 and later know `ProxyPass … upgrade=websocket`; before, mod_rewrite carries websockets
    /// (read from `httpd -v` at start).
    public var apacheUpgradeOption: Bool = true
    /// Without listen addresses, NGINX also listens on `[::]` when the host has IPv6 (found at start).
    public var ipv6Available: Bool = false
    /// > 0 adds Strict-Transport-Security to every HTTPS response.
    public var hstsMaxAgeSeconds: Int = 0
    /// CA bundle to verify an https upstream; nil means the system CAs.
    public var upstreamCAFile: String?
    public var upstreamTLSVerify: Bool = true
    /// When set, the only server names (exact or `*.` wildcards) a plan may claim.
    public var allowedServerNames: [String]?
    /// When set, the only ports a plan may claim.
    public var allowedPorts: [Int]?
    /// Front proxies (canonical CIDRs) whose X-Forwarded-For/-Proto/-Host/-Port are believed (with `proxyProtocol`:
    /// their PROXY header's client address only); empty: this proxy is the edge, and what it saw replaces whatever
    /// a client sent.
    public var trustedProxies: [String] = []
    /// The operator's own directives (absolute paths from the config file only): in every proxying server, in its
    /// `location /` (Apache: a `<Location />`), and in every redirect server before its redirect.
    public var includeInServer: [String] = []
    public var includeInLocation: [String] = []
    public var includeInRedirect: [String] = []
    /// How long (hours, a decimal) a host name GoCD's site URLs dropped stays a further name of the listeners
    /// (SPEC 5e: Renames); 0: dropped at once.
    public var keepPreviousNamesHours: Double = 0
    /// Every listener expects the PROXY protocol (SPEC 5e), believed only from `trustedProxies` (required then;
    /// Apache refuses an untrusted peer's header that names another address: ``ApacheRenderer/proxyProtocol()``).
    /// X-Forwarded-Proto/-Host/-Port are then always this proxy's own: a layer-4 balancer adds no headers.
    public var proxyProtocol: Bool = false
    /// What each include held when this cycle read it (path → digest), filled in by the engine every cycle: the
    /// content of an include is part of what is applied (README: Your own directives).
    public var includeDigests: [String: String] = [:]

    /// Every include path, each once, sorted.
    public var includes: [String] { Array(Set(includeInServer + includeInLocation + includeInRedirect)).sorted() }

    /// Mozilla's server-side TLS profile written into every TLS listener (SPEC 5d).
    public var tlsProfile: TLSProfile = .intermediate
    /// certbot's `--webroot -w` directory: `/.well-known/acme-challenge/<token>` is answered from
    /// `<dir>/.well-known/acme-challenge/<token>` on every listener (SPEC 5d); nil: not served.
    public var acmeChallengeDir: String?
    /// Where ACME servers ask (http-01): every HTTPS name gets a listener answering the challenge there.
    public var acmeHTTPPort: Int = 80
    /// Run (argv, names appended) when an HTTPS name of a new plan has no certificate in ``tlsCertificateDir``,
    /// once the proxy answers the ACME challenge for it (README: Obtaining a certificate); nil: such a plan is
    /// refused. Needs ``tlsCertificateDir`` and ``acmeChallengeDir``; the first word is an absolute path.
    public var certificateCommand: [String]?
    /// How long `certificate_command` may take before it is killed (an ACME order takes tens of seconds).
    public var certificateCommandTimeoutSeconds: Int = 120

    public var hasCertificate: Bool { (tlsCertificate != nil && tlsCertificateKey != nil) || tlsCertificateDir != nil }

    /// Where an https upstream's certificate is checked against: `upstream_ca_file`, else the system bundle.
    public var upstreamCABundle: String { upstreamCAFile ?? systemCABundle }
    /// The system CA bundle (Debian's path; RHEL's is found at start-up).
    public var systemCABundle: String = "/etc/ssl/certs/ca-certificates.crt"
}

public struct SyncSettings: Equatable, Sendable {
    public var intervalSeconds: Double = 30
    public var stateDir: String = "/var/lib/gocd-proxy-sync"
    public var maxBackoffSeconds: Double = 300
}
