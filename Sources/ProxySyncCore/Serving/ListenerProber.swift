/// Sends one request for the generation marker to one listener of the proxy, as a browser would arrive.
public protocol ListenerProber: Sendable {
    /// GETs the marker (``Generation/path``) from `listener` connected at `address`, within `timeoutMilliseconds`;
    /// with `presentedCertificate`, the answer carries the leaf the listener presented.
    func probe(_ listener: Listener, address: String, timeoutMilliseconds: Int, presentedCertificate: Bool) async
        -> Result<ProbeAnswer, ProbeFailure>
}
