/// Lists the modules Apache httpd loads (`httpd -M`, built from the test command, or a fake).
public protocol ApacheModuleLister: Sendable {
    /// What httpd printed for `-M`; nil when no command to ask it can be made.
    func loadedModules() -> String?
}

extension ApacheModuleLister {
    /// Modules the file needs (``ApacheModules/required(_:)``) that httpd does not load; nil when the list cannot
    /// be had (no command, or an answer that names no `_module`, such as an error).
    public func missingModules(_ settings: ProxySettings) -> [String]? {
        guard let listed = loadedModules(), listed.contains("_module") else { return nil }
        return ApacheModules.missing(settings, loaded: listed)
    }
}
