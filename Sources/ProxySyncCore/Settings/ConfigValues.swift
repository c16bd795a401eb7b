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
