/// Rules for how credentials may travel to GoCD (README: Security model).
public enum Transport {
    /// Why sending credentials to `server_url` would expose them, or nil when it is fine: plain `http://` to a
    /// host that is not loopback, unless `allow_insecure_http = true`.
    public static func cleartextProblem(_ gocd: GoCDSettings) -> String? {
        guard !gocd.allowInsecureHTTP, gocd.serverURL.lowercased().hasPrefix("http://") else { return nil }
        let host = hostOf(gocd.serverURL)
        if isLoopback(host) { return nil }
        return
            "credentials would travel in clear text over http:// to \(host): use https://, or set [gocd] allow_insecure_http = true if the network is trusted"
    }

    /// The host of `scheme://host[:port]/…`, lower case, IPv6 without brackets.
    static func hostOf(_ url: String) -> String {
        var rest = Substring(url)
        if let range = rest.firstRange(of: "://") { rest = rest[range.upperBound...] }
        rest = rest.prefix(while: { $0 != "/" })
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") {
            return String(rest[rest.index(after: rest.startIndex)..<close]).lowercased()
        }
        return String(rest.prefix(while: { $0 != ":" })).lowercased()
    }

    /// `localhost`, `127.0.0.0/8` or `::1`.
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "::1" { return true }
        return HostName.isIPv4(host) && host.hasPrefix("127.")
    }
}
