import COpenSSL

/// The SHA-256 of a certificate's DER encoding (what `openssl x509 -noout -fingerprint -sha256` prints): how the
/// certificate a TLS listener presented is compared with the leaf of the configured `tls_certificate` file.
public struct CertificateFingerprint: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes of the digest.
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// Upper-case hex, without separators.
    public var hex: String {
        let digits = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The first 16 hex digits and an ellipsis, for messages: enough to tell two certificates apart.
    public var abbreviated: String { String(hex.prefix(16)) + "…" }

    public var description: String { hex }

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
