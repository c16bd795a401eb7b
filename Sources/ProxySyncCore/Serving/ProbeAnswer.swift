/// What one listener answered a probe (``ListenerProber``): the facts the confirmation judges.
public struct ProbeAnswer: Equatable, Sendable {
    public var status: Int
    public var location: String?
    public var body: String
    /// The SHA-256 of the leaf certificate the listener presented: only for an HTTPS probe that asked for it,
    /// over a connection made for it; nil otherwise, or when the client had none.
    public var presentedCertificate: CertificateFingerprint?

    public init(status: Int, location: String? = nil, body: String, presentedCertificate: CertificateFingerprint? = nil) {
        self.status = status
        self.location = location
        self.body = body
        self.presentedCertificate = presentedCertificate
    }
}
