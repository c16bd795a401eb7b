/// The httpd modules the rendered file needs, and what to tell an operator when some are missing.
public enum ApacheModules {
    /// Module names as `httpd -M` lists them (`proxy_module`), for these settings. mod_ssl only when a
    /// certificate is configured (an HTTPS listener needs one) or the upstream speaks TLS; mod_rewrite only
    /// for httpd before 2.4.47 (the websocket fallback).
    public static func required(_ settings: ProxySettings) -> [String] {
        var names = ["proxy", "proxy_http", "proxy_wstunnel", "headers"]
        if settings.hasCertificate || settings.upstream.scheme == .https { names.append("ssl") }
        if !settings.apacheUpgradeOption { names.append("rewrite") }
        if !settings.trustedProxies.isEmpty { names.append("remoteip") }
        return names
    }

    /// The required modules that `httpd -M` output does not list.
    public static func missing(_ settings: ProxySettings, loaded dump: String) -> [String] {
        let loaded = Set(
            dump.split(separator: "\n").compactMap { line -> String? in
                let name = line.split(separator: " ", omittingEmptySubsequences: true).first.map(String.init) ?? ""
                return name.hasSuffix("_module") ? String(name.dropLast("_module".count)) : nil
            })
        return required(settings).filter { !loaded.contains($0) }
    }

    /// One line an operator can act on.
    public static func advice(_ missing: [String]) -> String {
        let rhel = missing.contains("ssl") ? " (RHEL: dnf install mod_ssl)" : ""
        return "Apache modules missing: \(missing.joined(separator: ", ")): run a2enmod \(missing.joined(separator: " "))\(rhel), then restart apache2"
    }

    /// `Server version: Apache/2.4.37 (Red Hat Enterprise Linux)` → true when the version knows
    /// `ProxyPass … upgrade=websocket` (2.4.47 and later). Unreadable output keeps the modern form.
    public static func knowsUpgradeOption(_ versionOutput: String) -> Bool {
        guard let range = versionOutput.firstRange(of: "Apache/") else { return true }
        let digits = versionOutput[range.upperBound...].prefix(while: { $0.isNumber || $0 == "." })
        let parts = digits.split(separator: ".").compactMap { Int($0) }
        guard parts.count >= 3 else { return true }
        return (parts[0], parts[1], parts[2]) >= (2, 4, 47)
    }
}
