import ProxySyncCore

/// The certificate an HTTPS listener must present for its answer to count after a reload (README: Only what is
/// served counts): the leaf of the configured `tls_certificate` file, i.e. its first certificate (NGINX's fullchain
/// or leaf-first file; Apache's `SSLCertificateFile`, the chain being apart in `tls_certificate_chain`).
///
/// Read once per confirmation by ``read(_:)``; ``miss(_:)`` is the pure judgement of one presented certificate.
enum ExpectedCertificate: Equatable, Sendable {
    /// No certificate configured (or no HTTPS listener): what a listener presents is not judged.
    case notChecked
    /// The fingerprint of the configured file's first certificate.
    case leaf(CertificateFingerprint, file: String)
    /// The configured file cannot be read now, so no answer can show that it is served; why, in words.
    case unreadable(String)

    /// What `plan`'s HTTPS listeners must present, from the configured file as it is now.
    static func read(_ settings: ProxySettings, plan: ProxyPlan) -> ExpectedCertificate {
        guard plan.listeners.contains(where: { $0.scheme == .https }), let path = settings.tlsCertificate else {
            return .notChecked
        }
        do {
            return .leaf(try LoadedCertificate(path: path).fingerprint, file: path)
        } catch {
            return .unreadable("tls_certificate: \(error)")
        }
    }

    /// What each HTTPS name of `plan` must present: the leaf of its own pair's certificate (`tls_certificate_dir`
    /// gives each name its own), each file read once.
    static func readEach(_ settings: ProxySettings, plan: ProxyPlan) -> [String: ExpectedCertificate] {
        var byFile: [String: ExpectedCertificate] = [:]
        var out: [String: ExpectedCertificate] = [:]
        for listener in plan.listeners where listener.scheme == .https {
            guard let path = settings.certificatePair(for: listener.serverName, in: plan)?.certificate else { continue }
            if byFile[path] == nil {
                do {
                    byFile[path] = .leaf(try LoadedCertificate(path: path).fingerprint, file: path)
                } catch {
                    byFile[path] = .unreadable("tls_certificate: \(error)")
                }
            }
            out[listener.serverName] = byFile[path]
        }
        return out
    }

    /// True when a probe should report the certificate it was presented.
    var wantsPresented: Bool {
        if case .leaf = self { return true }
        return false
    }

    /// nil when `presented` (the fingerprint of the leaf an HTTPS listener presented, nil when the probe could not
    /// read it) is the expected one; otherwise what was wrong, for `not_serving`.
    func miss(_ presented: CertificateFingerprint?) -> String? {
        switch self {
        case .notChecked:
            return nil
        case .unreadable(let why):
            return "\(why); without it no answer shows the configured certificate served"
        case .leaf(let expected, let file):
            guard let presented else {
                return
                    "a TLS answer without a certificate the probe could read (libcurl reported none), so not shown to be tls_certificate's (\(file))"
            }
            if presented == expected { return nil }
            return
                "a certificate other than tls_certificate's \(file) (presented sha256 \(presented.abbreviated), expected \(expected.abbreviated)): the proxy serves an older or another certificate"
        }
    }
}
