/// Why a probe got no answer, in words (connection refused, a TLS failure, a timeout).
public struct ProbeFailure: Error, Equatable, Sendable, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
