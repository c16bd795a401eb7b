/// Checks for configuration values that end up in a proxy file or a request.
public enum ConfigValues {
    /// Why a path is unusable, or nil when it is an absolute path made of safe characters.
    public static func pathProblem(_ path: String) -> String? {
        if path.isEmpty { return "must not be empty" }
        if !path.hasPrefix("/") { return "must be an absolute path" }
        for byte in path.utf8 where !ConfigToken.isPathByte(byte) {
            return "may contain only letters, digits and / . _ - + @ (no spaces, quotes or ;)"
        }
        return nil
    }

    /// `http(s)://host[:port]` with an optional trailing `/`; nil for anything else.
    public static func parseUpstream(_ text: String) -> Upstream? {
        var rest = Substring(text)
        let scheme: SiteURL.Scheme
        if rest.hasPrefix("http://") {
            scheme = .http
            rest = rest.dropFirst(7)
        } else if rest.hasPrefix("https://") {
            scheme = .https
            rest = rest.dropFirst(8)
        } else {
            return nil
        }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        if rest.isEmpty || rest.contains("/") || rest.contains("@") { return nil }
        var hostPart = rest
        var port: Int?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return nil }
            hostPart = rest[...close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let parsed = SiteURL.parsePort(after.dropFirst()) else {
                    return nil
                }
                port = parsed
            }
        } else if let colon = rest.lastIndex(of: ":") {
            hostPart = rest[..<colon]
            guard let parsed = SiteURL.parsePort(rest[rest.index(after: colon)...]) else {
                return nil
            }
            port = parsed
        }
        guard let host = try? HostName.normalise(String(hostPart)) else { return nil }
        return Upstream(scheme: scheme, host: host, port: port)
    }

    /// `http(s)://host[:port][/path]`; the path is kept (it is GoCD's context path, usually `/go`).
    public static func isServerURL(_ text: String) -> Bool {
        guard text.hasPrefix("http://") || text.hasPrefix("https://") else { return false }
        let rest = text.drop(while: { $0 != "/" }).dropFirst(2)
        let authority = rest.prefix(while: { $0 != "/" })
        let path = rest.dropFirst(authority.count)
        return parseUpstream(String(text.prefix(text.count - path.count))) != nil
            && path.utf8.allSatisfy(ConfigToken.isPathByte)
    }

    /// `0`, or digits with an optional k/m/g suffix.
    public static func isBodySize(_ text: String) -> Bool {
        var digits = Substring(text.lowercased())
        if let last = digits.last, "kmg".contains(last) { digits = digits.dropLast() }
        return !digits.isEmpty && digits.count <= 12 && digits.utf8.allSatisfy { $0 >= 48 && $0 <= 57 }
    }
}

extension ConfigValues {
    /// Why `text` is not a CIDR in the one form both proxies read alike, or nil: an IPv4 or canonical IPv6
    /// address (RFC 5952), optionally `/prefix`, with no bits set below the prefix.
    public static func cidrProblem(_ text: String) -> String? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2, let address = parts.first.map(String.init) else {
            return "is not a CIDR (address/prefix, e.g. 192.0.2.0/24 or 2001:db8::/32)"
        }
        let bits: [Bool]
        if HostName.isIPv4(address) {
            bits = address.split(separator: ".").flatMap { octet in
                let value = Int(octet) ?? 0
                return (0..<8).map { value & (0x80 >> $0) != 0 }
            }
        } else if let groups = HostName.ipv6Groups(address) {
            if let canonical = HostName.canonicalIPv6(address), canonical != address {
                let suffix = parts.count == 2 ? "/\(parts[1])" : ""
                return "is not in its canonical form (RFC 5952): write it as \"\(canonical)\(suffix)\""
            }
            bits = groups.flatMap { group in (0..<16).map { Int(group) & (0x8000 >> $0) != 0 } }
        } else {
            return "is not a CIDR (address/prefix, e.g. 192.0.2.0/24 or 2001:db8::/32)"
        }
        guard parts.count == 2 else { return nil }
        let prefixText = parts[1]
        guard !prefixText.isEmpty, prefixText.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), prefixText.count <= 3,
            let prefix = Int(prefixText), prefix <= bits.count, !(prefixText.count > 1 && prefixText.hasPrefix("0"))
        else {
            return "has no valid prefix length (0-\(bits.count))"
        }
        if bits[prefix...].contains(true) {
            return "has address bits set below its /\(prefix) prefix: write the network address"
        }
        return nil
    }
}
