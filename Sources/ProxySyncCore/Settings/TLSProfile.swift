/// `[proxy] tls_profile`: Mozilla's server-side TLS recommendations (version 5.7), written into every TLS
/// server / VirtualHost of the managed file so that they hold for the GoCD site whatever the main configuration
/// says (SPEC 5d).
public enum TLSProfile: String, Equatable, Sendable, CaseIterable {
    /// TLS 1.2 and 1.3, forward-secret AEAD ciphers only (no CBC), no session tickets.
    case intermediate
    /// TLS 1.3 only.
    case modern
    /// Nothing written: the main configuration (and the system's OpenSSL) decide.
    case inherit

    /// Mozilla 5.7's intermediate cipher list (TLS 1.2; TLS 1.3's suites are all AEAD and not configured).
    public static let intermediateCiphers =
        "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:DHE-RSA-CHACHA20-POLY1305"
    /// Mozilla 5.7's curves, both profiles.
    public static let curves = "X25519:prime256v1:secp384r1"

    /// The protocol versions the profile allows, as `check` prints them; nil for inherit.
    public var protocols: [String]? {
        switch self {
        case .intermediate: ["TLSv1.2", "TLSv1.3"]
        case .modern: ["TLSv1.3"]
        case .inherit: nil
        }
    }

    /// One line for `check`.
    public var summary: String {
        switch self {
        case .intermediate:
            "intermediate (Mozilla 5.7): TLSv1.2 TLSv1.3, ECDHE/DHE AEAD ciphers only, curves \(Self.curves), no session tickets"
        case .modern:
            "modern (Mozilla 5.7): TLSv1.3 only, curves \(Self.curves), no session tickets"
        case .inherit:
            "inherit: nothing written; the main configuration and the system's OpenSSL decide"
        }
    }
}
