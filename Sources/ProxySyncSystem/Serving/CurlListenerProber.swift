import ProxySyncCore

/// The real ``ListenerProber``: one libcurl request (``ListenerProbe/get``), off the async pool.
public struct CurlListenerProber: ListenerProber {
    /// Whether the proxy expects a PROXY protocol header first (`[proxy] proxy_protocol`).
    let proxyProtocol: Bool

    public init(proxyProtocol: Bool) {
        self.proxyProtocol = proxyProtocol
    }

    public func probe(_ listener: Listener, address: String, timeoutMilliseconds: Int, presentedCertificate: Bool) async
        -> Result<ProbeAnswer, ProbeFailure>
    {
        let proxyProtocol = proxyProtocol
        return await Blocking.run {
            ListenerProbe.get(
                listener, path: Generation.path, address: address, timeoutMilliseconds: timeoutMilliseconds,
                presentedCertificate: presentedCertificate, proxyProtocol: proxyProtocol)
        }
    }
}
