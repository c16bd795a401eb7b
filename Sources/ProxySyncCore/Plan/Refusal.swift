/// A reason the plan must not go live, found before anything is written (README: Only what is served counts, §5b).
public struct Refusal: Equatable, Sendable, CustomStringConvertible {
    /// The listener it concerns, e.g. `https://gocd.example.com:8443`.
    public var listener: String
    public var reason: String

    public init(listener: String, reason: String) {
        self.listener = listener
        self.reason = reason
    }

    public var description: String { "\(listener): \(reason)" }
}
