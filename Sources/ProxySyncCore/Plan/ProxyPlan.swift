/// One thing the proxy must serve: a scheme and port for a server name, proxying or redirecting.
public struct Listener: Equatable, Hashable, Sendable, Comparable {
    public enum Action: Equatable, Hashable, Sendable {
        case proxy
        /// 301 to this origin (`https://host[:port]`) plus the request URI.
        case redirect(to: String)
        /// Answers only the ACME http-01 challenge (and this file's generation, for confirmation): a name's
        /// listener on `acme_http_port` that the site URLs do not give (SPEC 5d).
        case challenge
    }

    public var scheme: SiteURL.Scheme
    public var port: Int
    public var serverName: String
    public var action: Action
    /// A name GoCD's site URLs dropped, kept a while (SPEC 5e: Renames): rendered as a further name of the
    /// listener with the same scheme, port and action, not as a server block of its own.
    public var kept: Bool

    public init(scheme: SiteURL.Scheme, port: Int, serverName: String, action: Action, kept: Bool = false) {
        self.scheme = scheme
        self.port = port
        self.serverName = serverName
        self.action = action
        self.kept = kept
    }

    /// `scheme://name:port`, how logs and refusals name a listener.
    public var origin: String { "\(scheme.rawValue)://\(serverName):\(port)" }

    public var redirectTarget: String? {
        if case .redirect(let target) = action { return target }
        return nil
    }

    /// Redirects first, then by port, scheme and name: the order the renderers write blocks in.
    public static func < (lhs: Listener, rhs: Listener) -> Bool {
        let l = (lhs.redirectTarget == nil ? 1 : 0, lhs.port, lhs.scheme.rawValue, lhs.serverName)
        let r = (rhs.redirectTarget == nil ? 1 : 0, rhs.port, rhs.scheme.rawValue, rhs.serverName)
        return l < r
    }
}

/// What the proxy must serve, derived from GoCD's site URLs and the local settings.
public struct ProxyPlan: Equatable, Sendable {
    /// Sorted; see ``Listener/<(_:_:)``.
    public var listeners: [Listener]
    /// Normalised `scheme://host[:port]`, or `""` when unset.
    public var siteURL: String
    public var secureSiteURL: String
    /// Things worth a warning on every apply (no TLS, trimmed spaces, a dropped redirect).
    public var warnings: [String]
    /// With `tls_certificate_dir`: the pair each HTTPS name is served from, as found this cycle (SPEC 5d).
    public var certificates: [String: CertificatePair] = [:]
    /// Names GoCD dropped that are kept as further names (name → until, `YYYY-MM-DDTHH:MM:SSZ`); see ``KeptNames``.
    public var keptNames: [String: String] = [:]

    public init(listeners: [Listener], siteURL: String, secureSiteURL: String, warnings: [String] = []) {
        self.listeners = listeners.sorted()
        self.siteURL = siteURL
        self.secureSiteURL = secureSiteURL
        self.warnings = warnings
    }

    /// The site-URL field a listener (named by its ``Listener/origin``) comes from: the one whose origin it
    /// serves, else the https one (a port-80 redirect of an https-only plan).
    public func field(for listenerOrigin: String) -> SiteURLField {
        func same(_ url: String) -> Bool {
            guard !url.isEmpty, let listener = listeners.first(where: { $0.origin == listenerOrigin }) else { return false }
            let defaultPort = listener.scheme == .https ? 443 : 80
            let expected =
                "\(listener.scheme.rawValue)://\(listener.serverName)" + (listener.port == defaultPort ? "" : ":\(listener.port)")
            return url == expected
        }
        if same(siteURL) { return .siteURL }
        if same(secureSiteURL) { return .secureSiteURL }
        return secureSiteURL.isEmpty ? .siteURL : .secureSiteURL
    }

    /// The listeners that render a server block of their own (not a kept name).
    public var primaryListeners: [Listener] { listeners.filter { !$0.kept } }

    /// The kept names that join `listener`'s server block: those of the same scheme, port and action, given to
    /// the first such block only (one name, one block per port).
    public func keptNames(joining listener: Listener) -> [String] {
        guard !listener.kept,
            primaryListeners.first(where: {
                $0.scheme == listener.scheme && $0.port == listener.port && $0.action == listener.action
            }) == listener
        else { return [] }
        return listeners.filter {
            $0.kept && $0.scheme == listener.scheme && $0.port == listener.port && $0.action == listener.action
        }.map(\.serverName)
    }

    /// Line 2 of every rendered file.
    public var sourceLine: String {
        "# Source: site_url=\(siteURL.isEmpty ? "\"\"" : siteURL) secure_site_url=\(secureSiteURL.isEmpty ? "\"\"" : secureSiteURL)"
    }
}
