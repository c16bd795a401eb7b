/// The daemon's configuration, validated. Built only through ``Settings/decode(_:file:)``.
public struct Settings: Equatable, Sendable {
    public var gocd: GoCDSettings
    public var proxy: ProxySettings
    public var sync: SyncSettings
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
    /// An IPv4 address, or an IPv6 address without brackets.
    public var listenAddress: String?
    public var redirectHTTPToHTTPS: Bool = true
    public var clientMaxBodySize: String = "10000m"
    public var testCommand: [String]
    public var reloadCommand: [String]
    public var commandTimeoutSeconds: Int = 30
    /// Apache only: ports the main configuration already has `Listen` lines for.
    public var apacheExistingListenPorts: [Int]?

    public var hasCertificate: Bool { tlsCertificate != nil && tlsCertificateKey != nil }
}

public struct SyncSettings: Equatable, Sendable {
    public var intervalSeconds: Int = 30
    public var stateDir: String = "/var/lib/gocd-proxy-sync"
    public var maxBackoffSeconds: Int = 300
}
