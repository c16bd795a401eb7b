/// Why a certificate or key file could not be read or parsed, in the words the effects target found.
public struct CertificateReadFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
