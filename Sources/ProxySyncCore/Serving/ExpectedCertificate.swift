/// The certificate an HTTPS listener must present for its answer to count after a reload (README: Only what is
/// served counts): the leaf of the configured `tls_certificate` file, i.e. its first certificate (NGINX's fullchain
/// or leaf-first file; Apache's `SSLCertificateFile`, the chain being apart in `tls_certificate_chain`).
///
/// Read once per confirmation by the effects target; ``miss(_:)`` is the pure judgement of one presented certificate.
public enum ExpectedCertificate: Equatable, Sendable {
    /// No certificate configured (or no HTTPS listener): what a listener presents is not judged.
    case notChecked
    /// The fingerprint of the configured file's first certificate.
    case leaf(CertificateFingerprint, file: String)
    /// The configured file cannot be read now, so no answer can show that it is served; why, in words.
    case unreadable(String)

    /// True when a probe should report the certificate it was presented.
    public var wantsPresented: Bool {
        if case .leaf = self { return true }
        return false
    }

    /// nil when `presented` (the fingerprint of the leaf an HTTPS listener presented, nil when the probe could not
    /// read it) is the expected one; otherwise what was wrong, for `not_serving`.
    public func miss(_ presented: CertificateFingerprint?) -> String? {
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
