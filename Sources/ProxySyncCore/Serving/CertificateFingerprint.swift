/// The SHA-256 of a certificate's DER encoding (what `openssl x509 -noout -fingerprint -sha256` prints): how the
/// certificate a TLS listener presented is compared with the leaf of the configured `tls_certificate` file.
/// Computing one needs OpenSSL and lives in the effects target; comparing and showing them is pure.
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
}
