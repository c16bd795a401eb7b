/// Whether another site's server name takes a host name that a plan would claim, by the proxy's own rules of
/// server selection.
public enum ServerNameMatch {
    /// An NGINX `server_name` as NGINX compares it: regular expressions (`~…`) as written, other names in
    /// lower case without a trailing dot.
    public static func normalised(_ name: String) -> String {
        if name.hasPrefix("~") { return name }
        var out = name.lowercased()
        while out.count > 1 && out.hasSuffix(".") { out.removeLast() }
        return out
    }

    /// NGINX (`ngx_http_find_virtual_server`): an exact name; `*.example.org` (any labels before
    /// `.example.org`); `.example.org` (the name itself or any below it); `www.example.*` (any labels after
    /// `www.example.`); `~regex` searched case-insensitively in the host. nil when a regular expression is
    /// one this program cannot evaluate (the caller must then refuse rather than guess).
    public static func nginx(_ pattern: String, matches host: String) -> Bool? {
        if pattern.hasPrefix("~") {
            guard let regex = try? Regex(String(pattern.dropFirst())).ignoresCase() else { return nil }
            return (try? regex.firstMatch(in: host)).flatMap { $0 } != nil
        }
        let pattern = normalised(pattern)
        if pattern == host { return true }
        if pattern.hasPrefix("*.") { return host.hasSuffix(pattern.dropFirst(1)) }
        if pattern.hasPrefix(".") { return host == pattern.dropFirst() || host.hasSuffix(pattern) }
        if pattern.hasSuffix(".*") { return host.hasPrefix(pattern.dropLast(1)) && host.count > pattern.count - 1 }
        return false
    }

    /// Apache (`ap_strcasecmp_match` for `ServerAlias`): `*` and `?` anywhere, ASCII case ignored; a trailing
    /// dot does not count.
    public static func apache(_ pattern: String, matches host: String) -> Bool {
        var pattern = pattern
        while pattern.count > 1 && pattern.hasSuffix(".") { pattern.removeLast() }
        return Glob.matches(pattern, host, ignoringCase: true)
    }
}
