/// Turns a plan into the bytes of a proxy configuration file. Pure and deterministic.
public protocol Renderer: Sendable {
    /// - Throws: ``ConfigToken/Unsafe`` if any value falls outside the safe alphabet.
    func render(_ plan: ProxyPlan) throws(ConfigToken.Unsafe) -> String
}

public enum Renderers {
    public static func make(for settings: ProxySettings) -> any Renderer {
        switch settings.kind {
        case .nginx: NginxRenderer(settings: settings)
        case .apache: ApacheRenderer(settings: settings)
        }
    }

    public static let headerLine = "# Managed by gocd-proxy-sync. Do not edit: changes are overwritten."
}
