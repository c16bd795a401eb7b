/// Tells whether the proxy's main process runs (``ProxyProcess/isRunningProxy(name:zombie:realUID:kind:)``).
public protocol ProxyProcessCheck: Sendable {
    /// True when a process of the proxy runs; nil when that cannot be told (no `/proc`).
    func proxyRunning() -> Bool?
}
