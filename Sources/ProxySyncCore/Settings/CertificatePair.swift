/// The files one HTTPS listener is served from: `tls_certificate`/`tls_certificate_key` (and Apache's chain), or
/// with `tls_certificate_dir` the `fullchain.pem` and `privkey.pem` found for its name (SPEC 5d).
public struct CertificatePair: Hashable, Sendable {
    public var certificate: String
    public var key: String
    public var chain: String?

    public init(certificate: String, key: String, chain: String? = nil) {
        self.certificate = certificate
        self.key = key
        self.chain = chain
    }
}

/// Finds each HTTPS name's pair in `tls_certificate_dir` (certbot's `live/` layout): `DIR/<name>/fullchain.pem` and
/// `privkey.pem`, else any `DIR/*/fullchain.pem` whose certificate covers the name (a wildcard).
public protocol CertificateLocator: Sendable {
    /// The pair found for each of `names`; a name no certificate in `directory` covers is left out.
    func locate(_ names: [String], in directory: String) -> [String: CertificatePair]
}

/// For engines whose settings have no `tls_certificate_dir`.
public struct NoCertificateLocator: CertificateLocator {
    public init() {}
    public func locate(_ names: [String], in directory: String) -> [String: CertificatePair] { [:] }
}

extension ProxySettings {
    /// The pair an HTTPS listener named `name` is served from: with `tls_certificate_dir` the one found for it this
    /// cycle (``certificatePairs``), else `tls_certificate`/`tls_certificate_key`; nil when there is none.
    public func certificatePair(for name: String) -> CertificatePair? {
        if tlsCertificateDir != nil { return certificatePairs[name] }
        guard let certificate = tlsCertificate, let key = tlsCertificateKey else { return nil }
        return CertificatePair(certificate: certificate, key: key, chain: tlsCertificateChain)
    }

    /// What the listeners of `plan` are served from, with the pairs its cycle found (``ProxyPlan/certificates``).
    public func certificatePair(for name: String, in plan: ProxyPlan) -> CertificatePair? {
        var settings = self
        settings.certificatePairs = plan.certificates
        return settings.certificatePair(for: name)
    }

    /// The refusal for a name `tls_certificate_dir` has no certificate for.
    public static func noCertificateReason(_ name: String, directory: String) -> String {
        "no certificate in tls_certificate_dir \(directory) covers \(name): looked for \(directory)/\(name)/fullchain.pem and privkey.pem, and any \(directory)/*/fullchain.pem whose certificate covers it; obtain one for \(name) or change the site URL in GoCD"
    }
}

extension ProxyPlan {
    /// With `tls_certificate_dir`: this plan with the pair found now for each HTTPS name, the settings to render it
    /// with, and a refusal for each HTTPS name no certificate covers (for `check` and `render`, which derive a plan
    /// outside the cycle). Without it: unchanged, no refusals.
    public func locatingCertificates(_ settings: ProxySettings, with locator: any CertificateLocator)
        -> (plan: ProxyPlan, settings: ProxySettings, refusals: [Refusal])
    {
        guard let directory = settings.tlsCertificateDir else { return (self, settings, []) }
        let https = listeners.filter { $0.scheme == .https }
        var located = settings
        located.certificatePairs = locator.locate(Array(Set(https.map(\.serverName))).sorted(), in: directory)
        var plan = self
        plan.certificates = located.certificatePairs
        let refusals = https.filter { plan.certificates[$0.serverName] == nil }.map {
            Refusal(listener: $0.origin, reason: ProxySettings.noCertificateReason($0.serverName, directory: directory))
        }
        return (plan, located, refusals)
    }
}
