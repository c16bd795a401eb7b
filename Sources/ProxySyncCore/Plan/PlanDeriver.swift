/// The outcome of deriving a plan: either something to serve, or nothing because both URLs are unset.
public enum Derivation: Equatable, Sendable {
    case plan(ProxyPlan)
    /// Both site URLs are unset: keep the current file.
    case nothingToDerive(warnings: [String])
}

/// Turns GoCD's site URLs into a ``ProxyPlan`` following README: The GoCD side's table, rejecting anything unsafe.
public enum PlanDeriver {
    /// - Throws: ``SiteURLRejection`` when a value fails validation or the two cannot be served together.
    public static func derive(_ urls: SiteURLs, settings: ProxySettings) throws(SiteURLRejection) -> Derivation {
        let site = try SiteURL.check(urls.siteURL, field: .siteURL)
        let secure = try SiteURL.check(urls.secureSiteURL, field: .secureSiteURL)
        var warnings: [String] = []
        if site.trimmed { warnings.append("site_url had surrounding spaces, which were ignored: fix the value in GoCD") }
        if secure.trimmed {
            warnings.append("secure_site_url had surrounding spaces, which were ignored: fix the value in GoCD")
        }
        var listeners: [Listener] = []
        switch (site.url, secure.url) {
        case (nil, nil):
            return .nothingToDerive(warnings: warnings)
        case (let a?, let b?) where a.scheme == .http:
            listeners.append(Listener(scheme: .http, port: a.port, serverName: a.host, action: .redirect(to: b.origin)))
            listeners.append(Listener(scheme: .https, port: b.port, serverName: b.host, action: .proxy))
        case (let a?, let b?) where a == b:
            listeners += httpsOnly(a, settings: settings, warnings: &warnings)
        case (let a?, let b?):
            listeners.append(Listener(scheme: .https, port: a.port, serverName: a.host, action: .proxy))
            listeners.append(Listener(scheme: .https, port: b.port, serverName: b.host, action: .proxy))
        case (let a?, nil) where a.scheme == .http:
            warnings.append("only an http site URL is set: GoCD is served without TLS")
            listeners.append(Listener(scheme: .http, port: a.port, serverName: a.host, action: .proxy))
        case (let a?, nil):
            listeners += httpsOnly(a, settings: settings, warnings: &warnings)
        case (nil, let b?):
            listeners += httpsOnly(b, settings: settings, warnings: &warnings)
        }
        var plan = ProxyPlan(
            listeners: Array(Set(listeners)),
            siteURL: site.url?.origin ?? "",
            secureSiteURL: secure.url?.origin ?? "",
            warnings: warnings)
        try checkPorts(plan, urls: urls)
        try checkBounds(plan, urls: urls, settings: settings)
        plan = withChallengeListeners(plan, settings: settings)
        if plan.listeners.contains(where: { $0.scheme == .https }) && !settings.hasCertificate {
            let field: SiteURLField = secure.url != nil ? .secureSiteURL : .siteURL
            throw SiteURLRejection(
                field: field.rawValue, rawValue: field == .siteURL ? urls.siteURL : urls.secureSiteURL,
                reason: "an HTTPS listener is needed but tls_certificate and tls_certificate_key (or tls_certificate_dir) are not configured in [proxy]")
        }
        return .plan(plan)
    }

    /// With `acme_challenge_dir`, every HTTPS name must answer the ACME http-01 challenge on `acme_http_port`
    /// (SPEC 5d): a name without an HTTP listener there gets one that answers only the challenge. Not where that
    /// port serves HTTPS in this plan (one port cannot speak both): a warning instead. The port is the
    /// operator's own setting, so `allowed_ports` does not bound it; the name is bounded as its HTTPS listener's.
    static func withChallengeListeners(_ plan: ProxyPlan, settings: ProxySettings) -> ProxyPlan {
        guard settings.acmeChallengeDir != nil else { return plan }
        let port = settings.acmeHTTPPort
        var listeners = plan.listeners
        var warnings = plan.warnings
        for name in Set(plan.listeners.filter { $0.scheme == .https }.map(\.serverName)).sorted() {
            if listeners.contains(where: { $0.port == port && $0.serverName == name && $0.scheme == .http }) { continue }
            if listeners.contains(where: { $0.port == port && $0.scheme == .https }) {
                warnings.append(
                    "acme_http_port \(port) serves https in this plan: the ACME http-01 challenge for \(name) is answered on its HTTPS listener only"
                )
                continue
            }
            listeners.append(Listener(scheme: .http, port: port, serverName: name, action: .challenge))
        }
        return ProxyPlan(
            listeners: listeners, siteURL: plan.siteURL, secureSiteURL: plan.secureSiteURL, warnings: warnings)
    }

    static func httpsOnly(_ url: SiteURL, settings: ProxySettings, warnings: inout [String]) -> [Listener] {
        var result = [Listener(scheme: .https, port: url.port, serverName: url.host, action: .proxy)]
        if settings.redirectHTTPToHTTPS {
            if url.port == 80 {
                warnings.append("the https site URL uses port 80, so no port-80 redirect is served")
            } else {
                result.append(Listener(scheme: .http, port: 80, serverName: url.host, action: .redirect(to: url.origin)))
            }
        }
        return result
    }

    /// `[proxy] allowed_server_names` and `allowed_ports`, when set, bound what GoCD may claim (README: Security model).
    static func checkBounds(_ plan: ProxyPlan, urls: SiteURLs, settings: ProxySettings) throws(SiteURLRejection) {
        for listener in plan.listeners {
            let field = plan.field(for: listener.origin)
            let raw = field == .siteURL ? urls.siteURL : urls.secureSiteURL
            if let names = settings.allowedServerNames,
                !names.contains(where: { ServerNamePattern.matches($0, host: listener.serverName) })
            {
                throw SiteURLRejection(
                    field: field.rawValue, rawValue: raw,
                    reason:
                        "server name \(listener.serverName) is not in [proxy] allowed_server_names (\(names.joined(separator: ", ")))")
            }
            if let ports = settings.allowedPorts, !ports.contains(listener.port) {
                throw SiteURLRejection(
                    field: field.rawValue, rawValue: raw,
                    reason:
                        "port \(listener.port) (\(listener.scheme.rawValue) for \(listener.serverName)) is not in [proxy] allowed_ports (\(ports.map(String.init).joined(separator: ", ")))"
                )
            }
        }
    }

    /// One port cannot speak both HTTP and HTTPS.
    static func checkPorts(_ plan: ProxyPlan, urls: SiteURLs) throws(SiteURLRejection) {
        var schemeByPort: [Int: SiteURL.Scheme] = [:]
        for listener in plan.listeners {
            if let existing = schemeByPort[listener.port], existing != listener.scheme {
                throw SiteURLRejection(
                    field: "site_url", rawValue: urls.siteURL,
                    reason:
                        "port \(listener.port) would have to serve both http and https (secure_site_url=\(plan.secureSiteURL))")
            }
            schemeByPort[listener.port] = listener.scheme
        }
    }
}
