import COpenSSL
import ProxySyncCore

/// Fingerprints computed by libcrypto.
extension CertificateFingerprint {
    /// The fingerprint of `certificate` (`X509 *`).
    static func of(_ certificate: OpaquePointer) -> CertificateFingerprint? {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard X509_digest(certificate, EVP_sha256(), &digest, &length) == 1, length == 32 else { return nil }
        return CertificateFingerprint(bytes: Array(digest.prefix(Int(length))))
    }

    /// The fingerprint of the first PEM certificate in `pem`; nil when it holds none.
    public static func ofFirstCertificate(pem: UnsafePointer<CChar>) -> CertificateFingerprint? {
        defer { ERR_clear_error() }
        guard let certificate = gps_read_certificate(pem, Int32(strlen(pem))) else { return nil }
        defer { X509_free(certificate) }
        return of(certificate)
    }
}
