/// `[proxy] allowed_server_names` entries: exact host names or IP addresses, or `*.suffix` wildcards
/// that match exactly one more left-most label (as a certificate's wildcard does).
public enum ServerNamePattern {
    /// True when `pattern` is a host name, an IP address, or `*.` followed by a host name, each as the site-URL
    /// gate accepts it (a name ending in a number only as a dotted quad, IPv6 only in its RFC 5952 form): a
    /// pattern in any other form could never match the name a plan carries.
    public static func isValid(_ pattern: String) -> Bool {
        let lowered = HostName.asciiLowercased(pattern)
        let name = lowered.hasPrefix("*.") ? String(lowered.dropFirst(2)) : lowered
        if HostName.isIPv6(name) { return !lowered.hasPrefix("*.") && HostName.isCanonicalIPv6(name) }
        guard let normal = try? HostName.normalise(name) else { return false }
        return normal == name && !(lowered.hasPrefix("*.") && HostName.isIPv4(name))
    }

    /// For an exact IPv6 pattern (bare or bracketed) that is not in its RFC 5952 form, the form to write instead.
    public static func canonicalForm(_ pattern: String) -> String? {
        let lowered = HostName.asciiLowercased(pattern)
        let bracketed = lowered.hasPrefix("[") && lowered.hasSuffix("]")
        guard let canonical = HostName.canonicalIPv6(bracketed ? strip(lowered) : lowered), canonical != strip(lowered)
        else { return nil }
        return bracketed ? "[" + canonical + "]" : canonical
    }

    /// True when `host` (lower case, as in a plan) is allowed by `pattern`.
    public static func matches(_ pattern: String, host: String) -> Bool {
        let pattern = pattern.lowercased()
        if pattern.hasPrefix("*.") {
            let suffix = pattern.dropFirst(1)  // ".example.com"
            guard host.hasSuffix(suffix) else { return false }
            let label = host.dropLast(suffix.count)
            return !label.isEmpty && !label.contains(".")
        }
        return strip(pattern) == strip(host)
    }

    static func strip(_ host: String) -> String {
        host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
    }
}
