import ProxySyncCore

/// Reading what each HTTPS listener must present from the configured files, as they are now.
extension ExpectedCertificate {
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
}
